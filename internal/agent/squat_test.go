package agent

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/agentproto"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
)

// inFlight is the reservation timeout of the bus tests: the default.
const inFlight = 5 * time.Minute

// TestSquatterHoldsOneReservation: a user cannot hold two reservations
// that have never been seen running; the second names the first.
func TestSquatterHoldsOneReservation(t *testing.T) {
	bus := startBus(t, "")
	s, _ := testServer(t)
	bus.serve(t, s)
	attacker := bus.startPeer(t, attackerUID)
	wantOK(t, "first reservation", attacker.reserve("squat-one", true, 1, 1<<30))
	r := attacker.reserve("squat-two", true, 1, 1<<30)
	wantClass(t, "second reservation in flight", r, errdefs.UserCap)
	if !strings.Contains(r.Msg, "squat-one") {
		t.Errorf("the refusal does not name the reservation in flight: %s", r.Msg)
	}
}

// TestRenewalDoesNotExtend: Reserve(create=false) of a reservation that was
// never seen running does not move its time, so it ends InFlight after it
// was made, and another user's create then gets the slot.
func TestRenewalDoesNotExtend(t *testing.T) {
	bus := startBus(t, "")
	s, clock := testServer(t)
	s.Limits.MaxGlobal = 1
	bus.serve(t, s)
	attacker, victim := bus.startPeer(t, attackerUID), bus.startPeer(t, victimUID)
	wantOK(t, "squatter's create", attacker.reserve("squat", true, 1, 1<<30))
	clock.Advance(4 * time.Minute)
	attacker.reserve("squat", false, 1, 1<<30)
	attacker.call("Confirm", sArg("squat"))
	clock.Advance(inFlight - 4*time.Minute + time.Second)
	wantOK(t, "victim's create after the squatter's reservation ended", victim.reserve("victim", true, 1, 1<<30))
}

// TestHugeRequests: requests above the per-container maximum or the host's
// own size, and empty ones, are refused. A MaxInt64 memory request, made
// while something runs, neither passes nor lets a later oversized request
// through (the sums once overflowed and admitted both).
func TestHugeRequests(t *testing.T) {
	bus := startBus(t, "")
	s, _ := testServer(t)
	s.Limits.MaxCPUs, s.Limits.MaxMemory = 4, 8<<30 // maximum per container
	bus.serve(t, s)
	attacker, victim := bus.startPeer(t, attackerUID), bus.startPeer(t, victimUID)
	wantOK(t, "victim's first container", victim.reserve("base", true, 1, 4<<30))
	running(t, s.CgroupRoot, victimUID, "base", true)
	for _, tc := range []struct {
		what  string
		milli uint32
		mem   uint64
	}{
		{"MaxInt64 bytes", 1000, math.MaxInt64},
		{"more than MaxInt64 bytes", 1000, math.MaxUint64},
		{"more memory than the host has", 1000, 17 << 30},
		{"more memory than the maximum", 1000, 10 << 30},
		{"more CPUs than the host has", 17000, 1 << 30},
		{"more CPUs than the maximum", 5000, 1 << 30},
		{"no CPUs", 0, 1 << 30},
		{"no memory", 1000, 0},
	} {
		r := attacker.call("Reserve", reserveArgs("huge", true, tc.milli, tc.mem)...)
		if r.Err == "" {
			t.Errorf("%s: admitted", tc.what)
			attacker.call("Release", sArg("huge"))
			continue
		}
		if r.Err != agentproto.ErrorName(errdefs.Usage) && r.Err != agentproto.ErrorName(errdefs.HostCap) {
			t.Errorf("%s: %s %s, want a usage or host-cap refusal", tc.what, r.Err, r.Msg)
		}
		t.Logf("%s: %s", tc.what, r.Msg)
	}
	if r := victim.reserve("big", true, 1, 1<<40); r.Err == "" {
		t.Errorf("victim's 1 TiB after the attacker's MaxInt64: admitted")
	}
	wantOK(t, "victim's 4 GiB", victim.reserve("victim", true, 2, 4<<30))
}

// TestSquatBound plays squatters against a victim for half an hour of the
// agent's clock, on a host with room for one running container. Whatever
// the squatter does with raw calls, the victim's create is never refused
// for longer than the reservation timeout at a stretch: the documented
// bound (docs/agent.md).
func TestSquatBound(t *testing.T) {
	const step = 10 * time.Second
	strategies := []struct {
		name string
		move func(a *peer, n int, names *[]string)
	}{
		{"renews and confirms everything it has", func(a *peer, n int, names *[]string) {
			name := fmt.Sprintf("sq%d", n)
			if a.reserve(name, true, 1, 1<<30).Err == "" {
				*names = append(*names, name)
			}
			for _, x := range *names {
				a.reserve(x, false, 1, 1<<30)
				a.call("Confirm", sArg(x))
			}
		}},
		{"stops and reserves again just before the timeout", func(a *peer, n int, names *[]string) {
			if len(*names) == 0 {
				if a.reserve("squat", true, 1, 1<<30).Err == "" {
					*names = append(*names, "squat")
					a.call("Confirm", sArg("squat"))
				}
				return
			}
			if n%29 == 0 { // 4 min 50 s
				a.call("Stop", sArg("squat"))
			}
			a.reserve("squat", false, 1, 1<<30)
		}},
		{"releases and takes a new name", func(a *peer, n int, names *[]string) {
			if n%29 == 0 {
				for _, x := range *names {
					a.call("Release", sArg(x))
				}
				*names = nil
			}
			name := fmt.Sprintf("sq%d", n)
			if a.reserve(name, true, 1, 1<<30).Err == "" {
				*names = append(*names, name)
			}
		}},
	}
	for _, st := range strategies {
		t.Run(st.name, func(t *testing.T) {
			bus := startBus(t, "")
			s, clock := testServer(t)
			s.Limits.MaxGlobal = 1
			bus.serve(t, s)
			attacker, victim := bus.startPeer(t, attackerUID), bus.startPeer(t, victimUID)
			var names []string
			var refusedSince time.Time
			var worst time.Duration
			admitted := 0
			const steps = int(30 * time.Minute / step)
			for n := 0; n < steps; n++ {
				st.move(attacker, n, &names)
				now := clock.Now()
				r := victim.reserve("victim", true, 1, 1<<30)
				if r.Err == "" {
					admitted++
					victim.call("Release", sArg("victim"))
					refusedSince = time.Time{}
				} else if refusedSince.IsZero() {
					refusedSince = now
				}
				if !refusedSince.IsZero() {
					worst = max(worst, now.Sub(refusedSince)+step)
				}
				clock.Advance(step)
			}
			t.Logf("the victim was admitted %d times of %d; the longest refusal lasted %s", admitted, steps, worst)
			if admitted == steps {
				t.Fatal("the squatter never held the slot: the test proves nothing")
			}
			if worst > inFlight {
				t.Errorf("the squatter kept the victim out for %s at a stretch, more than the bound of %s", worst, inFlight)
			}
		})
	}
}

