package agentclient

import (
	"context"
	"errors"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
)

// Timing of Ready's watch over an activation.
const (
	// PollInterval is how often the unit's state is read while the bus
	// starts the agent: a few cheap property reads each time.
	PollInterval = 100 * time.Millisecond
	// FailedGrace is how long a unit that was failed before the activation
	// may stay failed before the start counts as refused. A refused start
	// (the start-rate limit) changes no state; a real start leaves the
	// failed state within milliseconds.
	FailedGrace = time.Second
)

// hostView is what Ready reads and does on the system bus; busView is the
// real one, tests use a fake.
type hostView interface {
	// HasOwner reports whether the agent's name has an owner (it runs).
	HasOwner(ctx context.Context) (bool, error)
	// Activatable reports whether the bus has an activation file for it.
	Activatable(ctx context.Context) (bool, error)
	// Unit reads the system manager's view of the agent's unit; an error
	// means there is no such view (no systemd on this bus).
	Unit(ctx context.Context) (UnitState, error)
	// Activate asks the bus to start the agent and returns when it runs
	// or the bus gives up (its activation timeout, 25 s by default).
	Activate(ctx context.Context) error
}

// Ready makes sure the agent is there to answer calls. An agent that runs
// is ready at once (one call to the bus, even when it is busy). One that
// does not is activated by the bus, while the client watches its unit in
// the system manager: a unit that fails, restarts or stays failed ends the
// wait within about a second with a *UnitFailedError, instead of after the
// bus's activation timeout. No agent installed is ErrNotInstalled. Every
// error is classed errdefs.AgentMissing.
func (c *Client) Ready(ctx context.Context) error {
	return ready(ctx, busView{c.conn}, PollInterval, FailedGrace)
}

func ready(ctx context.Context, v hostView, poll, grace time.Duration) error {
	if owner, err := v.HasOwner(ctx); err == nil && owner {
		return nil
	}
	before, watch, err := judgeBefore(ctx, v)
	if err != nil || !watch {
		return err
	}
	return activateWatching(ctx, v, before, poll, grace)
}

// judgeBefore looks at the agent's unit before any activation: not
// installed and failing are answered at once. watch is false when there is
// no system manager to watch (not systemd): then the first call activates
// the agent, as the bus decides.
func judgeBefore(ctx context.Context, v hostView) (before UnitState, watch bool, err error) {
	// A bus that cannot list its activation files is taken at its word,
	// as before: nothing to activate.
	activatable, _ := v.Activatable(ctx)
	before, err = v.Unit(ctx)
	known := err == nil
	switch Assess(before, known, activatable) {
	case NotInstalled:
		return before, false, errdefs.Mark(errdefs.AgentMissing, ErrNotInstalled)
	case Failing:
		return before, false, errdefs.Mark(errdefs.AgentMissing, &UnitFailedError{Unit: before})
	}
	return before, known, nil
}

// activateWatching runs the activation beside a watch of the unit; a
// verdict cancels it, and it returns only once the activation has (no call
// is left behind).
func activateWatching(ctx context.Context, v hostView, before UnitState, poll, grace time.Duration) error {
	actx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	finished := false
	go func() { done <- v.Activate(actx) }()
	defer func() {
		cancel()
		if !finished {
			<-done
		}
	}()
	start := time.Now()
	tick := time.NewTicker(poll)
	defer tick.Stop()
	p := Progress{Before: before, Now: before, Grace: grace}
	for {
		select {
		case err := <-done:
			finished = true
			if err == nil {
				return nil
			}
			return activationFailed(ctx, v, err)
		case <-tick.C:
			u, err := v.Unit(ctx)
			if err != nil {
				continue
			}
			p.Now, p.Waited = u, time.Since(start)
			if !u.stopped() {
				p.Left = true
			}
			if Watch(p) == Failing {
				return errdefs.Mark(errdefs.AgentMissing, &UnitFailedError{Unit: u})
			}
		case <-ctx.Done():
			return errdefs.Errorf(errdefs.AgentMissing, "start the host agent: %w", ctx.Err())
		}
	}
}

// activationFailed says why the bus gave up, from the unit if it knows.
func activationFailed(ctx context.Context, v hostView, err error) error {
	if ctx.Err() != nil {
		return errdefs.Errorf(errdefs.AgentMissing, "start the host agent: %w", ctx.Err())
	}
	if u, uerr := v.Unit(ctx); uerr == nil && (u.stopped() || u.LoadState != "loaded") {
		return errdefs.Mark(errdefs.AgentMissing, &UnitFailedError{Unit: u})
	}
	return errdefs.Errorf(errdefs.AgentMissing, "start the host agent: %w", err)
}

// IsNotInstalled reports whether err says that there is no agent at all
// (as opposed to one that is installed and failing).
func IsNotInstalled(err error) bool { return errors.Is(err, ErrNotInstalled) }
