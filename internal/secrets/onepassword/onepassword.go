// Package onepassword is the 1Password backend of the auth keys: it resolves
// op://{vault}/{user}-tailscale-authkey/password with the 1Password Go SDK. Only
// the host agent links it (the token is held only by the agent, R-16), so
// the CLI binary stays free of the SDK's WebAssembly runtime.
package onepassword

import (
	"context"
	"errors"
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
//
// At most one SDK call runs at a time, and "runs" means until the SDK
// returns, not until the caller stops waiting: the SDK's core does not
// promise to notice a cancelled context, so a call that times out may go on
// in the background, and it keeps the client until it ends. A caller that
// cannot have the client within its own timeout gets an exit-7 error
// instead of starting another call, so timed-out calls cannot pile up.
type Resolver struct {
	Vault   string
	Token   func() (string, error)
	Timeout time.Duration // bounds each resolution, the wait for the client included
	Version string        // reported to 1Password as the integration version

	once sync.Once
	busy chan struct{} // holds a token while an SDK call runs

	// Only the holder of busy touches these.
	client *op.Client
	token  string
	// lookup is the SDK work of one resolution; tests replace it.
	lookup func(ctx context.Context, token, ref string) (string, error)
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
	token, err := o.Token()
	if err != nil {
		return nil, err
	}
	o.once.Do(func() { o.busy = make(chan struct{}, 1) })
	select {
	case o.busy <- struct{}{}:
	case <-ctx.Done():
		return nil, errdefs.Errorf(errdefs.Secret, "cannot resolve %s: another 1Password lookup has held the client for over %s (one runs at a time, to the end, even after its caller gave up); try again in a minute", ref, timeout)
	}
	type result struct {
		value string
		err   error
	}
	done := make(chan result, 1)
	go func() {
		// The token goes back when the SDK call really ends, which may be
		// after this Resolve has returned.
		defer func() { <-o.busy }()
		lookup := o.lookup
		if lookup == nil {
			lookup = o.sdkLookup
		}
		v, err := lookup(ctx, token, ref)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, o.fail(ctx, ref, token, timeout, r.err)
		}
		return secrets.Clean([]byte(r.value), ref)
	case <-ctx.Done():
		return nil, o.fail(ctx, ref, token, timeout, ctx.Err())
	}
}

// lookupError says which SDK step failed.
type lookupError struct {
	what string
	err  error
}

func (e *lookupError) Error() string { return e.what + ": " + e.err.Error() }
func (e *lookupError) Unwrap() error { return e.err }

// sdkLookup starts the SDK client if there is none for token, and resolves
// ref with it. It runs only while holding busy.
func (o *Resolver) sdkLookup(ctx context.Context, token, ref string) (string, error) {
	version := o.Version
	if version == "" {
		version = "dev" // the SDK refuses an empty integration version
	}
	if o.client == nil || o.token != token {
		o.client = nil
		c, err := op.NewClient(ctx,
			op.WithServiceAccountToken(token),
			op.WithIntegrationInfo("devbox-quadlet", version))
		if err != nil {
			return "", &lookupError{"cannot start the 1Password client", err}
		}
		o.client, o.token = c, token
	}
	value, err := o.client.Secrets().Resolve(ctx, ref)
	if err != nil {
		// A failed call may leave the client unusable (expired session,
		// revoked token); start a fresh one next time.
		o.client = nil
		return "", &lookupError{"cannot resolve " + ref, err}
	}
	return value, nil
}

// fail maps an SDK error to an errdefs.Secret error that names the reference
// and never the token (scrubbed in case the SDK ever echoes it).
func (o *Resolver) fail(ctx context.Context, ref, token string, timeout time.Duration, err error) error {
	what := "cannot resolve " + ref
	var le *lookupError
	if errors.As(err, &le) {
		what, err = le.what, le.err
	}
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
