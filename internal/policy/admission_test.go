package policy

import (
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

func ledgerOf(es ...Entry) map[string]Entry {
	m := map[string]Entry{}
	for _, e := range es {
		m[e.Name] = e
	}
	return m
}

func TestAdmit(t *testing.T) {
	a1 := Entry{Name: "a1", UID: 1000, User: "alice", CPUs: 2, Memory: 4 << 30}
	a2 := Entry{Name: "a2", UID: 1000, User: "alice", CPUs: 2, Memory: 4 << 30}
	b1 := Entry{Name: "b1", UID: 1001, User: "bob", CPUs: 2, Memory: 4 << 30}
	fresh := func(e Entry) Entry { e.Reserved = t0.Add(-time.Minute); return e }
	stale := func(e Entry) Entry { e.Reserved = t0.Add(-InFlight - time.Second); return e }
	create := func(name string, uid uint32, user string) Request {
		return Request{Create: true, Name: name, UID: uid, User: user, CPUs: 2, Memory: 4 << 30}
	}
	tests := []struct {
		name     string
		ledger   map[string]Entry
		observed map[string]bool
		req      Request
		class    *errdefs.Class // nil: admitted
		msg      string
	}{
		{"empty host", nil, nil, create("a1", 1000, "alice"), nil, ""},
		{"name of another user", ledgerOf(b1), nil, create("b1", 1000, "alice"), errdefs.Exists, "taken by another user"},
		{"own name again is idempotent", ledgerOf(a1), nil, create("a1", 1000, "alice"), nil, ""},
		{"per-user cap", ledgerOf(Entry{Name: "c1", UID: 1002, User: "carol"}), nil, create("c2", 1002, "carol"), errdefs.UserCap, "1 of 1"},
		{"global cap counts observed", ledgerOf(a1, a2, b1), map[string]bool{"a1": true, "a2": true, "b1": true}, create("c1", 1002, "carol"), errdefs.HostCap, "3 of 3 containers running: a1 (alice), a2 (alice), b1 (bob)"},
		{"global cap counts in-flight reservations", ledgerOf(fresh(a1), fresh(a2), fresh(b1)), nil, create("c1", 1002, "carol"), errdefs.HostCap, "3 of 3"},
		{"stale reservation does not count", ledgerOf(stale(a1), a2, b1), map[string]bool{"a2": true, "b1": true}, create("c1", 1002, "carol"), nil, ""},
		{"stopped does not count", ledgerOf(a1, a2, b1), map[string]bool{"a1": true}, create("c1", 1002, "carol"), nil, ""},
		{"start of unknown", nil, nil, Request{Name: "zz", UID: 1000, User: "alice", CPUs: 1, Memory: 1 << 30}, errdefs.NotFound, "no container"},
		{"start of another user's", ledgerOf(b1), nil, Request{Name: "b1", UID: 1000, User: "alice"}, errdefs.Exists, "another user"},
		{"start own when the host is full", ledgerOf(a1, a2, b1, Entry{Name: "x", UID: 1002, User: "carol"}), map[string]bool{"a1": true, "a2": true, "b1": true}, Request{Name: "x", UID: 1002, User: "carol"}, errdefs.HostCap, "3 of 3"},
		{"running itself does not block its own start", ledgerOf(a1), map[string]bool{"a1": true}, Request{Name: "a1", UID: 1000, User: "alice"}, nil, ""},
		{"cpu overcommit", ledgerOf(Entry{Name: "big", UID: 1001, User: "bob", CPUs: 7, Memory: 1 << 30}), map[string]bool{"big": true}, create("a1", 1000, "alice"), errdefs.HostCap, "1.00 free, 2.00 asked"},
		{"memory overcommit", ledgerOf(Entry{Name: "big", UID: 1001, User: "bob", CPUs: 1, Memory: 14 << 30}), map[string]bool{"big": true}, create("a1", 1000, "alice"), errdefs.HostCap, "2048MiB free, 4096MiB asked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ledger := tt.ledger
			if ledger == nil {
				ledger = map[string]Entry{}
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
// 7, as the agent serialises them: exactly 7 are admitted.
func TestAdmitSerialRace(t *testing.T) {
	lim := limits()
	lim.MaxGlobal = 7
	lim.CPUs, lim.Memory = 100, 100<<30
	ledger := map[string]Entry{}
	admitted, refused := 0, 0
	for i := 0; i < 4; i++ {
		for u, user := range []string{"alice", "bob", "carol2"} {
			req := Request{Create: true, Name: user + string(rune('a'+i)), UID: uint32(1000 + u), User: user, CPUs: 1, Memory: 1 << 30}
			e, err := Admit(t0, ledger, nil, req, lim)
			if err != nil {
				if !errdefs.Is(err, errdefs.HostCap) {
					t.Fatalf("unexpected refusal: %v", err)
				}
				refused++
				continue
			}
			ledger[e.Name] = e
			admitted++
		}
	}
	if admitted != 7 || refused != 5 {
		t.Errorf("admitted %d, refused %d; want 7 and 5", admitted, refused)
	}
}

// TestSettleThenStop: a container admitted, seen running, then stopped
// behind the agent's back no longer counts, although its admission is
// younger than InFlight.
func TestSettleThenStop(t *testing.T) {
	lim := limits()
	lim.MaxGlobal = 1
	ledger := map[string]Entry{}
	e, err := Admit(t0, ledger, nil, Request{Create: true, Name: "holder", UID: 1000, User: "alice", CPUs: 1, Memory: 1 << 30}, lim)
	if err != nil {
		t.Fatal(err)
	}
	ledger[e.Name] = e
	if !Settle(ledger, map[string]bool{"holder": true}) || !ledger["holder"].Reserved.IsZero() {
		t.Fatalf("Settle did not clear the reservation: %+v", ledger["holder"])
	}
	if Settle(ledger, map[string]bool{"holder": true}) {
		t.Error("a second Settle changed something")
	}
	req := Request{Create: true, Name: "waiter", UID: 1001, User: "bob", CPUs: 1, Memory: 1 << 30}
	if _, err := Admit(t0.Add(time.Minute), ledger, map[string]bool{"holder": true}, req, lim); !errdefs.Is(err, errdefs.HostCap) {
		t.Errorf("holder running: %v, want host cap", err)
	}
	if _, err := Admit(t0.Add(time.Minute), ledger, map[string]bool{}, req, lim); err != nil {
		t.Errorf("holder stopped behind the agent's back still counts: %v", err)
	}
}
