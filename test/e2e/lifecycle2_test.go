//go:build e2e

package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

type statusJSON struct {
	Schema        int     `json:"schema"`
	State         string  `json:"state"`
	ActiveState   string  `json:"active_state"`
	SubState      string  `json:"sub_state"`
	Restarts      int     `json:"restarts"`
	MemoryMax     int64   `json:"memory_max"`
	MemoryCurrent *uint64 `json:"memory_current"`
	CPUUsageNSec  *uint64 `json:"cpu_usage_nsec"`
	Volume        string  `json:"volume"`
	UnitFile      string  `json:"unit_file"`
	Autostart     bool    `json:"autostart"`
	Since         string  `json:"since"`
}

func status(t *testing.T, name string) statusJSON {
	t.Helper()
	r := dq(t, "status", name, "--json")
	if r.code != 0 {
		t.Fatalf("status %s: %s", name, r)
	}
	var s statusJSON
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("status --json: %v\n%s", err, r.stdout)
	}
	return s
}

// waitFor polls cond every half second until it holds or the bound passes.
func waitFor(t *testing.T, what string, bound time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", bound, what)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestRestartKeepsHomeAndStatus: the home survives restart too, and status
// reads state, limits, usage and the unit file back from systemd.
func TestRestartKeepsHomeAndStatus(t *testing.T) {
	useTestConfig(t)
	name := "rest"
	if r := dq(t, "create", name, "--memory", "1G"); r.code != 0 {
		t.Fatalf("create: %s", r)
	}
	t.Cleanup(func() { dq(t, "destroy", "--yes", name) })
	must(t, "podman", "exec", "devbox-"+name, "sh", "-c", "echo kept > /home/dev/marker && echo scratch > /root-marker")
	if r := dq(t, "restart", name); r.code != 0 {
		t.Fatalf("restart: %s", r)
	}
	if got := strings.TrimSpace(must(t, "podman", "exec", "devbox-"+name, "cat", "/home/dev/marker")); got != "kept" {
		t.Errorf("/home/dev/marker after restart = %q, want kept", got)
	}
	// R-07, as documented: the root file system is recreated.
	if r := run(t, "podman", "exec", "devbox-"+name, "cat", "/root-marker"); r.code == 0 {
		t.Errorf("/root-marker survived a restart; the docs say the root file system does not")
	}
	s := status(t, name)
	if s.Schema != 1 || s.State != "running" || s.ActiveState != "active" || s.SubState != "running" {
		t.Errorf("status state = %+v", s)
	}
	if s.MemoryMax != 1<<30 || s.MemoryCurrent == nil || *s.MemoryCurrent == 0 || s.CPUUsageNSec == nil || *s.CPUUsageNSec == 0 {
		t.Errorf("status limits/usage not read back: %+v", s)
	}
	if s.Volume != "devbox-rest-home" || s.UnitFile != filepath.Join(quadletDir(), "devbox-rest.container") || !s.Autostart || s.Since == "" {
		t.Errorf("status details = %+v", s)
	}
	if r := dq(t, "status", name); r.code != 0 || !strings.Contains(r.stdout, "restarts:") || !strings.Contains(r.stdout, "unit file:") {
		t.Errorf("status text: %s", r)
	}
}

// TestCrashRestart: killing the container's process makes systemd restart
// the unit (Restart=on-failure), and status counts it.
func TestCrashRestart(t *testing.T) {
	useTestConfig(t)
	name := "crashy"
	if r := dq(t, "create", name); r.code != 0 {
		t.Fatalf("create: %s", r)
	}
	t.Cleanup(func() { dq(t, "destroy", "--yes", name) })
	must(t, "podman", "kill", "--signal", "KILL", "devbox-"+name)
	waitFor(t, "the unit to restart", 60*time.Second, func() bool {
		s := status(t, name)
		return s.Restarts == 1 && s.ActiveState == "active" && s.SubState == "running"
	})
	if r := dq(t, "status", name); !strings.Contains(r.stdout, "restarts:   1") {
		t.Errorf("status text does not show restarts: 1:\n%s", r.stdout)
	}
}

// TestFailingStartRollsBack: a container that exits 1 at once passes the
// start job but is caught, reported with its log lines, and rolled back.
func TestFailingStartRollsBack(t *testing.T) {
	useTestConfig(t)
	r := dq(t, "create", "exits", "--image", exitImage)
	if r.code != 8 {
		t.Fatalf("create of a container that exits 1: want exit 8, got %s", r)
	}
	if !strings.Contains(r.stderr, "failing on purpose: no config") {
		t.Errorf("error lacks the unit's last log lines:\n%s", r.stderr)
	}
	assertGone(t, "exits")
}

// TestCrashInCreate kills create at each point and checks that the next
// create (or a destroy) converges with nothing doubled or orphaned.
func TestCrashInCreate(t *testing.T) {
	useTestConfig(t)
	for i, point := range []string{"after-files", "after-reload", "after-secret", "during-start"} {
		t.Run(point, func(t *testing.T) {
			name := "crash" + strconv.Itoa(i)
			cmd := exec.Command(*devbox, "create", name)
			cmd.Env = append(os.Environ(), "DEVBOX_QUADLET_CRASH_AT="+point)
			err := cmd.Run()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("create with crash point %s: want SIGKILL, got %v", point, err)
			}
			if files := quadletFiles(t); !containsPrefix(files, "devbox-"+name) {
				t.Logf("note: the kill at %s left no quadlet files: %v", point, files)
			}
			if i%2 == 0 {
				// The next create finishes the job.
				r := dq(t, "create", name)
				if r.code != 0 {
					t.Fatalf("create after a crash at %s: %s", point, r)
				}
				if !strings.Contains(r.stderr, "interrupted create") {
					t.Errorf("create did not report the leftovers:\n%s", r.stderr)
				}
				if out := must(t, "podman", "ps", "-a", "--format", "{{.Names}}", "--filter", "name=devbox-"+name); strings.Count(out, "devbox-"+name) != 1 {
					t.Errorf("after recovery podman ps -a shows %q, want exactly one container", out)
				}
			}
			// destroy converges either way.
			if r := dq(t, "destroy", "--yes", name); r.code != 0 {
				t.Fatalf("destroy after a crash at %s: %s", point, r)
			}
			assertGone(t, name)
			if _, err := os.Stat(filepath.Join(os.Getenv("HOME"), ".local/state/devbox-quadlet/creating", name+".json")); err == nil {
				t.Errorf("intent record survived destroy")
			}
		})
	}
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// TestLogs: --tail prints the container's last lines, -f follows and ends
// cleanly on SIGINT.
func TestLogs(t *testing.T) {
	useTestConfig(t)
	name := "chat"
	if r := dq(t, "create", name, "--image", chatty); r.code != 0 {
		t.Fatalf("create: %s", r)
	}
	t.Cleanup(func() { dq(t, "destroy", "--yes", name) })
	waitFor(t, "line 12 in the journal", 30*time.Second, func() bool {
		return strings.Contains(dq(t, "logs", name).stdout, "line 12")
	})
	r := dq(t, "logs", name, "--tail", "5")
	if r.code != 0 {
		t.Fatalf("logs --tail 5: %s", r)
	}
	if got, want := strings.TrimSpace(r.stdout), "line 8\nline 9\nline 10\nline 11\nline 12"; got != want {
		t.Errorf("logs --tail 5 =\n%s\nwant\n%s", got, want)
	}
	if r := dq(t, "logs", name, "--since", "1 hour ago", "--tail", "1"); r.code != 0 || strings.TrimSpace(r.stdout) != "line 12" {
		t.Errorf("logs --since: %s", r)
	}

	cmd := exec.Command(*devbox, "logs", "-f", name)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "line ") {
		t.Errorf("logs -f printed %q first", sc.Text())
	}
	time.Sleep(time.Second)
	_ = cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() {
		for sc.Scan() {
		}
		done <- cmd.Wait()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("logs -f after SIGINT: %v, want exit 0", err)
		}
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		t.Errorf("logs -f did not stop on SIGINT")
	}
}

