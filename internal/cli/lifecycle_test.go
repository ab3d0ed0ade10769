package cli

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/sd"
)

func TestCreateCatchesPayloadThatExitsAtOnce(t *testing.T) {
	h := newHarness(t)
	h.env.PayloadAlive = func(string) (bool, error) { return false, nil }
	if code := h.run("create", "demo"); code != 8 {
		t.Fatalf("exit %d, want 8: %s", code, h.errOut)
	}
	if !strings.Contains(h.errOut.String(), "exited right after starting") || !strings.Contains(h.errOut.String(), "cannot find /bin/app") {
		t.Errorf("stderr lacks the cause and the log lines:\n%s", h.errOut)
	}
	if files := h.quadletFiles(); len(files) != 0 {
		t.Errorf("files left: %v", files)
	}
	if h.env.autostartEnabled("demo") {
		t.Error("autostart link left behind")
	}
	if _, ok := h.env.readIntent("demo"); ok {
		t.Error("intent record left behind")
	}
}

func TestCreateRestartedPayloadFails(t *testing.T) {
	h := newHarness(t)
	h.sys.restarts = 1
	if code := h.run("create", "demo"); code != 8 {
		t.Fatalf("exit %d, want 8: %s", code, h.errOut)
	}
}

func TestCreateKeepOnFailure(t *testing.T) {
	h := newHarness(t)
	h.env.PayloadAlive = func(string) (bool, error) { return false, nil }
	if code := h.run("create", "--keep-on-failure", "demo"); code != 8 {
		t.Fatalf("exit %d, want 8", code)
	}
	if files := h.quadletFiles(); len(files) != 2 {
		t.Errorf("--keep-on-failure removed files: %v", files)
	}
	if slices.Contains(h.pod.calls, "rm volume devbox-demo-home") {
		t.Error("--keep-on-failure removed the volume")
	}
	if code := h.run("create", "demo"); code != 4 {
		t.Errorf("create over kept leftovers: exit %d, want 4", code)
	}
	if code := h.run("destroy", "--yes", "demo"); code != 0 {
		t.Errorf("destroy of kept leftovers: exit %d: %s", code, h.errOut)
	}
}

func TestRollbackKeepsAReusedVolume(t *testing.T) {
	h := newHarness(t)
	h.pod.volumes = []string{"devbox-demo-home"}
	h.sys.startErr = os.ErrDeadlineExceeded
	if code := h.run("create", "demo"); code == 0 {
		t.Fatal("create succeeded")
	}
	if slices.Contains(h.pod.calls, "rm volume devbox-demo-home") {
		t.Errorf("rollback removed a home volume that existed before create: %v", h.pod.calls)
	}
	if !strings.Contains(h.errOut.String(), "reusing the existing home volume") {
		t.Errorf("stderr does not say the volume is reused:\n%s", h.errOut)
	}
}

