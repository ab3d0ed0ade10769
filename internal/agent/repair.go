package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/policy"
)

// Observed is what Repair is told exists: every devbox container on the
// host, as an admin's scan of every user's quadlet directory found it
// (`devbox-quadlet ledger`). Fields may be added, never renamed.
type Observed struct {
	Schema int `json:"schema"`
	// Scanned is when the scan began. Entries created or confirmed after
	// it are kept: the scan cannot have seen them.
	Scanned    time.Time           `json:"scanned,omitzero"`
	Containers []ObservedContainer `json:"containers"`
}

// ObservedContainer is one container file found by the scan.
type ObservedContainer struct {
	Name    string    `json:"name"`
	UID     uint32    `json:"uid"`
	User    string    `json:"user"`
	CPUs    float64   `json:"cpus"`
	Memory  int64     `json:"memory"`
	Created time.Time `json:"created"`
}

// RepairReport is Repair's reply. Fields may be added, never renamed.
type RepairReport struct {
	Schema int  `json:"schema"`
	DryRun bool `json:"dry_run"`
	// Rebuilt is set when the ledger file could not be read and was (or,
	// in a dry run, would be) moved aside and rebuilt from the scan.
	Rebuilt bool `json:"rebuilt"`
	// MovedTo is where the unreadable ledger went.
	MovedTo string         `json:"moved_to,omitempty"`
	Removed []RepairChange `json:"removed"`
	Added   []RepairChange `json:"added"`
	// Skipped are containers found that could not be added: their name
	// is held by another user's entry.
	Skipped []RepairChange `json:"skipped"`
	// Kept is how many entries stay as they were.
	Kept int `json:"kept"`
}

// RepairChange is one entry Repair removed, added or skipped, and why.
type RepairChange struct {
	Name string `json:"name"`
	User string `json:"user"`
	Why  string `json:"why"`
}

// maxObserved bounds Repair's input: far more containers than a host runs.
const maxObserved = 100000

