package policy

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
)

// Entry is one container in the host-wide ledger.
type Entry struct {
	Name    string    `json:"name"`
	UID     uint32    `json:"uid"`
	User    string    `json:"user"`
	CPUs    float64   `json:"cpus"`
	Memory  int64     `json:"memory"`
	Created time.Time `json:"created"`
	// Reserved is when the live reservation, if any, was admitted. Until
	// the container is seen running, or the reservation timeout passes,
	// it counts as running, so concurrent admissions cannot overshoot a
	// cap. Zero when there is none.
	Reserved time.Time `json:"reserved,omitzero"`
	// SeenRunning is set once the agent has seen the container running in
	// its cgroup. Until then a reservation of it is "in flight".
	SeenRunning bool `json:"seen_running,omitzero"`
	// Confirmed is when the owner's CLI reported that the container's
	// quadlet files exist (create --no-start never runs it). An entry that
	// is neither confirmed nor ever seen running expires with its
	// reservation.
	Confirmed time.Time `json:"confirmed,omitzero"`
}

// UserState is what the ledger keeps of one uid beyond its entries.
type UserState struct {
	// InFlightBlockedUntil is the duty cycle against squatting: a
	// reservation that ended without its container ever being seen
	// running, after being held for d, keeps its owner from taking another
	// reservation until d after its end.
	InFlightBlockedUntil time.Time `json:"inflight_blocked_until,omitzero"`
	// BlockedBy names the container of that reservation, for the message.
	BlockedBy string `json:"blocked_by,omitzero"`
}

// Ledger is the host-wide ledger: containers by name, and per-uid state.
type Ledger struct {
	Entries map[string]Entry
	Users   map[uint32]UserState
}

// NewLedger returns an empty ledger.
func NewLedger() Ledger {
	return Ledger{Entries: map[string]Entry{}, Users: map[uint32]UserState{}}
}

// DefaultInFlight is the default reservation timeout ([caps]
// reservation_timeout): how long an admitted create or start counts as
// running before the container shows up in its cgroup. It covers the
// unit's start, image load included.
const DefaultInFlight = 5 * time.Minute

// Limits are the host-wide bounds admission enforces.
type Limits struct {
	MaxPerUser func(user string) int
	MaxGlobal  int
	CPUs       float64 // what reservations may add up to: host CPUs times the overcommit ratio
	Memory     int64   // the same for memory, in bytes
	// MaxCPUs and MaxMemory bound one container ([caps]
	// max_cpus_per_container, max_memory_per_container); zero: no bound.
	MaxCPUs   float64
	MaxMemory int64
	// HostCPUs and HostMemory are the host's own size: no one container
	// may ask for more, whatever the overcommit ratio. Zero: no bound.
	HostCPUs   float64
	HostMemory int64
	// InFlight is the reservation timeout; zero means DefaultInFlight.
	InFlight time.Duration
}

// InFlightOrDefault is the reservation timeout in force.
func (l Limits) InFlightOrDefault() time.Duration {
	if l.InFlight <= 0 {
		return DefaultInFlight
	}
	return l.InFlight
}

// Request asks to create (a new name) or start (an existing one).
type Request struct {
	Create bool
	Name   string
	UID    uint32
	User   string
	CPUs   float64
	Memory int64
}

// Live reports whether e holds a reservation younger than the timeout.
func Live(e Entry, now time.Time, lim Limits) bool {
	return !e.Reserved.IsZero() && now.Sub(e.Reserved) < lim.InFlightOrDefault()
}

// InFlight reports whether e holds a live reservation of a container that
// has never been seen running. A user may have one at a time.
func InFlight(e Entry, now time.Time, lim Limits) bool {
	return !e.SeenRunning && Live(e, now, lim)
}

// Running reports whether e counts against the running cap: it is seen
// running in its cgroup, or it holds a live reservation.
func Running(e Entry, observed map[string]bool, now time.Time, lim Limits) bool {
	return observed[e.Name] || Live(e, now, lim)
}

// Change is one thing Tidy did to the ledger, for the agent's log.
type Change struct {
	Entry Entry
	What  string
}

