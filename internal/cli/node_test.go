package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/nodestatus"
	"github.com/devbox-quadlet/devbox-quadlet/internal/quadlet"
	"github.com/devbox-quadlet/devbox-quadlet/internal/sd"
)

// writeNodeStatus stands for the container's init writing its report.
func writeNodeStatus(t *testing.T, h *harness, name string, s nodestatus.Status) {
	t.Helper()
	dir := h.env.activityDir(name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := nodestatus.Write(dir, s); err != nil {
		t.Fatal(err)
	}
}

func TestCreateNotifyFollowsTheImageLabel(t *testing.T) {
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   bool
	}{
		{"labelled", map[string]string{quadlet.NotifyLabel: "true"}, true},
		{"unlabelled", nil, false},
		{"label false", map[string]string{quadlet.NotifyLabel: "false"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.pod.labels = map[string]map[string]string{"localhost/devbox:latest": tc.labels}
			if code := h.run("create", "demo"); code != 0 {
				t.Fatalf("exit %d: %s", code, h.errOut)
			}
			content, _ := os.ReadFile(filepath.Join(h.env.QuadletDir(), "devbox-demo.container"))
			if got := bytes.Contains(content, []byte("\nNotify=true\n")); got != tc.want {
				t.Errorf("Notify=true in the unit: %v, want %v:\n%s", got, tc.want, content)
			}
		})
	}
}

func TestCreatePassesTheLoginServer(t *testing.T) {
	h := newHarness(t)
	cfg := filepath.Join(h.env.Home, "hs.toml")
	if err := os.WriteFile(cfg, []byte("[secrets]\nbackend = \"env\"\n[tailnet]\nlogin_server = \"http://10.99.0.1:8080\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code := h.run("--config", cfg, "create", "demo"); code != 0 {
		t.Fatalf("exit %d: %s", code, h.errOut)
	}
	content, _ := os.ReadFile(filepath.Join(h.env.QuadletDir(), "devbox-demo.container"))
	if !bytes.Contains(content, []byte("\nEnvironment=DEVBOX_TS_LOGIN_SERVER=http://10.99.0.1:8080\n")) {
		t.Errorf("the unit does not pass the login server:\n%s", content)
	}
}

// TestCreateWithARefusedKey: the init reports that the control server
// refused the key; create exits 7, says so, keeps the key advice in its
// hint, and leaves nothing behind.
func TestCreateWithARefusedKey(t *testing.T) {
	h := newHarness(t)
	h.sys.startErr = errdefs.Errorf(errdefs.System, "start devbox-demo.service: job failed (result \"failed\")")
	h.sys.onStart = func(string) {
		writeNodeStatus(t, h, "demo", nodestatus.Status{State: nodestatus.StateFailed, Reason: nodestatus.ReasonKeyRefused,
			Message: "tailscale up: backend error: invalid key: authkey expired", Hostname: "demo"})
	}
	code := h.run("create", "demo")
	if code != 7 {
		t.Fatalf("exit %d, want 7: %s", code, h.errOut)
	}
	for _, want := range []string{"refused the auth key", "authkey expired", "hint: the key is expired, revoked", "nothing was left behind"} {
		if !strings.Contains(h.errOut.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, h.errOut)
		}
	}
	if files := h.quadletFiles(); len(files) != 0 {
		t.Errorf("left behind %v", files)
	}
	if strings.Contains(h.errOut.String(), canary) {
		t.Errorf("the key leaked into stderr")
	}
}

func TestStartExplainsAnUnreachableControlServer(t *testing.T) {
	h := newHarness(t)
	if code := h.run("create", "demo", "--no-start"); code != 0 {
		t.Fatalf("create: exit %d: %s", code, h.errOut)
	}
	h.sys.startErr = errdefs.Errorf(errdefs.System, "start devbox-demo.service: job failed")
	h.sys.onStart = func(string) {
		writeNodeStatus(t, h, "demo", nodestatus.Status{State: nodestatus.StateFailed, Reason: nodestatus.ReasonControlUnreachable, Message: "dial tcp 10.99.0.1:8080: connection refused"})
	}
	if code := h.run("start", "demo"); code != 8 || !strings.Contains(h.errOut.String(), "could not reach the tailnet's control server") ||
		!strings.Contains(h.errOut.String(), "login_server") {
		t.Errorf("exit %d: %s", code, h.errOut)
	}
}

// TestAStaleReportDoesNotExplainANewFailure: a failure report left from an
// earlier start is removed before the next start, so an unrelated failure
// is not blamed on the key.
func TestAStaleReportDoesNotExplainANewFailure(t *testing.T) {
	h := newHarness(t)
	if code := h.run("create", "demo", "--no-start"); code != 0 {
		t.Fatalf("create: exit %d: %s", code, h.errOut)
	}
	writeNodeStatus(t, h, "demo", nodestatus.Status{State: nodestatus.StateFailed, Reason: nodestatus.ReasonKeyRefused, Message: "old"})
	h.sys.startErr = errdefs.Errorf(errdefs.System, "start devbox-demo.service: job failed")
	if code := h.run("start", "demo"); code != 8 || strings.Contains(h.errOut.String(), "refused") {
		t.Errorf("exit %d: %s", code, h.errOut)
	}
}

