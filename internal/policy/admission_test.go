package policy

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
)

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func limits() Limits {
	return Limits{MaxPerUser: func(u string) int {
		if u == "carol" {
			return 1
		}
		return 5
	}, MaxGlobal: 3, CPUs: 8, Memory: 16 << 30}
}

func ledgerOf(es ...Entry) Ledger {
	l := NewLedger()
	for _, e := range es {
		l.Entries[e.Name] = e
	}
	return l
}

func TestAdmit(t *testing.T) {
	a1 := Entry{Name: "a1", UID: 1000, User: "alice", CPUs: 2, Memory: 4 << 30}
	a2 := Entry{Name: "a2", UID: 1000, User: "alice", CPUs: 2, Memory: 4 << 30}
	b1 := Entry{Name: "b1", UID: 1001, User: "bob", CPUs: 2, Memory: 4 << 30}
	fresh := func(e Entry) Entry { e.Reserved = t0.Add(-time.Minute); return e }
	stale := func(e Entry) Entry { e.Reserved = t0.Add(-DefaultInFlight - time.Second); return e }
	create := func(name string, uid uint32, user string) Request {
		return Request{Create: true, Name: name, UID: uid, User: user, CPUs: 2, Memory: 4 << 30}
	}
	tests := []struct {
		name     string
		ledger   Ledger
		observed map[string]bool
		req      Request
		class    *errdefs.Class // nil: admitted
		msg      string
	}{
		{"empty host", Ledger{}, nil, create("a1", 1000, "alice"), nil, ""},
		{"name of another user", ledgerOf(b1), nil, create("b1", 1000, "alice"), errdefs.Exists, "taken by another user"},
		{"own name again is idempotent", ledgerOf(a1), nil, create("a1", 1000, "alice"), nil, ""},
		{"per-user cap", ledgerOf(Entry{Name: "c1", UID: 1002, User: "carol", CPUs: 1, Memory: 1 << 30}), nil, create("c2", 1002, "carol"), errdefs.UserCap, "1 of 1"},
		{"global cap counts observed", ledgerOf(a1, a2, b1), map[string]bool{"a1": true, "a2": true, "b1": true}, create("c1", 1002, "carol"), errdefs.HostCap, "3 of 3 containers running: a1 (alice), a2 (alice), b1 (bob)"},
		{"global cap counts in-flight reservations", ledgerOf(fresh(a1), fresh(a2), fresh(b1)), nil, create("c1", 1002, "carol"), errdefs.HostCap, "3 of 3"},
		{"stale reservation does not count", ledgerOf(stale(a1), a2, b1), map[string]bool{"a2": true, "b1": true}, create("c1", 1002, "carol"), nil, ""},
		{"stopped does not count", ledgerOf(a1, a2, b1), map[string]bool{"a1": true}, create("c1", 1002, "carol"), nil, ""},
		{"start of unknown", Ledger{}, nil, Request{Name: "zz", UID: 1000, User: "alice", CPUs: 1, Memory: 1 << 30}, errdefs.NotFound, "no container"},
		{"start of another user's", ledgerOf(b1), nil, Request{Name: "b1", UID: 1000, User: "alice"}, errdefs.Exists, "another user"},
		{"start own when the host is full", ledgerOf(a1, a2, b1, Entry{Name: "x", UID: 1002, User: "carol", CPUs: 1, Memory: 1 << 30}), map[string]bool{"a1": true, "a2": true, "b1": true}, Request{Name: "x", UID: 1002, User: "carol"}, errdefs.HostCap, "3 of 3"},
		{"running itself does not block its own start", ledgerOf(a1), map[string]bool{"a1": true}, Request{Name: "a1", UID: 1000, User: "alice"}, nil, ""},
		{"cpu overcommit", ledgerOf(Entry{Name: "big", UID: 1001, User: "bob", CPUs: 7, Memory: 1 << 30}), map[string]bool{"big": true}, create("a1", 1000, "alice"), errdefs.HostCap, "1.00 free, 2.00 asked"},
		{"memory overcommit", ledgerOf(Entry{Name: "big", UID: 1001, User: "bob", CPUs: 1, Memory: 14 << 30}), map[string]bool{"big": true}, create("a1", 1000, "alice"), errdefs.HostCap, "2GiB free, 4GiB asked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ledger := tt.ledger
			if ledger.Entries == nil {
				ledger = NewLedger()
			}
			e, err := Admit(t0, ledger, tt.observed, tt.req, limits())
			if tt.class == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if e.Name != tt.req.Name || e.UID != tt.req.UID || !e.Reserved.Equal(t0) {
					t.Errorf("entry = %+v", e)
				}
				return
			}
			if err == nil {
				t.Fatalf("admitted %+v", e)
			}
			if !errdefs.Is(err, tt.class) {
				t.Errorf("class of %v is not %v", err, tt.class)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("%q lacks %q", err, tt.msg)
			}
		})
	}
}

