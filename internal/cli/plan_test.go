package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/lifecycle"
	"github.com/devbox-quadlet/devbox-quadlet/internal/quadlet"
)

// TestRenderIsWhatCreateWrites: render prints the plan that create
// applies, so for the same request the files on disk are render's bytes,
// with Syncthing, a tailnet with its login server, and Notify from the
// image's label.
func TestRenderIsWhatCreateWrites(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		notify bool
	}{
		{"plain", nil, false},
		{"with syncthing", []string{"--with-syncthing"}, false},
		{"notify from the image label", []string{"--cpus", "1", "--memory", "1G"}, true},
		{"both", []string{"--with-syncthing"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			cfg := filepath.Join(h.env.Home, "config.toml")
			if err := os.WriteFile(cfg, []byte("[secrets]\nbackend = \"env\"\n[tailnet]\nlogin_server = \"https://hs.example.org\"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.notify {
				h.pod.labels = map[string]map[string]string{"localhost/devbox:latest": {quadlet.NotifyLabel: "true"}}
			}
			if code := h.run(append([]string{"render", "demo"}, tc.args...)...); code != 0 {
				t.Fatalf("render: exit %d: %s", code, h.errOut)
			}
			rendered := h.out.String()
			if code := h.run(append([]string{"create", "demo"}, tc.args...)...); code != 0 {
				t.Fatalf("create: exit %d: %s", code, h.errOut)
			}
			var onDisk strings.Builder
			for i, f := range []string{quadlet.ContainerFile("demo"), quadlet.VolumeFile("demo")} {
				data, err := os.ReadFile(filepath.Join(h.env.QuadletDir(), f))
				if err != nil {
					t.Fatal(err)
				}
				if i > 0 {
					onDisk.WriteString("\n")
				}
				onDisk.WriteString("# path: " + filepath.Join(h.env.QuadletDir(), f) + "\n")
				onDisk.Write(data)
			}
			if rendered != onDisk.String() {
				t.Errorf("render printed\n%s\ncreate wrote\n%s", rendered, onDisk.String())
			}
			for _, want := range []string{"Secret=devbox-demo-tsauthkey", "DEVBOX_ACTIVITY_DIR=", "TS_LOGIN_SERVER=https://hs.example.org", quadlet.LabelTailnet + "=true"} {
				if !strings.Contains(rendered, want) {
					t.Errorf("render lacks %q:\n%s", want, rendered)
				}
			}
			if got := strings.Contains(rendered, "Notify=true"); got != tc.notify {
				t.Errorf("Notify=true in render: %v, want %v", got, tc.notify)
			}
			if got := strings.Contains(rendered, "DEVBOX_SYNCTHING=1"); got != slices.Contains(tc.args, "--with-syncthing") {
				t.Errorf("Syncthing in render: %v, want %v", got, !got)
			}
		})
	}
}

// TestRestoreKeepsEveryOption: a container created with --with-syncthing,
// its own limits and image comes back from its archive with all of them.
func TestRestoreKeepsEveryOption(t *testing.T) {
	h := newHarness(t)
	h.pod.images = append(h.pod.images, "localhost/other:1")
	if code := h.run("create", "demo", "--with-syncthing", "--cpus", "1.5", "--memory", "768M", "--image", "localhost/other:1"); code != 0 {
		t.Fatalf("create: %d %s", code, h.errOut)
	}
	before, _ := readSpec(h.env, "demo")
	h.pod.volumes = append(h.pod.volumes, "devbox-demo-home")
	if code := h.run("destroy", "--yes", "demo"); code != 0 {
		t.Fatalf("destroy: %d %s", code, h.errOut)
	}
	h.pod.volumes = nil
	if code := h.run("restore", "demo"); code != 0 {
		t.Fatalf("restore: %d %s", code, h.errOut)
	}
	after, err := readSpec(h.env, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if !after.Syncthing || after.CPUs != before.CPUs || after.Memory != before.Memory || after.Image != before.Image {
		t.Errorf("restored %+v, created %+v", after, before)
	}
}

// TestReaperViewAfterStopSweepStart: create, stop, sweep, start; then
// list, status and reap --dry-run all say the next action is a stop, due
// idle_stop after the start (the sweep had said destroy).
func TestReaperViewAfterStopSweepStart(t *testing.T) {
	h := newHarness(t)
	now := withClock(t, h)
	if code := h.run("create", "demo"); code != 0 {
		t.Fatalf("create: %d %s", code, h.errOut)
	}
	running(h, "demo", true)
	*now = now.Add(10 * time.Second)
	if code := h.run("stop", "demo"); code != 0 {
		t.Fatalf("stop: %d %s", code, h.errOut)
	}
	running(h, "demo", false)
	*now = now.Add(10 * time.Second)
	if code := h.run("reap"); code != 0 {
		t.Fatalf("reap: %d %s", code, h.errOut)
	}
	if r, _ := h.env.loadRecord("demo"); r.Next != "destroy" {
		t.Fatalf("after the sweep of a stopped container, next = %q", r.Next)
	}
	*now = now.Add(10 * time.Second)
	h.sys.onStart = func(string) { running(h, "demo", true) }
	if code := h.run("start", "demo"); code != 0 {
		t.Fatalf("start: %d %s", code, h.errOut)
	}
	started := *now

	var list struct {
		Containers []struct{ Reaper lifecycle.View } `json:"containers"`
	}
	if code := h.run("list", "--json"); code != 0 || json.Unmarshal(h.out.Bytes(), &list) != nil || len(list.Containers) != 1 {
		t.Fatalf("list: %d %s", code, h.out)
	}
	var status struct{ Reaper lifecycle.View }
	if code := h.run("status", "demo", "--json"); code != 0 || json.Unmarshal(h.out.Bytes(), &status) != nil {
		t.Fatalf("status: %d %s", code, h.out)
	}
	var dry lifecycle.SweepResult
	if code := h.run("reap", "--dry-run", "--json"); code != 0 || json.Unmarshal(h.out.Bytes(), &dry) != nil || len(dry.Containers) != 1 {
		t.Fatalf("reap --dry-run: %d %s", code, h.out)
	}
	wantDue := started.Add(60 * time.Second).UTC()
	for what, v := range map[string]struct {
		next string
		due  time.Time
	}{
		"list":           {list.Containers[0].Reaper.Next, *list.Containers[0].Reaper.Due},
		"status":         {status.Reaper.Next, *status.Reaper.Due},
		"reap --dry-run": {dry.Containers[0].Next, dry.Containers[0].Due},
	} {
		if v.next != "stop" || !v.due.Equal(wantDue) {
			t.Errorf("%s: next %s at %s, want stop at %s", what, v.next, v.due, wantDue)
		}
	}
	if code := h.run("list"); code != 0 || bytes.Contains(h.out.Bytes(), []byte("destroy@")) {
		t.Errorf("list shows a destroy for a running container:\n%s", h.out)
	}
}
