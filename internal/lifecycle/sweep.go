package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/quadlet"
	"github.com/devbox-quadlet/devbox-quadlet/internal/reaper"
)

// SweepEntry is one container in a sweep's result. Fields may be added,
// never renamed.
type SweepEntry struct {
	Name       string          `json:"name"`
	State      string          `json:"state"`
	LastActive time.Time       `json:"last_active"`
	Signal     string          `json:"signal"`
	Next       string          `json:"next"`
	Due        time.Time       `json:"due"`
	LeaseUntil *time.Time      `json:"lease_until,omitempty"`
	Actions    []reaper.Action `json:"actions"`
	Errors     []string        `json:"errors,omitempty"`
	// Skipped says why a decided action was not carried out (the owner
	// started the container while its home was exported).
	Skipped string `json:"skipped,omitempty"`
}

// SweepResult is what a sweep saw and did (`reap --json`).
type SweepResult struct {
	Schema     int          `json:"schema"`
	DryRun     bool         `json:"dry_run"`
	Now        time.Time    `json:"now"`
	Containers []SweepEntry `json:"containers"`
}

// Err is the sweep's exit status: the first container whose action failed
// makes it exit 8.
func (r SweepResult) Err() error {
	for _, e := range r.Containers {
		if len(e.Errors) > 0 {
			return errdefs.Errorf(errdefs.System, "reap: %s: %s", e.Name, strings.Join(e.Errors, "; "))
		}
	}
	return nil
}

// sweep is one run of the reaper: what it observed, under the user's lock.
type sweep struct {
	m       *Manager
	lock    *UserLock
	sys     Systemd
	agents  *sweepAgent
	now     time.Time
	records map[string]Record
	running map[string]bool
	specOf  map[string]quadlet.Spec
}

// Sweep is the reaper: observe every container (one listing call, one CPU
// read per running one, the session files), reaper.Decide, then act:
// warnings and stops first, then each destroy, which exports the home
// without holding the user's lock and re-checks before it destroys. With
// dryRun it only reports.
func (m *Manager) Sweep(ctx context.Context, dryRun bool) (SweepResult, error) {
	lock, err := m.Lock("reap")
	if err != nil {
		return SweepResult{}, err
	}
	w := &sweep{m: m, lock: lock, agents: &sweepAgent{m: m, ctx: ctx}}
	defer func() { w.lock.Unlock() }()
	specs, err := m.Layout.Containers(m.warnf)
	if err != nil {
		return SweepResult{}, err
	}
	if w.sys, err = m.DialSystemd(ctx); err != nil {
		return SweepResult{}, err
	}
	defer w.sys.Close()
	defer w.agents.close()
	decisions, err := w.observe(ctx, specs)
	if err != nil {
		return SweepResult{}, err
	}
	res := SweepResult{Schema: 1, DryRun: dryRun, Now: w.now.UTC(), Containers: []SweepEntry{}}
	var destroys []pendingDestroy
	for _, d := range decisions {
		entry, ds := w.act(ctx, d, dryRun, len(res.Containers))
		res.Containers = append(res.Containers, entry)
		destroys = append(destroys, ds...)
	}
	for _, p := range destroys {
		if err := w.destroy(ctx, &res.Containers[p.entry], p.action); err != nil {
			return res, err
		}
	}
	if !dryRun {
		for _, dir := range m.Layout.ArchiveDirs(specs) {
			pruneArchives(dir, w.now, m.Config.Reaper)
		}
	}
	return res, nil
}

// observe reads what the decision needs and decides. No podman forks:
// those come only with an export.
func (w *sweep) observe(ctx context.Context, specs []quadlet.Spec) ([]reaper.Decision, error) {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = quadlet.ServiceUnit(s.Name)
	}
	states := map[string]string{}
	if len(names) > 0 {
		units, err := w.sys.Units(ctx, names)
		if err != nil {
			return nil, err
		}
		for _, u := range units {
			states[u.Name] = u.ActiveState
		}
	}
	w.now = w.m.Now()
	boot := bootTime()
	w.records, w.running, w.specOf = map[string]Record{}, map[string]bool{}, map[string]quadlet.Spec{}
	clocks := map[string]reaper.State{}
	var obs []reaper.Observation
	for _, s := range specs {
		w.m.Layout.NoteSpec(s)
		unit := quadlet.ServiceUnit(s.Name)
		// On its way up counts as running: the reaper must not count a
		// starting container as stopped.
		o := reaper.Observation{Name: s.Name, Created: s.Created, Boot: boot, Running: Running(states[unit]) || states[unit] == "activating"}
		if o.Running {
			if v, ok, err := w.sys.CPUUsage(ctx, unit); err == nil && ok {
				o.CPUUsage, o.HasCPU = v, true
			}
		}
		o.Session = w.m.Layout.SessionTime(s.Name)
		r, ok := w.m.Layout.LoadRecord(s.Name)
		if ok {
			clocks[s.Name] = r.State
		}
		o.LeaseUntil = r.LeaseUntil
		w.records[s.Name], w.running[s.Name], w.specOf[s.Name] = r, o.Running, s
		obs = append(obs, o)
	}
	return reaper.Decide(w.now, obs, clocks, ReaperPolicy(w.m.Config)), nil
}

