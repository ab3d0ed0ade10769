package agentclient

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/devbox-quadlet/devbox-quadlet/internal/agentproto"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
)

// fakeHost is the bus and the system manager as Ready sees them: a script
// of unit states (each read takes the next; the last repeats) and an
// activation that succeeds after a while, fails, or hangs as the bus does
// until its activation timeout.
type fakeHost struct {
	owner       bool
	activatable bool
	noSystemd   bool
	states      []UnitState
	// activate is the bus's answer; nil hangs until the caller gives up.
	activate func() error

	mu          sync.Mutex
	reads       int
	activations int
}

func (f *fakeHost) HasOwner(context.Context) (bool, error)    { return f.owner, nil }
func (f *fakeHost) Activatable(context.Context) (bool, error) { return f.activatable, nil }
func (f *fakeHost) Unit(context.Context) (UnitState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.noSystemd {
		return UnitState{}, errors.New("org.freedesktop.DBus.Error.ServiceUnknown")
	}
	i := min(f.reads, len(f.states)-1)
	f.reads++
	return f.states[i], nil
}
func (f *fakeHost) Activate(ctx context.Context) error {
	f.mu.Lock()
	f.activations++
	f.mu.Unlock()
	if f.activate == nil {
		<-ctx.Done()
		return ctx.Err()
	}
	return f.activate()
}

func after(d time.Duration, err error) func() error {
	return func() error { time.Sleep(d); return err }
}

func TestReady(t *testing.T) {
	const poll, grace = time.Millisecond, 30 * time.Millisecond
	tests := []struct {
		name        string
		host        *fakeHost
		want        string // "", "not installed" or "failing"
		result      string // the failing unit's result named in the error
		activations int
	}{
		{"a running agent is ready without asking systemd", &fakeHost{owner: true, activatable: true}, "", "", 0},
		{"a busy running agent is ready too: its owner answers later", &fakeHost{owner: true}, "", "", 0},
		{"no activation file, no unit: not installed", &fakeHost{states: []UnitState{notFound}}, "not installed", "", 0},
		{"no activation file, the unit stopped: uninstalled", &fakeHost{states: []UnitState{stopped}}, "not installed", "", 0},
		{"no activation file, the unit failed: failing", &fakeHost{states: []UnitState{failedExit}}, "failing", "exit-code", 0},
		{"activatable, no system manager: the first call activates", &fakeHost{activatable: true, noSystemd: true}, "", "", 0},
		{"a healthy stopped agent is activated", &fakeHost{activatable: true, states: []UnitState{stopped, startingPre, starting}, activate: after(10*time.Millisecond, nil)}, "", "", 1},
		{"a failed agent whose admin fixed it starts again", &fakeHost{activatable: true, states: []UnitState{failedExit, failedExit, starting}, activate: after(10*time.Millisecond, nil)}, "", "", 1},
		{"a healthy agent restarting after one crash is waited for", &fakeHost{activatable: true, states: []UnitState{restarting, restarting, starting}, activate: after(10*time.Millisecond, nil)}, "", "", 1},
		{"a crash loop is failing at its first automatic restart", &fakeHost{activatable: true, states: []UnitState{stopped, startingPre, restarting}}, "failing", "exit-code", 1},
		{"a start that fails without restarts is failing", &fakeHost{activatable: true, states: []UnitState{stopped, startingPre, failedExit}}, "failing", "exit-code", 1},
		{"a start refused by the start-rate limit is failing after the grace", &fakeHost{activatable: true, states: []UnitState{startLimited}}, "failing", "start-limit-hit", 1},
		{"the bus's refusal with the unit failed is failing", &fakeHost{activatable: true, states: []UnitState{stopped, failedExit}, activate: after(0, errors.New("org.freedesktop.systemd1.UnitFailed"))}, "failing", "exit-code", 1},
		{"a unit the bus names but systemd lacks is failing at once", &fakeHost{activatable: true, states: []UnitState{notFound}}, "failing", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			begin := time.Now()
			err := ready(ctx, tt.host, poll, grace)
			took := time.Since(begin)
			if took > 2*time.Second {
				t.Errorf("took %v: waited for the bus's timeout", took)
			}
			if err != nil && !errdefs.Is(err, errdefs.AgentMissing) {
				t.Errorf("error %v is not classed AgentMissing", err)
			}
			var uf *UnitFailedError
			switch tt.want {
			case "":
				if err != nil {
					t.Fatalf("ready: %v", err)
				}
			case "not installed":
				if !IsNotInstalled(err) {
					t.Fatalf("ready = %v, want ErrNotInstalled", err)
				}
			case "failing":
				if !errors.As(err, &uf) {
					t.Fatalf("ready = %v, want a UnitFailedError", err)
				}
				if tt.result != "" && uf.Unit.Result != tt.result {
					t.Errorf("result %q, want %q (%v)", uf.Unit.Result, tt.result, err)
				}
			}
			if tt.host.activations != tt.activations {
				t.Errorf("%d activations, want %d", tt.host.activations, tt.activations)
			}
		})
	}
}

