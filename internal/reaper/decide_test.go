package reaper

import (
	"testing"
	"time"
)

var (
	t0     = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	policy = Policy{IdleStop: 7 * 24 * time.Hour, StoppedDestroy: 14 * 24 * time.Hour, WarnBefore: 24 * time.Hour, CPUActive: 5 * time.Minute}
	day    = 24 * time.Hour
)

func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		name     string
		now      time.Time
		obs      Observation
		state    *State
		wantKind string // "" for no action now
		wantOf   string
		wantNext string
		wantDue  time.Time
		wantSig  string
		// wantWarnedAt, if set, is the WarnedAt of the new state;
		// wantUnwarned says the new state holds no warning.
		wantWarnedAt time.Time
		wantUnwarned bool
	}{
		{
			name: "missing state: the clock starts now, nothing happens",
			now:  t0, obs: Observation{Running: true, Created: t0.Add(-30 * day)},
			wantNext: Stop, wantDue: t0.Add(7 * day), wantSig: SignalFirstSeen,
		},
		{
			name: "warned first a second before the deadline: not stopped until a full window later",
			now:  t0.Add(7*day - time.Second), obs: Observation{Running: true},
			state:    &State{LastActive: t0, Signal: SignalSession},
			wantKind: Warn, wantOf: Stop, wantNext: Stop, wantDue: t0.Add(8*day - time.Second), wantSig: SignalSession,
			wantWarnedAt: t0.Add(7*day - time.Second),
		},
		{
			name: "warned at the start of the window: the deadline stands",
			now:  t0.Add(6 * day), obs: Observation{Running: true},
			state:    &State{LastActive: t0, Signal: SignalSession},
			wantKind: Warn, wantOf: Stop, wantNext: Stop, wantDue: t0.Add(7 * day), wantSig: SignalSession,
			wantWarnedAt: t0.Add(6 * day),
		},
		{
			name: "idle exactly the window, warned a full window ago: stop",
			now:  t0.Add(7 * day), obs: Observation{Running: true},
			state:    &State{LastActive: t0, Signal: SignalSession, Warned: t0.Add(7 * day), WarnedAt: t0.Add(6 * day), WarnedOf: Stop},
			wantKind: Stop, wantNext: Stop, wantDue: t0.Add(7 * day), wantSig: SignalSession,
		},
		{
			name: "before the warning window: nothing",
			now:  t0.Add(6*day - time.Second), obs: Observation{Running: true},
			state:    &State{LastActive: t0, Signal: SignalSession},
			wantNext: Stop, wantDue: t0.Add(7 * day), wantSig: SignalSession,
		},
		{
			name: "warned already for this deadline: no second warning",
			now:  t0.Add(6*day + time.Hour), obs: Observation{Running: true},
			state:    &State{LastActive: t0, Signal: SignalSession, Warned: t0.Add(7 * day), WarnedAt: t0.Add(6 * day), WarnedOf: Stop},
			wantNext: Stop, wantDue: t0.Add(7 * day), wantSig: SignalSession,
		},
		{
			name: "a session resets the clock",
			now:  t0.Add(8 * day), obs: Observation{Running: true, Session: t0.Add(7*day + time.Hour)},
			state:    &State{LastActive: t0, Signal: SignalCPU},
			wantNext: Stop, wantDue: t0.Add(14*day + time.Hour), wantSig: SignalSession,
		},
		{
			name: "busy CPU counts: 10 min in an hour against 5 min/h",
			now:  t0.Add(8 * day), obs: Observation{Running: true, HasCPU: true, CPUUsage: 20 * time.Minute},
			state:    &State{LastActive: t0, Signal: SignalSession, CPUSample: 10 * time.Minute, CPUSampledAt: t0.Add(8*day - time.Hour)},
			wantNext: Stop, wantDue: t0.Add(15 * day), wantSig: SignalCPU,
		},
		{
			name: "background CPU below the threshold does not",
			now:  t0.Add(8 * day), obs: Observation{Running: true, HasCPU: true, CPUUsage: 10*time.Minute + time.Minute},
			state:    &State{LastActive: t0, Signal: SignalSession, CPUSample: 10 * time.Minute, CPUSampledAt: t0.Add(8*day - time.Hour), Warned: t0.Add(7 * day), WarnedAt: t0.Add(6 * day), WarnedOf: Stop},
			wantKind: Stop, wantNext: Stop, wantDue: t0.Add(7 * day), wantSig: SignalSession,
		},
		{
			name: "CPU counter went down (restart): resample, no verdict",
			now:  t0.Add(3 * day), obs: Observation{Running: true, HasCPU: true, CPUUsage: time.Second},
			state:    &State{LastActive: t0, Signal: SignalSession, CPUSample: time.Hour, CPUSampledAt: t0.Add(3*day - time.Hour)},
			wantNext: Stop, wantDue: t0.Add(7 * day), wantSig: SignalSession,
		},
		{
			name: "a CPU sample from before the boot is not compared",
			now:  t0.Add(3 * day), obs: Observation{Running: true, HasCPU: true, CPUUsage: 2 * time.Hour, Boot: t0.Add(3*day - time.Minute)},
			state:    &State{LastActive: t0, Signal: SignalSession, CPUSample: time.Minute, CPUSampledAt: t0.Add(3*day - time.Hour)},
			wantNext: Stop, wantDue: t0.Add(7 * day), wantSig: SignalSession,
		},
		{
			name: "a lease holds it",
			now:  t0.Add(8 * day), obs: Observation{Running: true, LeaseUntil: t0.Add(8*day + 8*time.Hour)},
			state:    &State{LastActive: t0, Signal: SignalSession},
			wantNext: Stop, wantDue: t0.Add(15 * day), wantSig: SignalLease,
		},
		{
			name: "an expired lease does not",
			now:  t0.Add(8 * day), obs: Observation{Running: true, LeaseUntil: t0.Add(2 * day)},
			state:    &State{LastActive: t0, Signal: SignalSession, Warned: t0.Add(7 * day), WarnedAt: t0.Add(6 * day), WarnedOf: Stop},
			wantKind: Stop, wantNext: Stop, wantDue: t0.Add(7 * day), wantSig: SignalSession,
		},
		{
			name: "clock went backwards: nothing is older than now",
			now:  t0, obs: Observation{Running: true},
			state:    &State{LastActive: t0.Add(30 * day), Signal: SignalSession, Warned: t0.Add(40 * day)},
			wantNext: Stop, wantDue: t0.Add(7 * day), wantSig: SignalSession,
		},
		{
			name: "a session file from the future counts as now",
			now:  t0, obs: Observation{Running: true, Session: t0.Add(365 * day)},
			state:    &State{LastActive: t0.Add(-3 * day), Signal: SignalCPU},
			wantNext: Stop, wantDue: t0.Add(7 * day), wantSig: SignalSession,
		},
		{
			name: "stopped: the destroy clock starts at the first sweep that sees it",
			now:  t0, obs: Observation{Running: false},
			state:    &State{LastActive: t0.Add(-8 * day), Signal: SignalSession},
			wantNext: Destroy, wantDue: t0.Add(14 * day), wantSig: SignalSession,
		},
		{
			name: "stopped for the window, warned a full window ago: destroy",
			now:  t0.Add(14 * day), obs: Observation{Running: false},
			state:    &State{LastActive: t0.Add(-8 * day), Signal: SignalSession, StoppedSince: t0, Warned: t0.Add(14 * day), WarnedAt: t0.Add(13 * day), WarnedOf: Destroy},
			wantKind: Destroy, wantNext: Destroy, wantDue: t0.Add(14 * day), wantSig: SignalSession,
		},
		{
			name: "stopped, within the warning window: warn of the destroy, which waits a full window",
			now:  t0.Add(13*day + time.Hour), obs: Observation{Running: false},
			state:    &State{LastActive: t0.Add(-8 * day), Signal: SignalSession, StoppedSince: t0, Warned: t0.Add(-day)},
			wantKind: Warn, wantOf: Destroy, wantNext: Destroy, wantDue: t0.Add(14*day + time.Hour), wantSig: SignalSession,
		},
		{
			name: "created long ago but never swept (create --no-start): the destroy clock starts now",
			now:  t0.Add(14 * day), obs: Observation{Running: false, Created: t0},
			wantNext: Destroy, wantDue: t0.Add(28 * day), wantSig: SignalFirstSeen, wantUnwarned: true,
		},
		{
			name: "a lost record of a container created 20 days ago and stopped yesterday: a fresh clock, no destroy",
			now:  t0, obs: Observation{Running: false, Created: t0.Add(-20 * day)},
			wantNext: Destroy, wantDue: t0.Add(14 * day), wantSig: SignalFirstSeen, wantUnwarned: true,
		},
		{
			name: "a stop overdue after a gap with no warning: warned now, stopped a full window later",
			now:  t0.Add(30 * day), obs: Observation{Running: true},
			state:    &State{LastActive: t0, Signal: SignalSession},
			wantKind: Warn, wantOf: Stop, wantNext: Stop, wantDue: t0.Add(31 * day), wantSig: SignalSession,
			wantWarnedAt: t0.Add(30 * day),
		},
		{
			name: "a destroy overdue after a gap with no warning: warned now, destroyed a full window later",
			now:  t0.Add(40 * day), obs: Observation{Running: false},
			state:    &State{LastActive: t0.Add(-8 * day), Signal: SignalSession, StoppedSince: t0},
			wantKind: Warn, wantOf: Destroy, wantNext: Destroy, wantDue: t0.Add(41 * day), wantSig: SignalSession,
			wantWarnedAt: t0.Add(40 * day),
		},
		{
			name: "a warning first given an hour before the deadline: the stop waits for its full window",
			now:  t0.Add(7 * day), obs: Observation{Running: true},
			state:    &State{LastActive: t0, Signal: SignalSession, Warned: t0.Add(7 * day), WarnedAt: t0.Add(7*day - time.Hour), WarnedOf: Stop},
			wantNext: Stop, wantDue: t0.Add(8*day - time.Hour), wantSig: SignalSession,
			wantWarnedAt: t0.Add(7*day - time.Hour),
		},
		{
			name: "the warning's full window has passed after a late warning: stop",
			now:  t0.Add(8*day - time.Hour), obs: Observation{Running: true},
			state:    &State{LastActive: t0, Signal: SignalSession, Warned: t0.Add(7 * day), WarnedAt: t0.Add(7*day - time.Hour), WarnedOf: Stop},
			wantKind: Stop, wantNext: Stop, wantDue: t0.Add(8*day - time.Hour), wantSig: SignalSession,
		},
		{
			name: "a warning of the stop does not count for the destroy",
			now:  t0.Add(14 * day), obs: Observation{Running: false},
			state:    &State{LastActive: t0.Add(-8 * day), Signal: SignalSession, StoppedSince: t0, Warned: t0.Add(14 * day), WarnedAt: t0.Add(13 * day), WarnedOf: Stop},
			wantKind: Warn, wantOf: Destroy, wantNext: Destroy, wantDue: t0.Add(15 * day), wantSig: SignalSession,
			wantWarnedAt: t0.Add(14 * day),
		},
		{
			name: "activity after a warning voids it: the new deadline, already past, gets its own warning",
			now:  t0.Add(13*day + 12*time.Hour), obs: Observation{Running: true, Session: t0.Add(6*day + 12*time.Hour)},
			state:    &State{LastActive: t0, Signal: SignalSession, Warned: t0.Add(7 * day), WarnedAt: t0.Add(6 * day), WarnedOf: Stop},
			wantKind: Warn, wantOf: Stop, wantNext: Stop, wantDue: t0.Add(14*day + 12*time.Hour), wantSig: SignalSession,
			wantWarnedAt: t0.Add(13*day + 12*time.Hour),
		},
		{
			name: "activity after a warning clears it",
			now:  t0.Add(6*day + 12*time.Hour), obs: Observation{Running: true, Session: t0.Add(6*day + 12*time.Hour)},
			state:    &State{LastActive: t0, Signal: SignalSession, Warned: t0.Add(7 * day), WarnedAt: t0.Add(6 * day), WarnedOf: Stop},
			wantNext: Stop, wantDue: t0.Add(13*day + 12*time.Hour), wantSig: SignalSession, wantUnwarned: true,
		},
		{
			name: "a warning from the future (the clock went back) counts from now",
			now:  t0, obs: Observation{Running: true},
			state:    &State{LastActive: t0.Add(-7 * day), Signal: SignalSession, Warned: t0, WarnedAt: t0.Add(2 * day), WarnedOf: Stop},
			wantNext: Stop, wantDue: t0.Add(day), wantSig: SignalSession, wantWarnedAt: t0,
		},
		{
			name: "a record from before warned_at (warned, no time): warned again, the stop waits a full window",
			now:  t0.Add(7 * day), obs: Observation{Running: true},
			state:    &State{LastActive: t0, Signal: SignalSession, Warned: t0.Add(7 * day)},
			wantKind: Warn, wantOf: Stop, wantNext: Stop, wantDue: t0.Add(8 * day), wantSig: SignalSession,
			wantWarnedAt: t0.Add(7 * day),
		},
		{
			name: "started again after a stop: active now, the destroy clock is gone",
			now:  t0.Add(20 * day), obs: Observation{Running: true},
			state:    &State{LastActive: t0, Signal: SignalSession, StoppedSince: t0.Add(10 * day)},
			wantNext: Stop, wantDue: t0.Add(27 * day), wantSig: SignalStarted,
		},
		{
			name: "a lease holds a stopped container from destroy",
			now:  t0.Add(20 * day), obs: Observation{Running: false, LeaseUntil: t0.Add(21 * day)},
			state:    &State{LastActive: t0, Signal: SignalSession, StoppedSince: t0},
			wantNext: Destroy, wantDue: t0.Add(35 * day), wantSig: SignalLease,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			states := map[string]State{}
			if tc.state != nil {
				states["x"] = *tc.state
			}
			tc.obs.Name = "x"
			ds := Decide(tc.now, []Observation{tc.obs}, states, policy)
			if len(ds) != 1 {
				t.Fatalf("%d decisions", len(ds))
			}
			d := ds[0]
			kind, of := "", ""
			if len(d.Now) > 0 {
				kind, of = d.Now[0].Kind, d.Now[0].Of
			}
			if kind != tc.wantKind || of != tc.wantOf {
				t.Errorf("action = %q of %q, want %q of %q (%+v)", kind, of, tc.wantKind, tc.wantOf, d.Now)
			}
			if d.Next != tc.wantNext || !d.Due.Equal(tc.wantDue) {
				t.Errorf("next = %s at %s, want %s at %s", d.Next, d.Due, tc.wantNext, tc.wantDue)
			}
			if d.State.Signal != tc.wantSig {
				t.Errorf("signal = %q, want %q", d.State.Signal, tc.wantSig)
			}
			if !tc.wantWarnedAt.IsZero() && !d.State.WarnedAt.Equal(tc.wantWarnedAt) {
				t.Errorf("warned at %s, want %s", d.State.WarnedAt, tc.wantWarnedAt)
			}
			if tc.wantUnwarned && (!d.State.Warned.IsZero() || !d.State.WarnedAt.IsZero() || d.State.WarnedOf != "") {
				t.Errorf("a warning is left: %+v", d.State)
			}
			for _, a := range d.Now {
				if a.Kind != Warn && (d.State.WarnedAt.IsZero() || tc.now.Sub(d.State.WarnedAt) < policy.WarnBefore || d.State.WarnedOf != a.Kind) {
					t.Errorf("%s without a warning of it a full window old: %+v", a.Kind, d.State)
				}
				if !a.At.Equal(d.Due) {
					t.Errorf("action at %s, decision due %s", a.At, d.Due)
				}
			}
			if d.State.LastActive.After(tc.now) || d.State.StoppedSince.After(tc.now) || d.State.WarnedAt.After(tc.now) {
				t.Errorf("a clock is in the future: %+v", d.State)
			}
		})
	}
}

