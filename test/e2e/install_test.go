//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The host as `make install` left it (test/vm/guest-common.sh install_host).
const (
	installedCLI      = "/usr/local/bin/devbox-quadlet"
	installedUserUnit = "/usr/local/lib/systemd/user"
)

// TestInstallReapTimer: the reaper's units are the packaged ones, enabled
// for every user and running the installed binary, never the path a CLI ran
// from; a create adapts them with drop-ins; and the timer keeps sweeping
// after the binary is replaced the way a package upgrade (or a NixOS switch
// and a garbage collection) replaces it.
func TestInstallReapTimer(t *testing.T) {
	requireRoot(t)
	service, err := os.ReadFile(filepath.Join(installedUserUnit, "devbox-quadlet-reap.service"))
	if err != nil || !strings.Contains(string(service), "\nExecStart="+installedCLI+" reap\n") {
		t.Fatalf("the installed reaper service does not run %s: %v\n%s", installedCLI, err, service)
	}
	// Enabled for every user by the package's own timers.target.wants link:
	// carol's manager wants it without carol doing anything.
	if r := as(t, "carol", nil, "systemctl", "--user", "show", "-p", "Wants", "timers.target"); !strings.Contains(r.stdout, "devbox-quadlet-reap.timer") {
		t.Fatalf("carol's timers.target does not want the reaper: %s", r)
	}

	// A create with a 5 s sweep: the drop-in, not a unit of its own.
	cfg := userConfig(t, "required")
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Windows far longer than the test: the sweeps must not act.
	fmt.Fprint(f, "\n[reaper]\nsweep_interval = \"5s\"\nidle_stop = \"1d\"\nstopped_destroy = \"2d\"\nwarn_before = \"1h\"\n")
	f.Close()
	userUnits := "/home/carol/.config/systemd/user"
	t.Cleanup(func() {
		dqAs(t, "carol", cfg, "destroy", "--yes", "--no-archive", "instreap")
		os.RemoveAll(filepath.Join(userUnits, "devbox-quadlet-reap.timer.d"))
		os.RemoveAll(filepath.Join(userUnits, "devbox-quadlet-reap.service.d"))
		as(t, "carol", nil, "systemctl", "--user", "daemon-reload")
		as(t, "carol", nil, "systemctl", "--user", "restart", "devbox-quadlet-reap.timer")
	})
	if r := dqAs(t, "carol", cfg, "create", "--no-start", "instreap"); r.code != 0 {
		t.Fatalf("create: %s", r)
	}
	if _, err := os.Lstat(filepath.Join(userUnits, "devbox-quadlet-reap.timer")); err == nil {
		t.Error("create wrote a per-user timer although the packaged one is installed")
	}
	if b, err := os.ReadFile(filepath.Join(userUnits, "devbox-quadlet-reap.timer.d", "50-devbox-quadlet.conf")); err != nil || !strings.Contains(string(b), "OnUnitActiveSec=5s") {
		t.Errorf("the timer drop-in: %v\n%s", err, b)
	}
	show := func(props string) string {
		return as(t, "carol", nil, "systemctl", "--user", "show", "-p", props, "devbox-quadlet-reap.service").stdout
	}
	if got := show("ExecStart"); !strings.Contains(got, "path="+installedCLI+" ") {
		t.Fatalf("carol's reaper runs %q, not %s", got, installedCLI)
	}
	if r := as(t, "carol", nil, "systemctl", "--user", "is-active", "devbox-quadlet-reap.timer"); strings.TrimSpace(r.stdout) != "active" {
		t.Fatalf("the timer is not active after create: %s", r)
	}

	// Replace the binary as a package manager does: a new file renamed over
	// the old, whose inode is then gone.
	var before, after syscall.Stat_t
	if err := syscall.Stat(installedCLI, &before); err != nil {
		t.Fatal(err)
	}
	must(t, "cp", installedCLI, installedCLI+".new")
	must(t, "mv", "-f", installedCLI+".new", installedCLI)
	if err := syscall.Stat(installedCLI, &after); err != nil || after.Ino == before.Ino {
		t.Fatalf("the binary was not replaced: inode %d, then %d (%v)", before.Ino, after.Ino, err)
	}
	replaced := time.Now()

	// The timer's next sweep runs the new file and succeeds.
	waitFor(t, "a timer-run sweep after the replacement", 90*time.Second, func() bool {
		kv := map[string]string{}
		for _, line := range strings.Split(show("ExecMainStartTimestamp,Result,ExecMainStatus,ActiveState"), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				kv[k] = v
			}
		}
		started, err := time.Parse("Mon 2006-01-02 15:04:05 MST", kv["ExecMainStartTimestamp"])
		if err != nil || !started.After(replaced) || kv["ActiveState"] == "activating" {
			return false
		}
		if kv["Result"] != "success" || kv["ExecMainStatus"] != "0" {
			t.Fatalf("the sweep after the replacement failed: %v\n%s", kv,
				as(t, "carol", nil, "journalctl", "--user", "--no-pager", "-n", "20", "-u", "devbox-quadlet-reap.service").stdout)
		}
		t.Logf("the timer ran %s at %s (inode %d, was %d): %v", installedCLI, started.Format(time.TimeOnly), after.Ino, before.Ino, kv)
		return true
	})
}