// fakeSystemd answers Properties.Get for the agent's unit as systemd does,
// with a unit of the given state; a unit that is not loaded has no Service
// properties here, to check that they are then optional.
type fakeSystemd struct{ unit UnitState }

func (f fakeSystemd) Get(iface, name string) (dbus.Variant, *dbus.Error) {
	props := map[string]any{
		"org.freedesktop.systemd1.Unit.LoadState":   f.unit.LoadState,
		"org.freedesktop.systemd1.Unit.ActiveState": f.unit.ActiveState,
		"org.freedesktop.systemd1.Unit.SubState":    f.unit.SubState,
	}
	if f.unit.LoadState == "loaded" {
		props["org.freedesktop.systemd1.Service.Result"] = f.unit.Result
		props["org.freedesktop.systemd1.Service.NRestarts"] = f.unit.NRestarts
	}
	v, ok := props[iface+"."+name]
	if !ok {
		return dbus.Variant{}, dbus.NewError("org.freedesktop.DBus.Error.UnknownProperty", []any{"no " + name})
	}
	return dbus.MakeVariant(v), nil
}

func serveSystemd(t *testing.T, addr string, unit UnitState) {
	t.Helper()
	serveOnBus(t, addr, "org.freedesktop.systemd1", fakeSystemd{unit}, unitPath(UnitName), "org.freedesktop.DBus.Properties")
}

// TestBusViewReadsTheUnit: the real view reads the five properties over
// the bus, by the unit's object path, and asks the bus to start the agent.
func TestBusViewReadsTheUnit(t *testing.T) {
	for _, unit := range []UnitState{restarting, startLimited, {LoadState: "not-found", ActiveState: "inactive", SubState: "dead"}} {
		t.Run(unit.ActiveState+"-"+unit.SubState, func(t *testing.T) {
			addr := startBus(t)
			c := dialTest(t, addr)
			v := busView{c.conn}
			if _, err := v.Unit(t.Context()); err == nil {
				t.Error("Unit with no system manager on the bus: no error")
			}
			serveSystemd(t, addr, unit)
			got, err := v.Unit(t.Context())
			if err != nil || got != unit {
				t.Errorf("Unit = %+v, %v; want %+v", got, err, unit)
			}
		})
	}
	// dbus-daemon answers StartServiceByName from its activation files
	// only, even for a name that has an owner; the VM suite runs the real
	// activation (TestAgentBroken).
	addr := startBus(t)
	c := dialTest(t, addr)
	if err := (busView{c.conn}).Activate(t.Context()); err == nil || !strings.Contains(err.Error(), agentproto.BusName) {
		t.Errorf("Activate with no activation file: %v", err)
	}
}