// TestUserCapE2E: the sixth container with the default cap of 5 is refused
// with exit 5, naming the cap and the containers.
func TestUserCapE2E(t *testing.T) {
	useTestConfig(t)
	names := []string{"cap1", "cap2", "cap3", "cap4", "cap5"}
	for _, n := range names {
		n := n
		if r := dq(t, "create", n, "--no-start"); r.code != 0 {
			t.Fatalf("create %s: %s", n, r)
		}
		t.Cleanup(func() { dq(t, "destroy", "--yes", n) })
	}
	r := dq(t, "create", "cap6", "--no-start")
	if r.code != 5 {
		t.Fatalf("sixth create: want exit 5, got %s", r)
	}
	for _, want := range append(names, "5 of 5", "destroy") {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("refusal lacks %q:\n%s", want, r.stderr)
		}
	}
	assertGone(t, "cap6")
}

// TestOthersUntouched: a hand-written quadlet of the user's own is neither
// listed nor touched by any verb.
func TestOthersUntouched(t *testing.T) {
	useTestConfig(t)
	if err := os.MkdirAll(quadletDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	mine := filepath.Join(quadletDir(), "mine.container")
	body := "[Container]\nImage=" + *testImage + "\n"
	if err := os.WriteFile(mine, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(mine); run(t, "systemctl", "--user", "daemon-reload") })
	if r := dq(t, "create", "other"); r.code != 0 {
		t.Fatalf("create: %s", r)
	}
	if r := dq(t, "list", "--json"); strings.Contains(r.stdout, "mine") {
		t.Errorf("list shows the user's own quadlet:\n%s", r.stdout)
	}
	if r := dq(t, "destroy", "--yes", "other"); r.code != 0 {
		t.Fatalf("destroy: %s", r)
	}
	if got, err := os.ReadFile(mine); err != nil || string(got) != body {
		t.Errorf("mine.container changed: %q %v", got, err)
	}
	if r := dq(t, "destroy", "--yes", "mine"); r.code != 3 {
		t.Errorf("destroy of a non-devbox quadlet: want exit 3, got %s", r)
	}
}
