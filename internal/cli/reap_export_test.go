package cli

import (
	"context"
	"encoding/json"
	"github.com/devbox-quadlet/devbox-quadlet/internal/lifecycle"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/reaper"
)

// hookPodman runs onExport in the middle of a volume export.
type hookPodman struct {
	*fakePodman
	onExport func(ctx context.Context) error
}

func (p hookPodman) ExportVolume(ctx context.Context, n, path string) error {
	if err := p.onExport(ctx); err != nil {
		p.calls = append(p.calls, "export "+n)
		return err
	}
	return p.fakePodman.ExportVolume(ctx, n, path)
}

// stoppedAndDue is a harness with one stopped container, demo, whose home
// exists and whose destroy is due and was warned of.
func stoppedAndDue(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t)
	now := withClock(t, h)
	if code := h.run("create", "--no-start", "demo"); code != 0 {
		t.Fatalf("create: %d %s", code, h.errOut)
	}
	running(h, "demo", false)
	h.pod.volumes = append(h.pod.volumes, "devbox-demo-home")
	dueForDestroy(t, h, "demo", *now)
	return h
}

// dueForDestroy writes the reaper record of a container that has been
// stopped for an hour and was warned of its destroy an hour ago.
func dueForDestroy(t *testing.T, h *harness, name string, now time.Time) {
	t.Helper()
	since := now.Add(-time.Hour).Truncate(time.Second)
	r := record{State: reaper.State{LastActive: since, Signal: reaper.SignalFirstSeen, StoppedSince: since,
		Warned: since.Add(120 * time.Second), WarnedAt: since, WarnedOf: reaper.Destroy}}
	if err := h.env.saveRecord(name, r); err != nil {
		t.Fatal(err)
	}
}

// TestReapExportDoesNotHoldTheLock: a slow export of one container's home
// must not keep its owner from working (the old reaper held the lock across
// an unbounded `podman volume export`), and a container the owner starts
// during the export is not destroyed after it.
func TestReapExportDoesNotHoldTheLock(t *testing.T) {
	h := stoppedAndDue(t)
	h.env.LockTimeout = 2 * time.Second
	lockedOut := false
	h.env.Podman = hookPodman{fakePodman: h.pod, onExport: func(context.Context) error {
		// The owner, meanwhile: takes the lock and starts the container.
		l, err := lockUser(h.env, "start demo")
		if err != nil {
			lockedOut = true
			return nil
		}
		running(h, "demo", true)
		l.Unlock()
		return nil
	}}
	if code := h.run("reap", "--json"); code != 0 {
		t.Fatalf("reap: exit %d: %s", code, h.errOut)
	}
	if lockedOut {
		t.Fatal("the reaper held the user's lock during the export")
	}
	var res lifecycle.SweepResult
	if err := json.Unmarshal(h.out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Containers) != 1 || !strings.Contains(res.Containers[0].Skipped, "started") {
		t.Errorf("reap result %+v: want the destroy skipped because the container was started", res.Containers)
	}
	if rm := removedAnything(h); len(rm) != 0 || len(h.quadletFiles()) != 2 {
		t.Errorf("a container started during the export was destroyed: %v, files %v", rm, h.quadletFiles())
	}
	if entries, _ := filepath.Glob(filepath.Join(h.env.archiveDir(), "demo-*.tar")); len(entries) != 0 {
		t.Errorf("the stale archive of a container that lives on was kept: %v", entries)
	}
}

// TestReapExportIsBounded: a podman that hangs in `volume export` is given
// up on after [reaper] export_timeout, nothing is destroyed, and the error
// says so (exit 8).
func TestReapExportIsBounded(t *testing.T) {
	h := stoppedAndDue(t)
	h.env.ExportTimeout = 200 * time.Millisecond
	h.env.Podman = hookPodman{fakePodman: h.pod, onExport: func(ctx context.Context) error {
		<-ctx.Done() // a hung podman, killed by the context
		return ctx.Err()
	}}
	start := time.Now()
	code := h.run("reap")
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("reap took %s with an export bound of 200ms", took)
	}
	if code != 8 || !strings.Contains(h.errOut.String(), "did not finish within") {
		t.Errorf("reap with a hung export: exit %d, want 8 saying podman did not finish: %s", code, h.errOut)
	}
	if rm := removedAnything(h); len(rm) != 0 || len(h.quadletFiles()) != 2 {
		t.Errorf("destroyed after a failed export: %v", rm)
	}
	// --json prints the sweep and still exits 8 (it used to exit 0).
	if code := h.run("reap", "--json"); code != 8 || !strings.Contains(h.out.String(), "did not finish within") {
		t.Errorf("reap --json with a hung export: exit %d, want 8 with the error in the JSON: %s", code, h.out)
	}
	if !slices.ContainsFunc(h.journal, func(s string) bool { return strings.HasPrefix(s, MessageExportFailed) }) {
		t.Errorf("no export-failed journal entry: %v", h.journal)
	}
}
