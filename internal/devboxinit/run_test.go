package devboxinit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The tests below run the real Run loop in a child process, the test
// binary started again with DEVBOX_INIT_TEST_HELPER=1, so that its
// wait4(-1) reaper and its exit code are its own. tailscale is a shell
// script that echoes its arguments and stdin (a leak detector for the auth
// key); tailscaled and code-server are shell scripts that start this test
// binary again as a fake that opens the socket or port they would.

const (
	envHelper     = "DEVBOX_INIT_TEST_HELPER"
	envHelperConf = "DEVBOX_INIT_TEST_CONFIG"
	envFake       = "DEVBOX_INIT_FAKE"
	envFakeDir    = "DEVBOX_INIT_FAKE_DIR"

	// canary is the auth key's content. It has no run of 32 letters and
	// digits, so Redact does not hide it: a leak would show.
	canary = "canary-key-7f3e-must-never-be-printed"
)

func TestMain(m *testing.M) {
	switch {
	case os.Getenv(envFake) != "":
		os.Exit(runFake(os.Getenv(envFake), os.Args[1:]))
	case os.Getenv(envHelper) == "1":
		os.Exit(runHelper())
	}
	os.Exit(m.Run())
}

// helperConfig holds the paths a test points into its temporary directory.
type helperConfig struct {
	StateDir, Socket, PasswdFile, GroupFile, SyncthingDir, SyncFolder, ProcRoot string
	CodeServerPaths                                                             []string
	CodeServerPort                                                              int
}

func runHelper() int {
	cfg, err := FromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var h helperConfig
	if err := json.Unmarshal([]byte(os.Getenv(envHelperConf)), &h); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cfg.StateDir, cfg.Socket, cfg.PasswdFile, cfg.GroupFile = h.StateDir, h.Socket, h.PasswdFile, h.GroupFile
	cfg.SyncthingDir, cfg.SyncFolder, cfg.ProcRoot = h.SyncthingDir, h.SyncFolder, h.ProcRoot
	cfg.CodeServerPaths, cfg.CodeServerPort = h.CodeServerPaths, h.CodeServerPort
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return Run(ctx, cfg, os.Environ())
}

// runFake is tailscaled or code-server: it records its pid and
// environment, opens its socket or port, and exits 0 on SIGTERM.
func runFake(name string, args []string) int {
	dir := os.Getenv(envFakeDir)
	appendFile(filepath.Join(dir, name+".pids"), strconv.Itoa(os.Getpid())+"\n")
	_ = os.WriteFile(filepath.Join(dir, name+".env"), []byte(strings.Join(os.Environ(), "\n")), 0o644)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)

	var l net.Listener
	var err error
	var die <-chan time.Time
	switch name {
	case "tailscaled":
		var sock string
		for _, a := range args {
			if v, ok := strings.CutPrefix(a, "--socket="); ok {
				sock = v
			}
		}
		os.Remove(sock)
		l, err = net.Listen("unix", sock)
		if d, perr := time.ParseDuration(os.Getenv("FAKE_TAILSCALED_DIE_AFTER")); perr == nil {
			die = time.After(d)
		}
	case "code-server":
		// The first run crashes when asked to, before it listens.
		marker := filepath.Join(dir, "code-server.crashed")
		if os.Getenv("FAKE_CRASH_FIRST") == "1" {
			if _, err := os.Stat(marker); err != nil {
				appendFile(marker, "")
				return 3
			}
		}
		// Leave an orphan behind, for the reaper: sh exits at once and
		// its sleep is reparented to devbox-init, the subreaper.
		orphan := exec.Command("/bin/sh", "-c", `sleep 0.3 & echo $! > "$0"`, filepath.Join(dir, "orphan.pid"))
		_ = orphan.Run()
		addr := ""
		for i, a := range args {
			if a == "--bind-addr" && i+1 < len(args) {
				addr = args[i+1]
			}
		}
		l, err = net.Listen("tcp", addr)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "fake %s: %v\n", name, err)
		return 1
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	select {
	case <-sig:
		l.Close()
		return 0
	case <-die:
		return 4
	}
}

