package onepassword

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/secrets"
	"github.com/devbox-quadlet/devbox-quadlet/internal/secrets/sectest"
)

// TestOnePasswordOffline drives the real SDK (its WebAssembly core, not a
// fake) as far as it goes without 1Password's servers: local token checks,
// the network failure of a well-formed token, and the time bound. Set
// DEVBOX_QUADLET_OP_TOKEN and DEVBOX_QUADLET_OP_VAULT to run
// TestOnePasswordLive against a real account instead.
func TestOnePasswordOffline(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the SDK's WebAssembly core (about 3 s)")
	}
	for _, tc := range []struct {
		name, token, want string
		timeout           time.Duration
	}{
		{"malformed", "not-a-token", "invalid format", 60 * time.Second},
		{"bad base64", "ops_%%%not-base64", "base64", 60 * time.Second},
		{"bad json", "ops_" + base64.RawURLEncoding.EncodeToString([]byte(`{"email":1}`)), "deserialization", 60 * time.Second},
		{"unreachable", sectest.WellFormedToken(), "my.1password.com", 60 * time.Second},
		{"timeout", sectest.WellFormedToken(), "did not answer within 1ms", time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := &Resolver{Vault: "DevBox", Timeout: tc.timeout, Version: "test",
				Token: func() (string, error) { return tc.token, nil }}
			k, err := o.Resolve(context.Background(), "alice")
			if err == nil {
				t.Fatalf("resolved %d bytes offline", len(k))
			}
			if !errdefs.Is(err, errdefs.Secret) {
				t.Errorf("error class: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			if strings.Contains(err.Error(), tc.token) {
				t.Errorf("error shows the token: %v", err)
			}
			t.Logf("%v", err)
		})
	}
}

func TestOnePasswordNoToken(t *testing.T) {
	o := &Resolver{Vault: "DevBox", Token: secrets.TokenSource{Getenv: func(string) string { return "" }}.Token}
	if _, err := o.Resolve(context.Background(), "alice"); !errdefs.Is(err, errdefs.Secret) {
		t.Errorf("no token: %v", err)
	}
}

func TestOnePasswordLive(t *testing.T) {
	token, vault := os.Getenv("DEVBOX_QUADLET_OP_TOKEN"), os.Getenv("DEVBOX_QUADLET_OP_VAULT")
	user := os.Getenv("DEVBOX_QUADLET_OP_USER")
	if token == "" || vault == "" || user == "" {
		t.Skip("set DEVBOX_QUADLET_OP_TOKEN, DEVBOX_QUADLET_OP_VAULT and DEVBOX_QUADLET_OP_USER to resolve op://VAULT/USER-tailscale-authkey/password for real")
	}
	o := &Resolver{Vault: vault, Version: "test", Token: func() (string, error) { return token, nil }}
	k, err := o.Resolve(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("resolved %s: %d bytes", secrets.Reference(vault, user), len(k))
	if _, err := o.Resolve(context.Background(), user+"-no-such-user"); !errdefs.Is(err, errdefs.Secret) {
		t.Errorf("missing item: %v", err)
	}
}

func TestCallBounded(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	release := make(chan struct{})
	defer close(release)
	_, err := callBounded(ctx, func() (int, error) { <-release; return 1, nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("callBounded on a cancelled context = %v", err)
	}
	v, err := callBounded(context.Background(), func() (int, error) { return 7, nil })
	if v != 7 || err != nil {
		t.Errorf("callBounded = %d, %v", v, err)
	}
}
