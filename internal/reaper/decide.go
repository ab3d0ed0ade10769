// Package reaper decides, from recorded activity, which dev containers to
// warn about, stop or destroy (SPEC ). Decide is pure: the
// runner observes systemd and the session files, calls it, persists the
// clocks it returns and carries out the actions.
package reaper

import (
	"sort"
	"time"
)

// Policy holds the reaper's windows.
type Policy struct {
	IdleStop       time.Duration // running and idle this long: stop
	StoppedDestroy time.Duration // stopped this long: export the home, then destroy
	WarnBefore     time.Duration // warn this long before either
	// CPUActive is the CPU time per hour of wall time above which a
	// container counts as busy.
	CPUActive time.Duration
}

// Observation is what the runner saw of one container at this sweep.
type Observation struct {
	Name string
	// Created is from the unit's label, zero if unknown. It does not age
	// the clock: a container created long ago may have been in use until
	// yesterday, and its record may merely be lost.
	Created time.Time
	Running bool
	// CPUUsage is the unit's CPUUsageNSec; HasCPU is false when systemd
	// had no value (a stopped unit).
	CPUUsage time.Duration
	HasCPU   bool
	// Session is the mtime of the container's session file, zero if none.
	Session time.Time
	// LeaseUntil is the end of a keepalive lease, zero if none.
	LeaseUntil time.Time
	// Boot is when the host booted. A CPU sample from before it belongs to
	// another run of the unit, so it is not compared with this one.
	Boot time.Time
}

// Signals name what last counted as activity.
const (
	SignalFirstSeen = "first-seen" // no clock yet (new, or its record was lost): the clock starts now
	// SignalCreated is no longer given; records written before
	// warned_at may still hold it.
	SignalCreated = "created"
	SignalSession = "session"
	SignalCPU     = "cpu"
	SignalLease   = "lease"
	SignalStarted = "started" // it was stopped at the last sweep and runs now
)

// State is the persisted clock of one container. Zero times mean unknown.
type State struct {
	LastActive   time.Time     `json:"last_active"`
	Signal       string        `json:"signal"`
	StoppedSince time.Time     `json:"stopped_since"`
	CPUSample    time.Duration `json:"cpu_sample_nsec"`
	CPUSampledAt time.Time     `json:"cpu_sampled_at"`
	// Warned is the deadline of the warning given, so each deadline is
	// announced once. WarnedAt is when that warning was first given, and
	// WarnedOf the action it announced (Stop or Destroy). A warning holds
	// only for its deadline and its action: activity that moves the
	// deadline, or a stop that makes a destroy the next action, clears all
	// three, and the new deadline needs a warning of its own.
	Warned   time.Time `json:"warned"`
	WarnedAt time.Time `json:"warned_at"`
	WarnedOf string    `json:"warned_of,omitempty"`
}

// Kinds of action.
const (
	Warn    = "warn"
	Stop    = "stop"
	Destroy = "destroy"
)

// Action is one thing the runner is to do.
type Action struct {
	Name string    `json:"name"`
	Kind string    `json:"kind"`
	Of   string    `json:"of,omitempty"` // for a warning: the action to come
	At   time.Time `json:"at"`           // when the action is (or was) due
	Why  string    `json:"why"`
}

// Decision is the outcome for one container: its new clock, the next
// action and its due time, and what to do now, if anything.
type Decision struct {
	Name  string
	State State
	Next  string // Stop or Destroy: the action the clock runs towards
	// Due is the earliest time Next can be carried out: its deadline, or
	// later if the warning of it was given late (it waits until the warning
	// is WarnBefore old).
	Due time.Time
	Now []Action
}

