// Package agentd is the host agent's shell: its command line (Run), the
// server built from the config, and the agent's backends (the auth-key
// resolver, 1Password SDK or per-user files, and the Tailscale API client of
// destroy's fallback). Only devbox-quadlet-agent links it.
package agentd

import (
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/agent"
	"github.com/devbox-quadlet/devbox-quadlet/internal/config"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/secrets"
	"github.com/devbox-quadlet/devbox-quadlet/internal/secrets/onepassword"
	"github.com/devbox-quadlet/devbox-quadlet/internal/tailnet"
)

// AgentKeyTemplate is where the agent's file backend looks when the config
// names no path: one file per user, readable by the agent's user only.
const AgentKeyTemplate = "/etc/devbox-quadlet/authkeys/{user}"

// TailnetSecretCredential is the systemd credential with the Tailscale
// OAuth client secret, imported like the 1Password token.
const TailnetSecretCredential = "devbox-quadlet.ts-oauth-secret"

// Backends builds the agent's resolver (nil: the host hands out no keys)
// and its Tailscale API client (nil: not configured). version is reported
// to 1Password as the integration's version.
func Backends(version string) func(cfg config.Config, getenv func(string) string) (secrets.Resolver, agent.Forgetter, error) {
	return func(cfg config.Config, getenv func(string) string) (secrets.Resolver, agent.Forgetter, error) {
		r, err := resolver(cfg, getenv, version)
		if err != nil {
			return nil, nil, err
		}
		f, err := forgetter(cfg, getenv)
		if err != nil {
			return nil, nil, err
		}
		return r, f, nil
	}
}

func resolver(cfg config.Config, getenv func(string) string, version string) (secrets.Resolver, error) {
	s := cfg.Secrets
	switch s.Backend {
	case "none":
		return nil, nil
	case "onepassword":
		return &onepassword.Resolver{
			Vault:   string(s.Vault),
			Timeout: time.Duration(s.Timeout),
			Version: version,
			Token: secrets.TokenSource{
				CredentialsDir: getenv("CREDENTIALS_DIRECTORY"),
				File:           string(s.TokenFile),
				Getenv:         getenv,
			}.Token,
		}, nil
	case "file":
		path := string(s.Path)
		if path == "" {
			path = AgentKeyTemplate
		}
		return secrets.File{Template: path}, nil
	}
	return nil, errdefs.Errorf(errdefs.Usage, "secrets.backend = %q is for standalone use: the agent cannot read a user's environment; use \"file\" or \"onepassword\"", s.Backend)
}

// forgetter builds the Tailscale API client of the destroy fallback, or nil
// when tailnet.oauth_client_id is not set.
func forgetter(cfg config.Config, getenv func(string) string) (agent.Forgetter, error) {
	t := cfg.Tailnet
	if t.OAuthClientID == "" {
		return nil, nil
	}
	var paths []string
	if d := getenv("CREDENTIALS_DIRECTORY"); d != "" {
		paths = append(paths, filepath.Join(d, TailnetSecretCredential))
	}
	if t.OAuthSecretFile != "" {
		paths = append(paths, string(t.OAuthSecretFile))
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if secret := strings.TrimSpace(string(data)); secret != "" {
			return tailnet.New(string(t.APIURL), string(t.Name), string(t.OAuthClientID), secret)
		}
	}
	return nil, errdefs.Errorf(errdefs.Usage, "tailnet.oauth_client_id is set but there is no OAuth client secret: put it in /etc/credstore/%s or set tailnet.oauth_secret_file", TailnetSecretCredential)
}
