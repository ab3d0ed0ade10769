package onepassword

import (
	"context"
	"encoding/base64"
	"os"
	"strings"
	"sync"
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

// TestOneSDKCallAtATime: while an SDK call hangs (a 1Password outage),
// callers that give up do not start more calls behind it: the one call
// keeps the client until it really returns, the others get exit 7 at
// their own timeout, and the next caller after it returns is served.
func TestOneSDKCallAtATime(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	running, most, calls := 0, 0, 0
	o := &Resolver{Vault: "DevBox", Timeout: 50 * time.Millisecond, Token: func() (string, error) { return "token", nil },
		lookup: func(ctx context.Context, token, ref string) (string, error) {
			mu.Lock()
			calls++
			running++
			most = max(most, running)
			mu.Unlock()
			<-release // like the SDK's core, deaf to ctx
			mu.Lock()
			running--
			mu.Unlock()
			return "tskey-auth-test", nil
		}}
	if _, err := o.Resolve(context.Background(), "alice"); !errdefs.Is(err, errdefs.Secret) || !strings.Contains(err.Error(), "did not answer within 50ms") {
		t.Fatalf("first call: %v", err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = o.Resolve(context.Background(), "bob")
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if !errdefs.Is(err, errdefs.Secret) || !strings.Contains(err.Error(), "another 1Password lookup has held the client") {
			t.Errorf("caller %d while the first call hangs: %v", i, err)
		}
	}
	mu.Lock()
	if calls != 1 || most != 1 {
		t.Errorf("%d SDK calls started, %d at once; want 1 and 1", calls, most)
	}
	mu.Unlock()
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for {
		k, err := o.Resolve(context.Background(), "carol")
		if err == nil {
			if string(k) != "tskey-auth-test" {
				t.Errorf("key %q", k)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the hung call returned: %v", err)
		}
	}
}