func appendFile(p, s string) {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err == nil {
		f.WriteString(s)
		f.Close()
	}
}

// fakeTailscale is the tailscale CLI. It prints its arguments and stdin,
// so an auth key passed by any of them would reach devbox-init's output,
// and answers `up`, `serve` and `status` as FAKE_UP and FAKE_STATUS say.
const fakeTailscale = `#!/bin/sh
echo "fake tailscale args: $*" >&2
echo "fake tailscale stdin: $(cat)" >&2
cmd=
for a in "$@"; do
	case "$a" in up|serve|status) cmd=$a; break;; esac
done
echo "$cmd $*" >> "$FAKE_LOG"
case "$cmd" in
up)
	case "$FAKE_UP" in
	ok) exit 0 ;;
	key) echo "backend error: invalid key: API key kTESTCNTRL not valid" >&2; exit 1 ;;
	*) echo "unknown FAKE_UP" >&2; exit 9 ;;
	esac ;;
serve) exit 0 ;;
status) cat "$FAKE_STATUS"; exit 0 ;;
esac
exit 9
`

// harness is one devbox-init under test.
type harness struct {
	t       *testing.T
	dir     string
	cmd     *exec.Cmd
	out     *syncBuffer
	notes   chan string
	allNote *syncBuffer
	port    int
	done    chan struct{}
	exit    int
}

type setup struct {
	tailnet    bool
	codeServer bool
	codeScript string // replaces the fake code-server
	procRoot   string // a directory under testdata/proc
	env        []string
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func start(t *testing.T, s setup) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{t: t, dir: dir, out: &syncBuffer{}, allNote: &syncBuffer{}, notes: make(chan string, 32), done: make(chan struct{}), port: freePort(t)}
	for _, d := range []string{"bin", "activity", "home", "run", "fake"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	fakeDir := filepath.Join(dir, "fake")
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// The services get a fresh environment, so the fakes' settings are
	// baked into the scripts.
	launcher := func(name string, extra string) string {
		return fmt.Sprintf("#!/bin/sh\n%s=%s %s=%s %s exec %q \"$@\"\n", envFake, name, envFakeDir, fakeDir, extra, self)
	}
	write("bin/tailscale", fakeTailscale, 0o755)
	write("bin/tailscaled", launcher("tailscaled", ""), 0o755)
	var codeServerPaths []string
	if s.codeServer {
		crash := ""
		for _, kv := range s.env {
			if kv == "FAKE_CRASH_FIRST=1" {
				crash = "FAKE_CRASH_FIRST=1"
			}
		}
		script := launcher("code-server", crash)
		if s.codeScript != "" {
			script = s.codeScript
		}
		codeServerPaths = []string{write("bin/code-server", script, 0o755)}
	}
	key := write("authkey", canary, 0o400)
	passwd := write("passwd", fmt.Sprintf("root:x:0:0:root:/root:/bin/sh\ndev:x:%d:%d:Dev:%s:/bin/sh\n", os.Getuid(), os.Getgid(), filepath.Join(dir, "home")), 0o644)
	group := write("group", "", 0o644)
	status, _ := filepath.Abs(filepath.Join("testdata", "tailscale", "status-up.json"))
	procRoot, _ := filepath.Abs(filepath.Join("testdata", "proc", s.procRoot))

	conf, _ := json.Marshal(helperConfig{
		StateDir:        filepath.Join(dir, "home", ".local", "state", "devbox", "tailscale"),
		Socket:          filepath.Join(dir, "run", "tailscale", "tailscaled.sock"),
		PasswdFile:      passwd,
		GroupFile:       group,
		SyncthingDir:    filepath.Join(dir, "home", ".local", "state", "syncthing"),
		SyncFolder:      filepath.Join(dir, "home", "sync"),
		ProcRoot:        procRoot,
		CodeServerPaths: codeServerPaths,
		CodeServerPort:  h.port,
	})

	notifySock := filepath.Join(dir, "notify.sock")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifySock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := l.Read(buf)
			if err != nil {
				return
			}
			h.allNote.Write(append(buf[:n:n], '\n'))
			h.notes <- string(buf[:n])
		}
	}()

	env := []string{
		"PATH=" + filepath.Join(dir, "bin") + ":/usr/bin:/bin",
		envHelper + "=1",
		envHelperConf + "=" + string(conf),
		EnvNotifySocket + "=" + notifySock,
		EnvActivityDir + "=" + filepath.Join(dir, "activity"),
		EnvActivityInterval + "=100ms",
		EnvReadyTimeout + "=20s",
		EnvUpTimeout + "=20s",
		envFakeDir + "=" + fakeDir,
		"FAKE_LOG=" + filepath.Join(fakeDir, "tailscale.log"),
		"FAKE_STATUS=" + status,
		"FAKE_UP=ok",
	}
	if s.tailnet {
		env = append(env, EnvAuthKeyFile+"="+key, EnvHostname+"=demo", EnvTags+"=tag:devcontainer,tag:alice-container")
	}
	h.cmd = exec.Command(self)
	h.cmd.Env = append(env, s.env...)
	h.cmd.Stdout, h.cmd.Stderr = h.out, h.out
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = h.cmd.Wait()
		h.exit = h.cmd.ProcessState.ExitCode()
		close(h.done)
	}()
	t.Cleanup(func() {
		select {
		case <-h.done:
		default:
			h.cmd.Process.Kill()
			<-h.done
		}
		if t.Failed() {
			t.Logf("devbox-init output:\n%s\nnotifications:\n%s", h.out.String(), h.allNote.String())
		}
	})
	return h
}

