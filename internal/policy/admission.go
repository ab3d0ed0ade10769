package policy

import (
	"fmt"
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
	// Reserved is when the last create or start was admitted. Until the
	// container is seen running, or InFlight passes, the reservation
	// counts as running, so concurrent admissions cannot overshoot a cap.
	Reserved time.Time `json:"reserved,omitzero"`
}

// InFlight is how long an admitted start counts as running before the
// container shows up in its cgroup: the unit's start timeout.
const InFlight = 5 * time.Minute

// Limits are the host-wide bounds admission enforces.
type Limits struct {
	MaxPerUser func(user string) int
	MaxGlobal  int
	CPUs       float64 // host CPUs times the overcommit ratio
	Memory     int64   // host memory times the overcommit ratio
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

// Running reports whether e counts against the running cap: it is seen
// running in its cgroup, or it was admitted less than InFlight ago.
func Running(e Entry, observed map[string]bool, now time.Time) bool {
	return observed[e.Name] || (!e.Reserved.IsZero() && now.Sub(e.Reserved) < InFlight)
}

// Settle clears the reservation of every entry that is observed running:
// once a container has shown up in its cgroup, the cgroup alone says whether
// it runs, so a later `systemctl --user stop` counts at once. It reports
// whether anything changed.
func Settle(ledger map[string]Entry, observed map[string]bool) bool {
	changed := false
	for name, e := range ledger {
		if observed[name] && !e.Reserved.IsZero() {
			e.Reserved = time.Time{}
			ledger[name] = e
			changed = true
		}
	}
	return changed
}

// Admit decides a request against the ledger and what is observed running.
// It returns the ledger entry to store on success. It is the single place
// where names, caps and host resources are decided.
func Admit(now time.Time, ledger map[string]Entry, observed map[string]bool, req Request, lim Limits) (Entry, error) {
	cur, exists := ledger[req.Name]
	switch {
	case exists && cur.UID != req.UID:
		return Entry{}, errdefs.Errorf(errdefs.Exists, "the name %q is taken by another user's container; names are unique on this host because they become tailnet host names", req.Name)
	case !exists && !req.Create:
		return Entry{}, errdefs.Errorf(errdefs.NotFound, "no container %q of yours in the host ledger", req.Name)
	}
	var mine []string
	for _, e := range ledger {
		if e.UID == req.UID && e.Name != req.Name {
			mine = append(mine, e.Name)
		}
	}
	sort.Strings(mine)
	if req.Create && !exists {
		if err := CheckUserCap(req.User, mine, lim.MaxPerUser(req.User)); err != nil {
			return Entry{}, err
		}
	}
	var running []string
	var cpus float64
	var mem int64
	for _, e := range ledger {
		if e.Name == req.Name || !Running(e, observed, now) {
			continue
		}
		running = append(running, fmt.Sprintf("%s (%s)", e.Name, e.User))
		cpus += e.CPUs
		mem += e.Memory
	}
	sort.Strings(running)
	if len(running) >= lim.MaxGlobal {
		return Entry{}, errdefs.Errorf(errdefs.HostCap, "host has %d of %d containers running: %s", len(running), lim.MaxGlobal, strings.Join(running, ", "))
	}
	if cpus+req.CPUs > lim.CPUs+1e-9 {
		return Entry{}, errdefs.Errorf(errdefs.HostCap, "host CPU reservation would be %.2f of %.2f: %.2f free, %.2f asked", cpus+req.CPUs, lim.CPUs, max(lim.CPUs-cpus, 0), req.CPUs)
	}
	if mem+req.Memory > lim.Memory {
		return Entry{}, errdefs.Errorf(errdefs.HostCap, "host memory reservation would be %s of %s: %s free, %s asked",
			mib(mem+req.Memory), mib(lim.Memory), mib(max(lim.Memory-mem, 0)), mib(req.Memory))
	}
	e := cur
	if !exists {
		e = Entry{Name: req.Name, UID: req.UID, User: req.User, Created: now}
	}
	if req.Create || !exists {
		e.CPUs, e.Memory = req.CPUs, req.Memory
	}
	e.Reserved = now
	return e, nil
}

func mib(n int64) string { return fmt.Sprintf("%dMiB", n>>20) }
