package agent

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/devbox-quadlet/devbox-quadlet/internal/agentproto"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/policy"
)

// maxObserved bounds Repair's input: far more containers than a host runs.
const maxObserved = 100000

// Repair checks the ledger against what exists (observedJSON, an
// agentproto.Observed) and, unless dryRun, fixes it: it drops entries
// whose container is neither found, nor running, nor holding a live reservation (an orphan of
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
		return "", denied(login + " is not an admin of this host; admins are root and the users marked admin = true under [users." + login + "] in the config")
	}
	obs, err := parseObserved(observedJSON)
	if err != nil {
		return "", toDBus(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.Now()
	report := agentproto.RepairReport{Schema: 1, DryRun: dryRun, Removed: []agentproto.RepairChange{}, Added: []agentproto.RepairChange{}, Skipped: []agentproto.RepairChange{}}
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
	if !dryRun {
		if err := s.commitRepair(now, ledger, &report); err != nil {
			return "", toDBus(err)
		}
	}
	s.logRepair(report, login, uid)
	data, _ := json.Marshal(report)
	return string(data), nil
}

// parseObserved checks Repair's input before anything is locked: JSON of
// schema 1, a bounded number of containers, each with a valid name.
func parseObserved(observedJSON string) (agentproto.Observed, error) {
	var obs agentproto.Observed
	if err := json.Unmarshal([]byte(observedJSON), &obs); err != nil {
		return obs, errdefs.Errorf(errdefs.Usage, "repair: the observed containers are not JSON: %v", err)
	}
	if obs.Schema != 1 {
		return obs, errdefs.Errorf(errdefs.Usage, "repair: observed schema %d, want 1", obs.Schema)
	}
	if len(obs.Containers) > maxObserved {
		return obs, errdefs.Errorf(errdefs.Usage, "repair: %d containers observed, more than %d", len(obs.Containers), maxObserved)
	}
	for _, c := range obs.Containers {
		if err := policy.ValidateName(c.Name); err != nil {
			return obs, errdefs.Errorf(errdefs.Usage, "repair: observed container of %s: %v", c.User, err)
		}
	}
	return obs, nil
}

// commitRepair stores the repaired ledger, first moving an unreadable one
// aside (its path goes into the report) so nothing is lost for good.
func (s *Server) commitRepair(now time.Time, ledger policy.Ledger, report *agentproto.RepairReport) error {
	if report.Rebuilt {
		aside := fmt.Sprintf("%s.corrupt-%d", s.Store.Path, now.Unix())
		if err := os.Rename(s.Store.Path, aside); err != nil && !os.IsNotExist(err) {
			return errdefs.Errorf(errdefs.System, "repair: move the unreadable ledger aside: %w", err)
		}
		report.MovedTo = aside
	}
	return s.save(ledger)
}

// logRepair writes one journal line per change and a summary.
func (s *Server) logRepair(report agentproto.RepairReport, login string, uid uint32) {
	verbWord := "repaired"
	if report.DryRun {
		verbWord = "checked (dry run)"
	}
	for _, c := range report.Removed {
		s.logf("repair: %s %q of %s: %s", map[bool]string{true: "would remove", false: "removed"}[report.DryRun], c.Name, c.User, c.Why)
	}
	for _, c := range report.Added {
		s.logf("repair: %s %q of %s: %s", map[bool]string{true: "would add", false: "added"}[report.DryRun], c.Name, c.User, c.Why)
	}
	s.logf("ledger %s by %s (uid %d): %d removed, %d added, %d skipped, %d kept, rebuilt %v", verbWord, login, uid,
		len(report.Removed), len(report.Added), len(report.Skipped), report.Kept, report.Rebuilt)
}

// planRepair changes ledger to agree with obs, and reports what it did.
func planRepair(now time.Time, ledger policy.Ledger, obs agentproto.Observed, running map[string]bool, lim policy.Limits, report *agentproto.RepairReport) {
	found := map[string]agentproto.ObservedContainer{}
	cs := append([]agentproto.ObservedContainer(nil), obs.Containers...)
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].Name != cs[j].Name {
			return cs[i].Name < cs[j].Name
		}
		return cs[i].UID < cs[j].UID
	})
	for _, c := range cs {
		if prev, dup := found[c.Name]; dup {
			report.Skipped = append(report.Skipped, agentproto.RepairChange{Name: c.Name, User: c.User, Why: fmt.Sprintf("%s has a container of the same name", prev.User)})
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
			report.Removed = append(report.Removed, agentproto.RepairChange{Name: name, User: e.User, Why: why})
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
			report.Skipped = append(report.Skipped, agentproto.RepairChange{Name: c.Name, User: c.User, Why: fmt.Sprintf("the name is held by %s's entry, which is running or being created", e.User)})
		default:
			ledger.Entries[name] = policy.Entry{Name: c.Name, UID: c.UID, User: c.User, CPUs: c.CPUs, Memory: c.Memory, Created: c.Created, Confirmed: now}
			report.Added = append(report.Added, agentproto.RepairChange{Name: c.Name, User: c.User, Why: "its container file exists but the ledger did not know it"})
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