// TestDecideSequence runs the clock forward sweep by sweep, feeding each
// decision's state into the next, as the runner does: one warning, then the
// stop, then after the stopped window one warning and the destroy.
func TestDecideSequence(t *testing.T) {
	p := Policy{IdleStop: 60 * time.Second, StoppedDestroy: 120 * time.Second, WarnBefore: 30 * time.Second, CPUActive: time.Minute}
	states := map[string]State{}
	running := true
	var log []string
	for now := t0; now.Before(t0.Add(5 * time.Minute)); now = now.Add(10 * time.Second) {
		d := Decide(now, []Observation{{Name: "x", Running: running}}, states, p)[0]
		states["x"] = d.State
		for _, a := range d.Now {
			log = append(log, now.Sub(t0).String()+" "+a.Kind+" "+a.Of)
			if a.Kind == Stop { // the runner stops it and records when
				running = false
				st := states["x"]
				st.StoppedSince = now
				states["x"] = st
			}
			if a.Kind == Destroy {
				delete(states, "x")
				now = t0.Add(time.Hour) // ends the loop
			}
		}
	}
	want := []string{"30s warn stop", "1m0s stop ", "2m30s warn destroy", "3m0s destroy "}
	if len(log) != len(want) {
		t.Fatalf("log = %q, want %q", log, want)
	}
	for i := range want {
		if log[i] != want[i] {
			t.Errorf("log = %q, want %q", log, want)
			break
		}
	}
}