func TestLeftoversOfInterruptedCreate(t *testing.T) {
	h := newHarness(t)
	// What a create killed after writing its files leaves behind.
	if err := h.env.writeIntent(intent{Name: "demo", Started: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := writeNew(h.env.QuadletDir(), "devbox-demo.container", []byte("[Container]\n")); err != nil {
		t.Fatal(err)
	}
	if code := h.run("create", "demo"); code != 0 {
		t.Fatalf("create after a crash: exit %d: %s", code, h.errOut)
	}
	if !strings.Contains(h.errOut.String(), "interrupted create") {
		t.Errorf("stderr does not report the leftovers:\n%s", h.errOut)
	}
	if _, ok := h.env.readIntent("demo"); ok {
		t.Error("intent record survived a successful create")
	}
	// And destroy alone also converges.
	h2 := newHarness(t)
	_ = h2.env.writeIntent(intent{Name: "gone", Started: time.Now()})
	if code := h2.run("destroy", "--yes", "gone"); code != 0 {
		t.Fatalf("destroy of leftovers: exit %d: %s", code, h2.errOut)
	}
	if !slices.Contains(h2.pod.calls, "rm volume devbox-gone-home") {
		t.Errorf("destroy did not remove the leftover volume: %v", h2.pod.calls)
	}
}

func TestUserCap(t *testing.T) {
	h := newHarness(t)
	for _, n := range []string{"c1", "c2", "c3", "c4", "c5"} {
		if code := h.run("create", "--no-start", n+"x"); code != 0 {
			t.Fatalf("create %s: exit %d: %s", n, code, h.errOut)
		}
	}
	code := h.run("create", "sixth")
	if code != 5 {
		t.Fatalf("sixth create: exit %d, want 5: %s", code, h.errOut)
	}
	for _, want := range []string{"5 of 5", "c1x", "c5x", "destroy"} {
		if !strings.Contains(h.errOut.String(), want) {
			t.Errorf("cap refusal lacks %q:\n%s", want, h.errOut)
		}
	}
}

func TestAutostartFollowsStopAndStart(t *testing.T) {
	h := newHarness(t)
	if code := h.run("create", "demo"); code != 0 {
		t.Fatalf("create: %d %s", code, h.errOut)
	}
	if !h.env.autostartEnabled("demo") {
		t.Fatal("create did not enable autostart")
	}
	target, _ := os.Readlink(h.env.autostartLink("demo"))
	if !strings.HasSuffix(target, "/systemd/generator/devbox-demo.service") {
		t.Errorf("link target = %q", target)
	}
	h.sys.states["devbox-demo.service"] = sd.UnitState{Name: "devbox-demo.service", ActiveState: "active", SubState: "running"}
	if code := h.run("stop", "demo"); code != 0 {
		t.Fatalf("stop: %d %s", code, h.errOut)
	}
	if h.env.autostartEnabled("demo") {
		t.Error("stop left autostart enabled")
	}
	delete(h.sys.states, "devbox-demo.service")
	if code := h.run("start", "demo"); code != 0 {
		t.Fatalf("start: %d %s", code, h.errOut)
	}
	if !h.env.autostartEnabled("demo") {
		t.Error("start did not enable autostart")
	}
	if code := h.run("restart", "demo"); code != 0 || !slices.Contains(h.sys.calls, "restart devbox-demo.service") {
		t.Errorf("restart: %d %v %s", code, h.sys.calls, h.errOut)
	}
}

func TestStatusJSON(t *testing.T) {
	h := newHarness(t)
	if code := h.run("create", "--memory", "1G", "demo"); code != 0 {
		t.Fatalf("create: %d %s", code, h.errOut)
	}
	h.sys.restarts = 2
	if code := h.run("status", "demo", "--json"); code != 0 {
		t.Fatalf("status: %d %s", code, h.errOut)
	}
	var res statusResult
	if err := json.Unmarshal(h.out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if res.Schema != 1 || res.State != "running" || res.Restarts != 2 || !res.Autostart || res.Volume != "devbox-demo-home" ||
		res.MemoryCurrent != nil || !strings.HasSuffix(res.UnitFile, "/devbox-demo.container") {
		t.Errorf("status = %+v", res)
	}
	if code := h.run("status", "demo"); code != 0 || !strings.Contains(h.out.String(), "restarts:   2") {
		t.Errorf("status text: %d\n%s", code, h.out)
	}
	if code := h.run("status", "nosuch"); code != 3 {
		t.Errorf("status of unknown: exit %d, want 3", code)
	}
}

func TestLogsArgs(t *testing.T) {
	h := newHarness(t)
	if code := h.run("create", "demo"); code != 0 {
		t.Fatalf("create: %d %s", code, h.errOut)
	}
	if code := h.run("logs", "demo", "--tail", "5"); code != 0 {
		t.Fatalf("logs: %d %s", code, h.errOut)
	}
	if got := strings.TrimSpace(h.out.String()); got != "--user --unit devbox-demo.service --no-pager CONTAINER_NAME=devbox-demo --output json --output-fields MESSAGE,CONTAINER_PARTIAL_MESSAGE --lines 5" {
		t.Errorf("journalctl args = %q", got)
	}
	if code := h.run("logs", "demo", "--tail", "-1"); code != 2 {
		t.Errorf("negative tail: exit %d", code)
	}
	if code := h.run("logs", "nosuch"); code != 3 {
		t.Errorf("logs of unknown: exit %d", code)
	}
}
