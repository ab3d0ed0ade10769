package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/devbox-quadlet/devbox-quadlet/internal/agentclient"
	"github.com/devbox-quadlet/devbox-quadlet/internal/agentproto"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/sd"
	"github.com/devbox-quadlet/devbox-quadlet/internal/secrets"
)

// fakeAgent records calls and refuses what refuse says.
type fakeAgent struct {
	available bool
	readyErr  error // Ready's error when not available (default: not installed)
	refuse    error
	keyErr    error
	forget    string // ForgetDevice's reply, in its wire form
	calls     []string
	observed  agentproto.Observed // what Repair was given
	report    agentproto.RepairReport
}

func (a *fakeAgent) AuthKey(_ context.Context, name string) (secrets.Key, error) {
	a.calls = append(a.calls, "authkey "+name)
	if a.keyErr != nil {
		return nil, a.keyErr
	}
	return secrets.Key(canary), nil
}
func (a *fakeAgent) ForgetDevice(_ context.Context, name string) (agentproto.ForgetOutcome, error) {
	a.calls = append(a.calls, "forget "+name)
	if a.forget == "" {
		return agentproto.ForgetOutcome{}, nil
	}
	return agentproto.ParseForgetOutcome(a.forget)
}

func (a *fakeAgent) Ready(context.Context) error {
	switch {
	case a.available:
		return nil
	case a.readyErr != nil:
		return a.readyErr
	}
	return errdefs.Mark(errdefs.AgentMissing, agentclient.ErrNotInstalled)
}
func (a *fakeAgent) Reserve(_ context.Context, name string, create bool, _ float64, _ int64) error {
	if create {
		a.calls = append(a.calls, "reserve-create "+name)
	} else {
		a.calls = append(a.calls, "reserve-start "+name)
	}
	return a.refuse
}
func (a *fakeAgent) Stop(_ context.Context, name string) error {
	a.calls = append(a.calls, "stop "+name)
	return nil
}
func (a *fakeAgent) Release(_ context.Context, name string) error {
	a.calls = append(a.calls, "release "+name)
	return nil
}
func (a *fakeAgent) Repair(_ context.Context, obs agentproto.Observed, dryRun bool) (agentproto.RepairReport, error) {
	a.calls = append(a.calls, fmt.Sprintf("repair dry_run=%v", dryRun))
	a.observed = obs
	r := a.report
	r.DryRun = dryRun
	return r, a.refuse
}
func (a *fakeAgent) Confirm(_ context.Context, name string) error {
	a.calls = append(a.calls, "confirm "+name)
	return nil
}
func (a *fakeAgent) List(context.Context, bool) (agentproto.Listing, error) {
	return agentproto.Listing{Schema: 1, All: true}, nil
}
func (a *fakeAgent) Close() {}

func withAgent(h *harness, a *fakeAgent, mode string) {
	h.env.DialAgent = func(context.Context) (Agent, error) { return a, nil }
	cfg := filepath.Join(h.env.Home, "config.toml")
	_ = os.WriteFile(cfg, []byte("[agent]\nmode = \""+mode+"\"\n[secrets]\nbackend = \"env\"\n"), 0o644)
	h.env.DefaultConfig = cfg
}

func TestCreateReservesThroughTheAgent(t *testing.T) {
	h := newHarness(t)
	a := &fakeAgent{available: true}
	withAgent(h, a, "auto")
	if code := h.run("create", "demo"); code != 0 {
		t.Fatalf("create: %d %s", code, h.errOut)
	}
	if code := h.run("create", "--no-start", "idle"); code != 0 {
		t.Fatalf("create --no-start: %d %s", code, h.errOut)
	}
	if code := h.run("destroy", "--yes", "demo"); code != 0 {
		t.Fatalf("destroy: %d %s", code, h.errOut)
	}
	// The second confirm of demo is the look after its start settled
	// (showRunning); idle never starts.
	want := []string{"authkey demo", "reserve-create demo", "confirm demo", "confirm demo", "authkey idle", "reserve-create idle", "confirm idle", "stop idle", "forget demo", "release demo"}
	if !slices.Equal(a.calls, want) {
		t.Errorf("agent calls = %v, want %v", a.calls, want)
	}
}

func TestCreateReleasesOnFailure(t *testing.T) {
	h := newHarness(t)
	a := &fakeAgent{available: true}
	withAgent(h, a, "auto")
	h.sys.startErr = errors.New("job failed")
	if code := h.run("create", "demo"); code == 0 {
		t.Fatal("create succeeded")
	}
	if !slices.Equal(a.calls, []string{"authkey demo", "reserve-create demo", "confirm demo", "release demo"}) {
		t.Errorf("agent calls = %v", a.calls)
	}
}