// TestUnconfirmedEntriesExpire: a reservation nobody confirmed and that
// never ran is gone from the ledger once the timeout has passed; a
// confirmed one (create --no-start) stays, and so does one seen running.
func TestUnconfirmedEntriesExpire(t *testing.T) {
	bus := startBus(t, "")
	s, clock := testServer(t)
	bus.serve(t, s)
	attacker := bus.startPeer(t, attackerUID)
	wantOK(t, "reserve ghost", attacker.reserve("ghost", true, 1, 1<<30))
	// Past the reservation and then past its duty cycle, as long again.
	clock.Advance(2*inFlight + time.Second)
	wantOK(t, "reserve kept", attacker.reserve("kept", true, 1, 1<<30))
	wantOK(t, "confirm kept", attacker.call("Confirm", sArg("kept")))
	clock.Advance(2*inFlight + time.Second)
	wantOK(t, "reserve runs", attacker.reserve("runs", true, 1, 1<<30))
	running(t, s.CgroupRoot, attackerUID, "runs", true)
	clock.Advance(inFlight + time.Second)
	r := attacker.call("List", bArg(false))
	wantOK(t, "list", r)
	for name, want := range map[string]bool{"ghost": false, "kept": true, "runs": true} {
		if got := strings.Contains(r.Out, `"name":"`+name+`"`); got != want {
			t.Errorf("%s in the ledger: %v, want %v: %s", name, got, want, r.Out)
		}
	}
	if !strings.Contains(s.Log.(*testLog).String(), `"ghost"`) {
		t.Errorf("the expiry of ghost is not logged")
	}
}

// TestSeenRunningFreesTheSlot: once a reservation is seen running it is no
// longer in flight, so its owner may reserve the next container at once.
func TestSeenRunningFreesTheSlot(t *testing.T) {
	bus := startBus(t, "")
	s, _ := testServer(t)
	bus.serve(t, s)
	attacker := bus.startPeer(t, attackerUID)
	wantOK(t, "first", attacker.reserve("first", true, 1, 1<<30))
	wantClass(t, "second while the first is in flight", attacker.reserve("second", true, 1, 1<<30), errdefs.UserCap)
	running(t, s.CgroupRoot, attackerUID, "first", true)
	wantOK(t, "second once the first runs", attacker.reserve("second", true, 1, 1<<30))
	ledger, err := s.Store.Load()
	if err != nil {
		t.Fatal(err)
	}
	if e := ledger.Entries["first"]; !e.SeenRunning {
		t.Errorf("first is not marked seen running: %+v", e)
	}
}

// running writes the cgroup.events of uid's container name as the kernel
// would.
func running(t *testing.T, root string, uid uint32, name string, up bool) {
	t.Helper()
	u := strconv.FormatUint(uint64(uid), 10)
	d := filepath.Join(root, "user.slice", "user-"+u+".slice", "user@"+u+".service", "app.slice", "devbox-"+name+".service")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	v := "0"
	if up {
		v = "1"
	}
	if err := os.WriteFile(filepath.Join(d, "cgroup.events"), []byte("populated "+v+"\nfrozen 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestShortWaitIsSatOut: a duty-cycle wait shorter than BlockWait (a
// create right after a `create --no-start`, whose reservation lasted a
// moment) is waited out by the agent, and the create admitted.
func TestShortWaitIsSatOut(t *testing.T) {
	bus := startBus(t, "")
	s, _ := testServer(t)
	s.Now, s.BlockWait = time.Now, 5*time.Second
	bus.serve(t, s)
	user := bus.startPeer(t, attackerUID)
	wantOK(t, "create --no-start", user.reserve("first", true, 1, 1<<30))
	wantOK(t, "confirm", user.call("Confirm", sArg("first")))
	time.Sleep(300 * time.Millisecond)
	wantOK(t, "stop", user.call("Stop", sArg("first")))
	begin := time.Now()
	wantOK(t, "the next create", user.reserve("second", true, 1, 1<<30))
	if took := time.Since(begin); took < 250*time.Millisecond {
		t.Errorf("the next create was admitted after %s, before the wait of 300ms ended", took)
	}
}
