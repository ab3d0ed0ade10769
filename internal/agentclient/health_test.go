package agentclient

import (
	"strings"
	"testing"
	"time"
)

var (
	stopped      = UnitState{LoadState: "loaded", ActiveState: "inactive", SubState: "dead", Result: "success"}
	starting     = UnitState{LoadState: "loaded", ActiveState: "activating", SubState: "start", Result: "success"}
	startingPre  = UnitState{LoadState: "loaded", ActiveState: "activating", SubState: "start-pre", Result: "success"}
	running      = UnitState{LoadState: "loaded", ActiveState: "active", SubState: "running", Result: "success"}
	restarting   = UnitState{LoadState: "loaded", ActiveState: "activating", SubState: "auto-restart", Result: "exit-code", NRestarts: 1}
	failedExit   = UnitState{LoadState: "loaded", ActiveState: "failed", SubState: "failed", Result: "exit-code"}
	startLimited = UnitState{LoadState: "loaded", ActiveState: "failed", SubState: "failed", Result: "start-limit-hit", NRestarts: 4}
	notFound     = UnitState{LoadState: "not-found", ActiveState: "inactive", SubState: "dead"}
	masked       = UnitState{LoadState: "masked", ActiveState: "inactive", SubState: "dead"}
)

func TestAssess(t *testing.T) {
	tests := []struct {
		name        string
		unit        UnitState
		known       bool
		activatable bool
		want        Verdict
	}{
		{"a stopped agent the bus can start is started", stopped, true, true, Wait},
		{"a failed agent gets one more start (the admin may have fixed it)", failedExit, true, true, Wait},
		{"an agent held by the start-rate limit still gets its start, which Watch judges", startLimited, true, true, Wait},
		{"a unit the bus would start but systemd does not have is failing", notFound, true, true, Failing},
		{"a masked unit is failing", masked, true, true, Failing},
		{"without the system manager's view the bus decides", UnitState{}, false, true, Wait},
		{"no activation file and no unit: not installed", notFound, true, false, NotInstalled},
		{"no activation file and a stopped unit: uninstalled, not broken", stopped, true, false, NotInstalled},
		{"no activation file and no view: not installed", UnitState{}, false, false, NotInstalled},
		{"no activation file but a failed unit: installed and broken", failedExit, true, false, Failing},
		{"no activation file but a unit restarting: installed and broken", restarting, true, false, Failing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Assess(tt.unit, tt.known, tt.activatable); got != tt.want {
				t.Errorf("Assess(%+v, known=%v, activatable=%v) = %s, want %s", tt.unit, tt.known, tt.activatable, got, tt.want)
			}
		})
	}
}

func TestWatch(t *testing.T) {
	grace := time.Second
	tests := []struct {
		name   string
		before UnitState
		now    UnitState
		left   bool
		waited time.Duration
		want   Verdict
	}{
		{"a start in progress is waited for", stopped, starting, true, 200 * time.Millisecond, Wait},
		{"the config check before the start is waited for", stopped, startingPre, true, 200 * time.Millisecond, Wait},
		{"a running unit is waited for (the bus's reply ends the wait)", stopped, running, true, 2 * time.Second, Wait},
		{"a slow healthy start is never cut short", stopped, starting, true, 20 * time.Second, Wait},
		{"a stopped unit the start has not reached yet is waited for", stopped, stopped, false, 3 * time.Second, Wait},
		{"waiting for an automatic restart after this start is a crash loop", stopped, restarting, true, 150 * time.Millisecond, Failing},
		{"an automatic restart seen after a stopped unit, even at once, is a crash loop", stopped, restarting, false, 50 * time.Millisecond, Failing},
		{"restarts left from before, reset by this start, are no failure", startLimited, starting, true, 100 * time.Millisecond, Wait},
		{"a healthy agent's pending restart after one crash is waited for", restarting, restarting, false, 500 * time.Millisecond, Wait},
		{"its restart running is waited for, restarts counted", restarting, UnitState{LoadState: "loaded", ActiveState: "activating", SubState: "start", Result: "success", NRestarts: 2}, true, 1200 * time.Millisecond, Wait},
		{"a pending restart past the grace is failing", restarting, restarting, false, grace, Failing},
		{"restarting again after a restart ran between two reads is a crash loop", restarting, UnitState{LoadState: "loaded", ActiveState: "activating", SubState: "auto-restart", Result: "exit-code", NRestarts: 2}, false, 300 * time.Millisecond, Failing},
		{"restarting again after the restart was seen running is a crash loop", restarting, restarting, true, 300 * time.Millisecond, Failing},
		{"the same restart count as before is no news", UnitState{LoadState: "loaded", ActiveState: "failed", SubState: "failed", Result: "exit-code", NRestarts: 2}, UnitState{LoadState: "loaded", ActiveState: "failed", SubState: "failed", Result: "exit-code", NRestarts: 2}, false, 100 * time.Millisecond, Wait},
		{"failed after being stopped: this start failed", stopped, failedExit, false, 100 * time.Millisecond, Failing},
		{"failed again after leaving failed: this start failed", failedExit, failedExit, true, 100 * time.Millisecond, Failing},
		{"still failed within the grace: the start may not have begun", startLimited, startLimited, false, 500 * time.Millisecond, Wait},
		{"still failed past the grace: the start was refused (start-rate limit)", startLimited, startLimited, false, grace, Failing},
		{"inactive with a failure result counts as failed", stopped, UnitState{LoadState: "loaded", ActiveState: "inactive", SubState: "dead", Result: "timeout"}, false, 100 * time.Millisecond, Failing},
		{"a unit that stopped loading is failing", stopped, notFound, false, 100 * time.Millisecond, Failing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Progress{Before: tt.before, Now: tt.now, Left: tt.left, Waited: tt.waited, Grace: grace}
			if got := Watch(p); got != tt.want {
				t.Errorf("Watch(%+v) = %s, want %s", p, got, tt.want)
			}
		})
	}
}

func TestUnitFailedErrorNamesTheUnitAndItsResult(t *testing.T) {
	tests := []struct {
		unit UnitState
		want []string
	}{
		{restarting, []string{UnitName, "failed", "activating/auto-restart", "result exit-code", "restarted 1 times"}},
		{startLimited, []string{UnitName, "failed/failed", "result start-limit-hit"}},
		{notFound, []string{UnitName, "load state not-found"}},
	}
	for _, tt := range tests {
		msg := (&UnitFailedError{Unit: tt.unit}).Error()
		for _, w := range tt.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%q lacks %q", msg, w)
			}
		}
	}
}

func TestUnitPath(t *testing.T) {
	if got, want := unitPath(UnitName), "/org/freedesktop/systemd1/unit/devbox_2dquadlet_2dagent_2eservice"; string(got) != want {
		t.Errorf("unitPath = %s, want %s", got, want)
	}
}
