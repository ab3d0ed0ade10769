package agentclient

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/agentproto"
)

// UnitName is the agent's unit in the system manager; the activation file
// names it in SystemdService=.
const UnitName = "devbox-quadlet-agent.service"

// UnitState is the system manager's view of the agent's unit, as any user
// may read it over the system bus (org.freedesktop.systemd1).
type UnitState struct {
	// LoadState: loaded, not-found, masked, bad-setting or error.
	LoadState string
	// ActiveState: active, activating, deactivating, inactive or failed.
	// A service between automatic restarts is "activating" with the
	// sub-state "auto-restart".
	ActiveState string
	SubState    string
	// Result is the service's last result: success, exit-code, signal,
	// timeout, core-dump, watchdog, resources, start-limit-hit, ...
	Result string
	// NRestarts counts automatic restarts since the last start that was
	// not one (a start by the bus resets it).
	NRestarts uint32
}

func (u UnitState) String() string {
	s := fmt.Sprintf("%s/%s", u.ActiveState, u.SubState)
	if u.Result != "" {
		s += ", result " + u.Result
	}
	if u.NRestarts > 0 {
		s += fmt.Sprintf(", restarted %d times", u.NRestarts)
	}
	return s
}

// down reports whether the unit stopped on a failure: failed, or inactive
// with a result other than success.
func (u UnitState) down() bool {
	return u.ActiveState == "failed" || u.ActiveState == "inactive" && u.Result != "" && u.Result != "success"
}

// stopped reports whether the unit is down or waiting for an automatic
// restart after a failure (ActiveState "activating", SubState
// "auto-restart", or "auto-restart-queued" since systemd 254).
func (u UnitState) stopped() bool {
	return u.down() || strings.HasPrefix(u.SubState, "auto-restart")
}

// Verdict is what the client makes of the agent's unit.
type Verdict int

const (
	// Wait: nothing says the agent cannot start: activate it, or go on
	// watching its start.
	Wait Verdict = iota
	// NotInstalled: the bus cannot activate the agent and its unit is not
	// failing: there is no agent on this host (mode auto runs standalone).
	NotInstalled
	// Failing: the agent is installed but its unit cannot start or keeps
	// failing; waiting for the bus's activation timeout would only tell
	// the same thing 25 s later.
	Failing
)

func (v Verdict) String() string {
	switch v {
	case Wait:
		return "wait"
	case NotInstalled:
		return "not installed"
	case Failing:
		return "failing"
	}
	return fmt.Sprintf("Verdict(%d)", int(v))
}

// Assess is the verdict before activation, on the unit's state u (known is
// false when the system manager could not be asked: then only the bus's
// activation file counts) and whether the bus can activate the agent.
//
// A failed unit whose load state is fine is given its chance (Wait): the
// bus's start may work again, after an admin fixed the config or once the
// start-rate limit's interval has passed; Watch then judges the attempt.
func Assess(u UnitState, known, activatable bool) Verdict {
	switch {
	case !activatable && known && u.LoadState == "loaded" && u.stopped():
		// The activation file is gone but the unit is there and failing:
		// a broken install, not an uninstalled one.
		return Failing
	case !activatable:
		return NotInstalled
	case !known:
		return Wait
	case u.LoadState != "loaded":
		// The bus would ask systemd for a unit it cannot start.
		return Failing
	}
	return Wait
}

// Progress is what the client has seen of the unit since it asked the bus
// to activate the agent.
type Progress struct {
	// Before is the unit's state just before the activation, Now the
	// latest.
	Before, Now UnitState
	// Left is whether any state read since Before was not stopped (the
	// start began), so a stopped state now is this start's failure.
	Left bool
	// Waited is the time since the activation; Grace is how long a unit
	// that was stopped before may stay stopped: a start-rate limit refuses
	// a start without a state change, and a pending automatic restart of
	// a healthy agent's one crash is over within its RestartSec= (1 s).
	Waited, Grace time.Duration
}

// Watch is the verdict on an activation in progress: Failing as soon as
// the unit shows that this start failed (failed again, or waiting for an
// automatic restart after the start began or after a restart counted
// since), or when a unit that was stopped stays stopped past the grace;
// else Wait. A healthy start passes through activating (start-pre, start)
// to active, and the bus's reply ends the watch; so does a healthy
// agent's restart after one crash, restarts counted or not.
func Watch(p Progress) Verdict {
	now := p.Now
	switch {
	case now.LoadState != "" && now.LoadState != "loaded":
		return Failing
	case !now.stopped():
		return Wait
	case !p.Before.stopped() || p.Left:
		return Failing
	case now.NRestarts != p.Before.NRestarts:
		// A restart ran between two reads and stopped again.
		return Failing
	case p.Waited >= p.Grace:
		return Failing
	}
	return Wait
}

// ErrNotInstalled is why the agent cannot be used when there is none: the
// bus cannot activate it and it does not run. It is classed
// errdefs.AgentMissing where it is returned.
var ErrNotInstalled = errors.New("the host agent " + agentproto.BusName + " is not running and cannot be activated")

// UnitFailedError says that the agent is installed but its unit failed or
// keeps failing. It is classed errdefs.AgentMissing where it is returned.
type UnitFailedError struct {
	Unit UnitState
}

func (e *UnitFailedError) Error() string {
	u := e.Unit
	if u.LoadState != "loaded" {
		return fmt.Sprintf("the host agent is installed for the bus, but its unit %s cannot be loaded (load state %s)", UnitName, u.LoadState)
	}
	return fmt.Sprintf("the host agent is installed but its unit %s failed (%s)", UnitName, u)
}
