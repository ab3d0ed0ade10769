package devboxinit

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Bounds of the steps that have no setting of their own.
const (
	socketTimeout  = 30 * time.Second // tailscaled creating its socket
	upGrace        = 15 * time.Second // on top of UpTimeout before `up` is killed
	cliTimeout     = 30 * time.Second // serve, status
	stopBudget     = 8 * time.Second  // the unit's stop timeout is 10 s
	serviceGrace   = 3 * time.Second  // SIGTERM to SIGKILL for a service
	backoffMin     = time.Second
	backoffMax     = time.Minute
	stableAfter    = time.Minute // a service that ran this long restarts fast again
	outputLimit    = 64 << 10
	readyPollEvery = 200 * time.Millisecond
)

// Run is devbox-init: it starts everything, supervises until ctx is
// cancelled (SIGTERM or SIGINT in main), stops everything and returns the
// exit code: 0 after a requested stop, 1 when the start failed or
// tailscaled died, for systemd to restart the unit. environ is init's own
// environment, for the root children.
func Run(ctx context.Context, c Config, environ []string) int {
	s := &supervisor{cfg: c, environ: environ, table: newProcTable(), restart: make(chan *service, 8)}
	if err := setSubreaper(); err != nil {
		s.logf("cannot become a child subreaper (%v): orphans will not be reaped", err)
	}
	quit := make(chan struct{})
	go s.table.reapLoop(quit)
	defer close(quit)
	return s.run(ctx)
}

type supervisor struct {
	cfg     Config
	environ []string
	table   *procTable

	user       User
	tailscaled *child
	services   []*service
	restart    chan *service

	status      Status
	lastSession string // the session the last activity check found
	touchErr    bool   // a failed touch was logged
}

// service is a supervised Service and its current process.
type service struct {
	Service
	cur     *child
	started time.Time
	backoff time.Duration
	timer   *time.Timer
}

func (s *supervisor) logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "devbox-init: "+format+"\n", a...)
}

func (s *supervisor) notify(kv ...string) {
	if err := notify(s.cfg.NotifySocket, NotifyMessage(kv...)); err != nil {
		s.logf("%v", err)
	}
}

// setStatus records st and writes the status file. The hostname is
// always the configured one.
func (s *supervisor) setStatus(st Status) {
	st.Hostname = s.cfg.Hostname
	s.status = st
	if err := writeStatus(s.cfg.ActivityDir, st, time.Now()); err != nil {
		s.logf("%v", err)
	}
}

func (s *supervisor) run(ctx context.Context) int {
	c := s.cfg
	if !c.Tailnet() {
		s.logf("%s is not set: not joining a tailnet", EnvAuthKeyFile)
		s.setStatus(Status{State: StateOff, Message: "no tailnet: the container was created without an auth key"})
		s.notify("READY", "1", "STATUS", "ready: no tailnet")
		return s.supervise(ctx, time.Time{})
	}
	// Each step either goes on or ends the start with its exit code.
	for _, step := range []func(context.Context) (int, bool){s.startTailscaled, s.joinTailnet, s.publish} {
		if code, stop := step(ctx); stop {
			return code
		}
	}
	s.setStatus(Status{State: StateStarting, Message: "waiting for the services to listen"})
	return s.supervise(ctx, time.Now().Add(c.ReadyTimeout))
}

// startTailscaled prepares the user and the state dirs, starts tailscaled
// and waits for its socket.
func (s *supervisor) startTailscaled(ctx context.Context) (code int, stop bool) {
	c := s.cfg
	s.setStatus(Status{State: StateStarting, Message: "starting tailscaled"})
	u, err := s.lookupUser()
	if err != nil {
		return s.fail(Failure{ReasonServiceFailed, err.Error()}), true
	}
	s.user = u
	if err := s.prepareDirs(); err != nil {
		return s.fail(Failure{ReasonTailscaleFailed, err.Error()}), true
	}
	s.tailscaled, err = s.table.start(spawn{name: "tailscaled", argv: TailscaledArgv(c), env: TailscaledEnv(c, s.environ), dir: "/"})
	if err != nil {
		return s.fail(Failure{ReasonTailscaleFailed, err.Error()}), true
	}
	s.logf("started tailscaled (pid %d): %s", s.tailscaled.pid, commandLine(TailscaledArgv(c)))
	if ok, code := s.waitSocket(ctx); !ok {
		return code, true
	}
	return 0, false
}

