//go:build e2e

package sd

// These tests drive a real systemd user manager: the VM test bed builds them
// with `go test -c -tags e2e -cover` and runs the binary as a test user
// (test/vm/guest-test.sh), with fixture units in the user's unit directory.
// They are the D-Bus edge's own tests; the e2e suite exercises it only
// through the CLI.

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fixtures are the units the tests start and stop; each name says what the
// unit does.
var fixtures = map[string]string{
	"sdtest-oneshot.service": "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n",
	"sdtest-fails.service":   "[Service]\nType=oneshot\nExecStart=/bin/false\n",
	"sdtest-sleeps.service":  "[Service]\nExecStart=/bin/sleep 600\n",
	"sdtest-slow.service":    "[Service]\nType=oneshot\nExecStart=/bin/sleep 30\n",
}

func connect(t *testing.T) *Manager {
	t.Helper()
	m, err := ConnectUser(context.Background(), UserBusAddress(os.Getenv, os.Getuid()))
	if err != nil {
		t.Fatalf("connect to the user manager: %v", err)
	}
	t.Cleanup(m.Close)
	return m
}

func systemctl(t *testing.T, args ...string) string {
	t.Helper()
	out, _ := exec.Command("systemctl", append([]string{"--user"}, args...)...).CombinedOutput()
	return strings.TrimSpace(string(out))
}

// installFixtures writes the fixture units and reloads through the package
// itself, so Reload is what makes them known; then masks
// sdtest-masked.service, a name with no unit file of its own (a mask is a
// link to /dev/null in the same directory, which an existing file blocks).
func installFixtures(t *testing.T, m *Manager) {
	t.Helper()
	home, _ := os.UserHomeDir()
	dir := filepath.Join(home, ".config", "systemd", "user")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range fixtures {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("[Unit]\nDescription=sd edge test fixture\n"+body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for name := range fixtures {
			systemctl(t, "stop", name)
			systemctl(t, "reset-failed", name)
			os.Remove(filepath.Join(dir, name))
		}
		systemctl(t, "unmask", "sdtest-masked.service")
		systemctl(t, "daemon-reload")
	})
	if err := m.Reload(context.Background()); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	systemctl(t, "mask", "sdtest-masked.service")
}

func TestManagerJobs(t *testing.T) {
	m := connect(t)
	installFixtures(t, m)
	ctx := context.Background()

	// A job that is done.
	if err := m.Start(ctx, "sdtest-oneshot.service"); err != nil {
		t.Fatalf("start a unit that succeeds: %v", err)
	}
	if got := systemctl(t, "is-active", "sdtest-oneshot.service"); got != "active" {
		t.Errorf("after Start: %s", got)
	}
	// A job that fails names the unit's own result.
	err := m.Start(ctx, "sdtest-fails.service")
	if err == nil || !strings.Contains(err.Error(), "job failed") || !strings.Contains(err.Error(), "unit result exit-code") {
		t.Errorf("start of a failing unit: %v", err)
	}
	// ResetFailed clears it; on a unit systemd does not know, it is no error.
	if err := m.ResetFailed(ctx, "sdtest-fails.service"); err != nil {
		t.Errorf("ResetFailed: %v", err)
	}
	if got := systemctl(t, "is-failed", "sdtest-fails.service"); got == "failed" {
		t.Errorf("still failed after ResetFailed")
	}
	if err := m.ResetFailed(ctx, "sdtest-never-existed.service"); err != nil {
		t.Errorf("ResetFailed of an unknown unit: %v", err)
	}
	// A unit that does not exist cannot start; stopping it is nothing to do.
	if err := m.Start(ctx, "sdtest-never-existed.service"); err == nil || !strings.Contains(err.Error(), "sdtest-never-existed.service") {
		t.Errorf("start of a missing unit: %v", err)
	}
	if err := m.Stop(ctx, "sdtest-never-existed.service"); err != nil {
		t.Errorf("stop of a missing unit: %v", err)
	}
	// A masked unit is refused, and the error says so.
	if err := m.Start(ctx, "sdtest-masked.service"); err == nil || !strings.Contains(strings.ToLower(err.Error()), "masked") {
		t.Errorf("start of a masked unit: %v", err)
	}
	// Restart and Stop of a long-running service.
	if err := m.Start(ctx, "sdtest-sleeps.service"); err != nil {
		t.Fatal(err)
	}
	before, _ := m.ServiceStatus(ctx, "sdtest-sleeps.service")
	if err := m.Restart(ctx, "sdtest-sleeps.service"); err != nil {
		t.Errorf("Restart: %v", err)
	}
	after, err := m.ServiceStatus(ctx, "sdtest-sleeps.service")
	if err != nil || after.ActiveState != "active" || after.SubState != "running" || after.ControlGroup == "" || after.ControlGroup == before.ControlGroup && after.Since.Equal(before.Since) {
		t.Errorf("status after Restart: %+v (before %+v) %v", after, before, err)
	}
	if err := m.Stop(ctx, "sdtest-sleeps.service"); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if st, _ := m.ServiceStatus(ctx, "sdtest-sleeps.service"); st.ActiveState != "inactive" || st.Result != "success" {
		t.Errorf("status after Stop: %+v", st)
	}
	// A cancelled wait returns the context's error, and the job goes on.
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if err := m.Start(short, "sdtest-slow.service"); err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("start past its deadline: %v", err)
	}
}

