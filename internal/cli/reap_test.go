package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/devbox-quadlet/devbox-quadlet/internal/lifecycle"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/sd"
)

// withClock gives the harness a clock the test moves, and short reaper
// windows like the e2e config's.
func withClock(t *testing.T, h *harness) *time.Time {
	t.Helper()
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	h.env.Now = func() time.Time { return now }
	cfg := "[secrets]\nbackend = \"env\"\n\n[reaper]\nidle_stop = \"60s\"\nstopped_destroy = \"120s\"\nwarn_before = \"30s\"\nsweep_interval = \"10s\"\n"
	if err := os.WriteFile(h.env.DefaultConfig, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return &now
}

func running(h *harness, name string, on bool) {
	u := "devbox-" + name + ".service"
	if on {
		h.sys.states[u] = sd.UnitState{Name: u, LoadState: "loaded", ActiveState: "active", SubState: "running"}
	} else {
		h.sys.states[u] = sd.UnitState{Name: u, LoadState: "loaded", ActiveState: "inactive", SubState: "dead"}
	}
}

// TestReapSweepCost: 20 containers cost one listing call and one property
// read per running container, and no podman call at all.
func TestReapSweepCost(t *testing.T) {
	h := newHarness(t)
	withClock(t, h)
	h.vars["XDG_STATE_HOME"] = filepath.Join(h.env.Home, "state")
	cfg, _ := os.ReadFile(h.env.DefaultConfig)
	if err := os.WriteFile(h.env.DefaultConfig, append(cfg, "\n[caps]\nmax_per_user = 30\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if code := h.run("create", "--no-start", fmt.Sprintf("box%02d", i)); code != 0 {
			t.Fatalf("create: %d %s", code, h.errOut)
		}
		running(h, fmt.Sprintf("box%02d", i), i%2 == 0)
	}
	h.sys.calls, h.pod.calls = nil, nil
	if code := h.run("reap"); code != 0 {
		t.Fatalf("reap: %d %s", code, h.errOut)
	}
	var listings, reads int
	for _, c := range h.sys.calls {
		switch {
		case strings.HasPrefix(c, "units "):
			listings++
		case strings.HasPrefix(c, "cpu "):
			reads++
		default:
			t.Errorf("unexpected systemd call %q", c)
		}
	}
	if listings != 1 || reads != 10 {
		t.Errorf("sweep made %d listing calls and %d property reads; want 1 and 10 (running containers)", listings, reads)
	}
	if len(h.pod.calls) != 0 {
		t.Errorf("sweep forked podman: %v", h.pod.calls)
	}
}

// TestReapLifecycle: warn, stop (a normal stop: autostart removed), warn,
// export, destroy; then restore brings the container back.
func TestReapLifecycle(t *testing.T) {
	h := newHarness(t)
	now := withClock(t, h)
	if code := h.run("create", "demo"); code != 0 {
		t.Fatalf("create: %d %s", code, h.errOut)
	}
	running(h, "demo", true)
	step := func(d time.Duration) {
		t.Helper()
		*now = now.Add(d)
		if code := h.run("reap"); code != 0 {
			t.Fatalf("reap at +%s: %d %s", d, code, h.errOut)
		}
	}
	step(0) // first sight: the clock starts
	step(20 * time.Second)
	if len(h.journal) != 0 {
		t.Fatalf("warned too early: %v", h.journal)
	}
	step(15 * time.Second) // 35 s idle: inside warn_before of the 60 s stop
	if len(h.journal) != 1 || !strings.HasPrefix(h.journal[0], MessageWarn+" devbox-quadlet: demo will be stopped") {
		t.Fatalf("journal = %v", h.journal)
	}
	if code := h.run("list"); code != 0 || !strings.Contains(h.out.String(), "stop@") {
		t.Errorf("list does not show the pending stop:\n%s", h.out)
	}
	step(10 * time.Second)
	if len(h.journal) != 1 {
		t.Errorf("warned twice for one deadline: %v", h.journal)
	}
	h.sys.calls = nil
	step(20 * time.Second) // 65 s idle
	if !slices.Contains(h.sys.calls, "stop devbox-demo.service") || h.env.autostartEnabled("demo") {
		t.Fatalf("not stopped like `stop` would: calls %v, autostart %v", h.sys.calls, h.env.autostartEnabled("demo"))
	}
	running(h, "demo", false)
	step(100 * time.Second) // stopped 100 s: warned of the destroy
	if last := h.journal[len(h.journal)-1]; !strings.HasPrefix(last, MessageWarn) || !strings.Contains(last, "destroyed") {
		t.Errorf("no destroy warning: %v", h.journal)
	}
	step(25 * time.Second) // stopped 125 s: due, but the warning is only 25 s old
	if slices.Contains(h.pod.calls, "export devbox-demo-home") {
		t.Fatalf("destroyed before the warning had its full 30 s: %v", h.pod.calls)
	}
	step(10 * time.Second) // the warning is 35 s old: export, then destroy
	if !slices.Contains(h.pod.calls, "export devbox-demo-home") || len(h.quadletFiles()) != 0 {
		t.Fatalf("not destroyed after export: podman %v, files %v", h.pod.calls, h.quadletFiles())
	}
	archives, _ := filepath.Glob(filepath.Join(h.env.archiveDir(), "demo-*.tar"))
	if len(archives) != 1 {
		t.Fatalf("archives: %v", archives)
	}
	if _, err := os.Stat(archives[0] + ".container"); err != nil {
		t.Errorf("the spec was not kept next to the archive: %v", err)
	}
	if last := h.journal[len(h.journal)-1]; !strings.HasPrefix(last, MessageDestroyed) {
		t.Errorf("no destroyed entry: %v", h.journal)
	}
	running(h, "demo", true) // what systemd will say once restore has started it
	if code := h.run("restore", "demo"); code != 0 {
		t.Fatalf("restore: %d %s", code, h.errOut)
	}
	if !slices.Contains(h.pod.calls, "import devbox-demo-home") || len(h.quadletFiles()) != 2 {
		t.Errorf("restore: podman %v, files %v", h.pod.calls, h.quadletFiles())
	}
}

func TestReapExportFailureKeepsTheContainer(t *testing.T) {
	h := newHarness(t)
	now := withClock(t, h)
	if code := h.run("create", "--no-start", "demo"); code != 0 {
		t.Fatalf("create: %d %s", code, h.errOut)
	}
	running(h, "demo", false)
	h.run("reap")
	h.pod.exportErr = errdefs.Errorf(errdefs.System, "podman volume export: no space left on device")
	*now = now.Add(5 * time.Minute)
	h.pod.calls = nil
	if code := h.run("reap"); code != 0 || len(h.pod.calls) != 0 {
		t.Fatalf("an overdue container must be warned about first: exit %d, podman %v", code, h.pod.calls)
	}
	*now = now.Add(31 * time.Second)
	if code := h.run("reap"); code != 8 {
		t.Errorf("reap with a failing export: exit %d, want 8: %s", code, h.errOut)
	}
	if len(h.quadletFiles()) != 2 {
		t.Fatalf("destroyed although the export failed: %v", h.quadletFiles())
	}
	if last := h.journal[len(h.journal)-1]; !strings.HasPrefix(last, MessageExportFailed) {
		t.Errorf("journal: %v", h.journal)
	}
	if code := h.run("status", "demo", "--json"); code != 0 {
		t.Fatalf("status: %d %s", code, h.errOut)
	}
	var st statusResult
	_ = json.Unmarshal(h.out.Bytes(), &st)
	if !strings.Contains(st.Reaper.ExportError, "no space left") {
		t.Errorf("status does not say the export failed: %+v", st.Reaper)
	}
}

func TestKeepaliveHoldsIt(t *testing.T) {
	h := newHarness(t)
	now := withClock(t, h)
	if code := h.run("create", "demo"); code != 0 {
		t.Fatalf("create: %d %s", code, h.errOut)
	}
	running(h, "demo", true)
	if code := h.run("keepalive", "demo", "--for", "1h"); code != 0 {
		t.Fatalf("keepalive: %d %s", code, h.errOut)
	}
	for i := 0; i < 10; i++ {
		*now = now.Add(30 * time.Second)
		h.sys.calls = nil
		h.run("reap")
		if slices.Contains(h.sys.calls, "stop devbox-demo.service") {
			t.Fatalf("stopped during a lease at +%ds", (i+1)*30)
		}
	}
	if code := h.run("reap", "--dry-run", "--json"); code != 0 {
		t.Fatal(h.errOut.String())
	}
	var res lifecycle.SweepResult
	_ = json.Unmarshal(h.out.Bytes(), &res)
	if len(res.Containers) != 1 || res.Containers[0].Signal != "lease" {
		t.Errorf("dry run: %+v", res.Containers)
	}
	if code := h.run("keepalive", "demo", "--clear"); code != 0 {
		t.Fatal(h.errOut.String())
	}
	*now = now.Add(2 * time.Minute)
	h.run("reap") // overdue: the warning comes first
	*now = now.Add(31 * time.Second)
	h.sys.calls = nil
	h.run("reap")
	if !slices.Contains(h.sys.calls, "stop devbox-demo.service") {
		t.Errorf("not stopped after the lease was cleared: %v", h.sys.calls)
	}
	if code := h.run("keepalive", "demo", "--for", "soon"); code != 2 {
		t.Errorf("bad --for: exit %d", code)
	}
}

func TestCreateInstallsTheReapTimer(t *testing.T) {
	h := newHarness(t)
	withClock(t, h)
	h.vars["DEVBOX_QUADLET_CONFIG"] = h.env.DefaultConfig // the sweep must read the same file
	if code := h.run("create", "demo"); code != 0 {
		t.Fatalf("create: %d %s", code, h.errOut)
	}
	timer, err := os.ReadFile(filepath.Join(h.env.UserUnitDir(), "devbox-quadlet-reap.timer"))
	if err != nil || !strings.Contains(string(timer), "OnUnitActiveSec=10s") {
		t.Fatalf("timer: %v\n%s", err, timer)
	}
	service, _ := os.ReadFile(filepath.Join(h.env.UserUnitDir(), "devbox-quadlet-reap.service"))
	if !strings.Contains(string(service), "ExecStart=/usr/bin/devbox-quadlet reap") || !strings.Contains(string(service), "Environment=DEVBOX_QUADLET_CONFIG="+h.env.DefaultConfig) {
		t.Errorf("service:\n%s", service)
	}
	if _, err := os.Readlink(filepath.Join(h.env.UserUnitDir(), "timers.target.wants", "devbox-quadlet-reap.timer")); err != nil {
		t.Errorf("timer not enabled: %v", err)
	}
	unit, _ := os.ReadFile(filepath.Join(h.env.QuadletDir(), "devbox-demo.container"))
	if !strings.Contains(string(unit), ":/run/devbox/activity:rw") {
		t.Errorf("no activity mount:\n%s", unit)
	}
	h.sys.calls = nil
	if code := h.run("create", "demo2"); code != 0 {
		t.Fatalf("create: %d %s", code, h.errOut)
	}
	if slices.Contains(h.sys.calls, "start devbox-quadlet-reap.timer") {
		t.Errorf("the second create reinstalled the timer: %v", h.sys.calls)
	}
}

// TestReapDialsTheAgentOncePerSweep: a sweep that acts on nothing does not
// connect to the host agent; one that stops two containers connects once.
func TestReapDialsTheAgentOncePerSweep(t *testing.T) {
	h := newHarness(t)
	now := withClock(t, h)
	a := &fakeAgent{available: true}
	dials := 0
	h.env.DialAgent = func(context.Context) (Agent, error) { dials++; return a, nil }
	for _, n := range []string{"one", "two"} {
		if code := h.run("create", n); code != 0 {
			t.Fatalf("create %s: %d %s", n, code, h.errOut)
		}
		running(h, n, true)
	}
	dials = 0
	if code := h.run("reap"); code != 0 {
		t.Fatalf("reap: %d %s", code, h.errOut)
	}
	if dials != 0 {
		t.Errorf("a sweep that acted on nothing dialled the agent %d times", dials)
	}
	*now = now.Add(2 * time.Minute)
	if code := h.run("reap"); code != 0 { // overdue: warnings first, no agent needed
		t.Fatalf("reap: %d %s", code, h.errOut)
	}
	*now = now.Add(31 * time.Second)
	if code := h.run("reap"); code != 0 {
		t.Fatalf("reap: %d %s", code, h.errOut)
	}
	if dials != 1 || !slices.Contains(a.calls, "stop one") || !slices.Contains(a.calls, "stop two") {
		t.Errorf("stopping two: %d dials, agent calls %v; want one dial and both stops", dials, a.calls)
	}
}

// TestCreateAdaptsThePackagedReapTimer: with the timer `make install` ships,
// create writes no units of its own, only drop-ins for a config that differs
// from the packaged one, keeps them current, and removes them when they are
// no longer needed.
func TestCreateAdaptsThePackagedReapTimer(t *testing.T) {
	h := newHarness(t)
	withClock(t, h)
	h.sys.unitFiles = map[string]string{"devbox-quadlet-reap.timer": "/usr/lib/systemd/user/devbox-quadlet-reap.timer"}
	h.vars["DEVBOX_QUADLET_CONFIG"] = h.env.DefaultConfig
	if code := h.run("create", "demo"); code != 0 {
		t.Fatalf("create: %d %s", code, h.errOut)
	}
	dir := h.env.UserUnitDir()
	if _, err := os.Stat(filepath.Join(dir, "devbox-quadlet-reap.timer")); !os.IsNotExist(err) {
		t.Errorf("create wrote its own timer next to the packaged one: %v", err)
	}
	timerDropIn := filepath.Join(dir, "devbox-quadlet-reap.timer.d", "50-devbox-quadlet.conf")
	serviceDropIn := filepath.Join(dir, "devbox-quadlet-reap.service.d", "50-devbox-quadlet.conf")
	if b, err := os.ReadFile(timerDropIn); err != nil || !strings.Contains(string(b), "OnUnitActiveSec=\nOnStartupSec=10s\nOnUnitActiveSec=10s\n") {
		t.Errorf("timer drop-in: %v\n%s", err, b)
	}
	if b, err := os.ReadFile(serviceDropIn); err != nil || !strings.Contains(string(b), "Environment=DEVBOX_QUADLET_CONFIG="+h.env.DefaultConfig+"\n") {
		t.Errorf("service drop-in: %v\n%s", err, b)
	}
	if !slices.Contains(h.sys.calls, "restart devbox-quadlet-reap.timer") {
		t.Errorf("the timer was not restarted with its new drop-ins: %v", h.sys.calls)
	}

	// The same config again, with the timer running: nothing to do.
	h.sys.states = map[string]sd.UnitState{"devbox-quadlet-reap.timer": {ActiveState: "active"}}
	h.sys.calls = nil
	if code := h.run("create", "demo2"); code != 0 {
		t.Fatalf("create: %d %s", code, h.errOut)
	}
	for _, c := range h.sys.calls {
		if strings.Contains(c, "reap.timer") {
			t.Errorf("an unchanged, running timer was touched: %v", h.sys.calls)
		}
	}

	// The default config file: the service drop-in goes; the interval
	// (10 s here) still needs the timer's.
	delete(h.vars, "DEVBOX_QUADLET_CONFIG")
	h.sys.calls = nil
	if code := h.run("create", "demo3"); code != 0 {
		t.Fatalf("create: %d %s", code, h.errOut)
	}
	if _, err := os.Stat(serviceDropIn); !os.IsNotExist(err) {
		t.Errorf("a stale service drop-in stayed: %v", err)
	}
	if _, err := os.Stat(timerDropIn); err != nil {
		t.Errorf("the timer drop-in went: %v", err)
	}
	if !slices.Contains(h.sys.calls, "restart devbox-quadlet-reap.timer") {
		t.Errorf("the timer was not restarted: %v", h.sys.calls)
	}
}