// waitNote waits for a notification that contains want and returns it.
func (h *harness) waitNote(want string) string {
	h.t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case n := <-h.notes:
			if strings.Contains(n, want) {
				return n
			}
		case <-h.done:
			// Drain what came before the exit.
			for {
				select {
				case n := <-h.notes:
					if strings.Contains(n, want) {
						return n
					}
				case <-time.After(200 * time.Millisecond):
					h.t.Fatalf("devbox-init exited (%d) before notifying %q", h.exit, want)
				}
			}
		case <-timeout:
			h.t.Fatalf("no notification %q", want)
		}
	}
}

func (h *harness) wait() int {
	h.t.Helper()
	select {
	case <-h.done:
		return h.exit
	case <-time.After(30 * time.Second):
		h.t.Fatal("devbox-init did not exit")
		return -1
	}
}

func (h *harness) status() Status {
	h.t.Helper()
	data, err := os.ReadFile(filepath.Join(h.dir, "activity", StatusFile))
	if err != nil {
		h.t.Fatal(err)
	}
	var s Status
	if err := json.Unmarshal(data, &s); err != nil {
		h.t.Fatalf("%s: %v", data, err)
	}
	return s
}

func (h *harness) fakeFile(name string) string {
	data, _ := os.ReadFile(filepath.Join(h.dir, "fake", name))
	return string(data)
}

func (h *harness) pids(name string) []int {
	var pids []int
	for _, f := range strings.Fields(h.fakeFile(name + ".pids")) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids
}

// assertNoCanary checks everything devbox-init said or wrote.
func (h *harness) assertNoCanary() {
	h.t.Helper()
	status, _ := os.ReadFile(filepath.Join(h.dir, "activity", StatusFile))
	for what, text := range map[string]string{
		"output": h.out.String(), "notifications": h.allNote.String(), "status file": string(status),
		"tailscaled's environment": h.fakeFile("tailscaled.env"), "tailscale's log": h.fakeFile("tailscale.log"),
	} {
		if strings.Contains(text, canary) {
			h.t.Errorf("the auth key is in the %s", what)
		}
	}
}

func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, err = ParseProcStat(data)
	return err == nil && !strings.Contains(string(data), ") Z ")
}

