//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestReaperViewAfterStopSweepStart: every verb that changes whether a
// container runs records the reaper's clock, so list, status and
// `reap --dry-run` agree at every moment. After create, stop, a sweep (which
// sees it stopped: next destroy) and start, all three say the next action is
// a stop, due idle_stop after the start, never the destroy the sweep had
// recorded. The windows are long and the timer is taken away, so the only
// sweep is the test's own.
func TestReaperViewAfterStopSweepStart(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config.toml")
	body := "[container]\nimage = \"" + *testImage + "\"\n\n[reaper]\nidle_stop = \"1h\"\nstopped_destroy = \"2h\"\n" +
		"warn_before = \"10m\"\nsweep_interval = \"1h\"\ncpu_active_threshold = \"59m\"\n"
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DEVBOX_QUADLET_CONFIG", p)
	removeReapTimer(t)
	t.Cleanup(func() { removeReapTimer(t) })
	const name = "reapview"
	if r := dq(t, "create", name); r.code != 0 {
		t.Fatalf("create: %s", r)
	}
	t.Cleanup(func() { dq(t, "destroy", "--yes", name) })
	removeReapTimer(t) // create started it; this test sweeps by hand
	if r := dq(t, "stop", name); r.code != 0 {
		t.Fatalf("stop: %s", r)
	}
	if r := dq(t, "reap"); r.code != 0 {
		t.Fatalf("reap: %s", r)
	}
	if v := viewsOf(t, name)["list"]; v.Next != "destroy" {
		t.Fatalf("after a sweep of the stopped container, list says next %q, want destroy", v.Next)
	}
	started := time.Now().Add(-time.Second)
	if r := dq(t, "start", name); r.code != 0 {
		t.Fatalf("start: %s", r)
	}
	for what, v := range viewsOf(t, name) {
		if v.Next != "stop" {
			t.Errorf("%s: next %q at %s, want stop", what, v.Next, v.Due)
		}
		if v.Due.Before(started.Add(time.Hour)) {
			t.Errorf("%s: due %s, want idle_stop (1h) after the start at %s", what, v.Due, started)
		}
	}
}

type reaperNext struct {
	Next string
	Due  time.Time
}

// viewsOf is what list --json, status --json and reap --dry-run --json say
// of name's next action.
func viewsOf(t *testing.T, name string) map[string]reaperNext {
	t.Helper()
	type view struct {
		Next string     `json:"next"`
		Due  *time.Time `json:"due"`
	}
	var list struct {
		Containers []struct {
			Name   string `json:"name"`
			Reaper view   `json:"reaper"`
		} `json:"containers"`
	}
	var status struct {
		Reaper view `json:"reaper"`
	}
	var dry struct {
		Containers []struct {
			Name string    `json:"name"`
			Next string    `json:"next"`
			Due  time.Time `json:"due"`
		} `json:"containers"`
	}
	for _, c := range []struct {
		args []string
		into any
	}{
		{[]string{"list", "--json"}, &list},
		{[]string{"status", name, "--json"}, &status},
		{[]string{"reap", "--dry-run", "--json"}, &dry},
	} {
		r := dq(t, c.args...)
		if r.code != 0 {
			t.Fatalf("%v: %s", c.args, r)
		}
		if err := json.Unmarshal([]byte(r.stdout), c.into); err != nil {
			t.Fatalf("%v: %v\n%s", c.args, err, r.stdout)
		}
	}
	out := map[string]reaperNext{}
	deref := func(p *time.Time) time.Time {
		if p == nil {
			return time.Time{}
		}
		return *p
	}
	for _, c := range list.Containers {
		if c.Name == name {
			out["list"] = reaperNext{c.Reaper.Next, deref(c.Reaper.Due)}
		}
	}
	out["status"] = reaperNext{status.Reaper.Next, deref(status.Reaper.Due)}
	for _, c := range dry.Containers {
		if c.Name == name {
			out["reap --dry-run"] = reaperNext{c.Next, c.Due}
		}
	}
	if len(out) != 3 {
		t.Fatalf("%s is missing from a view: %v", name, out)
	}
	return out
}