// TestAdmitSerialRace replays 12 creates from 3 users against a global cap of
// 7, as the agent serialises them: exactly 7 are admitted. Each round's
// containers are seen running before the next (one reservation in flight
// per user).
func TestAdmitSerialRace(t *testing.T) {
	lim := limits()
	lim.MaxGlobal = 7
	lim.CPUs, lim.Memory = 100, 100<<30
	ledger := NewLedger()
	observed := map[string]bool{}
	admitted, refused := 0, 0
	for i := 0; i < 4; i++ {
		for u, user := range []string{"alice", "bob", "carol2"} {
			req := Request{Create: true, Name: user + string(rune('a'+i)), UID: uint32(1000 + u), User: user, CPUs: 1, Memory: 1 << 30}
			e, err := Admit(t0, ledger, observed, req, lim)
			if err != nil {
				if !errdefs.Is(err, errdefs.HostCap) {
					t.Fatalf("unexpected refusal: %v", err)
				}
				refused++
				continue
			}
			ledger.Entries[e.Name] = e
			admitted++
		}
		for name := range ledger.Entries {
			observed[name] = true
		}
		Tidy(t0, ledger, observed, lim)
	}
	if admitted != 7 || refused != 5 {
		t.Errorf("admitted %d, refused %d; want 7 and 5", admitted, refused)
	}
}

// TestTidyThenStop: a container admitted, seen running, then stopped
// behind the agent's back no longer counts, although its admission is
// younger than the reservation timeout.
func TestTidyThenStop(t *testing.T) {
	lim := limits()
	lim.MaxGlobal = 1
	ledger := NewLedger()
	e, err := Admit(t0, ledger, nil, Request{Create: true, Name: "holder", UID: 1000, User: "alice", CPUs: 1, Memory: 1 << 30}, lim)
	if err != nil {
		t.Fatal(err)
	}
	ledger.Entries[e.Name] = e
	changes := Tidy(t0, ledger, map[string]bool{"holder": true}, lim)
	if len(changes) != 1 || !ledger.Entries["holder"].Reserved.IsZero() || !ledger.Entries["holder"].SeenRunning {
		t.Fatalf("Tidy did not fulfil the reservation: %+v %+v", changes, ledger.Entries["holder"])
	}
	if changes := Tidy(t0, ledger, map[string]bool{"holder": true}, lim); len(changes) != 0 {
		t.Errorf("a second Tidy changed something: %+v", changes)
	}
	req := Request{Create: true, Name: "waiter", UID: 1001, User: "bob", CPUs: 1, Memory: 1 << 30}
	if _, err := Admit(t0.Add(time.Minute), ledger, map[string]bool{"holder": true}, req, lim); !errdefs.Is(err, errdefs.HostCap) {
		t.Errorf("holder running: %v, want host cap", err)
	}
	if _, err := Admit(t0.Add(time.Minute), ledger, map[string]bool{}, req, lim); err != nil {
		t.Errorf("holder stopped behind the agent's back still counts: %v", err)
	}
}

