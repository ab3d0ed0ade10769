package devboxinit

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// child is a process devbox-init started. done is closed once it has been
// reaped; status is valid from then on.
type child struct {
	name   string
	pid    int
	done   chan struct{}
	status syscall.WaitStatus
}

// exitText describes how a reaped child ended.
func (c *child) exitText() string {
	switch ws := c.status; {
	case ws.Exited():
		return fmt.Sprintf("exit status %d", ws.ExitStatus())
	case ws.Signaled():
		return "signal: " + ws.Signal().String()
	}
	return fmt.Sprintf("wait status %#x", uint32(c.status))
}

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// procTable starts children and reaps every process that ends below
// devbox-init, its own children and the orphans that PID 1 (or a child
// subreaper) inherits. One wait4(-1) loop does all reaping, so nothing
// here uses exec.Cmd.Wait, which would race with it for the same pids.
//
// mu is held around fork and around each non-blocking wait4: a pid is
// entered in live before the reaper can see it exit, and is never
// signalled after it was reaped, when the kernel may have reused it.
type procTable struct {
	mu   sync.Mutex
	live map[int]*child
}

func newProcTable() *procTable { return &procTable{live: map[int]*child{}} }

// reapLoop reaps on every SIGCHLD until quit is closed.
func (t *procTable) reapLoop(quit <-chan struct{}) {
	sigchld := make(chan os.Signal, 1)
	signal.Notify(sigchld, syscall.SIGCHLD)
	defer signal.Stop(sigchld)
	t.reap() // children that ended before Notify
	for {
		select {
		case <-sigchld:
			t.reap()
		case <-quit:
			t.reap()
			return
		}
	}
}

// reap collects every exited process; SIGCHLDs coalesce, so one signal
// may stand for many exits.
func (t *procTable) reap() {
	for {
		t.mu.Lock()
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			t.mu.Unlock()
			continue
		}
		if err != nil || pid <= 0 {
			t.mu.Unlock()
			return
		}
		c := t.live[pid]
		delete(t.live, pid)
		t.mu.Unlock()
		if c != nil {
			c.status = ws
			close(c.done)
		}
	}
}

// spawn describes a child to start.
type spawn struct {
	name   string
	argv   []string // argv[0] is a path, or a name looked up in env's PATH
	env    []string
	dir    string
	cred   *syscall.Credential // nil: run as devbox-init's user
	stdout *os.File            // nil: devbox-init's stdout
	stderr *os.File            // nil: devbox-init's stderr
}

// start forks and execs sp. Each child leads its own process group, so a
// SIGKILL at the end of a grace period takes its helpers along (code-server
// runs node processes, Syncthing a monitor and the real process).
func (t *procTable) start(sp spawn) (*child, error) {
	path, err := lookPath(sp.argv[0], envValue(sp.env, "PATH"))
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", sp.name, err)
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", sp.name, err)
	}
	defer devnull.Close()
	out, errf := sp.stdout, sp.stderr
	if out == nil {
		out = os.Stdout
	}
	if errf == nil {
		errf = os.Stderr
	}
	attr := &syscall.ProcAttr{
		Dir:   sp.dir,
		Env:   sp.env,
		Files: []uintptr{devnull.Fd(), out.Fd(), errf.Fd()},
		Sys: &syscall.SysProcAttr{
			Setpgid:    true,
			Credential: sp.cred,
			// If devbox-init dies without stopping them (only possible
			// when it is not PID 1, as in tests), its children go too.
			Pdeathsig: syscall.SIGKILL,
		},
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	pid, err := syscall.ForkExec(path, sp.argv, attr)
	if err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", sp.name, path, err)
	}
	c := &child{name: sp.name, pid: pid, done: make(chan struct{})}
	t.live[pid] = c
	return c, nil
}

// signal sends sig to c, or with group to its process group, unless c has
// been reaped.
func (t *procTable) signal(c *child, sig syscall.Signal, group bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.live[c.pid]; !ok {
		return
	}
	pid := c.pid
	if group {
		pid = -pid
	}
	_ = syscall.Kill(pid, sig)
}

// stop sends SIGTERM, waits up to grace, then SIGKILLs c's process group
// and waits for the reaper (bounded: a process stuck in the kernel must
// not hold up the rest of the shutdown).
func (t *procTable) stop(c *child, grace time.Duration) (killed bool) {
	if c == nil || c.exited() {
		return false
	}
	t.signal(c, syscall.SIGTERM, false)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-c.done:
		return false
	case <-timer.C:
	}
	t.signal(c, syscall.SIGKILL, true)
	select {
	case <-c.done:
	case <-time.After(time.Second):
	}
	return true
}

// setSubreaper makes devbox-init inherit orphaned descendants when it is
// not PID 1 (under a test, or run by hand), so it reaps them as PID 1
// would.
func setSubreaper() error {
	if os.Getpid() == 1 {
		return nil
	}
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}

// lookPath finds name in path (a PATH value) unless it contains a slash.
func lookPath(name, path string) (string, error) {
	if strings.Contains(name, "/") {
		if err := executable(name); err != nil {
			return "", err
		}
		return name, nil
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if executable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found in PATH", name)
}

func executable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("%s: not an executable file", p)
	}
	return nil
}

func envValue(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], key+"="); ok {
			return v
		}
	}
	return ""
}

// capture collects what a child writes to a pipe, up to limit bytes;
// the rest is read and dropped so the child never blocks on a full pipe.
type capture struct {
	r, w *os.File
	done chan []byte
}

func newCapture(limit int64) (*capture, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	c := &capture{r: r, w: w, done: make(chan []byte, 1)}
	go func() {
		var b strings.Builder
		_, _ = io.Copy(&b, io.LimitReader(r, limit))
		_, _ = io.Copy(io.Discard, r)
		c.done <- []byte(b.String())
	}()
	return c, nil
}

// started closes the parent's copy of the write end, so the reader sees
// EOF when the child (and whoever inherited the pipe) is done.
func (c *capture) started() { c.w.Close() }

// result waits up to wait for the reader: a grandchild that kept the pipe
// open must not block devbox-init.
func (c *capture) result(wait time.Duration) []byte {
	defer c.r.Close()
	select {
	case b := <-c.done:
		return b
	case <-time.After(wait):
		_ = c.r.SetReadDeadline(time.Now())
		return <-c.done
	}
}
