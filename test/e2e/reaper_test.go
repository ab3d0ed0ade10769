//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The reaper's MESSAGE_IDs (internal/cli/reap.go).
const (
	msgWarn      = "3c5e0d1f8a9b4e6c9d2f7a1b5c8e0f42"
	msgStopped   = "6a1d2c3b4e5f40718293a4b5c6d7e8f9"
	msgDestroyed = "9f8e7d6c5b4a43218f7e6d5c4b3a2910"
)

// reaperConfig writes a config with the short windows of issue 6's tests
// and points devbox-quadlet at it.
func reaperConfig(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.toml")
	body := "[container]\nimage = \"" + *testImage + "\"\n\n[reaper]\nidle_stop = \"60s\"\nstopped_destroy = \"120s\"\n" +
		"warn_before = \"30s\"\nsweep_interval = \"5s\"\ncpu_active_threshold = \"2m\"\n"
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DEVBOX_QUADLET_CONFIG", p)
	return p
}

// removeReapTimer stops the reaper's timer and takes away what create wrote
// for it (drop-ins next to the packaged units, or per-user units on a host
// without them), so the next create sets it up with the current config.
func removeReapTimer(t *testing.T) {
	t.Helper()
	systemctl(t, "stop", "devbox-quadlet-reap.timer")
	dir := filepath.Join(os.Getenv("HOME"), ".config", "systemd", "user")
	for _, f := range []string{"devbox-quadlet-reap.timer", "devbox-quadlet-reap.service", "timers.target.wants/devbox-quadlet-reap.timer",
		"devbox-quadlet-reap.timer.d", "devbox-quadlet-reap.service.d"} {
		os.RemoveAll(filepath.Join(dir, f))
	}
	systemctl(t, "daemon-reload")
}

func journalUser(t *testing.T, args ...string) string {
	t.Helper()
	return run(t, "journalctl", append([]string{"--user", "--no-pager", "-o", "cat"}, args...)...).stdout
}

type reaperJSON struct {
	Reaper struct {
		Signal string `json:"signal"`
		Next   string `json:"next"`
	} `json:"reaper"`
	State string `json:"state"`
}

// openPty opens a pseudo-terminal as the test's user and keeps its slave
// open, as a login shell would, and returns the master and the slave's path.
func openPty(t *testing.T) (*os.File, string) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	rc, err := m.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n uint32
	var ierr error
	if err := rc.Control(func(fd uintptr) {
		if ierr = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); ierr == nil {
			n, ierr = unix.IoctlGetUint32(int(fd), unix.TIOCGPTN)
		}
	}); err != nil || ierr != nil {
		t.Fatalf("set up a pty: %v %v", err, ierr)
	}
	path := fmt.Sprintf("/dev/pts/%d", n)
	slave, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slave.Close() })
	return m, path
}

// readUntil reads from f until what it read contains want or bound passes.
func readUntil(f *os.File, want string, bound time.Duration) string {
	var got []byte
	buf := make([]byte, 4096)
	_ = f.SetReadDeadline(time.Now().Add(bound))
	for !strings.Contains(string(got), want) {
		n, err := f.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			break
		}
	}
	return string(got)
}