// TestAdmitSize: what one container may reserve.
func TestAdmitSize(t *testing.T) {
	lim := limits()
	lim.MaxGlobal = 10
	lim.CPUs, lim.Memory = 16, 32<<30 // overcommitted
	lim.MaxCPUs, lim.MaxMemory = 4, 64<<30
	lim.HostCPUs, lim.HostMemory = 8, 16<<30
	tests := []struct {
		name   string
		cpus   float64
		memory int64
		class  *errdefs.Class
		msg    string
	}{
		{"within every bound", 4, 16 << 30, nil, ""},
		{"no CPUs", 0, 1 << 30, errdefs.Usage, "needs more than 0"},
		{"negative CPUs", -1, 1 << 30, errdefs.Usage, "needs more than 0"},
		{"not a number of CPUs", math.NaN(), 1 << 30, errdefs.Usage, "needs more than 0"},
		{"no memory", 1, 0, errdefs.Usage, "needs more than 0"},
		{"negative memory", 1, -1, errdefs.Usage, "needs more than 0"},
		{"above the CPU maximum", 5, 1 << 30, errdefs.Usage, "at most 4.00 on this host ([caps] max_cpus_per_container)"},
		{"above the memory maximum", 1, 65 << 30, errdefs.Usage, "at most 64GiB on this host ([caps] max_memory_per_container)"},
		{"above the host's memory", 1, 17 << 30, errdefs.HostCap, "the host has 16GiB in all"},
		{"MaxInt64 bytes", 1, math.MaxInt64, errdefs.Usage, "at most 64GiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Admit(t0, NewLedger(), nil, Request{Create: true, Name: "box", UID: 1000, User: "alice", CPUs: tt.cpus, Memory: tt.memory}, lim)
			checkRefusal(t, err, tt.class, tt.msg)
		})
	}
}

func checkRefusal(t *testing.T, err error, class *errdefs.Class, msg string) {
	t.Helper()
	if class == nil {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("admitted, want %v saying %q", class, msg)
	}
	if !errdefs.Is(err, class) {
		t.Errorf("class of %v is not %v", err, class)
	}
	if !strings.Contains(err.Error(), msg) {
		t.Errorf("%q lacks %q", err, msg)
	}
}

// TestAdmitOverflow is the case a review found: on a 16 GiB host with 4 GiB
// running, a MaxInt64 request was admitted (the sum wrapped around) and
// then let another user's 1 TiB through. With no per-container bound set,
// the sums alone must refuse both, and leave later decisions sound.
func TestAdmitOverflow(t *testing.T) {
	lim := limits()
	lim.CPUs, lim.Memory = 8, 16<<30
	web := Entry{Name: "web", UID: 1001, User: "bob", CPUs: 1, Memory: 4 << 30, SeenRunning: true}
	ledger := ledgerOf(web)
	observed := map[string]bool{"web": true}
	_, err := Admit(t0, ledger, observed, Request{Create: true, Name: "huge", UID: 1000, User: "alice", CPUs: 1, Memory: math.MaxInt64}, lim)
	checkRefusal(t, err, errdefs.HostCap, "12GiB free")
	_, err = Admit(t0, ledger, observed, Request{Create: true, Name: "tera", UID: 1002, User: "carol", CPUs: 1, Memory: 1 << 40}, lim)
	checkRefusal(t, err, errdefs.HostCap, "12GiB free, 1024GiB asked")
	e, err := Admit(t0, ledger, observed, Request{Create: true, Name: "fits", UID: 1002, User: "carol", CPUs: 1, Memory: 12 << 30}, lim)
	checkRefusal(t, err, nil, "")
	if e.Memory != 12<<30 {
		t.Errorf("entry %+v", e)
	}
	// A ledger that already holds such an entry (written before this
	// check existed) saturates instead of wrapping around.
	poisoned := ledgerOf(web, Entry{Name: "poison", UID: 1000, User: "alice", CPUs: 1, Memory: math.MaxInt64, SeenRunning: true})
	_, err = Admit(t0, poisoned, map[string]bool{"web": true, "poison": true}, Request{Create: true, Name: "tera", UID: 1002, User: "carol", CPUs: 1, Memory: 1 << 40}, lim)
	checkRefusal(t, err, errdefs.HostCap, "0MiB free")
}

