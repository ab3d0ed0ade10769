package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/agentproto"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/policy"
)

// TestAdmissionHint: each refusal of the agent gets the hint that fits it,
// from the text that crossed the bus.
func TestAdmissionHint(t *testing.T) {
	now := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	blocked := &policy.Blocked{User: "alice", Name: "x", Until: now.Add(30 * time.Second), Now: now}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"the per-user cap", errdefs.Errorf(errdefs.UserCap, "alice has 5 of 5 containers allowed per user: a, b"), "destroy NAME"},
		{"a paced reservation", errdefs.Errorf(errdefs.UserCap, "%s", blocked.Error()), "try again at the time given"},
		{"one in flight", errdefs.Errorf(errdefs.UserCap, "alice %s: %q, until then", policy.InFlightPhrase, "x"), "wait for that container"},
		{"the host cap", errdefs.Errorf(errdefs.HostCap, "host has 7 of 7"), "the host is full"},
	} {
		if got := admissionHint(tc.err, "demo"); !strings.Contains(got, tc.want) {
			t.Errorf("%s: hint %q, want it to say %q", tc.name, got, tc.want)
		}
	}
}

// TestRateLimitHint: a rate-limited auth-key lookup says to wait, not to
// call the admin.
func TestRateLimitHint(t *testing.T) {
	h := newHarness(t)
	a := &fakeAgent{available: true, keyErr: agentproto.RateLimitedf("too many auth-key lookups: each user may make 5, then one every 30s; try again in 10s")}
	withAgent(h, a, "auto")
	if code := h.run("create", "demo"); code != 7 {
		t.Fatalf("exit %d, want 7: %s", code, h.errOut)
	}
	if !strings.Contains(h.errOut.String(), "hint: wait until the time given") {
		t.Errorf("the hint does not say to wait:\n%s", h.errOut)
	}
}