// Tidy brings the ledger up to date with what is observed running at now,
// before any decision is made on it:
//   - an entry observed running is marked seen running, and its
//     reservation is fulfilled (the cgroup alone says from then on whether
//     it runs, so a later `systemctl --user stop` counts at once);
//   - a reservation that reached the timeout without its container being
//     seen running ends there, and its owner is charged the duty cycle
//     (see Charge);
//   - an entry then left with no reservation, never confirmed and never
//     seen running expires: nothing says its container exists;
//   - per-user state that no longer matters is forgotten.
//
// It changes l in place and reports what it did.
func Tidy(now time.Time, l Ledger, observed map[string]bool, lim Limits) []Change {
	var changes []Change
	names := make([]string, 0, len(l.Entries))
	for name := range l.Entries {
		names = append(names, name)
	}
	sort.Strings(names)
	d := lim.InFlightOrDefault()
	for _, name := range names {
		e := l.Entries[name]
		switch {
		case observed[name]:
			if !e.SeenRunning || !e.Reserved.IsZero() {
				e.SeenRunning, e.Reserved = true, time.Time{}
				l.Entries[name] = e
				changes = append(changes, Change{e, "seen running"})
			}
		case !e.Reserved.IsZero() && now.Sub(e.Reserved) >= d:
			Charge(l, e, e.Reserved.Add(d))
			e.Reserved = time.Time{}
			l.Entries[name] = e
			changes = append(changes, Change{e, fmt.Sprintf("reservation of %s ended without the container being seen running", d)})
		}
		if e := l.Entries[name]; e.Reserved.IsZero() && !e.SeenRunning && e.Confirmed.IsZero() {
			delete(l.Entries, name)
			changes = append(changes, Change{e, "expired: never confirmed and never seen running"})
		}
	}
	for uid, u := range l.Users {
		if !u.InFlightBlockedUntil.After(now) {
			delete(l.Users, uid)
		}
	}
	return changes
}

// Charge ends e's reservation at end. A reservation ended without its
// container being seen running (it would have been fulfilled and cleared
// then) held its slot for nothing: its owner may take no new reservation
// for as long again. So one user's reservations can keep others out for at
// most the timeout at a stretch, and for at most half of any longer span.
func Charge(l Ledger, e Entry, end time.Time) {
	if e.Reserved.IsZero() || end.Before(e.Reserved) {
		return
	}
	until := end.Add(end.Sub(e.Reserved))
	if u := l.Users[e.UID]; until.After(u.InFlightBlockedUntil) {
		l.Users[e.UID] = UserState{InFlightBlockedUntil: until, BlockedBy: e.Name}
	}
}

// Stop ends the reservation of name at now (a stop, a failed start, the end
// of create --no-start), charging its owner as Charge says. An entry that
// is then neither confirmed nor ever seen running is dropped: nothing says
// its container exists. It reports whether the entry was dropped.
func Stop(now time.Time, l Ledger, name string) bool {
	e, ok := l.Entries[name]
	if !ok {
		return false
	}
	Charge(l, e, now)
	e.Reserved = time.Time{}
	if !e.SeenRunning && e.Confirmed.IsZero() {
		delete(l.Entries, name)
		return true
	}
	l.Entries[name] = e
	return false
}

// Release forgets name at now (destroy, a failed create), charging its
// owner for a reservation that never ran, as Charge says.
func Release(now time.Time, l Ledger, name string) {
	if e, ok := l.Entries[name]; ok {
		Charge(l, e, now)
		delete(l.Entries, name)
	}
}

// Confirm records that the owner's CLI has written name's quadlet files.
func Confirm(now time.Time, l Ledger, name string) {
	if e, ok := l.Entries[name]; ok && e.Confirmed.IsZero() {
		e.Confirmed = now
		l.Entries[name] = e
	}
}

// Blocked is the refusal of a reservation while its user's duty cycle
// runs: the agent may wait a short one out instead of refusing.
type Blocked struct {
	User  string
	Name  string // the container whose reservation caused it
	Until time.Time
	Now   time.Time
}