// joinTailnet runs `tailscale up` and classifies its failure.
func (s *supervisor) joinTailnet(ctx context.Context) (code int, stop bool) {
	c := s.cfg
	s.logf("joining the tailnet as %s", c.Hostname)
	s.notify("STATUS", "joining the tailnet")
	s.setStatus(Status{State: StateStarting, Message: "joining the tailnet"})
	res := s.runCLI(ctx, "tailscale up", UpArgv(c), c.UpTimeout+upGrace, true)
	if ctx.Err() != nil {
		return s.shutdown(), true
	}
	if res.tailscaledDied {
		return s.fail(Failure{ReasonTailscaleFailed, "tailscaled exited while joining the tailnet: " + s.tailscaled.exitText()}), true
	}
	if res.err != nil {
		var health []string
		if st, err := s.nodeStatus(ctx); err == nil {
			health = st.Health
		}
		return s.fail(ClassifyUp(res.output, health)), true
	}
	s.logf("joined the tailnet")
	return 0, false
}

// publish starts the services and publishes their ports on the tailnet
// with `tailscale serve`, after clearing what an earlier start served.
func (s *supervisor) publish(ctx context.Context) (code int, stop bool) {
	c := s.cfg
	if res := s.runCLI(ctx, "tailscale serve reset", ServeResetArgv(c), cliTimeout, true); res.err != nil {
		return s.cliFailed(ctx, res, ReasonServiceFailed), true
	}
	codeServer := s.findCodeServer()
	if codeServer == "" {
		s.logf("code-server not found: not published")
	}
	for _, svc := range Services(c, codeServer) {
		s.services = append(s.services, &service{Service: svc, backoff: backoffMin})
	}
	if c.Syncthing {
		if err := s.prepareSyncthing(); err != nil {
			return s.fail(Failure{ReasonServiceFailed, err.Error()}), true
		}
	}
	for _, svc := range s.services {
		if err := s.startService(svc); err != nil {
			return s.fail(Failure{ReasonServiceFailed, err.Error()}), true
		}
	}
	for _, svc := range s.services {
		for _, port := range sortedPorts(svc.Ports) {
			if res := s.runCLI(ctx, "tailscale serve", ServeArgv(c, port), cliTimeout, true); res.err != nil {
				return s.cliFailed(ctx, res, ReasonServiceFailed), true
			}
		}
	}
	if ctx.Err() != nil {
		return s.shutdown(), true
	}
	return 0, false
}

// cliFailed ends the start after a tailscale CLI call other than `up`
// failed.
func (s *supervisor) cliFailed(ctx context.Context, res cliResult, reason string) int {
	switch {
	case ctx.Err() != nil:
		return s.shutdown()
	case res.tailscaledDied:
		return s.fail(Failure{ReasonTailscaleFailed, "tailscaled exited: " + s.tailscaled.exitText()})
	}
	return s.fail(Failure{reason, res.name + ": " + mainLine(res.output) + " (" + res.err.Error() + ")"})
}

// supervise is the main loop. With a non-zero readyBy it first waits for
// the services to listen and then reports ready; from then on it keeps
// tailscaled and the services running and reports sessions until ctx is
// cancelled.
func (s *supervisor) supervise(ctx context.Context, readyBy time.Time) int {
	exits := make(chan *child)
	watch := func(c *child) {
		go func() {
			<-c.done
			select {
			case exits <- c:
			case <-ctx.Done():
			}
		}()
	}
	var tailscaledDone <-chan struct{} // nil, never ready, with no tailnet
	if s.tailscaled != nil {
		tailscaledDone = s.tailscaled.done
	}
	for _, svc := range s.services {
		if svc.cur != nil {
			watch(svc.cur)
		}
	}

	var readyTick <-chan time.Time
	if !readyBy.IsZero() {
		t := time.NewTicker(readyPollEvery)
		defer t.Stop()
		readyTick = t.C
	}
	activity := time.NewTicker(s.cfg.ActivityInterval)
	defer activity.Stop()

	for {
		select {
		case <-ctx.Done():
			return s.shutdown()

		case <-tailscaledDone:
			return s.fail(Failure{ReasonTailscaleFailed, "tailscaled exited: " + s.tailscaled.exitText()})

		case c := <-exits:
			s.serviceExited(c)

		case svc := <-s.restart:
			svc.timer = nil
			if err := s.startService(svc); err != nil {
				s.logf("%v; retrying in %s", err, svc.backoff)
				s.restartLater(svc)
				continue
			}
			watch(svc.cur)

		case <-readyTick:
			switch listening, failed := s.listening(readyBy); {
			case failed != nil:
				return s.fail(*failed)
			case listening:
				readyTick = nil
				s.ready(ctx)
			}

		case now := <-activity.C:
			s.checkActivity(now)
		}
	}
}

