package secrets

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
)

// CredentialName is the systemd credential that holds the 1Password
// service-account token. The agent's unit imports it with
// ImportCredential=devbox-quadlet.*, so an admin puts the token in
// /etc/credstore/devbox-quadlet.op-token (or the encrypted store).
const CredentialName = "devbox-quadlet.op-token"

// TokenEnv is the SDK's conventional variable, honoured in the agent's own
// environment only.
const TokenEnv = "OP_SERVICE_ACCOUNT_TOKEN"

// TokenSource finds the service-account token: the systemd credential, then
// File, then $OP_SERVICE_ACCOUNT_TOKEN. The first one present wins.
type TokenSource struct {
	CredentialsDir string // $CREDENTIALS_DIRECTORY, empty outside systemd
	File           string // secrets.token_file from the config
	Getenv         func(string) string
}

// Token returns the token, or an errdefs.Secret error saying where it looked.
func (t TokenSource) Token() (string, error) {
	var paths []string
	if t.CredentialsDir != "" {
		paths = append(paths, filepath.Join(t.CredentialsDir, CredentialName))
	}
	if t.File != "" {
		paths = append(paths, t.File)
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return "", errdefs.Errorf(errdefs.Secret, "cannot read the 1Password token: %v", scrubPathError(err))
		}
		if tok := strings.TrimSpace(string(data)); tok != "" {
			return tok, nil
		}
		return "", errdefs.Errorf(errdefs.Secret, "the 1Password token file %s is empty", p)
	}
	if t.Getenv != nil {
		if tok := strings.TrimSpace(t.Getenv(TokenEnv)); tok != "" {
			return tok, nil
		}
	}
	return "", errdefs.Errorf(errdefs.Secret,
		"no 1Password service-account token: put it in /etc/credstore/%s (read through the agent's ImportCredential=), set secrets.token_file, or set %s in the agent's environment",
		CredentialName, TokenEnv)
}