// BlockedPhrase and InFlightPhrase are in the text of the two refusals of
// the pacing rules, so the CLI, which gets them as text over the bus, can
// add the right hint.
const (
	BlockedPhrase  = "may reserve again in"
	InFlightPhrase = "already has a reservation in flight"
)

func (b *Blocked) Error() string {
	return fmt.Sprintf("%s "+BlockedPhrase+" %s (at %s): the reservation of %q ended without the container ever being seen running, and a user waits as long as such a reservation was held",
		b.User, b.Until.Sub(b.Now).Round(time.Second), b.Until.UTC().Format(time.RFC3339), b.Name)
}

// Admit decides a request against the ledger (tidied at now) and what is
// observed running. It returns the ledger entry to store on success. It is
// the single place where names, caps and host resources are decided (R-03,
// In order:
//  1. a name held by another uid is refused (exists); a start of a name
//     not in the ledger is refused (not found);
//  2. the container's CPUs and memory must be more than zero, at most the
//     per-container maximum (usage) and at most the host's own size (host
//     cap);
//  3. per-user cap on containers that exist (user cap);
//  4. a user may hold one reservation in flight (never seen running) at a
//     time, and none while the duty cycle of an unfulfilled one runs (user
//     cap, Blocked);
//  5. global cap on containers running or reserved (host cap);
//  6. the reservations of running containers plus this one must fit the
//     host capacity times the overcommit ratio (host cap).
//
// A live reservation is never renewed: admitting it again keeps its time,
// so calling Reserve in a loop holds nothing longer.
func Admit(now time.Time, l Ledger, observed map[string]bool, req Request, lim Limits) (Entry, error) {
	cur, exists := l.Entries[req.Name]
	e, err := claim(now, cur, exists, req)
	if err != nil {
		return Entry{}, err
	}
	if err := checkSize(e, lim); err != nil {
		return Entry{}, err
	}
	mine := othersOf(l, req)
	if req.Create && !exists {
		if err := CheckUserCap(req.User, mine, lim.MaxPerUser(req.User)); err != nil {
			return Entry{}, err
		}
	}
	renew := !Live(cur, now, lim) // a live reservation keeps its time
	if renew {
		if err := checkPacing(now, l, e, mine, req, lim); err != nil {
			return Entry{}, err
		}
	}
	if err := checkHostRoom(now, l, observed, req.Name, e, lim); err != nil {
		return Entry{}, err
	}
	if renew {
		e.Reserved = now
	}
	return e, nil
}

// claim is step 1: the entry the request would store, or why the name is
// not the caller's to reserve.
func claim(now time.Time, cur Entry, exists bool, req Request) (Entry, error) {
	switch {
	case exists && cur.UID != req.UID:
		return Entry{}, errdefs.Errorf(errdefs.Exists, "the name %q is taken by another user's container; names are unique on this host because they become tailnet host names", req.Name)
	case !exists && !req.Create:
		return Entry{}, errdefs.Errorf(errdefs.NotFound, "no container %q of yours in the host ledger", req.Name)
	}
	e := cur
	if !exists {
		e = Entry{Name: req.Name, UID: req.UID, User: req.User, Created: now}
	}
	if req.Create {
		e.CPUs, e.Memory = req.CPUs, req.Memory
	}
	return e, nil
}

// othersOf lists, sorted, the caller's other containers in the ledger.
func othersOf(l Ledger, req Request) []string {
	var mine []string
	for _, o := range l.Entries {
		if o.UID == req.UID && o.Name != req.Name {
			mine = append(mine, o.Name)
		}
	}
	sort.Strings(mine)
	return mine
}

// checkPacing is step 4, for a request that would take a new reservation:
// one in flight per user, and none while a duty cycle runs.
func checkPacing(now time.Time, l Ledger, e Entry, mine []string, req Request, lim Limits) error {
	if !e.SeenRunning {
		for _, name := range mine {
			if o := l.Entries[name]; InFlight(o, now, lim) {
				return errdefs.Errorf(errdefs.UserCap, "%s "+InFlightPhrase+": %q, until it is seen running or until %s; a user may have one at a time",
					req.User, o.Name, o.Reserved.Add(lim.InFlightOrDefault()).UTC().Format(time.RFC3339))
			}
		}
	}
	if u := l.Users[req.UID]; u.InFlightBlockedUntil.After(now) {
		return errdefs.Mark(errdefs.UserCap, &Blocked{User: req.User, Name: u.BlockedBy, Until: u.InFlightBlockedUntil, Now: now})
	}
	return nil
}