// TestDecideAfterAGap: sweeps stop for a while (the host was off, the timer
// did not run) and resume long after the stop was due. The first sweep back
// warns; the stop comes a full warning window later, not at once.
func TestDecideAfterAGap(t *testing.T) {
	p := Policy{IdleStop: 60 * time.Second, StoppedDestroy: 120 * time.Second, WarnBefore: 30 * time.Second, CPUActive: time.Minute}
	states := map[string]State{}
	var log []string
	sweep := func(now time.Time) {
		d := Decide(now, []Observation{{Name: "x", Running: true}}, states, p)[0]
		states["x"] = d.State
		for _, a := range d.Now {
			log = append(log, now.Sub(t0).String()+" "+a.Kind+" "+a.Of+" due "+a.At.Sub(t0).String())
		}
	}
	sweep(t0)
	sweep(t0.Add(10 * time.Second))
	for now := t0.Add(10 * time.Minute); now.Before(t0.Add(11 * time.Minute)); now = now.Add(10 * time.Second) {
		sweep(now)
	}
	want := []string{"10m0s warn stop due 10m30s", "10m30s stop  due 10m30s"}
	if len(log) < 2 || log[0] != want[0] || log[1] != want[1] {
		t.Errorf("log = %q, want %q", log, want)
	}
}

