package agent

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/agentproto"
)

// TestAuthKeyRateLimit: a user's AuthKey calls are limited to a burst and
// then one per interval, refused with exit 7 and when to retry, without
// reaching 1Password; other users keep their own allowance.
func TestAuthKeyRateLimit(t *testing.T) {
	bus := startBus(t, "")
	s, clock := testServer(t)
	s.AuthKeyLimit = NewLimiter(5, 30*time.Second)
	resolver := s.Secrets.(*keyResolver)
	bus.serve(t, s)
	attacker, victim := bus.startPeer(t, attackerUID), bus.startPeer(t, victimUID)
	for i := range 5 {
		if r := attacker.do(peerCmd{Op: "authkey", Name: "loop"}); r.Out != testKey {
			t.Fatalf("call %d of the burst: %+v", i+1, r)
		}
	}
	r := attacker.do(peerCmd{Op: "authkey", Name: "loop"})
	if r.Out == testKey || r.Failed != 7 || !r.RateLimited || !strings.Contains(r.Msg, "too many auth-key lookups") || !strings.Contains(r.Msg, "try again in 30s") {
		t.Errorf("sixth AuthKey: %+v, want exit 7 saying when to try again", r)
	}
	if n := resolver.count(); n != 5 {
		t.Errorf("the resolver was asked %d times, want 5", n)
	}
	if r := victim.do(peerCmd{Op: "authkey", Name: "mine"}); r.Out != testKey {
		t.Errorf("another user's AuthKey: %+v", r)
	}
	clock.Advance(30 * time.Second)
	if r := attacker.do(peerCmd{Op: "authkey", Name: "loop"}); r.Out != testKey {
		t.Errorf("AuthKey 30 s later: %+v", r)
	}
}

// countingForgetter deletes nothing and counts.
type countingForgetter struct {
	mu    sync.Mutex
	calls int
}

func (f *countingForgetter) Forget(context.Context, string, string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return 0, nil
}

func (f *countingForgetter) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// TestForgetDeviceRateLimit: the same for the Tailscale API, in a bucket
// of its own.
func TestForgetDeviceRateLimit(t *testing.T) {
	bus := startBus(t, "")
	s, _ := testServer(t)
	s.AuthKeyLimit, s.ForgetLimit = NewLimiter(5, 30*time.Second), NewLimiter(5, 30*time.Second)
	f := &countingForgetter{}
	s.Tailnet = f
	bus.serve(t, s)
	attacker := bus.startPeer(t, attackerUID)
	for range 5 {
		attacker.do(peerCmd{Op: "authkey", Name: "loop"})
	}
	r := attacker.do(peerCmd{Op: "call", Method: "ForgetDevice", Args: []arg{sArg("loop")}, N: 6})
	if r.Failed != 1 || r.Err != agentproto.ErrorRateLimited || !strings.Contains(r.Msg, "try again in 30s") {
		t.Errorf("six ForgetDevice calls: %+v, want the sixth refused (exit 7) saying when to try again", r)
	}
	if n := f.count(); n != 5 {
		t.Errorf("the Tailscale API was asked %d times, want 5", n)
	}
}
