package agentproto

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
)

// TestErrorNamesRoundTrip: each class the agent returns crosses the bus
// under its own name and comes back as the same class with the same text.
func TestErrorNamesRoundTrip(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range []*errdefs.Class{errdefs.Usage, errdefs.NotFound, errdefs.Exists, errdefs.UserCap, errdefs.HostCap, errdefs.Secret, errdefs.System} {
		err := errdefs.Errorf(c, "because %s", c)
		name := ErrorName(err)
		if !strings.HasPrefix(name, Interface+".Error.") || seen[name] {
			t.Errorf("%v: error name %q (taken: %v)", c, name, seen[name])
		}
		seen[name] = true
		back := DecodeError("op", name, err.Error())
		if !errdefs.Is(back, c) || back.Error() != err.Error() {
			t.Errorf("%v came back as %v (exit %d)", c, back, errdefs.ExitCode(back))
		}
		if errors.Is(back, ErrRateLimited) {
			t.Errorf("%v came back rate limited", c)
		}
	}
}

// TestErrorNameWireValues pins the names docs/agent.md documents: clients
// of other versions match them.
func TestErrorNameWireValues(t *testing.T) {
	for got, want := range map[string]string{
		ErrorName(errdefs.Errorf(errdefs.UserCap, "x")): "io.github.DevboxQuadlet.Agent1.Error.UserCap",
		ErrorName(errors.New("no class")):               "io.github.DevboxQuadlet.Agent1.Error.Failed",
		ErrorName(RateLimited("too many")):              "io.github.DevboxQuadlet.Agent1.Error.RateLimited",
		ErrorDenied:                                     "io.github.DevboxQuadlet.Agent1.Error.AccessDenied",
		Member(MethodForgetDevice):                      "io.github.DevboxQuadlet.Agent1.ForgetDevice",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	// Marked with two classes, an error always gets the first in exit-code order.
	both := errdefs.Mark(errdefs.HostCap, errdefs.Errorf(errdefs.NotFound, "x"))
	for range 20 {
		if n := ErrorName(both); n != ErrorNotFound {
			t.Fatalf("two classes: %s, want %s", n, ErrorNotFound)
		}
	}
}

func TestRateLimited(t *testing.T) {
	err := RateLimitedf("too many auth-key lookups: try again in %s", 30*time.Second)
	if !errors.Is(err, ErrRateLimited) || !errdefs.Is(err, errdefs.Secret) || err.Error() != "too many auth-key lookups: try again in 30s" {
		t.Errorf("RateLimitedf = %v: rate limited %v, secret %v", err, errors.Is(err, ErrRateLimited), errdefs.Is(err, errdefs.Secret))
	}
	back := DecodeError("auth key for demo", ErrorRateLimited, err.Error())
	if !errors.Is(back, ErrRateLimited) || errdefs.ExitCode(back) != 7 || back.Error() != err.Error() {
		t.Errorf("decoded %v (exit %d)", back, errdefs.ExitCode(back))
	}
	// Wrapped further, it is still rate limited.
	if !errors.Is(fmt.Errorf("create: %w", back), ErrRateLimited) {
		t.Error("a wrapped rate-limited error no longer matches")
	}
	// A secret error that is not rate limited does not match.
	if errors.Is(DecodeError("op", ErrorSecret, "too many things"), ErrRateLimited) {
		t.Error("a Secret error whose text starts with \"too many\" matched ErrRateLimited")
	}
}

func TestDecodeError(t *testing.T) {
	for _, tc := range []struct {
		name, errName string
		exit          int
		text          string
	}{
		{"denied", ErrorDenied, 2, "op: the host agent refused: msg"},
		{"service unknown", "org.freedesktop.DBus.Error.ServiceUnknown", 9, "op: the host agent is not running: msg"},
		{"no owner", "org.freedesktop.DBus.Error.NameHasNoOwner", 9, "op: the host agent is not running: msg"},
		{"no reply", "org.freedesktop.DBus.Error.NoReply", 9, "op: the host agent is not running: msg"},
		{"activation failed", "org.freedesktop.DBus.Error.Spawn.ChildExited", 9, "op: the host agent is not running: msg"},
		{"unit failed", "org.freedesktop.systemd1.UnitMasked", 9, "op: the host agent is not running: msg"},
		{"bus policy", "org.freedesktop.DBus.Error.AccessDenied", 8, "op: host agent: msg"},
		{"unknown", "com.example.Error", 8, "op: host agent: msg"},
	} {
		err := DecodeError("op", tc.errName, "msg")
		if errdefs.ExitCode(err) != tc.exit || err.Error() != tc.text {
			t.Errorf("%s: exit %d %q, want exit %d %q", tc.name, errdefs.ExitCode(err), err, tc.exit, tc.text)
		}
	}
}

func TestForgetOutcome(t *testing.T) {
	for _, tc := range []struct {
		wire string
		want ForgetOutcome
		gone bool
	}{
		{"deleted 1 device(s)", ForgetOutcome{Result: ForgetDeleted, Devices: 1}, true},
		{"deleted 12 device(s)", ForgetOutcome{Result: ForgetDeleted, Devices: 12}, true},
		{"not found", ForgetOutcome{Result: ForgetNotFound}, true},
		{"not configured", ForgetOutcome{Result: ForgetNotConfigured}, false},
	} {
		got, err := ParseForgetOutcome(tc.wire)
		if err != nil || got != tc.want || got.Gone() != tc.gone || got.String() != tc.wire {
			t.Errorf("%q: %+v %v, gone %v, back %q", tc.wire, got, err, got.Gone(), got.String())
		}
	}
	for _, bad := range []string{"", "deleted", "deleted x device(s)", "deleted -1 device(s)", "deleted 1 devices", "Not Found", "gone"} {
		if o, err := ParseForgetOutcome(bad); err == nil || errdefs.ExitCode(err) != 8 {
			t.Errorf("%q parsed: %+v %v", bad, o, err)
		}
	}
}

// TestListingJSON: a listing entry's JSON is the ledger entry's fields with
// "running" added, in the order older agents and `status --all --json`
// print them.
func TestListingJSON(t *testing.T) {
	at := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	data, err := json.Marshal(ListingEntry{Name: "web", UID: 1000, User: "alice", CPUs: 2, Memory: 4 << 30, Created: at, Confirmed: at, Running: true})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"name":"web","uid":1000,"user":"alice","cpus":2,"memory":4294967296,"created":"2026-11-29T08:00:00Z","confirmed":"2026-11-29T08:00:00Z","running":true}`
	if string(data) != want {
		t.Errorf("got  %s\nwant %s", data, want)
	}
}

func TestSignature(t *testing.T) {
	for method, want := range map[string]string{MethodReserve: "sbut", MethodAuthKey: "sh", MethodRepair: "sb", MethodList: "b", MethodConfirm: "s"} {
		if got, ok := Signature(method); !ok || got != want {
			t.Errorf("%s: %q %v, want %q", method, got, ok, want)
		}
	}
	if _, ok := Signature("Introspect"); ok {
		t.Error("Introspect is a method of the agent's interface")
	}
}
