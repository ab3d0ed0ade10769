package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/sd"
)

// noCanary fails if the canary key is in any output or any file under home.
func noCanary(t *testing.T, h *harness) {
	t.Helper()
	for what, s := range map[string]string{"stdout": h.out.String(), "stderr": h.errOut.String()} {
		if strings.Contains(s, "CANARY") {
			t.Errorf("%s shows the key: %s", what, s)
		}
	}
	_ = filepath.Walk(h.env.Home, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			data, _ := os.ReadFile(p)
			if strings.Contains(string(data), "CANARY") && !strings.HasSuffix(p, "tailscale-authkey") {
				t.Errorf("%s holds the key", p)
			}
		}
		return nil
	})
}

func TestCreateStoresTheKeyAsAPodmanSecret(t *testing.T) {
	h := newHarness(t)
	if code := h.run("create", "demo", "--json"); code != 0 {
		t.Fatalf("exit %d: %s", code, h.errOut)
	}
	if got := h.pod.secrets["devbox-demo-tsauthkey"]; got != canary {
		t.Errorf("secret = %q, want the key", got)
	}
	var res createResult
	if err := json.Unmarshal(h.out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if res.Secret != "devbox-demo-tsauthkey" || res.Hostname != "demo" || res.Tags != "tag:devcontainer,tag:alice-container" {
		t.Errorf("result = %+v", res)
	}
	unit, _ := os.ReadFile(filepath.Join(h.env.QuadletDir(), "devbox-demo.container"))
	if !strings.Contains(string(unit), "Secret=devbox-demo-tsauthkey,type=mount,target=/run/secrets/tailscale-authkey,mode=0400") {
		t.Errorf("unit lacks the secret mount:\n%s", unit)
	}
	noCanary(t, h)
	// The secret goes before the unit files, so a rollback or a crash
	// recovery (teardown) finds and removes it.
	if h.pod.calls[0] != "secret create devbox-demo-tsauthkey" {
		t.Errorf("podman calls = %v", h.pod.calls)
	}
	if code := h.run("destroy", "--yes", "demo"); code != 0 {
		t.Fatalf("destroy: %d %s", code, h.errOut)
	}
	if _, ok := h.pod.secrets["devbox-demo-tsauthkey"]; ok {
		t.Error("destroy left the secret")
	}
}

func TestCreateWithoutKeyExits7AndMakesNothing(t *testing.T) {
	h := newHarness(t)
	delete(h.vars, "DEVBOX_QUADLET_TS_AUTHKEY")
	code := h.run("create", "demo")
	if code != 7 {
		t.Fatalf("exit %d, want 7: %s", code, h.errOut)
	}
	if !strings.Contains(h.errOut.String(), "DEVBOX_QUADLET_TS_AUTHKEY") {
		t.Errorf("message does not say where the key was looked for: %s", h.errOut)
	}
	if files := h.quadletFiles(); len(files) != 0 {
		t.Errorf("files: %v", files)
	}
	if len(h.pod.calls) != 0 || len(h.sys.calls) != 0 {
		t.Errorf("acted on a failed resolution: podman %v, systemd %v", h.pod.calls, h.sys.calls)
	}
	if _, ok := h.env.readIntent("demo"); ok {
		t.Error("intent record left")
	}
}

// TestCreateAgentKeyFailureReservesNothing: the key is asked for before the
// reservation, so a failed lookup holds none (a slow 1Password once held a
// reservation for its whole timeout, and the agent made the user wait as
// long again).
func TestCreateAgentKeyFailureReservesNothing(t *testing.T) {
	h := newHarness(t)
	a := &fakeAgent{available: true, keyErr: errdefs.Errorf(errdefs.Secret, "cannot resolve op://DevBox/alice-tailscale-authkey/password: 1Password did not answer within 20s")}
	withAgent(h, a, "auto")
	if code := h.run("create", "demo"); code != 7 {
		t.Fatalf("exit %d, want 7: %s", code, h.errOut)
	}
	if want := []string{"authkey demo"}; !slices.Equal(a.calls, want) {
		t.Errorf("agent calls = %v, want %v", a.calls, want)
	}
	if len(h.pod.calls) != 0 || len(h.quadletFiles()) != 0 {
		t.Errorf("left: podman %v, files %v", h.pod.calls, h.quadletFiles())
	}
}

func TestCreateWithoutTailnet(t *testing.T) {
	h := newHarness(t)
	if err := os.WriteFile(h.env.DefaultConfig, []byte("[secrets]\nbackend = \"none\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code := h.run("create", "demo"); code != 0 {
		t.Fatalf("exit %d: %s", code, h.errOut)
	}
	unit, _ := os.ReadFile(filepath.Join(h.env.QuadletDir(), "devbox-demo.container"))
	if strings.Contains(string(unit), "Secret=") || len(h.pod.secrets) != 0 {
		t.Errorf("a container without a tailnet got a secret:\n%s", unit)
	}
	if code := h.run("rotate-key", "demo"); code != 2 {
		t.Errorf("rotate-key without a tailnet: exit %d, want 2", code)
	}
}

func TestDestroyLeavesTheTailnet(t *testing.T) {
	h := newHarness(t)
	a := &fakeAgent{available: true, forget: "deleted 1 device(s)"}
	withAgent(h, a, "auto")
	if code := h.run("create", "demo"); code != 0 {
		t.Fatalf("create: %d %s", code, h.errOut)
	}
	h.sys.states["devbox-demo.service"] = sd.UnitState{Name: "devbox-demo.service", LoadState: "loaded", ActiveState: "active", SubState: "running"}
	if code := h.run("destroy", "--yes", "demo", "--json"); code != 0 {
		t.Fatalf("destroy: %d %s", code, h.errOut)
	}
	var res destroyResult
	if err := json.Unmarshal(h.out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if res.TailnetCleanup != (tailnetCleanup{Logout: "done", API: "not needed", OK: true}) {
		t.Errorf("cleanup = %+v", res.TailnetCleanup)
	}
	if !slices.Contains(h.pod.calls, "exec devbox-demo tailscale logout") {
		t.Errorf("no logout: %v", h.pod.calls)
	}

	// Logout fails: the API fallback runs, and destroy still succeeds.
	if code := h.run("create", "demo2"); code != 0 {
		t.Fatalf("create: %d %s", code, h.errOut)
	}
	h.sys.states["devbox-demo2.service"] = sd.UnitState{Name: "devbox-demo2.service", LoadState: "loaded", ActiveState: "active", SubState: "running"}
	h.pod.execErr = errdefs.Errorf(errdefs.System, "podman exec devbox-demo2 tailscale logout: exit status 127: tailscale: not found")
	if code := h.run("destroy", "--yes", "demo2", "--json"); code != 0 {
		t.Fatalf("destroy: %d %s", code, h.errOut)
	}
	res = destroyResult{}
	if err := json.Unmarshal(h.out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.TailnetCleanup.Logout, "failed: ") || res.TailnetCleanup.API != "deleted 1 device(s)" || !res.TailnetCleanup.OK {
		t.Errorf("cleanup = %+v", res.TailnetCleanup)
	}
	if !slices.Contains(a.calls, "forget demo2") {
		t.Errorf("agent calls = %v", a.calls)
	}
}

func TestRotateKey(t *testing.T) {
	h := newHarness(t)
	if code := h.run("create", "demo"); code != 0 {
		t.Fatalf("create: %d %s", code, h.errOut)
	}
	h.vars["DEVBOX_QUADLET_TS_AUTHKEY"] = canary + "-rotated"
	h.sys.calls = nil
	h.sys.states["devbox-demo.service"] = sd.UnitState{Name: "devbox-demo.service", LoadState: "loaded", ActiveState: "active", SubState: "running"}
	if code := h.run("rotate-key", "demo", "--json"); code != 0 {
		t.Fatalf("rotate-key: %d %s", code, h.errOut)
	}
	if got := h.pod.secrets["devbox-demo-tsauthkey"]; got != canary+"-rotated" {
		t.Errorf("secret = %q", got)
	}
	if !slices.Contains(h.sys.calls, "restart devbox-demo.service") {
		t.Errorf("no restart: %v", h.sys.calls)
	}
	noCanary(t, h)
	// A failed resolution keeps the old key and the running container.
	delete(h.vars, "DEVBOX_QUADLET_TS_AUTHKEY")
	h.sys.calls = nil
	if code := h.run("rotate-key", "demo"); code != 7 {
		t.Errorf("rotate-key without a key: exit %d, want 7", code)
	}
	if got := h.pod.secrets["devbox-demo-tsauthkey"]; got != canary+"-rotated" || len(h.sys.calls) != 0 {
		t.Errorf("failed rotation changed things: secret %q, systemd %v", got, h.sys.calls)
	}
	if code := h.run("rotate-key", "nope"); code != 3 {
		t.Errorf("rotate-key of a missing container: exit %d, want 3", code)
	}
}

// TestStandaloneOnePasswordNeedsTheAgent: without a host agent the CLI
// does not resolve from 1Password (the token is the agent's, and the SDK is
// linked only into the agent), and says what to use instead.
func TestStandaloneOnePasswordNeedsTheAgent(t *testing.T) {
	h := newHarness(t)
	if err := os.WriteFile(h.env.DefaultConfig, []byte("[secrets]\nbackend = \"onepassword\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code := h.run("create", "demo")
	if code != 7 || !strings.Contains(h.errOut.String(), "resolved by the host agent") || !strings.Contains(h.errOut.String(), `use "file" or "env"`) {
		t.Fatalf("exit %d, want 7 naming the agent and the alternatives: %s", code, h.errOut)
	}
	if files := h.quadletFiles(); len(files) != 0 || len(h.pod.calls) != 0 {
		t.Errorf("acted anyway: files %v, podman %v", files, h.pod.calls)
	}
}