func TestRunUpAndStop(t *testing.T) {
	h := start(t, setup{tailnet: true, codeServer: true, procRoot: "ssh-su"})

	h.waitNote("STATUS=joining the tailnet")
	ready := h.waitNote("READY=1")
	// READY=1 only once code-server listens and `up` has succeeded.
	if conn, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(h.port))); err != nil {
		t.Errorf("READY=1 before code-server listens: %v", err)
	} else {
		conn.Close()
	}
	if want := "READY=1\nSTATUS=ready: demo.example.net 100.64.0.3"; ready != want {
		t.Errorf("ready notification %q, want %q", ready, want)
	}
	log := h.fakeFile("tailscale.log")
	for _, want := range []string{
		"up --socket=" + filepath.Join(h.dir, "run", "tailscale", "tailscaled.sock") + " up --reset --auth-key=file:" + filepath.Join(h.dir, "authkey") + " --hostname=demo --advertise-tags=tag:devcontainer,tag:alice-container --ssh --timeout=20s",
		"serve --socket=" + filepath.Join(h.dir, "run", "tailscale", "tailscaled.sock") + " serve reset",
		fmt.Sprintf("serve --bg --yes --tcp=%d tcp://127.0.0.1:%d", h.port, h.port),
		"status --socket=",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("tailscale was not called with %q; log:\n%s", want, log)
		}
	}
	st := h.status()
	if st.State != StateUp || st.Hostname != "demo" || st.DNSName != "demo.example.net." ||
		len(st.IPs) != 2 || st.Services["code-server"] != h.port || st.Updated.IsZero() {
		t.Errorf("status file %+v", st)
	}
	if env := h.fakeFile("tailscaled.env"); strings.Contains(env, EnvNotifySocket+"=") {
		t.Error("tailscaled got NOTIFY_SOCKET")
	}
	if env := h.fakeFile("code-server.env"); strings.Contains(env, EnvNotifySocket+"=") || strings.Contains(env, "DEVBOX_TS_") || strings.Contains(env, EnvActivityDir) ||
		!strings.Contains(env, "HOME="+filepath.Join(h.dir, "home")) {
		t.Errorf("code-server's environment:\n%s", env)
	}
	if fi, err := os.Stat(filepath.Join(h.dir, "home", ".local", "state", "devbox", "tailscale")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("state directory: %v %v", fi, err)
	}

	// The fixture's /proc has a Tailscale SSH session: the session file
	// appears within a few activity intervals.
	waitFor(t, "the session file", func() bool {
		_, err := os.Stat(filepath.Join(h.dir, "activity", SessionFile))
		return err == nil
	})

	// The orphan code-server left behind was reaped, not left a zombie.
	orphan, _ := strconv.Atoi(strings.TrimSpace(h.fakeFile("orphan.pid")))
	if orphan == 0 {
		t.Fatal("the fake code-server recorded no orphan")
	}
	waitFor(t, "the orphan to be reaped", func() bool {
		_, err := os.Stat(fmt.Sprintf("/proc/%d", orphan))
		return err != nil
	})

	// A crashed service is restarted.
	first := h.pids("code-server")
	syscall.Kill(first[0], syscall.SIGKILL)
	waitFor(t, "code-server to be restarted", func() bool { return len(h.pids("code-server")) == 2 })
	waitFor(t, "the new code-server to listen", func() bool {
		conn, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(h.port)))
		if err == nil {
			conn.Close()
		}
		return err == nil
	})

	h.cmd.Process.Signal(syscall.SIGTERM)
	if code := h.wait(); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0", code)
	}
	h.waitNote("STOPPING=1")
	if st := h.status(); st.State != StateStopped {
		t.Errorf("status after stop: %+v", st)
	}
	for _, name := range []string{"tailscaled", "code-server"} {
		for _, pid := range h.pids(name) {
			if alive(pid) {
				t.Errorf("%s (pid %d) still runs", name, pid)
			}
		}
	}
	h.assertNoCanary()
}