// Repair checks the ledger against what exists (observedJSON, an Observed)
// and, unless dryRun, fixes it: it drops entries whose container is
// neither found, nor running, nor holding a live reservation (an orphan of
// a create that was killed, or of a destroy while the agent was down), and
// adds found containers that the ledger lacks, if their name is free. A
// ledger file that cannot be read (every other method fails closed on it)
// is moved aside to ledger.json.corrupt-<unix time> and rebuilt from the
// scan. Only root and admins may call it.
func (s *Server) Repair(sender dbus.Sender, observedJSON string, dryRun bool) (string, *dbus.Error) {
	uid, login, derr := s.caller(sender)
	if derr != nil {
		return "", derr
	}
	if !s.admin(uid, login) {
		s.logf("denied repair to %s (uid %d): not an admin", login, uid)
		return "", dbus.NewError(Denied, []any{login + " is not an admin of this host; admins are root and the users marked admin = true under [users." + login + "] in the config"})
	}
	var obs Observed
	if err := json.Unmarshal([]byte(observedJSON), &obs); err != nil {
		return "", toDBus(errdefs.Errorf(errdefs.Usage, "repair: the observed containers are not JSON: %v", err))
	}
	if obs.Schema != 1 {
		return "", toDBus(errdefs.Errorf(errdefs.Usage, "repair: observed schema %d, want 1", obs.Schema))
	}
	if len(obs.Containers) > maxObserved {
		return "", toDBus(errdefs.Errorf(errdefs.Usage, "repair: %d containers observed, more than %d", len(obs.Containers), maxObserved))
	}
	for _, c := range obs.Containers {
		if err := policy.ValidateName(c.Name); err != nil {
			return "", toDBus(errdefs.Errorf(errdefs.Usage, "repair: observed container of %s: %v", c.User, err))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.Now()
	report := RepairReport{Schema: 1, DryRun: dryRun, Removed: []RepairChange{}, Added: []RepairChange{}, Skipped: []RepairChange{}}
	ledger, _, _, err := s.load(now)
	if err != nil {
		s.logf("repair: the ledger cannot be read, rebuilding it from what is observed: %v", err)
		report.Rebuilt = true
		ledger = policy.NewLedger()
	}
	running := Observe(s.CgroupRoot, ledger.Entries)
	planRepair(now, ledger, obs, running, s.Limits, &report)
	// Added entries are looked at too, so one already running is marked so.
	for name, up := range Observe(s.CgroupRoot, ledger.Entries) {
		if e := ledger.Entries[name]; up && !e.SeenRunning {
			e.SeenRunning = true
			ledger.Entries[name] = e
		}
	}
	verbWord := "repaired"
	if dryRun {
		verbWord = "checked (dry run)"
	} else {
		if report.Rebuilt {
			aside := fmt.Sprintf("%s.corrupt-%d", s.Store.Path, now.Unix())
			if err := os.Rename(s.Store.Path, aside); err != nil && !os.IsNotExist(err) {
				return "", toDBus(errdefs.Errorf(errdefs.System, "repair: move the unreadable ledger aside: %w", err))
			}
			report.MovedTo = aside
		}
		if err := s.save(ledger); err != nil {
			return "", toDBus(err)
		}
	}
	for _, c := range report.Removed {
		s.logf("repair: %s %q of %s: %s", map[bool]string{true: "would remove", false: "removed"}[dryRun], c.Name, c.User, c.Why)
	}
	for _, c := range report.Added {
		s.logf("repair: %s %q of %s: %s", map[bool]string{true: "would add", false: "added"}[dryRun], c.Name, c.User, c.Why)
	}
	s.logf("ledger %s by %s (uid %d): %d removed, %d added, %d skipped, %d kept, rebuilt %v", verbWord, login, uid,
		len(report.Removed), len(report.Added), len(report.Skipped), report.Kept, report.Rebuilt)
	data, _ := json.Marshal(report)
	return string(data), nil
}

// planRepair changes ledger to agree with obs, and reports what it did.
func planRepair(now time.Time, ledger policy.Ledger, obs Observed, running map[string]bool, lim policy.Limits, report *RepairReport) {
	found := map[string]ObservedContainer{}
	cs := append([]ObservedContainer(nil), obs.Containers...)
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].Name != cs[j].Name {
			return cs[i].Name < cs[j].Name
		}
		return cs[i].UID < cs[j].UID
	})
	for _, c := range cs {
		if prev, dup := found[c.Name]; dup {
			report.Skipped = append(report.Skipped, RepairChange{c.Name, c.User, fmt.Sprintf("%s has a container of the same name", prev.User)})
			continue
		}
		found[c.Name] = c
	}
	names := make([]string, 0, len(ledger.Entries))
	for name := range ledger.Entries {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		e := ledger.Entries[name]
		c, ok := found[name]
		switch {
		case ok && c.UID == e.UID:
		case running[name]:
		case policy.Live(e, now, lim):
		case !obs.Scanned.IsZero() && (e.Created.After(obs.Scanned) || e.Confirmed.After(obs.Scanned)):
		default:
			why := "no container file for it in its owner's quadlet directory, and it is not running or being created"
			if ok {
				why = fmt.Sprintf("the container file of that name is %s's, not %s's", c.User, e.User)
			}
			delete(ledger.Entries, name)
			report.Removed = append(report.Removed, RepairChange{name, e.User, why})
			continue
		}
		report.Kept++
	}
	for _, name := range sortedKeys(found) {
		c := found[name]
		e, held := ledger.Entries[name]
		switch {
		case held && e.UID == c.UID:
		case held:
			report.Skipped = append(report.Skipped, RepairChange{c.Name, c.User, fmt.Sprintf("the name is held by %s's entry, which is running or being created", e.User)})
		default:
			ledger.Entries[name] = policy.Entry{Name: c.Name, UID: c.UID, User: c.User, CPUs: c.CPUs, Memory: c.Memory, Created: c.Created, Confirmed: now}
			report.Added = append(report.Added, RepairChange{c.Name, c.User, "its container file exists but the ledger did not know it"})
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Repair asks the agent to check (dryRun) or repair its ledger against obs.
func (c *Client) Repair(ctx context.Context, obs Observed, dryRun bool) (RepairReport, error) {
	data, err := json.Marshal(obs)
	if err != nil {
		return RepairReport{}, errdefs.Errorf(errdefs.System, "repair: %w", err)
	}
	var out string
	if err := c.obj.CallWithContext(ctx, Interface+".Repair", 0, string(data), dryRun).Store(&out); err != nil {
		return RepairReport{}, fromDBus("repair the ledger", err)
	}
	var r RepairReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		return RepairReport{}, errdefs.Errorf(errdefs.System, "repair: bad reply from the host agent: %w", err)
	}
	return r, nil
}