// TestReaper runs the reaper from its systemd timer with short windows: an
// untouched container is warned about, stopped, archived and destroyed,
// and restored with its home; a container with sessions, a busy one and a
// leased one are still running after three idle windows.
func TestReaper(t *testing.T) {
	reaperConfig(t)
	removeReapTimer(t)
	t.Cleanup(func() { removeReapTimer(t) })
	// Each container gets its activity right after its create: with 60 s
	// windows on an emulated CPU, setting them all up first would leave the
	// first ones idle long enough to be warned about.
	create := func(n string, extra ...string) {
		t.Helper()
		if r := dq(t, append([]string{"create", n}, extra...)...); r.code != 0 {
			t.Fatalf("create %s: %s", n, r)
		}
		t.Cleanup(func() { dq(t, "destroy", "--yes", n) })
	}
	// A terminal of alice's, as an SSH login would have, for the warning.
	term, termPath := openPty(t)
	create("reaplease")
	if r := dq(t, "keepalive", "reaplease", "--for", "30m"); r.code != 0 {
		t.Fatalf("keepalive: %s", r)
	}
	if st, _ := systemctl(t, "is-active", "devbox-quadlet-reap.timer"); st != "active" {
		t.Fatalf("create did not start the reaper's timer: %q", st)
	}
	if out, _ := systemctl(t, "list-timers", "--all", "--no-legend", "devbox-quadlet-reap.timer"); !strings.Contains(out, "devbox-quadlet-reap.timer") {
		t.Errorf("systemctl --user list-timers does not show the reaper: %q", out)
	}
	create("reapsess")
	// The image's side of the session contract: touch a file in the
	// activity directory (docs/image-contract.md), here every 20 s. The
	// first touch is from inside, to prove the bind mount is there and
	// writable; the rest write a file of their own in the same directory
	// from the host (the reaper takes the newest mtime of any file there),
	// because a `podman exec` every 20 s costs the container's cgroup
	// enough CPU under TCG to count as busy too, and the reaper then
	// rightly names the later signal, "cpu".
	must(t, "podman", "exec", "devbox-reapsess", "touch", "/run/devbox/activity/session")
	activity := filepath.Join(os.Getenv("HOME"), ".local/state/devbox-quadlet/activity/reapsess")
	if _, err := os.Stat(filepath.Join(activity, "session")); err != nil {
		t.Fatalf("the touch inside reapsess is not in the host's activity dir: %v", err)
	}
	session := filepath.Join(activity, "e2e-session")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Second):
			}
			if err := os.WriteFile(session, []byte(time.Now().String()), 0o644); err != nil {
				t.Errorf("touch %s: %v", session, err)
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	create("reapbusy", "--image", busyImage, "--cpus", "0.2")
	create("reapidle")
	created := time.Now()
	must(t, "podman", "exec", "devbox-reapidle", "sh", "-c", "echo keep-me > /home/dev/keep")

	waitFor(t, "the warning before reapidle's stop", 150*time.Second, func() bool {
		return strings.Contains(journalUser(t, "MESSAGE_ID="+msgWarn, "DEVBOX_CONTAINER=reapidle"), "reapidle will be stopped")
	})
	// The same warning on alice's terminal, written by the timer's service.
	if got := readUntil(term, "reapidle will be stopped", 30*time.Second); !strings.Contains(got, "reapidle will be stopped") {
		t.Errorf("alice's terminal %s did not get the warning; it read %q", termPath, got)
	}
	if r := dq(t, "list"); !strings.Contains(r.stdout, "stop@") {
		t.Errorf("list does not show the pending stop:\n%s", r.stdout)
	}
	waitFor(t, "reapidle stopped by the timer-run reaper", 150*time.Second, func() bool {
		st, _ := systemctl(t, "is-active", "devbox-reapidle.service")
		return st == "inactive"
	})
	// The entry is written once the stop job is done, a moment after the
	// unit went inactive; it must come from the timer's service.
	waitFor(t, "the reaper service's stopped entry", 60*time.Second, func() bool {
		return strings.Contains(journalUser(t, "MESSAGE_ID="+msgStopped, "_SYSTEMD_USER_UNIT=devbox-quadlet-reap.service"), "stopped reapidle")
	})
	if _, err := os.Lstat(filepath.Join(os.Getenv("HOME"), ".config/systemd/user/default.target.wants/devbox-reapidle.service")); err == nil {
		t.Error("the reaper's stop kept the autostart link: the container would come back after a reboot")
	}

	// Three idle windows after creation, the three with activity run on,
	// and status names what kept each.
	if wait := 3*time.Minute - time.Since(created); wait > 0 {
		time.Sleep(wait)
	}
	for n, want := range map[string]string{"reapsess": "session", "reapbusy": "cpu", "reaplease": "lease"} {
		r := dq(t, "status", n, "--json")
		var st reaperJSON
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil {
			t.Errorf("status %s: %s", n, r)
			continue
		}
		if st.State != "running" || st.Reaper.Signal != want {
			t.Errorf("%s after 3 idle windows: state %q, signal %q; want running, %q", n, st.State, st.Reaper.Signal, want)
		}
	}

	waitFor(t, "reapidle archived and destroyed", 200*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(quadletDir(), "devbox-reapidle.container"))
		return os.IsNotExist(err)
	})
	// The files go first and the journal entry comes after the whole
	// teardown, so wait for it before looking at what is left.
	waitFor(t, "the reaper's destroyed entry in the journal", 60*time.Second, func() bool {
		return strings.Contains(journalUser(t, "MESSAGE_ID="+msgDestroyed, "DEVBOX_CONTAINER=reapidle"), "destroyed reapidle")
	})
	archives, _ := filepath.Glob(filepath.Join(os.Getenv("HOME"), ".local/state/devbox-quadlet/archives/reapidle-*.tar"))
	if len(archives) != 1 {
		t.Fatalf("archives of reapidle: %v", archives)
	}
	assertGone(t, "reapidle")
	// Take the timer away before restoring, or it would reap again.
	removeReapTimer(t)
	if r := dq(t, "restore", "reapidle"); r.code != 0 {
		t.Fatalf("restore: %s", r)
	}
	if got := strings.TrimSpace(must(t, "podman", "exec", "devbox-reapidle", "cat", "/home/dev/keep")); got != "keep-me" {
		t.Errorf("after restore /home/dev/keep = %q", got)
	}
}
