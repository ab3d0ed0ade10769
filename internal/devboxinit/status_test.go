package devboxinit

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

var t0 = time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n got: %s\nwant: %s", p, got, want)
	}
}

func TestRenderStatus(t *testing.T) {
	for _, tc := range []struct {
		name string
		st   Status
	}{
		{
			name: "up",
			st: Status{
				State: StateUp, Message: "up", Hostname: "demo", DNSName: "demo.example.net.",
				IPs:      []string{"100.64.0.1", "fd7a:115c:a1e0::1"},
				Services: map[string]int{"syncthing": 22000, "code-server": 8080, "syncthing-gui": 8384},
			},
		},
		{
			name: "failed",
			st: Status{
				State: StateFailed, Reason: ReasonKeyRefused, Hostname: "demo",
				Message: "tailscale up: authkey expired\n",
			},
		},
		{name: "off", st: Status{State: StateOff, Message: "no tailnet: the container was created without an auth key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := RenderStatus(tc.st, t0.Add(1500*time.Millisecond).In(time.FixedZone("CET", 3600)))
			golden(t, "status-"+tc.name+".json", got)

			// Round trip: what the host decodes is what was meant, with
			// the time in UTC and whole seconds.
			var back Status
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatal(err)
			}
			want := tc.st
			want.Message = OneLine(want.Message)
			want.Updated = t0.Add(time.Second)
			if !reflect.DeepEqual(back, want) {
				t.Errorf("round trip:\n got %+v\nwant %+v", back, want)
			}
		})
	}
}

func TestWriteStatus(t *testing.T) {
	dir := t.TempDir()
	if err := writeStatus(dir, Status{State: StateStarting, Message: "joining the tailnet"}, t0); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, StatusFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
	if err := writeStatus("", Status{}, t0); err != nil {
		t.Errorf("no activity directory: %v", err)
	}
}

func TestTouchSession(t *testing.T) {
	dir := t.TempDir()
	for _, at := range []time.Time{t0, t0.Add(time.Minute)} {
		if err := touchSession(dir, at); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(filepath.Join(dir, SessionFile))
		if err != nil {
			t.Fatal(err)
		}
		if !fi.ModTime().Equal(at) {
			t.Errorf("mtime %v, want %v", fi.ModTime(), at)
		}
	}
	if err := touchSession(filepath.Join(dir, "missing"), t0); err == nil {
		t.Error("touch in a missing directory succeeded")
	}
}
