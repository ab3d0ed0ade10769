package agentclient

// The client against a fake agent exported on a private dbus-daemon with a
// permissive policy: no root needed. The fake records the arguments it got
// and answers what a test sets, including replies the real agent never
// sends, so every decoding path runs. The real server is called through
// this client in internal/agent's bus tests.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/devbox-quadlet/devbox-quadlet/internal/agentproto"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/secrets"
)

// startBus runs a private bus daemon that lets anyone own and call anything.
func startBus(t *testing.T) string {
	t.Helper()
	daemon, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Fatalf("dbus-daemon is not installed; scripts/deps.sh installs it: %v", err)
	}
	dir := t.TempDir()
	addr := "unix:path=" + filepath.Join(dir, "bus")
	conf := filepath.Join(dir, "bus.conf")
	err = os.WriteFile(conf, []byte(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <listen>`+addr+`</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(daemon, "--config-file="+conf, "--nofork", "--nopidfile", "--nosyslog")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if c, err := net.Dial("unix", filepath.Join(dir, "bus")); err == nil {
			c.Close()
			return addr
		}
		select {
		case <-done:
			t.Fatalf("dbus-daemon exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("dbus-daemon did not listen within 10 s")
		}
	}
}

// fakeAgent answers the agent's methods as a test says.
type fakeAgent struct {
	mu    sync.Mutex
	calls []string
	err   *dbus.Error // every method's answer, if set
	reply string      // List, Repair and ForgetDevice's reply
	key   string      // what AuthKey writes into the pipe
}

func (f *fakeAgent) record(format string, args ...any) *dbus.Error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
	return f.err
}

// answer sets what the fake answers from now on; handlers run on godbus's
// goroutines.
func (f *fakeAgent) answer(set func(f *fakeAgent)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	set(f)
}

func (f *fakeAgent) replied() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reply
}

func (f *fakeAgent) Reserve(name string, create bool, milli uint32, memory uint64) *dbus.Error {
	return f.record("Reserve %s %v %d %d", name, create, milli, memory)
}
func (f *fakeAgent) Stop(name string) *dbus.Error    { return f.record("Stop %s", name) }
func (f *fakeAgent) Release(name string) *dbus.Error { return f.record("Release %s", name) }
func (f *fakeAgent) Confirm(name string) *dbus.Error { return f.record("Confirm %s", name) }
func (f *fakeAgent) List(all bool) (string, *dbus.Error) {
	return f.replied(), f.record("List %v", all)
}
func (f *fakeAgent) Repair(observed string, dryRun bool) (string, *dbus.Error) {
	return f.replied(), f.record("Repair %s %v", observed, dryRun)
}
func (f *fakeAgent) ForgetDevice(name string) (string, *dbus.Error) {
	return f.replied(), f.record("ForgetDevice %s", name)
}
func (f *fakeAgent) AuthKey(name string, pipe dbus.UnixFD) *dbus.Error {
	w := os.NewFile(uintptr(pipe), "pipe")
	defer w.Close()
	if err := f.record("AuthKey %s", name); err != nil {
		return err
	}
	f.mu.Lock()
	key := f.key
	f.mu.Unlock()
	_, _ = w.WriteString(key)
	return nil
}

func (f *fakeAgent) took() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// serveFake exports f under the agent's name on addr.
func serveFake(t *testing.T, addr string, f *fakeAgent) {
	t.Helper()
	serveOnBus(t, addr, agentproto.BusName, f, agentproto.ObjectPath, agentproto.Interface)
}