func TestRunKeyRefused(t *testing.T) {
	h := start(t, setup{tailnet: true, codeServer: true, procRoot: "idle", env: []string{"FAKE_UP=key"}})
	failed := h.waitNote("STATUS=failed")
	if code := h.wait(); code != ExitKeyRefused {
		t.Errorf("exit %d after a refused key, want %d (the unit's RestartPreventExitStatus)", code, ExitKeyRefused)
	}
	if want := "STATUS=failed: tailscale up: invalid key: API key kTESTCNTRL not valid"; failed != want {
		t.Errorf("notification %q, want %q", failed, want)
	}
	st := h.status()
	if st.State != StateFailed || st.Reason != ReasonKeyRefused || !strings.Contains(st.Message, "invalid key") {
		t.Errorf("status file %+v", st)
	}
	if strings.Contains(h.fakeFile("tailscale.log"), "serve") || len(h.pids("code-server")) != 0 {
		t.Error("services were started after a failed up")
	}
	for _, pid := range h.pids("tailscaled") {
		if alive(pid) {
			t.Errorf("tailscaled (pid %d) still runs", pid)
		}
	}
	// The fake echoed its arguments into devbox-init's output: the leak
	// detector was live, and the key file's path is all it showed.
	if !strings.Contains(h.out.String(), "fake tailscale args: --socket=") || !strings.Contains(h.out.String(), "--auth-key=file:") {
		t.Errorf("tailscale's output was not passed through:\n%s", h.out.String())
	}
	h.assertNoCanary()
}

func TestRunNoTailnet(t *testing.T) {
	h := start(t, setup{codeServer: true, procRoot: "idle"})
	if got := h.waitNote("READY=1"); got != "READY=1\nSTATUS=ready: no tailnet" {
		t.Errorf("notification %q", got)
	}
	if st := h.status(); st.State != StateOff {
		t.Errorf("status %+v", st)
	}
	time.Sleep(500 * time.Millisecond) // several activity intervals
	if _, err := os.Stat(filepath.Join(h.dir, "activity", SessionFile)); err == nil {
		t.Error("session file touched with no session open")
	}
	if len(h.pids("tailscaled")) != 0 || len(h.pids("code-server")) != 0 || h.fakeFile("tailscale.log") != "" {
		t.Error("something was started without a tailnet")
	}
	h.cmd.Process.Signal(syscall.SIGTERM)
	if code := h.wait(); code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
	if st := h.status(); st.State != StateOff {
		t.Errorf("status after stop %+v", st)
	}
}

func TestRunTailscaledDies(t *testing.T) {
	h := start(t, setup{tailnet: true, procRoot: "idle", env: []string{"FAKE_TAILSCALED_DIE_AFTER=2s"}})
	h.waitNote("READY=1")
	if code := h.wait(); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	st := h.status()
	if st.State != StateFailed || st.Reason != ReasonTailscaleFailed || !strings.Contains(st.Message, "tailscaled exited: exit status 4") {
		t.Errorf("status %+v", st)
	}
}

func TestRunServiceCrashesBeforeReady(t *testing.T) {
	h := start(t, setup{tailnet: true, codeServer: true, procRoot: "idle", env: []string{"FAKE_CRASH_FIRST=1"}})
	h.waitNote("READY=1")
	if n := len(h.pids("code-server")); n != 2 {
		t.Errorf("code-server started %d times, want 2", n)
	}
	if !strings.Contains(h.out.String(), "code-server exited (exit status 3); restarting in 1s") {
		t.Errorf("no restart logged:\n%s", h.out.String())
	}
	h.cmd.Process.Signal(syscall.SIGTERM)
	if code := h.wait(); code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
}

func TestRunReadyTimeout(t *testing.T) {
	// code-server keeps crashing: after DEVBOX_INIT_READY_TIMEOUT the
	// start fails with service-failed.
	h := start(t, setup{tailnet: true, codeServer: true, codeScript: "#!/bin/sh\nexit 3\n", procRoot: "idle", env: []string{EnvReadyTimeout + "=1500ms"}})
	h.waitNote("STATUS=failed")
	if code := h.wait(); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	st := h.status()
	if st.State != StateFailed || st.Reason != ReasonServiceFailed || !strings.Contains(st.Message, "did not accept connections within 1.5s") {
		t.Errorf("status %+v", st)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for the writer goroutines of exec.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