// checkHostRoom is steps 5 and 6: the global cap and the host's CPUs and
// memory, counting every container but name that runs or is reserved.
func checkHostRoom(now time.Time, l Ledger, observed map[string]bool, name string, e Entry, lim Limits) error {
	var running []string
	var cpus float64
	var mem int64
	for _, o := range l.Entries {
		if o.Name == name || !Running(o, observed, now, lim) {
			continue
		}
		running = append(running, fmt.Sprintf("%s (%s)", o.Name, o.User))
		cpus += max(o.CPUs, 0)
		mem = addSat(mem, max(o.Memory, 0))
	}
	sort.Strings(running)
	if len(running) >= lim.MaxGlobal {
		return errdefs.Errorf(errdefs.HostCap, "host has %d of %d containers running: %s", len(running), lim.MaxGlobal, strings.Join(running, ", "))
	}
	// Compared as "asked > free", never "used + asked > capacity": the sum
	// could overflow and admit anything.
	if freeCPUs := lim.CPUs - cpus; e.CPUs > freeCPUs+1e-9 {
		return errdefs.Errorf(errdefs.HostCap, "host CPU reservation would be %.2f of %.2f: %.2f free, %.2f asked", cpus+e.CPUs, lim.CPUs, max(freeCPUs, 0), e.CPUs)
	}
	if freeMem := lim.Memory - mem; e.Memory > freeMem {
		return errdefs.Errorf(errdefs.HostCap, "host memory reservation would be %s of %s: %s free, %s asked",
			size(addSat(mem, e.Memory)), size(lim.Memory), size(max(freeMem, 0)), size(e.Memory))
	}
	return nil
}

// checkSize bounds what one container reserves: more than nothing, at most
// the configured maximum, at most the host.
func checkSize(e Entry, lim Limits) error {
	switch {
	case !(e.CPUs > 0): // NaN too
		return errdefs.Errorf(errdefs.Usage, "container %q asks for %v CPUs: a container needs more than 0", e.Name, e.CPUs)
	case e.Memory <= 0:
		return errdefs.Errorf(errdefs.Usage, "container %q asks for %d bytes of memory: a container needs more than 0", e.Name, e.Memory)
	case lim.MaxCPUs > 0 && e.CPUs > lim.MaxCPUs+1e-9:
		return errdefs.Errorf(errdefs.Usage, "container %q asks for %.2f CPUs; a container may have at most %.2f on this host ([caps] max_cpus_per_container)", e.Name, e.CPUs, lim.MaxCPUs)
	case lim.MaxMemory > 0 && e.Memory > lim.MaxMemory:
		return errdefs.Errorf(errdefs.Usage, "container %q asks for %s of memory; a container may have at most %s on this host ([caps] max_memory_per_container)", e.Name, size(e.Memory), size(lim.MaxMemory))
	case lim.HostCPUs > 0 && e.CPUs > lim.HostCPUs+1e-9:
		return errdefs.Errorf(errdefs.HostCap, "container %q asks for %.2f CPUs; the host has %.2f in all", e.Name, e.CPUs, lim.HostCPUs)
	case lim.HostMemory > 0 && e.Memory > lim.HostMemory:
		return errdefs.Errorf(errdefs.HostCap, "container %q asks for %s of memory; the host has %s in all", e.Name, size(e.Memory), size(lim.HostMemory))
	}
	return nil
}

// addSat adds two non-negative int64s, stopping at MaxInt64.
func addSat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// size prints bytes in GiB when whole, else MiB.
func size(n int64) string {
	if n%(1<<30) == 0 && n != 0 {
		return fmt.Sprintf("%dGiB", n>>30)
	}
	return fmt.Sprintf("%dMiB", n>>20)
}