// serviceExited schedules the restart of the service whose process c
// was; a service that ran for stableAfter starts again from the shortest
// backoff.
func (s *supervisor) serviceExited(c *child) {
	svc := s.serviceOf(c)
	if svc == nil {
		return
	}
	if time.Since(svc.started) >= stableAfter {
		svc.backoff = backoffMin
	}
	s.logf("%s exited (%s); restarting in %s", svc.Name, c.exitText(), svc.backoff)
	s.restartLater(svc)
}

// restartLater schedules a restart of svc after its backoff, and doubles
// the backoff for the next time (up to backoffMax).
func (s *supervisor) restartLater(svc *service) {
	svc.timer = time.AfterFunc(svc.backoff, func() { s.restart <- svc })
	svc.backoff = min(2*svc.backoff, backoffMax)
}

// listening says whether every service accepts connections; past readyBy
// a service that does not is the start's failure.
func (s *supervisor) listening(readyBy time.Time) (bool, *Failure) {
	missing := s.notListening()
	switch {
	case missing == "":
		return true, nil
	case time.Now().After(readyBy):
		return false, &Failure{ReasonServiceFailed, fmt.Sprintf("%s did not accept connections within %s", missing, s.cfg.ReadyTimeout)}
	}
	return false, nil
}

// ready reports the node up: status file, then READY=1.
func (s *supervisor) ready(ctx context.Context) {
	st := Status{State: StateUp, Message: "up"}
	ns, err := s.nodeStatus(ctx)
	if err != nil {
		s.logf("%v", err)
		st.Message = "up; tailscale status failed: " + err.Error()
	} else {
		st.DNSName, st.IPs = ns.DNSName, ns.IPs
	}
	for _, svc := range s.services {
		for name, port := range svc.Ports {
			if st.Services == nil {
				st.Services = map[string]int{}
			}
			st.Services[name] = port
		}
	}
	s.setStatus(st)
	text := ns.ReadyStatus()
	if ns.DNSName == "" {
		text = "ready: " + s.cfg.Hostname
	}
	s.logf("%s", text)
	s.notify("READY", "1", "STATUS", text)
}

// fail reports a failed start or a dead tailscaled and stops everything.
func (s *supervisor) fail(f Failure) int {
	f.Message = OneLine(f.Message)
	s.logf("failed (%s): %s", f.Reason, f.Message)
	s.setStatus(Status{State: StateFailed, Reason: f.Reason, Message: f.Message})
	s.notify("STATUS", "failed: "+f.Message)
	s.stopAll()
	if f.Reason == ReasonKeyRefused {
		// Restarting cannot help until someone puts a new key in place:
		// the unit's RestartPreventExitStatus= names this code, so a
		// refused key does not become a restart loop against the
		// control server.
		return ExitKeyRefused
	}
	return 1
}

// ExitKeyRefused is devbox-init's exit status when the control server
// refused the auth key (EX_CONFIG); quadlet.KeyRefusedExit is the same.
const ExitKeyRefused = 78

// shutdown is the requested stop.
func (s *supervisor) shutdown() int {
	s.logf("stopping")
	s.notify("STOPPING", "1", "STATUS", "stopping")
	s.stopAll()
	if s.status.State != StateOff && s.status.State != StateFailed {
		s.setStatus(Status{State: StateStopped, Message: "stopped"})
	}
	s.logf("stopped")
	return 0
}

// stopAll stops the services in reverse start order (Syncthing, then
// code-server), then tailscaled with what is left of the stop budget. No
// `tailscale logout`: the node keeps its identity across a restart; the
// host logs it out on destroy.
func (s *supervisor) stopAll() {
	deadline := time.Now().Add(stopBudget)
	for i := len(s.services) - 1; i >= 0; i-- {
		svc := s.services[i]
		if svc.timer != nil {
			svc.timer.Stop()
		}
		if s.table.stop(svc.cur, serviceGrace) {
			s.logf("%s did not stop within %s: killed", svc.Name, serviceGrace)
		}
	}
	if s.tailscaled != nil {
		grace := max(time.Until(deadline), time.Second)
		if s.table.stop(s.tailscaled, grace) {
			s.logf("tailscaled did not stop within %s: killed", grace)
		}
	}
}