// Decide returns one Decision per observation, sorted by name. states holds
// the clocks persisted at the last sweep. A missing entry starts a fresh
// clock (active now, and stopped since now if it is stopped), whether the
// container is new or its record was lost, so a lost record can delay an
// action but never cause one. The runner records StoppedSince itself when it
// carries out a Stop: a stop that failed must not start the destroy clock.
//
// No Stop or Destroy is returned unless a warning of that same action, for
// the same deadline, was first given at least WarnBefore ago. A sweep that
// finds an action due without such a warning (after a gap between sweeps,
// or a clock that jumped) warns now, and the action waits a full window.
func Decide(now time.Time, obs []Observation, states map[string]State, p Policy) []Decision {
	out := make([]Decision, 0, len(obs))
	for _, o := range obs {
		out = append(out, decideOne(now, o, states[o.Name], p))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func decideOne(now time.Time, o Observation, st State, p Policy) Decision {
	startClocks(now, &st)
	if !o.Session.IsZero() {
		markActive(&st, now, o.Session, SignalSession)
	}
	leased := o.LeaseUntil.After(now)
	if leased {
		markActive(&st, now, now, SignalLease)
	}
	d := Decision{Name: o.Name}
	if o.Running {
		d.Next, d.Due = Stop, runningDue(now, o, &st, p)
	} else {
		d.Next, d.Due = Destroy, stoppedDue(now, o, &st, p, leased)
	}
	return warnOrAct(now, o, st, p, d)
}

// startClocks caps every stored time at now and starts a missing idle
// clock. A clock that runs backwards (a wrong RTC, a restored state file)
// must not make anything look older than it is, a warning's time too, so it
// counts its window from now. (Warned is a deadline, in the future by
// design.)
func startClocks(now time.Time, st *State) {
	for _, t := range []*time.Time{&st.LastActive, &st.StoppedSince, &st.CPUSampledAt, &st.WarnedAt} {
		if t.After(now) {
			*t = now
		}
	}
	if st.LastActive.IsZero() {
		// A new container, or one whose record was lost: the runner cannot
		// tell which, and o.Created cannot either (created 20 days ago may
		// mean used until yesterday). The clock starts now.
		st.LastActive, st.Signal = now, SignalFirstSeen
	}
}

// markActive moves the idle clock to t (never past now) with its signal,
// if t is later than the activity already recorded.
func markActive(st *State, now, t time.Time, signal string) {
	if t.After(now) {
		t = now
	}
	if t.After(st.LastActive) {
		st.LastActive, st.Signal = t, signal
	}
}

// runningDue updates a running container's clocks (a start after a stop,
// CPU use since the last sample) and returns when it is due to stop.
func runningDue(now time.Time, o Observation, st *State, p Policy) time.Time {
	if !st.StoppedSince.IsZero() {
		markActive(st, now, now, SignalStarted)
		st.StoppedSince = time.Time{}
	}
	if o.HasCPU {
		if !st.CPUSampledAt.IsZero() && o.CPUUsage >= st.CPUSample && now.After(st.CPUSampledAt) && !st.CPUSampledAt.Before(o.Boot) {
			used := o.CPUUsage - st.CPUSample
			wall := now.Sub(st.CPUSampledAt)
			// Busy when used/wall is above CPUActive per hour.
			if p.CPUActive > 0 && float64(used)/float64(wall) > float64(p.CPUActive)/float64(time.Hour) {
				markActive(st, now, now, SignalCPU)
			}
		}
		// A counter that went down is a restart: start sampling afresh.
		st.CPUSample, st.CPUSampledAt = o.CPUUsage, now
	}
	return st.LastActive.Add(p.IdleStop)
}

// stoppedDue updates a stopped container's clocks and returns when it is
// due to be destroyed.
func stoppedDue(now time.Time, o Observation, st *State, p Policy, leased bool) time.Time {
	st.CPUSample, st.CPUSampledAt = 0, time.Time{}
	if st.StoppedSince.IsZero() {
		st.StoppedSince = now
	}
	due := st.StoppedSince.Add(p.StoppedDestroy)
	if leased {
		// A lease holds a stopped container too: no destroy while it lasts.
		due = laterOf(due, o.LeaseUntil.Add(p.StoppedDestroy))
	}
	return due
}

// warnOrAct gives the warning of d's action when it comes into its window,
// or the action itself once a warning of it, for this deadline, is a full
// window old.
func warnOrAct(now time.Time, o Observation, st State, p Policy, d Decision) Decision {
	// The warning given holds only for this deadline and this action.
	deadline := d.Due
	if st.WarnedAt.IsZero() || !st.Warned.Equal(deadline) || st.WarnedOf != d.Next {
		st.Warned, st.WarnedAt, st.WarnedOf = time.Time{}, time.Time{}, ""
	}
	switch {
	case st.WarnedAt.IsZero():
		if now.Before(deadline.Add(-p.WarnBefore)) {
			break
		}
		// Inside the window, or past the deadline with no warning given (a
		// gap between sweeps): warn now, and act a full window from now at
		// the earliest.
		st.Warned, st.WarnedAt, st.WarnedOf = deadline, now, d.Next
		d.Due = laterOf(deadline, now.Add(p.WarnBefore))
		d.Now = append(d.Now, Action{Name: o.Name, Kind: Warn, Of: d.Next, At: d.Due,
			Why: d.Next + " due at " + d.Due.UTC().Format(time.RFC3339)})
	default:
		d.Due = laterOf(deadline, st.WarnedAt.Add(p.WarnBefore))
		if now.Before(d.Due) {
			break
		}
		why := "idle since " + st.LastActive.UTC().Format(time.RFC3339) + " (last signal: " + st.Signal + ")"
		if d.Next == Destroy {
			why = "stopped since " + st.StoppedSince.UTC().Format(time.RFC3339)
		}
		why += "; warned at " + st.WarnedAt.UTC().Format(time.RFC3339)
		d.Now = append(d.Now, Action{Name: o.Name, Kind: d.Next, At: d.Due, Why: why})
	}
	d.State = st
	return d
}

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Update is the decision a verb records when it changes whether a container
// runs (create, start, stop, restart): Decide's new clock, next action and
// due time for what the verb left, but no action. A warning Decide would
// give now is not recorded as given (only a sweep warns): the clock keeps
// no warning, and Due is no earlier than a full window from now, when the
// next sweep's warning could at the earliest let the action happen.
func Update(now time.Time, o Observation, st State, p Policy) Decision {
	d := decideOne(now, o, st, p)
	for _, a := range d.Now {
		if a.Kind == Warn {
			d.State.Warned, d.State.WarnedAt, d.State.WarnedOf = time.Time{}, time.Time{}, ""
		}
	}
	d.Now = nil
	return d
}