// TestUpdate: a verb records the sweep's clock and next action but never
// an action, and never a warning it did not give.
func TestUpdate(t *testing.T) {
	for _, tc := range []struct {
		name     string
		now      time.Time
		obs      Observation
		state    State
		wantNext string
		wantDue  time.Time
	}{
		{"a start after a stop: the idle clock runs from now", t0.Add(3 * day), Observation{Running: true},
			State{LastActive: t0, StoppedSince: t0.Add(day)}, Stop, t0.Add(10 * day)},
		{"a stop: the destroy clock runs from now", t0.Add(day), Observation{},
			State{LastActive: t0}, Destroy, t0.Add(15 * day)},
		{"inside the warning window: no warning recorded, due a full window on", t0.Add(7*day - time.Hour), Observation{Running: true},
			State{LastActive: t0}, Stop, t0.Add(8*day - time.Hour)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Update(tc.now, tc.obs, tc.state, policy)
			if d.Next != tc.wantNext || !d.Due.Equal(tc.wantDue) || len(d.Now) != 0 || !d.State.WarnedAt.IsZero() {
				t.Errorf("got next %s due %s, actions %v, warned at %s; want %s due %s, none", d.Next, d.Due, d.Now, d.State.WarnedAt, tc.wantNext, tc.wantDue)
			}
		})
	}
}
