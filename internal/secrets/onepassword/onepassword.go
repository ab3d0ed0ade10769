// Package onepassword is the 1Password backend of the auth keys: it resolves
// op://{vault}/{user}-tailscale-authkey/password with the 1Password Go SDK. Only
// the host agent links it (the token is held only by the agent, R-16), so
// the CLI binary stays free of the SDK's WebAssembly runtime.
package onepassword

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	op "github.com/1password/onepassword-sdk-go"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/secrets"
)

// Resolver resolves op://{Vault}/{user}-tailscale-authkey/password with the
// 1Password Go SDK. One SDK client is kept between calls: starting it loads
// the SDK's WebAssembly core, which takes seconds.
type Resolver struct {
	Vault   string
	Token   func() (string, error)
	Timeout time.Duration // bounds each resolution, client start included
	Version string        // reported to 1Password as the integration version

	mu     sync.Mutex
	client *op.Client
	token  string
}

// Describe implements Resolver.
func (o *Resolver) Describe(user string) string { return secrets.Reference(o.Vault, user) }

// Resolve implements Resolver.
func (o *Resolver) Resolve(ctx context.Context, user string) (secrets.Key, error) {
	if err := secrets.CheckUser(user); err != nil {
		return nil, err
	}
	ref := secrets.Reference(o.Vault, user)
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
		c, err := callBounded(ctx, func() (*op.Client, error) {
			return op.NewClient(ctx,
				op.WithServiceAccountToken(token),
				op.WithIntegrationInfo("devbox-quadlet", version))
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
	return secrets.Clean([]byte(value), ref)
}

// fail maps an SDK error to an errdefs.Secret error that names the reference
// and never the token (scrubbed in case the SDK ever echoes it).
func (o *Resolver) fail(ctx context.Context, ref, token string, timeout time.Duration, what string, err error) error {
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		return errdefs.Errorf(errdefs.Secret, "%s: 1Password did not answer within %s", what, timeout)
	}
	// The SDK appends a WebAssembly stack trace to some errors; the first
	// line is the message.
	msg, _, _ := strings.Cut(err.Error(), "\n")
	if token != "" {
		msg = strings.ReplaceAll(msg, token, "[token]")
	}
	var rl *op.RateLimitExceededError
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