func TestManagerReads(t *testing.T) {
	m := connect(t)
	installFixtures(t, m)
	ctx := context.Background()
	if err := m.Start(ctx, "sdtest-sleeps.service"); err != nil {
		t.Fatal(err)
	}
	// Units: loaded ones with their state, the others inactive and dead, in
	// the order asked.
	got, err := m.Units(ctx, []string{"sdtest-sleeps.service", "sdtest-never-existed.service", "sdtest-oneshot.service"})
	if err != nil || len(got) != 3 {
		t.Fatalf("Units: %v %v", got, err)
	}
	if got[0].Name != "sdtest-sleeps.service" || got[0].ActiveState != "active" || got[0].SubState != "running" || got[0].LoadState != "loaded" {
		t.Errorf("a running unit: %+v", got[0])
	}
	if got[1].ActiveState != "inactive" || got[1].SubState != "dead" || got[1].String() != "inactive (dead)" {
		t.Errorf("a unit systemd does not know: %+v", got[1])
	}
	if none, err := m.Units(ctx, nil); none != nil || err != nil {
		t.Errorf("Units of nothing: %v %v", none, err)
	}
	// ServiceStatus of a unit that does not exist says not-found.
	if st, err := m.ServiceStatus(ctx, "sdtest-never-existed.service"); err != nil || st.LoadState != "not-found" {
		t.Errorf("status of a missing unit: %+v %v", st, err)
	}
	// CPUUsage: a running service has a value (cgroup accounting is on in
	// user managers), a stopped one none.
	if _, ok, err := m.CPUUsage(ctx, "sdtest-sleeps.service"); err != nil || !ok {
		t.Errorf("CPUUsage of a running service: ok=%v %v", ok, err)
	}
	if _, ok, err := m.CPUUsage(ctx, "sdtest-oneshot.service"); err != nil || ok {
		t.Errorf("CPUUsage of a service that never ran: ok=%v %v", ok, err)
	}
	// UnitFile: where the manager found a unit, "" for none.
	path, active, err := m.UnitFile(ctx, "sdtest-sleeps.service")
	if err != nil || !strings.HasSuffix(path, "/.config/systemd/user/sdtest-sleeps.service") || !active {
		t.Errorf("UnitFile of a fixture: %q %v %v", path, active, err)
	}
	if path, active, err := m.UnitFile(ctx, "sdtest-never-existed.service"); err != nil || path != "" || active {
		t.Errorf("UnitFile of a missing unit: %q %v %v", path, active, err)
	}
	// The payload check on a real cgroup: a plain service has no
	// libpod-payload cgroup, so it never counts as a live container.
	st, _ := m.ServiceStatus(ctx, "sdtest-sleeps.service")
	if alive, err := PayloadAlive("/sys/fs/cgroup", st.ControlGroup); err != nil || alive {
		t.Errorf("PayloadAlive of a non-container service: %v %v", alive, err)
	}
}

func TestConnectUserRefusesABadAddress(t *testing.T) {
	if _, err := ConnectUser(context.Background(), "unix:path=/nonexistent/bus"); err == nil || !strings.Contains(err.Error(), "/nonexistent/bus") {
		t.Errorf("connect to a missing bus: %v", err)
	}
}