// serveOnBus connects to the test bus at addr, exports v at path under
// iface and owns the well-known name, as the real service would.
func serveOnBus(t *testing.T, addr, name string, v any, path dbus.ObjectPath, iface string) {
	t.Helper()
	conn, err := dbus.Dial(addr)
	if err == nil {
		if err = conn.Auth(nil); err == nil {
			err = conn.Hello()
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.Export(v, path, iface); err != nil {
		t.Fatal(err)
	}
	if reply, err := conn.RequestName(name, dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("own %s: %v %v", name, reply, err)
	}
}

func dialTest(t *testing.T, addr string) *Client {
	t.Helper()
	c, err := DialAddress(t.Context(), addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// TestCallsCarryTheirArguments: each method calls the agent's method of
// that name with its arguments in the protocol's types.
func TestCallsCarryTheirArguments(t *testing.T) {
	addr := startBus(t)
	c := dialTest(t, addr)
	if c.Available(t.Context()) {
		t.Error("Available with no agent on the bus")
	}
	// No agent and no systemd on this bus: nothing is installed.
	if err := c.Ready(t.Context()); !IsNotInstalled(err) || !errdefs.Is(err, errdefs.AgentMissing) {
		t.Errorf("Ready with no agent on the bus = %v, want ErrNotInstalled", err)
	}
	f := &fakeAgent{reply: `{"schema":1,"all":true,"entries":[{"name":"web","uid":1000,"user":"alice","cpus":2,"memory":1024,"created":"2026-11-29T08:00:00Z","running":true}]}`}
	serveFake(t, addr, f)
	if !c.Available(t.Context()) {
		t.Fatal("the agent is not available")
	}
	if err := c.Ready(t.Context()); err != nil {
		t.Fatalf("Ready with the agent on the bus: %v", err)
	}
	ctx := t.Context()
	for what, err := range map[string]error{
		"reserve": c.Reserve(ctx, "web", true, 1.2345, 3<<30),
		"confirm": c.Confirm(ctx, "web"),
		"stop":    c.Stop(ctx, "web"),
		"release": c.Release(ctx, "web"),
	} {
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	l, err := c.List(ctx, true)
	if err != nil || !l.All || len(l.Entries) != 1 || l.Entries[0].Name != "web" || !l.Entries[0].Running || l.Entries[0].Memory != 1024 {
		t.Errorf("List = %+v %v", l, err)
	}
	f.answer(func(f *fakeAgent) {
		f.reply = `{"schema":1,"dry_run":true,"removed":[{"name":"old","user":"bob","why":"gone"}],"added":[],"skipped":[],"kept":3}`
	})
	rep, err := c.Repair(ctx, agentproto.Observed{Schema: 1, Containers: []agentproto.ObservedContainer{{Name: "web", UID: 1000, User: "alice"}}}, true)
	if err != nil || !rep.DryRun || rep.Kept != 3 || len(rep.Removed) != 1 || rep.Removed[0].Name != "old" {
		t.Errorf("Repair = %+v %v", rep, err)
	}
	want := []string{
		"Reserve web true 1235 3221225472", "Confirm web", "Stop web", "Release web", "List true",
		`Repair {"schema":1,"containers":[{"name":"web","uid":1000,"user":"alice","cpus":0,"memory":0,"created":"0001-01-01T00:00:00Z"}]} true`,
	}
	got := f.took()
	// The map above runs its four calls in any order.
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			t.Errorf("the agent never got %q; it got %q", w, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("the agent got %d calls, want %d: %q", len(got), len(want), got)
	}
}

// TestTypedReplies: ForgetDevice's outcomes and AuthKey's key come back
// typed; replies this client cannot read are system errors (exit 8).
func TestTypedReplies(t *testing.T) {
	addr := startBus(t)
	f := &fakeAgent{key: "tskey-auth-abc123\n"}
	serveFake(t, addr, f)
	c := dialTest(t, addr)
	ctx := t.Context()
	for wire, want := range map[string]agentproto.ForgetOutcome{
		"deleted 3 device(s)": {Result: agentproto.ForgetDeleted, Devices: 3},
		"not found":           {Result: agentproto.ForgetNotFound},
		"not configured":      {Result: agentproto.ForgetNotConfigured},
	} {
		f.answer(func(f *fakeAgent) { f.reply = wire })
		if got, err := c.ForgetDevice(ctx, "web"); err != nil || got != want {
			t.Errorf("ForgetDevice reply %q = %+v %v, want %+v", wire, got, err, want)
		}
	}
	f.answer(func(f *fakeAgent) { f.reply = "vanished" })
	if _, err := c.ForgetDevice(ctx, "web"); errdefs.ExitCode(err) != 8 || !strings.Contains(err.Error(), `"vanished"`) {
		t.Errorf("an unknown outcome: %v", err)
	}
	f.answer(func(f *fakeAgent) { f.reply = "{" })
	if _, err := c.List(ctx, false); errdefs.ExitCode(err) != 8 || !strings.Contains(err.Error(), "bad reply") {
		t.Errorf("List with a bad reply: %v", err)
	}
	if _, err := c.Repair(ctx, agentproto.Observed{Schema: 1}, false); errdefs.ExitCode(err) != 8 || !strings.Contains(err.Error(), "bad reply") {
		t.Errorf("Repair with a bad reply: %v", err)
	}
	k, err := c.AuthKey(ctx, "web")
	if err != nil || string(k) != "tskey-auth-abc123" {
		t.Errorf("AuthKey = %q %v", k, err)
	}
	f.answer(func(f *fakeAgent) { f.key = strings.Repeat("k", secrets.MaxKeySize+10) })
	if _, err := c.AuthKey(ctx, "web"); errdefs.ExitCode(err) != 7 {
		t.Errorf("an oversized key: %v, want exit 7", err)
	}
}

// TestErrorsComeBackTyped: the agent's D-Bus errors come back as their
// classes; a rate-limited refusal matches agentproto.ErrRateLimited (and
// only that one does); a lost connection is the agent missing.
func TestErrorsComeBackTyped(t *testing.T) {
	addr := startBus(t)
	f := &fakeAgent{}
	serveFake(t, addr, f)
	c := dialTest(t, addr)
	ctx := t.Context()
	for _, tc := range []struct {
		name        string
		exit        int
		rateLimited bool
		text        string
	}{
		{agentproto.ErrorRateLimited, 7, true, "too many auth-key lookups; try again in 30s"},
		{agentproto.ErrorSecret, 7, false, "too many auth-key lookups; try again in 30s"},
		{agentproto.ErrorHostCap, 6, false, "host has 7 of 7 containers running"},
		{agentproto.ErrorUserCap, 5, false, "alice has 5 of 5"},
		{agentproto.ErrorExists, 4, false, "the name is taken"},
		{agentproto.ErrorNotFound, 3, false, "no container"},
		{agentproto.ErrorUsage, 2, false, "bad name"},
		{agentproto.ErrorDenied, 2, false, "auth key for web: the host agent refused: not yours"},
		{agentproto.ErrorFailed, 8, false, "disk full"},
	} {
		msg := strings.TrimPrefix(tc.text, "auth key for web: the host agent refused: ")
		f.answer(func(f *fakeAgent) { f.err = dbus.NewError(tc.name, []any{msg}) })
		_, err := c.AuthKey(ctx, "web")
		if errdefs.ExitCode(err) != tc.exit || errors.Is(err, agentproto.ErrRateLimited) != tc.rateLimited || err.Error() != tc.text {
			t.Errorf("%s: %q exit %d rate limited %v, want %q exit %d rate limited %v",
				tc.name, err, errdefs.ExitCode(err), errors.Is(err, agentproto.ErrRateLimited), tc.text, tc.exit, tc.rateLimited)
		}
	}
	f.answer(func(f *fakeAgent) {
		f.err = dbus.NewError(agentproto.ErrorRateLimited, []any{"too many Tailscale device deletions"})
	})
	if _, err := c.ForgetDevice(ctx, "web"); !errors.Is(err, agentproto.ErrRateLimited) {
		t.Errorf("ForgetDevice rate limited: %v", err)
	}
	c.Close()
	if err := c.Stop(context.Background(), "web"); !errdefs.Is(err, errdefs.AgentMissing) || !strings.HasPrefix(err.Error(), "stop web: host agent: ") {
		t.Errorf("a call on a closed connection: %v, want the agent missing", err)
	}
}

// TestNoAgent: a call to an agent that is not on the bus is the agent
// missing (exit 9), as is a bus that does not answer.
func TestNoAgent(t *testing.T) {
	addr := startBus(t)
	c := dialTest(t, addr)
	if err := c.Reserve(t.Context(), "web", true, 1, 1<<30); !errdefs.Is(err, errdefs.AgentMissing) {
		t.Errorf("Reserve with no agent: %v, want exit 9", err)
	}
	if _, err := DialAddress(t.Context(), "unix:path="+filepath.Join(t.TempDir(), "nobus")); !errdefs.Is(err, errdefs.AgentMissing) {
		t.Errorf("a bus that is not there: %v, want exit 9", err)
	}
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path="+filepath.Join(t.TempDir(), "nobus"))
	if _, err := Dial(t.Context()); !errdefs.Is(err, errdefs.AgentMissing) {
		t.Errorf("a system bus that is not there: %v, want exit 9", err)
	}
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", addr)
	c2, err := Dial(t.Context())
	if err != nil {
		t.Fatalf("Dial of the system bus at $DBUS_SYSTEM_BUS_ADDRESS: %v", err)
	}
	c2.Close()
}
