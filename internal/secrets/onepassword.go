package secrets

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	onepassword "github.com/1password/onepassword-sdk-go"

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

// OnePassword resolves op://{Vault}/{user}-tailscale-authkey/password with the
// 1Password Go SDK. One SDK client is kept between calls: starting it loads
// the SDK's WebAssembly core, which takes seconds.
type OnePassword struct {
	Vault   string
	Token   func() (string, error)
	Timeout time.Duration // bounds each resolution, client start included
	Version string        // reported to 1Password as the integration version

	mu     sync.Mutex
	client *onepassword.Client
	token  string
}

// Describe implements Resolver.
func (o *OnePassword) Describe(user string) string { return Reference(o.Vault, user) }

// Resolve implements Resolver.
func (o *OnePassword) Resolve(ctx context.Context, user string) (Key, error) {
	if err := userOK(user); err != nil {
		return nil, err
	}
	ref := Reference(o.Vault, user)
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 20 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	o.mu.Lock()
	defer o.mu.Unlock()
	token, err := o.Token()
	if err != nil {
		return nil, err
	}
	version := o.Version
	if version == "" {
		version = "dev" // the SDK refuses an empty integration version
	}
	if o.client == nil || o.token != token {
		o.client = nil
		c, err := callBounded(ctx, func() (*onepassword.Client, error) {
			return onepassword.NewClient(ctx,
				onepassword.WithServiceAccountToken(token),
				onepassword.WithIntegrationInfo("devbox-quadlet", version))
		})
		if err != nil {
			return nil, o.fail(ctx, ref, token, timeout, "cannot start the 1Password client", err)
		}
		o.client, o.token = c, token
	}
	client := o.client
	value, err := callBounded(ctx, func() (string, error) { return client.Secrets().Resolve(ctx, ref) })
	if err != nil {
		// A failed call may leave the client unusable (expired session,
		// revoked token); start a fresh one next time.
		o.client = nil
		return nil, o.fail(ctx, ref, token, timeout, "cannot resolve "+ref, err)
	}
	return Clean([]byte(value), ref)
}

// fail maps an SDK error to an errdefs.Secret error that names the reference
// and never the token (scrubbed in case the SDK ever echoes it).
func (o *OnePassword) fail(ctx context.Context, ref, token string, timeout time.Duration, what string, err error) error {
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		return errdefs.Errorf(errdefs.Secret, "%s: 1Password did not answer within %s", what, timeout)
	}
	// The SDK appends a WebAssembly stack trace to some errors; the first
	// line is the message.
	msg, _, _ := strings.Cut(err.Error(), "\n")
	if token != "" {
		msg = strings.ReplaceAll(msg, token, "[token]")
	}
	var rl *onepassword.RateLimitExceededError
	if errors.As(err, &rl) {
		msg = "rate limit exceeded (service-account tokens are rate-limited; try again later): " + msg
	}
	return errdefs.Errorf(errdefs.Secret, "%s: %s", what, msg)
}

// callBounded runs f and returns when it does or when ctx ends, whichever is
// first. The SDK's core runs in WebAssembly and does not promise to notice a
// cancelled context, so the bound is enforced here; a call left running
// finishes in the background and its result is dropped.
func callBounded[T any](ctx context.Context, f func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := f()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, fmt.Errorf("%w", ctx.Err())
	}
}
