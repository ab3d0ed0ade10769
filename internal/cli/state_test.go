package cli

import (
	"encoding/json"
	"github.com/devbox-quadlet/devbox-quadlet/internal/lifecycle"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/atomicfile"
)

// TestReaperFindsTheStateOfTheCreate: a shell that sets XDG_STATE_HOME makes
// the container, and the timer-run reaper, whose user manager does not set
// it, must still see that container's session file. The old code looked in
// its own $XDG_STATE_HOME and stopped a busy container as idle.
func TestReaperFindsTheStateOfTheCreate(t *testing.T) {
	h := newHarness(t)
	now := withClock(t, h)
	shellState := filepath.Join(h.env.Home, "shell-state")
	h.vars["XDG_STATE_HOME"] = shellState
	if code := h.run("create", "demo"); code != 0 {
		t.Fatalf("create: %d %s", code, h.errOut)
	}
	running(h, "demo", true)
	delete(h.vars, "XDG_STATE_HOME") // the user manager's environment

	session := filepath.Join(shellState, "devbox-quadlet", "activity", "demo", "session")
	if err := os.WriteFile(session, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 8; i++ { // 80 s of sweeps, past idle_stop (60 s)
		*now = now.Add(10 * time.Second)
		if err := os.Chtimes(session, *now, *now); err != nil {
			t.Fatal(err)
		}
		if code := h.run("reap", "--json"); code != 0 {
			t.Fatalf("reap: %d %s", code, h.errOut)
		}
		var res lifecycle.SweepResult
		if err := json.Unmarshal(h.out.Bytes(), &res); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			continue // the first sweep starts the clock at now
		}
		if len(res.Containers) != 1 || res.Containers[0].Signal != "session" || len(res.Containers[0].Actions) != 0 {
			t.Fatalf("sweep %d: the reaper did not see the session file of the create's state dir: %+v", i, res.Containers)
		}
	}
	if _, err := os.Stat(filepath.Join(shellState, "devbox-quadlet", "reaper", "demo.json")); err != nil {
		t.Errorf("the reaper's record is not next to the activity directory: %v", err)
	}
}

// TestLockIgnoresTheEnvironment: two processes with different XDG_STATE_HOME
// take the same lock, and a waiter that gives up names the holder.
func TestLockIgnoresTheEnvironment(t *testing.T) {
	h := newHarness(t)
	h.vars["XDG_STATE_HOME"] = filepath.Join(h.env.Home, "a")
	held, err := lockUser(h.env, "reap")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Unlock()
	h.vars["XDG_STATE_HOME"] = filepath.Join(h.env.Home, "b")
	h.env.LockTimeout = 300 * time.Millisecond
	start := time.Now()
	_, err = lockUser(h.env, "create demo")
	if err == nil {
		t.Fatal("a second lock with another XDG_STATE_HOME was granted while the first is held")
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("the lock wait was not bounded: %s", waited)
	}
	if !strings.Contains(err.Error(), "`reap`") || !strings.Contains(err.Error(), "pid ") {
		t.Errorf("the refusal does not name the holder: %v", err)
	}
	held.Unlock()
	again, err := lockUser(h.env, "create demo")
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	again.Unlock()
}

// TestIntentIsDurable: the intent record is fsynced, file and directory,
// before create makes anything (docs/lifecycle.md says so). The old code
// wrote it with os.WriteFile and synced only the directory.
func TestIntentIsDurable(t *testing.T) {
	h := newHarness(t)
	var synced []string
	atomicfile.SyncedHook = func(p string) { synced = append(synced, p) }
	t.Cleanup(func() { atomicfile.SyncedHook = nil })
	if err := h.env.writeIntent(intent{Name: "demo", Started: h.env.Now()}); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(synced, h.env.intentPath("demo")) {
		t.Errorf("the intent record was not fsynced; synced: %v", synced)
	}
}