// TestOneReservationInFlight: a user holds one reservation that has never
// been seen running at a time; once it runs, the next may come.
func TestOneReservationInFlight(t *testing.T) {
	lim := limits()
	a1 := Entry{Name: "a1", UID: 1000, User: "alice", CPUs: 1, Memory: 1 << 30, Created: t0, Reserved: t0}
	ledger := ledgerOf(a1)
	now := t0.Add(time.Minute)
	_, err := Admit(now, ledger, nil, Request{Create: true, Name: "a2", UID: 1000, User: "alice", CPUs: 1, Memory: 1 << 30}, lim)
	checkRefusal(t, err, errdefs.UserCap, `alice already has a reservation in flight: "a1", until it is seen running or until 2026-11-28T12:05:00Z`)
	_, err = Admit(now, ledger, nil, Request{Create: true, Name: "b1", UID: 1001, User: "bob", CPUs: 1, Memory: 1 << 30}, lim)
	checkRefusal(t, err, nil, "")
	// Its own create again (a re-run after a crash) is no second one.
	_, err = Admit(now, ledger, nil, Request{Create: true, Name: "a1", UID: 1000, User: "alice", CPUs: 1, Memory: 1 << 30}, lim)
	checkRefusal(t, err, nil, "")
	Tidy(now, ledger, map[string]bool{"a1": true}, lim)
	_, err = Admit(now, ledger, map[string]bool{"a1": true}, Request{Create: true, Name: "a2", UID: 1000, User: "alice", CPUs: 1, Memory: 1 << 30}, lim)
	checkRefusal(t, err, nil, "")
}

// TestReservationNotRenewed: admitting a live reservation again keeps its
// time, so a loop of Reserve calls holds nothing past the timeout; when it
// has lapsed, its owner waits as long as it was held.
func TestReservationNotRenewed(t *testing.T) {
	lim := limits()
	sq := Entry{Name: "sq", UID: 1000, User: "alice", CPUs: 1, Memory: 1 << 30, Created: t0, Reserved: t0, Confirmed: t0}
	ledger := ledgerOf(sq)
	start := Request{Name: "sq", UID: 1000, User: "alice", CPUs: 1, Memory: 1 << 30}
	e, err := Admit(t0.Add(4*time.Minute), ledger, nil, start, lim)
	checkRefusal(t, err, nil, "")
	if !e.Reserved.Equal(t0) {
		t.Errorf("Reserved moved to %s", e.Reserved)
	}
	ledger.Entries["sq"] = e
	now := t0.Add(6 * time.Minute)
	Tidy(now, ledger, nil, lim)
	if e := ledger.Entries["sq"]; !e.Reserved.IsZero() {
		t.Fatalf("the lapsed reservation is still there: %+v", e)
	}
	if _, err := Admit(now, ledger, nil, Request{Create: true, Name: "b1", UID: 1001, User: "bob", CPUs: 1, Memory: 1 << 30}, lim); err != nil {
		t.Errorf("another user after the lapse: %v", err)
	}
	_, err = Admit(now, ledger, nil, start, lim)
	checkRefusal(t, err, errdefs.UserCap, `alice may reserve again in 4m0s (at 2026-11-28T12:10:00Z): the reservation of "sq" ended`)
	var b *Blocked
	if !errors.As(err, &b) || !b.Until.Equal(t0.Add(2*DefaultInFlight)) {
		t.Errorf("not a Blocked until %s: %#v", t0.Add(2*DefaultInFlight), err)
	}
	e, err = Admit(t0.Add(10*time.Minute), ledger, nil, start, lim)
	checkRefusal(t, err, nil, "")
	if !e.Reserved.Equal(t0.Add(10 * time.Minute)) {
		t.Errorf("new reservation at %s", e.Reserved)
	}
}

// TestDutyCycle: a reservation that ends (Release, Stop) without its
// container being seen running keeps its owner waiting as long as it was
// held: a failed create that held 3 s waits 3 s.
func TestDutyCycle(t *testing.T) {
	lim := limits()
	req := Request{Create: true, Name: "next", UID: 1000, User: "alice", CPUs: 1, Memory: 1 << 30}
	for _, end := range []struct {
		name string
		do   func(time.Time, Ledger)
	}{
		{"release", func(now time.Time, l Ledger) { Release(now, l, "box") }},
		{"stop", func(now time.Time, l Ledger) { Stop(now, l, "box") }},
	} {
		t.Run(end.name, func(t *testing.T) {
			ledger := ledgerOf(Entry{Name: "box", UID: 1000, User: "alice", CPUs: 1, Memory: 1 << 30, Created: t0, Reserved: t0, Confirmed: t0})
			end.do(t0.Add(3*time.Second), ledger)
			_, err := Admit(t0.Add(5*time.Second), ledger, nil, req, lim)
			checkRefusal(t, err, errdefs.UserCap, "alice may reserve again in 1s")
			_, err = Admit(t0.Add(6*time.Second), ledger, nil, req, lim)
			checkRefusal(t, err, nil, "")
		})
	}
	t.Run("seen running", func(t *testing.T) {
		ledger := ledgerOf(Entry{Name: "box", UID: 1000, User: "alice", CPUs: 1, Memory: 1 << 30, Created: t0, Reserved: t0})
		Tidy(t0.Add(time.Second), ledger, map[string]bool{"box": true}, lim)
		Stop(t0.Add(time.Minute), ledger, "box")
		_, err := Admit(t0.Add(time.Minute), ledger, nil, req, lim)
		checkRefusal(t, err, nil, "")
	})
}