func (s *supervisor) serviceOf(c *child) *service {
	for _, svc := range s.services {
		if svc.cur == c {
			return svc
		}
	}
	return nil
}

// startService starts svc as the dev user in its home directory.
func (s *supervisor) startService(svc *service) error {
	sp := spawn{
		name: svc.Name,
		argv: svc.Argv,
		env:  UserEnv(s.user, envValue(s.environ, "PATH"), svc.Env...),
		dir:  s.user.Home,
		cred: s.credential(),
	}
	c, err := s.table.start(sp)
	if err != nil {
		return err
	}
	svc.cur, svc.started = c, time.Now()
	s.logf("started %s (pid %d): %s", svc.Name, c.pid, commandLine(svc.Argv))
	return nil
}

// credential is the dev user's, or nil when devbox-init is not root (in
// tests), where switching users is neither possible nor needed.
func (s *supervisor) credential() *syscall.Credential {
	if os.Geteuid() != 0 {
		return nil
	}
	group, _ := os.ReadFile(s.cfg.GroupFile)
	return &syscall.Credential{Uid: s.user.UID, Gid: s.user.GID, Groups: SupplementaryGroups(group, s.user.Name, s.user.GID)}
}

func (s *supervisor) lookupUser() (User, error) {
	data, err := os.ReadFile(s.cfg.PasswdFile)
	if err != nil {
		return User{}, fmt.Errorf("look up user %s: %w", s.cfg.User, err)
	}
	return LookupUser(data, s.cfg.User)
}

// waitSocket waits for tailscaled's socket to accept connections.
func (s *supervisor) waitSocket(ctx context.Context) (ok bool, code int) {
	deadline := time.Now().Add(socketTimeout)
	for {
		if conn, err := net.Dial("unix", s.cfg.Socket); err == nil {
			conn.Close()
			return true, 0
		}
		select {
		case <-ctx.Done():
			return false, s.shutdown()
		case <-s.tailscaled.done:
			return false, s.fail(Failure{ReasonTailscaleFailed, "tailscaled exited at start: " + s.tailscaled.exitText()})
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return false, s.fail(Failure{ReasonTailscaleFailed, fmt.Sprintf("tailscaled did not open %s within %s", s.cfg.Socket, socketTimeout)})
		}
	}
}

// cliResult is the outcome of a tailscale CLI call.
type cliResult struct {
	name           string
	output         string // redacted
	err            error
	tailscaledDied bool
}

// runCLI runs a tailscale command as root and waits for it, at most
// bound, while tailscaled lives and ctx is not cancelled. With both, its
// stderr is captured along with stdout; the output is logged, redacted.
func (s *supervisor) runCLI(ctx context.Context, name string, argv []string, bound time.Duration, both bool) cliResult {
	res := cliResult{name: name}
	capt, err := newCapture(outputLimit)
	if err != nil {
		res.err = err
		return res
	}
	sp := spawn{name: name, argv: argv, env: RootEnv(s.environ), dir: "/", stdout: capt.w}
	if both {
		sp.stderr = capt.w
	}
	c, err := s.table.start(sp)
	capt.started()
	if err != nil {
		capt.result(0)
		res.err = err
		return res
	}
	timer := time.NewTimer(bound)
	defer timer.Stop()
	stopped := true
	select {
	case <-c.done:
		stopped = false
		if c.status.ExitStatus() != 0 {
			res.err = errors.New(c.exitText())
		}
	case <-ctx.Done():
		res.err = ctx.Err()
	case <-s.tailscaled.done:
		res.err, res.tailscaledDied = errors.New("tailscaled exited"), true
	case <-timer.C:
		res.err = fmt.Errorf("%s did not return within %s", name, bound)
	}
	if stopped {
		s.table.stop(c, time.Second)
	}
	out := Redact(string(capt.result(2 * time.Second)))
	if stopped {
		// What devbox-init did to the command is part of the story, and
		// ClassifyUp reads "did not return within" as an unreachable control.
		out += "\n" + res.err.Error()
	}
	res.output = out
	if both {
		sc := bufio.NewScanner(strings.NewReader(out))
		for sc.Scan() {
			if line := strings.TrimSpace(sc.Text()); line != "" {
				s.logf("%s: %s", name, line)
			}
		}
	}
	return res
}

