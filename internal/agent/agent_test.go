package agent

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/agentproto"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/policy"
)

func TestStoreRoundTrip(t *testing.T) {
	s := Store{Path: filepath.Join(t.TempDir(), "state", "ledger.json")}
	empty, err := s.Load()
	if err != nil || len(empty.Entries) != 0 || empty.Users == nil {
		t.Fatalf("missing ledger: %v %v", empty, err)
	}
	in := policy.NewLedger()
	in.Entries["demo"] = policy.Entry{Name: "demo", UID: 1000, User: "alice", CPUs: 2, Memory: 4 << 30, Created: time.Unix(100, 0).UTC(),
		SeenRunning: true, Confirmed: time.Unix(101, 0).UTC()}
	in.Users[1001] = policy.UserState{InFlightBlockedUntil: time.Unix(200, 0).UTC(), BlockedBy: "squat"}
	if err := s.Save(in); err != nil {
		t.Fatal(err)
	}
	out, err := s.Load()
	if err != nil || out.Entries["demo"] != in.Entries["demo"] || out.Users[1001] != in.Users[1001] {
		t.Fatalf("round trip: %+v %v", out, err)
	}
	data, _ := os.ReadFile(s.Path)
	for _, want := range []string{`"schema": 1`, `"revision": 2`, `"seen_running": true`, `"confirmed": "1970-01-01T00:01:41Z"`, `"users": {`, `"1001": {`, `"inflight_blocked_until": "1970-01-01T00:03:20Z"`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("the ledger file lacks %s:\n%s", want, data)
		}
	}
	fi, _ := os.Stat(filepath.Dir(s.Path))
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("state directory mode %v, want 0700", fi.Mode().Perm())
	}
	if err := os.WriteFile(s.Path, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(); err == nil {
		t.Error("a corrupt ledger loaded without error")
	}
}

// TestStoreUpgrade: a ledger written before confirmations (revision 1)
// loses no entry to expiry: its entries count as confirmed.
func TestStoreUpgrade(t *testing.T) {
	s := Store{Path: filepath.Join(t.TempDir(), "ledger.json")}
	old := `{"schema":1,"entries":{"web":{"name":"web","uid":1000,"user":"alice","cpus":2,"memory":4294967296,"created":"2026-01-01T00:00:00Z","reserved":"2026-01-02T00:00:00Z"}}}`
	if err := os.WriteFile(s.Path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	policy.Tidy(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), l, nil, policy.Limits{})
	if e, ok := l.Entries["web"]; !ok || e.Confirmed.IsZero() {
		t.Errorf("the upgraded entry: %+v %v", e, ok)
	}
}

func TestObserve(t *testing.T) {
	root := t.TempDir()
	ledger := map[string]policy.Entry{"up": {Name: "up", UID: 1000}, "down": {Name: "down", UID: 1001}, "gone": {Name: "gone", UID: 1002}}
	for name, events := range map[string]string{"up": "populated 1\n", "down": "populated 0\n"} {
		uid := map[string]string{"up": "1000", "down": "1001"}[name]
		d := filepath.Join(root, "user.slice", "user-"+uid+".slice", "user@"+uid+".service", "app.slice", "devbox-"+name+".service")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "cgroup.events"), []byte(events), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := Observe(root, ledger)
	if !got["up"] || got["down"] || got["gone"] {
		t.Errorf("Observe = %v", got)
	}
}

// TestToDBus: every class the server returns crosses the bus under its own
// error name with its text as the body, and comes back (agentproto's
// decoding, as the client does it) as the same class with the same text.
func TestToDBus(t *testing.T) {
	if toDBus(nil) != nil {
		t.Error("toDBus(nil) is not nil")
	}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"usage", errdefs.Errorf(errdefs.Usage, "bad name"), agentproto.ErrorUsage},
		{"not found", errdefs.Errorf(errdefs.NotFound, "no such"), agentproto.ErrorNotFound},
		{"exists", errdefs.Errorf(errdefs.Exists, "taken"), agentproto.ErrorExists},
		{"user cap", errdefs.Errorf(errdefs.UserCap, "5 of 5"), agentproto.ErrorUserCap},
		{"host cap", errdefs.Errorf(errdefs.HostCap, "7 of 7"), agentproto.ErrorHostCap},
		{"secret", errdefs.Errorf(errdefs.Secret, "no key"), agentproto.ErrorSecret},
		{"system", errdefs.Errorf(errdefs.System, "disk full"), agentproto.ErrorFailed},
		{"unclassified", errors.New("boom"), agentproto.ErrorFailed},
		{"rate limited", agentproto.RateLimitedf("too many calls"), agentproto.ErrorRateLimited},
	} {
		de := toDBus(tc.err)
		if de.Name != tc.want || len(de.Body) != 1 || de.Body[0] != tc.err.Error() {
			t.Errorf("%s: %s %v, want %s with the text", tc.name, de.Name, de.Body, tc.want)
			continue
		}
		want := errdefs.ExitCode(tc.err)
		if want == 1 {
			want = 8 // an unclassified error comes back as a system error
		}
		back := agentproto.DecodeError("op", de.Name, de.Body[0].(string))
		if errdefs.ExitCode(back) != want || back.Error() != tc.err.Error() {
			t.Errorf("%s: came back as exit %d %q, want exit %d %q", tc.name, errdefs.ExitCode(back), back, want, tc.err)
		}
	}
	if de := denied("not yours"); de.Name != agentproto.ErrorDenied || de.Body[0] != "not yours" {
		t.Errorf("denied = %s %v", de.Name, de.Body)
	}
}