func TestHostCapRefusalTouchesNothing(t *testing.T) {
	h := newHarness(t)
	a := &fakeAgent{available: true, refuse: errdefs.Errorf(errdefs.HostCap, "host has 7 of 7 containers running: a (x)")}
	withAgent(h, a, "auto")
	if code := h.run("create", "demo"); code != 6 {
		t.Fatalf("exit %d, want 6: %s", code, h.errOut)
	}
	if !strings.Contains(h.errOut.String(), "7 of 7") || !strings.Contains(h.errOut.String(), "hint: the host is full") {
		t.Errorf("stderr:\n%s", h.errOut)
	}
	if files := h.quadletFiles(); len(files) != 0 || len(h.sys.calls) != 0 {
		t.Errorf("refused create acted: files %v, systemd %v", files, h.sys.calls)
	}
}

func TestAgentModes(t *testing.T) {
	h := newHarness(t)
	withAgent(h, &fakeAgent{available: false}, "required")
	if code := h.run("create", "demo"); code != 9 {
		t.Errorf("required agent unavailable: exit %d, want 9: %s", code, h.errOut)
	}
	if files := h.quadletFiles(); len(files) != 0 {
		t.Errorf("files written: %v", files)
	}
	h = newHarness(t)
	withAgent(h, &fakeAgent{available: false}, "auto")
	if code := h.run("list"); code != 0 || !strings.Contains(h.errOut.String(), "not enforced") {
		t.Errorf("auto without an agent: exit %d: %s", code, h.errOut)
	}
	if code := h.run("list", "--all"); code != 9 {
		t.Errorf("list --all standalone: exit %d, want 9", code)
	}
	h = newHarness(t)
	a := &fakeAgent{available: true}
	withAgent(h, a, "off")
	if code := h.run("create", "demo"); code != 0 || len(a.calls) != 0 {
		t.Errorf("mode off used the agent: %d %v", code, a.calls)
	}
}

// TestAgentInstalledButFailing: an agent whose unit fails is exit 9 in
// modes required and auto alike (never a silent standalone), naming the
// unit's state and where to look; the read-only verbs go on with the
// user's own containers and warn.
func TestAgentInstalledButFailing(t *testing.T) {
	failing := errdefs.Mark(errdefs.AgentMissing, &agentclient.UnitFailedError{Unit: agentclient.UnitState{
		LoadState: "loaded", ActiveState: "failed", SubState: "failed", Result: "start-limit-hit", NRestarts: 4,
	}})
	for _, mode := range []string{"required", "auto"} {
		t.Run(mode, func(t *testing.T) {
			h := newHarness(t)
			a := &fakeAgent{available: true}
			withAgent(h, a, mode)
			if code := h.run("create", "--no-start", "kept"); code != 0 {
				t.Fatalf("create with the agent up: %d %s", code, h.errOut)
			}
			a.available, a.readyErr, a.calls = false, failing, nil
			h.pod.calls, h.pod.lookups = nil, nil
			for _, args := range [][]string{{"create", "demo"}, {"start", "kept"}} {
				h.errOut.Reset()
				if code := h.run(args...); code != 9 {
					t.Errorf("%v with the agent failing: exit %d, want 9: %s", args, code, h.errOut)
				}
				for _, want := range []string{agentclient.UnitName, "failed/failed", "result start-limit-hit",
					"hint: ", "systemctl status devbox-quadlet-agent", "journalctl -u devbox-quadlet-agent"} {
					if !strings.Contains(h.errOut.String(), want) {
						t.Errorf("%v: stderr lacks %q:\n%s", args, want, h.errOut)
					}
				}
			}
			if files := h.quadletFiles(); slices.ContainsFunc(files, func(f string) bool { return strings.Contains(f, "demo") }) {
				t.Errorf("create with the agent failing wrote %v", files)
			}
			if len(a.calls) != 0 {
				t.Errorf("calls to a failing agent: %v", a.calls)
			}
			// The agent is asked first: podman's calls take seconds on a
			// slow host, and the answer is exit 9 whatever they say.
			if len(h.pod.calls)+len(h.pod.lookups) != 0 {
				t.Errorf("podman calls before the failing agent's answer: %v %v", h.pod.calls, h.pod.lookups)
			}
			for _, args := range [][]string{{"list"}, {"status", "kept"}} {
				h.out.Reset()
				h.errOut.Reset()
				if code := h.run(args...); code != 0 {
					t.Errorf("%v with the agent failing: exit %d, want 0: %s", args, code, h.errOut)
				}
				if !strings.Contains(h.out.String(), "kept") || !strings.Contains(h.errOut.String(), "warning: the host-wide view is unavailable") {
					t.Errorf("%v: stdout\n%s\nstderr\n%s", args, h.out, h.errOut)
				}
			}
			h.out.Reset()
			if code := h.run("list", "--json"); code != 0 || !strings.Contains(h.out.String(), `"mode": "unavailable"`) {
				t.Errorf("list --json: %d %s", code, h.out)
			}
			if code := h.run("list", "--all"); code != 9 {
				t.Errorf("list --all with the agent failing: exit %d, want 9", code)
			}
		})
	}
}