// nodeStatus runs `tailscale status --json`; its stderr passes through.
func (s *supervisor) nodeStatus(ctx context.Context) (NodeStatus, error) {
	res := s.runCLI(ctx, "tailscale status", StatusArgv(s.cfg), cliTimeout, false)
	if res.err != nil && res.output == "" {
		return NodeStatus{}, fmt.Errorf("tailscale status: %w", res.err)
	}
	// `tailscale status` exits 1 when logged out but still prints JSON.
	return ParseNodeStatus([]byte(res.output))
}

// notListening names the first service port that does not accept a TCP
// connection on loopback yet, or returns "".
func (s *supervisor) notListening() string {
	for _, svc := range s.services {
		for _, port := range sortedPorts(svc.Ports) {
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
			conn, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				return svc.Name + " on " + addr
			}
			conn.Close()
		}
	}
	return ""
}

func sortedPorts(m map[string]int) []int {
	var ports []int
	for _, p := range m {
		ports = append(ports, p)
	}
	slices.Sort(ports)
	return ports
}

// findCodeServer returns code-server's path, or "" when the image has none.
func (s *supervisor) findCodeServer() string {
	for _, p := range s.cfg.CodeServerPaths {
		if executable(p) == nil {
			return p
		}
	}
	if p, err := lookPath("code-server", envValue(s.environ, "PATH")); err == nil {
		return p
	}
	return ""
}

// checkActivity touches the session file when a session is open, and
// only then: a touch without a session would keep the container alive
// forever.
func (s *supervisor) checkActivity(now time.Time) {
	if s.cfg.ActivityDir == "" {
		return
	}
	snap, err := ReadSnapshot(s.cfg.ProcRoot)
	if err != nil {
		s.logf("activity: %v", err)
		return
	}
	port := 0
	for _, svc := range s.services {
		if svc.Name == "code-server" {
			port = s.cfg.CodeServerPort
		}
	}
	why := OpenSession(snap, port)
	if why != s.lastSession {
		if why == "" {
			s.logf("activity: no session open")
		} else if s.lastSession == "" {
			s.logf("activity: %s", why)
		}
		s.lastSession = why
	}
	if why == "" {
		return
	}
	if err := touchSession(s.cfg.ActivityDir, now); err != nil {
		if !s.touchErr {
			s.logf("activity: %v", err)
		}
		s.touchErr = true
		return
	}
	s.touchErr = false
}

// prepareDirs creates tailscaled's state directory (root, 0700: it holds
// the node key) and the socket's directory. Missing directories between
// the home directory and the state directory are created for the dev
// user, so ~/.local and ~/.local/state stay the user's.
func (s *supervisor) prepareDirs() error {
	c := s.cfg
	if err := mkdirOwned(c.StateDir, s.user, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(c.StateDir, 0o700); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(c.StateDir, 0, 0); err != nil {
			return err
		}
	}
	return os.MkdirAll(filepath.Dir(c.Socket), 0o755)
}

// prepareSyncthing creates Syncthing's directory and sync folder for the
// dev user and writes its config.xml unless there is one.
func (s *supervisor) prepareSyncthing() error {
	c := s.cfg
	if err := mkdirOwned(c.SyncFolder, s.user, 0o755); err != nil {
		return err
	}
	if err := mkdirOwned(c.SyncthingDir, s.user, 0o700); err != nil {
		return err
	}
	p := filepath.Join(c.SyncthingDir, "config.xml")
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	_, err = f.Write(SyncthingConfigXML(c.SyncFolder, c.SyncthingGUIPort, c.SyncthingSyncPort))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && os.Geteuid() == 0 {
		err = os.Chown(p, int(s.user.UID), int(s.user.GID))
	}
	if err != nil {
		os.Remove(p)
		return fmt.Errorf("write %s: %w", p, err)
	}
	s.logf("wrote %s", p)
	return nil
}

// mkdirOwned creates dir and its missing parents with mode, and as root
// gives the ones it created to u. Existing directories are left alone.
func mkdirOwned(dir string, u User, mode os.FileMode) error {
	dir = filepath.Clean(dir)
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		} else if !os.IsNotExist(err) {
			return err
		}
		missing = append(missing, d)
		if d == filepath.Dir(d) {
			break
		}
	}
	for i := len(missing) - 1; i >= 0; i-- {
		d := missing[i]
		if err := os.Mkdir(d, mode); err != nil && !os.IsExist(err) {
			return fmt.Errorf("create %s: %w", d, err)
		}
		if os.Geteuid() == 0 {
			if err := os.Chown(d, int(u.UID), int(u.GID)); err != nil {
				return fmt.Errorf("chown %s: %w", d, err)
			}
		}
	}
	return nil
}