type pendingDestroy struct {
	entry  int
	action reaper.Action
}

// act carries out d's warnings and stops and saves the record; destroys
// are returned, to come after every other action.
func (w *sweep) act(ctx context.Context, d reaper.Decision, dryRun bool, index int) (SweepEntry, []pendingDestroy) {
	r := w.records[d.Name]
	r.State, r.Next, r.Due, r.Swept = d.State, d.Next, d.Due, w.now
	entry := SweepEntry{Name: d.Name, State: "stopped", LastActive: d.State.LastActive.UTC(), Signal: d.State.Signal,
		Next: d.Next, Due: d.Due.UTC(), Actions: d.Now}
	if w.running[d.Name] {
		entry.State = "running"
	}
	if !r.LeaseUntil.IsZero() && r.LeaseUntil.After(w.now) {
		lu := r.LeaseUntil.UTC()
		entry.LeaseUntil = &lu
	}
	if entry.Actions == nil {
		entry.Actions = []reaper.Action{}
	}
	if dryRun {
		return entry, nil
	}
	var destroys []pendingDestroy
	for _, a := range d.Now {
		var err error
		switch a.Kind {
		case reaper.Warn:
			err = w.m.reapWarn(a)
		case reaper.Stop:
			if err = w.stop(ctx, a); err == nil {
				r.StoppedSince = w.now
				r.Next, r.Due = reaper.Destroy, w.now.Add(time.Duration(w.m.Config.Reaper.StoppedDestroy))
			}
		case reaper.Destroy:
			// Destroys come last: each gives up the lock during its
			// export, and every other action was decided on what was seen
			// under the lock.
			destroys = append(destroys, pendingDestroy{entry: index, action: a})
		}
		if err != nil {
			entry.Errors = append(entry.Errors, err.Error())
			w.m.warnf("reap %s: %s: %v", d.Name, a.Kind, err)
		}
	}
	if len(entry.Errors) == 0 {
		r.ExportError = ""
	}
	if err := w.m.Layout.SaveRecord(d.Name, r); err != nil {
		entry.Errors = append(entry.Errors, err.Error())
	}
	return entry, destroys
}

// destroy carries out one decided destroy and records its outcome in
// entry; an error means the lock could not be taken back and the sweep
// must touch nothing more.
func (w *sweep) destroy(ctx context.Context, entry *SweepEntry, a reaper.Action) error {
	switch err := w.reapDestroy(ctx, w.specOf[entry.Name], a); {
	case err == nil:
	case errors.Is(err, errStartedDuringExport):
		// The owner's start wins; the next sweep sees it running.
		entry.Skipped = err.Error()
		w.m.warnf("reap %s: %s", entry.Name, entry.Skipped)
	default:
		entry.Errors = append(entry.Errors, err.Error())
		w.m.warnf("reap %s: destroy: %v", entry.Name, err)
		if w.lock.f == nil {
			return errdefs.Errorf(errdefs.System, "reap: %s: %v", entry.Name, err)
		}
		if r, ok := w.m.Layout.LoadRecord(entry.Name); ok {
			r.ExportError = err.Error()
			if serr := w.m.Layout.SaveRecord(entry.Name, r); serr != nil {
				entry.Errors = append(entry.Errors, serr.Error())
			}
		}
	}
	return nil
}

// MESSAGE_IDs of the reaper's journal entries (journalctl MESSAGE_ID=…).
// They never change.
const (
	MessageWarn         = "3c5e0d1f8a9b4e6c9d2f7a1b5c8e0f42"
	MessageStopped      = "6a1d2c3b4e5f40718293a4b5c6d7e8f9"
	MessageDestroyed    = "9f8e7d6c5b4a43218f7e6d5c4b3a2910"
	MessageExportFailed = "0d1c2b3a49584736a5b4c3d2e1f0a9b8"
)

// sweepAgent connects to the host agent at most once per sweep, and only
// when an action needs it: most sweeps stop and destroy nothing.
type sweepAgent struct {
	m     *Manager
	ctx   context.Context
	ag    Agent
	tried bool
}

// get returns the agent, or nil when there is none (standalone, or it is
// down: the reaper's stops and destroys do not wait for it; the agent
// reconciles its ledger from the cgroup tree).
func (s *sweepAgent) get() Agent {
	if !s.tried {
		s.tried = true
		s.ag, _ = s.m.agent(s.ctx)
	}
	return s.ag
}

func (s *sweepAgent) close() {
	if s.ag != nil {
		s.ag.Close()
	}
}

