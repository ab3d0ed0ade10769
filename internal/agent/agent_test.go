package agent

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/policy"
)

func TestStoreRoundTrip(t *testing.T) {
	s := Store{Path: filepath.Join(t.TempDir(), "state", "ledger.json")}
	empty, err := s.Load()
	if err != nil || len(empty) != 0 {
		t.Fatalf("missing ledger: %v %v", empty, err)
	}
	in := map[string]policy.Entry{"demo": {Name: "demo", UID: 1000, User: "alice", CPUs: 2, Memory: 4 << 30, Created: time.Unix(100, 0).UTC()}}
	if err := s.Save(in); err != nil {
		t.Fatal(err)
	}
	out, err := s.Load()
	if err != nil || out["demo"] != in["demo"] {
		t.Fatalf("round trip: %+v %v", out, err)
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

func TestErrorMapping(t *testing.T) {
	for _, c := range []*errdefs.Class{errdefs.NotFound, errdefs.Exists, errdefs.UserCap, errdefs.HostCap} {
		back := fromDBus("op", *toDBus(errdefs.Errorf(c, "because")))
		if !errdefs.Is(back, c) || back.Error() != "because" {
			t.Errorf("%v did not survive the bus: %v", c, back)
		}
	}
	if err := fromDBus("op", dbus.Error{Name: "org.freedesktop.DBus.Error.ServiceUnknown"}); !errdefs.Is(err, errdefs.AgentMissing) {
		t.Errorf("ServiceUnknown -> %v, want agent missing", err)
	}
	if err := fromDBus("op", errors.New("broken pipe")); !errdefs.Is(err, errdefs.AgentMissing) {
		t.Errorf("transport error -> %v, want agent missing", err)
	}
	if err := fromDBus("op", dbus.Error{Name: Denied, Body: []any{"not yours"}}); errdefs.ExitCode(err) != 2 {
		t.Errorf("denied -> %v", err)
	}
}