func TestListAndStatusShowTheTailnetAddress(t *testing.T) {
	h := newHarness(t)
	if code := h.run("create", "demo"); code != 0 {
		t.Fatalf("create: exit %d: %s", code, h.errOut)
	}
	h.sys.states["devbox-demo.service"] = sd.UnitState{Name: "devbox-demo.service", LoadState: "loaded", ActiveState: "active", SubState: "running"}
	writeNodeStatus(t, h, "demo", nodestatus.Status{State: nodestatus.StateUp, Hostname: "demo",
		DNSName: "demo.tailnet.devbox.test.", IPs: []string{"100.64.0.3", "fd7a:115c:a1e0::3"}, Updated: time.Now()})
	if code := h.run("list", "--json"); code != 0 {
		t.Fatalf("list: exit %d: %s", code, h.errOut)
	}
	var l listResult
	if err := json.Unmarshal(h.out.Bytes(), &l); err != nil {
		t.Fatal(err)
	}
	if len(l.Containers) != 1 || l.Containers[0].Tailnet == nil || l.Containers[0].Tailnet.Address != "demo.tailnet.devbox.test" ||
		l.Containers[0].Tailnet.IPs[0] != "100.64.0.3" {
		t.Errorf("list --json: %s", h.out)
	}
	if code := h.run("list"); code != 0 || !strings.Contains(h.out.String(), "demo.tailnet.devbox.test") {
		t.Errorf("list: exit %d: %s", code, h.out)
	}
	if code := h.run("status", "demo"); code != 0 || !strings.Contains(h.out.String(), "address:    up: demo.tailnet.devbox.test (100.64.0.3, fd7a:115c:a1e0::3)") {
		t.Errorf("status: exit %d: %s", code, h.out)
	}
	// A stopped container's last report is stale: not shown.
	h.sys.states["devbox-demo.service"] = sd.UnitState{Name: "devbox-demo.service", LoadState: "loaded", ActiveState: "inactive", SubState: "dead"}
	if code := h.run("status", "demo", "--json"); code != 0 || !strings.Contains(h.out.String(), `"tailnet": null`) {
		t.Errorf("status --json of a stopped container: exit %d: %s", code, h.out)
	}
}

func TestMissingImageNamesTheFix(t *testing.T) {
	h := newHarness(t)
	h.pod.images = nil
	if code := h.run("create", "demo"); code != 8 || !strings.Contains(h.errOut.String(), "containers/load.sh alice") {
		t.Errorf("default image: exit %d: %s", code, h.errOut)
	}
	if code := h.run("create", "demo", "--image", "docker.io/library/debian:trixie"); code != 8 || !strings.Contains(h.errOut.String(), "podman pull docker.io/library/debian:trixie") {
		t.Errorf("another image: exit %d: %s", code, h.errOut)
	}
	if files := h.quadletFiles(); len(files) != 0 {
		t.Errorf("left behind %v", files)
	}
}

// TestTheStatusFileIsNotASession: the init rewrites its status file at
// every start; only real session files move the reaper's clock.
func TestTheStatusFileIsNotASession(t *testing.T) {
	h := newHarness(t)
	if code := h.run("create", "demo", "--no-start"); code != 0 {
		t.Fatalf("create: exit %d: %s", code, h.errOut)
	}
	writeNodeStatus(t, h, "demo", nodestatus.Status{State: nodestatus.StateUp})
	if got := h.env.sessionTime("demo"); !got.IsZero() {
		t.Errorf("sessionTime = %v with only the status file; want zero", got)
	}
	session := filepath.Join(h.env.activityDir("demo"), "session")
	if err := os.WriteFile(session, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := h.env.sessionTime("demo"); got.IsZero() {
		t.Errorf("sessionTime is zero with a session file")
	}
}

// TestNewcomerWithoutAgent: the built-in default config on a host without
// the agent. The hint must not contradict the error (it once said standalone
// mode reads the key from op://…, which standalone mode refuses).
func TestNewcomerWithoutAgent(t *testing.T) {
	h := newHarness(t)
	h.env.DefaultConfig = filepath.Join(h.env.Home, "absent.toml")
	code := h.run("create", "demo")
	if code != 7 {
		t.Fatalf("exit %d, want 7: %s", code, h.errOut)
	}
	out := h.errOut.String()
	if strings.Contains(out, "op://") || !strings.Contains(out, "install the host agent") || !strings.Contains(out, "tailscale-authkey") {
		t.Errorf("stderr:\n%s", out)
	}
	if files := h.quadletFiles(); len(files) != 0 {
		t.Errorf("left behind %v", files)
	}
}