// stop is a normal stop: the autostart link goes, so the container stays
// stopped after a reboot, and the agent's running reservation ends.
func (w *sweep) stop(ctx context.Context, a reaper.Action) error {
	if err := w.m.Layout.DisableAutostart(a.Name); err != nil {
		return err
	}
	if err := w.sys.Stop(ctx, quadlet.ServiceUnit(a.Name)); err != nil {
		return err
	}
	if ag := w.agents.get(); ag != nil {
		_ = ag.Stop(ctx, a.Name)
	}
	return w.m.SendJournal(fmt.Sprintf("devbox-quadlet: stopped %s: %s", a.Name, a.Why), map[string]string{
		"MESSAGE_ID": MessageStopped, "DEVBOX_CONTAINER": a.Name, "DEVBOX_ACTION": reaper.Stop,
	})
}

// errStartedDuringExport says a container was not destroyed because it
// was started (or recreated) while its home was being exported.
var errStartedDuringExport = errors.New("not destroyed: it was started or recreated while its home was exported")

// reapDestroy exports the home volume without holding the user's lock,
// takes the lock again, checks that the container is still the same one and
// still stopped, then destroys. If the export fails, or the container was
// started meanwhile, nothing is destroyed.
func (w *sweep) reapDestroy(ctx context.Context, spec quadlet.Spec, a reaper.Action) error {
	m, name := w.m, a.Name
	// The archive goes to the state directory the container's create
	// recorded, where that user's restore looks.
	dir := m.Layout.ContainerStateDir(name) + "/archives"
	w.lock.Unlock()
	archive, err := m.exportHome(ctx, name, dir)
	if l, lerr := m.Lock("reap"); lerr != nil {
		if err == nil {
			err = fmt.Errorf("archive %s kept: %w", archive, lerr)
		}
		return fmt.Errorf("not destroyed: %w", err)
	} else {
		w.lock = l
	}
	if err != nil {
		_ = m.SendJournal(fmt.Sprintf("devbox-quadlet: did not destroy %s: exporting its home failed: %v", name, err), map[string]string{
			"MESSAGE_ID": MessageExportFailed, "DEVBOX_CONTAINER": name, "DEVBOX_ACTION": reaper.Destroy,
		})
		return fmt.Errorf("not destroyed, the export of its home failed: %w", err)
	}
	// Anything may have happened while the lock was free: a start (plain
	// systemctl or devbox-quadlet), or a destroy and a new create of the
	// same name. Destroy only what was decided on.
	states, err := w.sys.Units(ctx, []string{quadlet.ServiceUnit(name)})
	if err != nil {
		return fmt.Errorf("not destroyed (archive %s kept): %w", archive, err)
	}
	cur, specErr := m.Layout.ReadSpec(name)
	if specErr != nil || !cur.Created.Equal(spec.Created) || (len(states) == 1 && isUp(states[0].ActiveState)) {
		removeArchive(archive)
		return errStartedDuringExport
	}
	ag := w.agents.get()
	cleanup := m.leaveTailnet(ctx, ag, name, false, spec.Tailnet)
	if err := m.teardown(ctx, w.sys, name, false); err != nil {
		return fmt.Errorf("destroy after export (archive %s kept): %w", archive, err)
	}
	m.releaseName(ctx, ag, name)
	return m.SendJournal(fmt.Sprintf("devbox-quadlet: destroyed %s (%s); its home is in %s; tailnet: logout %s, API %s; `devbox-quadlet restore %s` brings it back",
		name, a.Why, archive, cleanup.Logout, cleanup.API, name), map[string]string{
		"MESSAGE_ID": MessageDestroyed, "DEVBOX_CONTAINER": name, "DEVBOX_ACTION": reaper.Destroy, "DEVBOX_ARCHIVE": archive,
	})
}

// reapWarn announces an action to come: a structured journal entry and a
// line on each of the owner's terminals.
func (m *Manager) reapWarn(a reaper.Action) error {
	msg := fmt.Sprintf("devbox-quadlet: %s will be %s at %s (%s); `devbox-quadlet keepalive %s --for 8h` holds it",
		a.Name, pastTense(a.Of), a.At.UTC().Format(time.RFC3339), reasonOf(a), a.Name)
	if a.Of == reaper.Destroy {
		msg = fmt.Sprintf("devbox-quadlet: %s will be archived and destroyed at %s; `devbox-quadlet start %s` keeps it",
			a.Name, a.At.UTC().Format(time.RFC3339), a.Name)
	}
	err := m.SendJournal(msg, map[string]string{
		"MESSAGE_ID": MessageWarn, "DEVBOX_CONTAINER": a.Name, "DEVBOX_ACTION": a.Of,
		"DEVBOX_DUE": a.At.UTC().Format(time.RFC3339),
	})
	wallUser(m.TerminalDir, m.UID, msg)
	return err
}

func pastTense(kind string) string {
	if kind == reaper.Stop {
		return "stopped"
	}
	return kind + "ed"
}

func reasonOf(a reaper.Action) string {
	if a.Of == reaper.Stop {
		return "idle"
	}
	return "stopped"
}

// bootTime is when the host booted, from /proc/stat's btime; zero if unknown.
func bootTime() time.Time {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			var secs int64
			if _, err := fmt.Sscan(v, &secs); err == nil {
				return time.Unix(secs, 0)
			}
		}
	}
	return time.Time{}
}