// TestAgentRequiredButNotInstalledReadOnly: with no agent at all in mode
// required, list still shows the user's containers, with a warning.
func TestAgentRequiredButNotInstalledReadOnly(t *testing.T) {
	h := newHarness(t)
	withAgent(h, &fakeAgent{}, "required")
	if code := h.run("list"); code != 0 || !strings.Contains(h.errOut.String(), "not running and cannot be activated") || !strings.Contains(h.errOut.String(), "unavailable") {
		t.Errorf("list: %d %s", code, h.errOut)
	}
}

// TestAgentAutoFallsBackOnlyWhenNotInstalled: mode auto runs standalone
// when there is no agent, and never when the agent is there but does not
// start for another reason.
func TestAgentAutoFallsBackOnlyWhenNotInstalled(t *testing.T) {
	h := newHarness(t)
	withAgent(h, &fakeAgent{readyErr: errdefs.Errorf(errdefs.AgentMissing, "start the host agent: org.freedesktop.DBus.Error.TimedOut")}, "auto")
	if code := h.run("create", "demo"); code != 9 || !strings.Contains(h.errOut.String(), "journalctl -u devbox-quadlet-agent") {
		t.Errorf("auto with an agent that does not start: exit %d, want 9: %s", code, h.errOut)
	}
	if files := h.quadletFiles(); len(files) != 0 {
		t.Errorf("files written: %v", files)
	}
}

// TestAgentFailingStopAndDestroyGoOn: stop and destroy only give back, so
// an agent that is installed (or required) but failing is warned about and
// not waited for, in modes required and auto alike. The destroyed name is
// released by the first command that reaches the agent again; a verb that
// takes (restart) is still exit 9.
func TestAgentFailingStopAndDestroyGoOn(t *testing.T) {
	failing := errdefs.Mark(errdefs.AgentMissing, &agentclient.UnitFailedError{Unit: agentclient.UnitState{
		LoadState: "loaded", ActiveState: "failed", SubState: "failed", Result: "exit-code"}})
	for _, mode := range []string{"required", "auto"} {
		t.Run(mode, func(t *testing.T) {
			h := newHarness(t)
			a := &fakeAgent{available: true}
			withAgent(h, a, mode)
			for _, name := range []string{"alpha", "beta"} {
				if code := h.run("create", name); code != 0 {
					t.Fatalf("create %s with the agent up: %d %s", name, code, h.errOut)
				}
			}
			h.sys.states["devbox-alpha.service"] = sd.UnitState{Name: "devbox-alpha.service", LoadState: "loaded", ActiveState: "active", SubState: "running"}
			a.available, a.readyErr, a.calls = false, failing, nil
			h.errOut.Reset()
			if code := h.run("restart", "alpha"); code != 9 {
				t.Errorf("restart with the agent failing: exit %d, want 9: %s", code, h.errOut)
			}
			h.sys.calls = nil
			for _, args := range [][]string{{"stop", "alpha"}, {"destroy", "--yes", "beta"}} {
				h.errOut.Reset()
				if code := h.run(args...); code != 0 {
					t.Fatalf("%v with the agent failing: exit %d, want 0: %s", args, code, h.errOut)
				}
				if !strings.Contains(h.errOut.String(), "warning: the host agent does not answer, so "+args[0]+" goes on without it") ||
					!strings.Contains(h.errOut.String(), "result exit-code") || !strings.Contains(h.errOut.String(), "journalctl -u devbox-quadlet-agent") {
					t.Errorf("%v: stderr lacks the warning and the unit's result:\n%s", args, h.errOut)
				}
			}
			if !slices.Contains(h.sys.calls, "stop devbox-alpha.service") {
				t.Errorf("alpha was not stopped: %v", h.sys.calls)
			}
			if files := h.quadletFiles(); slices.ContainsFunc(files, func(f string) bool { return strings.Contains(f, "beta") }) {
				t.Errorf("beta's files are still there: %v", files)
			}
			if _, err := os.Stat(filepath.Join(h.env.pendingReleaseDir(), "beta")); err != nil {
				t.Errorf("no note that beta must still be released: %v", err)
			}
			if len(a.calls) != 0 {
				t.Errorf("calls to a failing agent: %v", a.calls)
			}
			a.available, a.readyErr = true, nil
			if code := h.run("stop", "alpha"); code != 0 {
				t.Fatalf("stop with the agent back: %d %s", code, h.errOut)
			}
			if !slices.Contains(a.calls, "release beta") {
				t.Errorf("beta was not released once the agent was back: %v", a.calls)
			}
			if _, err := os.Stat(filepath.Join(h.env.pendingReleaseDir(), "beta")); err == nil {
				t.Error("the note for beta outlived its release")
			}
		})
	}
}