// TestStopDropsTheUnconfirmed: a stopped reservation with nothing to show
// for it (never confirmed, never seen running) leaves no entry.
func TestStopDropsTheUnconfirmed(t *testing.T) {
	ledger := ledgerOf(Entry{Name: "ghost", UID: 1000, Reserved: t0}, Entry{Name: "kept", UID: 1000, Reserved: t0, Confirmed: t0}, Entry{Name: "ran", UID: 1000, SeenRunning: true})
	for name, dropped := range map[string]bool{"ghost": true, "kept": false, "ran": false} {
		if got := Stop(t0, ledger, name); got != dropped {
			t.Errorf("Stop(%s) dropped=%v, want %v", name, got, dropped)
		}
		if _, ok := ledger.Entries[name]; ok == dropped {
			t.Errorf("%s in the ledger after Stop: %v", name, ok)
		}
	}
}

// TestTidy: what the agent does to the ledger before each decision.
func TestTidy(t *testing.T) {
	lim := limits()
	lapsed := t0.Add(-DefaultInFlight - time.Minute)
	ledger := ledgerOf(
		Entry{Name: "ghost", UID: 1000, User: "alice", Created: lapsed, Reserved: lapsed},
		Entry{Name: "nostart", UID: 1001, User: "bob", Created: lapsed, Reserved: lapsed, Confirmed: lapsed},
		Entry{Name: "runs", UID: 1002, User: "carol", Created: lapsed, Reserved: lapsed},
		Entry{Name: "fresh", UID: 1003, User: "dave", Created: t0, Reserved: t0.Add(-time.Minute)},
		Entry{Name: "stopped", UID: 1002, User: "carol", SeenRunning: true},
	)
	ledger.Users[1004] = UserState{InFlightBlockedUntil: t0.Add(-time.Second), BlockedBy: "old"}
	changes := Tidy(t0, ledger, map[string]bool{"runs": true}, lim)
	var got []string
	for _, c := range changes {
		got = append(got, c.Entry.Name+": "+c.What)
	}
	want := []string{
		"ghost: reservation of 5m0s ended without the container being seen running",
		"ghost: expired: never confirmed and never seen running",
		"nostart: reservation of 5m0s ended without the container being seen running",
		"runs: seen running",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, ok := ledger.Entries["ghost"]; ok {
		t.Error("ghost was not dropped")
	}
	if e := ledger.Entries["nostart"]; !e.Reserved.IsZero() {
		t.Errorf("nostart kept its lapsed reservation: %+v", e)
	}
	if e := ledger.Entries["runs"]; !e.SeenRunning || !e.Reserved.IsZero() {
		t.Errorf("runs: %+v", e)
	}
	if e := ledger.Entries["fresh"]; e.Reserved.IsZero() {
		t.Errorf("fresh lost its live reservation: %+v", e)
	}
	until := lapsed.Add(2 * DefaultInFlight)
	for uid, name := range map[uint32]string{1000: "ghost", 1001: "nostart"} {
		if u := ledger.Users[uid]; !u.InFlightBlockedUntil.Equal(until) || u.BlockedBy != name {
			t.Errorf("uid %d: %+v, want blocked until %s by %s", uid, u, until, name)
		}
	}
	for _, uid := range []uint32{1002, 1003, 1004} {
		if u, ok := ledger.Users[uid]; ok {
			t.Errorf("uid %d has state %+v", uid, u)
		}
	}
}
