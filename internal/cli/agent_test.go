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

	"github.com/devbox-quadlet/devbox-quadlet/internal/agentproto"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/secrets"
)

// fakeAgent records calls and refuses what refuse says.
type fakeAgent struct {
	available bool
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

func (a *fakeAgent) Available(context.Context) bool { return a.available }
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
	want := []string{"authkey demo", "reserve-create demo", "confirm demo", "authkey idle", "reserve-create idle", "confirm idle", "stop idle", "forget demo", "release demo"}
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
