package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/devbox-quadlet/devbox-quadlet/internal/atomicfile"
	"github.com/devbox-quadlet/devbox-quadlet/internal/config"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/quadlet"
	"github.com/devbox-quadlet/devbox-quadlet/internal/reaper"
)

// MESSAGE_IDs of the reaper's journal entries (journalctl MESSAGE_ID=…).
// They never change.
const (
	MessageWarn         = "3c5e0d1f8a9b4e6c9d2f7a1b5c8e0f42"
	MessageStopped      = "6a1d2c3b4e5f40718293a4b5c6d7e8f9"
	MessageDestroyed    = "9f8e7d6c5b4a43218f7e6d5c4b3a2910"
	MessageExportFailed = "0d1c2b3a49584736a5b4c3d2e1f0a9b8"
)

// record is the reaper's persisted view of one container:
// $XDG_STATE_HOME/devbox-quadlet/reaper/NAME.json. It survives reboots and
// user-manager restarts, unlike systemd's unit timestamps.
type record struct {
	reaper.State
	Next        string    `json:"next,omitempty"`
	Due         time.Time `json:"due,omitempty"`
	LeaseUntil  time.Time `json:"lease_until,omitempty"`
	ExportError string    `json:"export_error,omitempty"`
	Swept       time.Time `json:"swept,omitempty"`
}

func replaceFile(dir, name string, data []byte) error {
	if err := atomicfile.Replace(filepath.Join(dir, name), data); err != nil {
		return errdefs.Errorf(errdefs.System, "write %s: %w", filepath.Join(dir, name), err)
	}
	return nil
}

func reaperPolicy(cfg config.Config) reaper.Policy {
	r := cfg.Reaper
	return reaper.Policy{IdleStop: time.Duration(r.IdleStop), StoppedDestroy: time.Duration(r.StoppedDestroy),
		WarnBefore: time.Duration(r.WarnBefore), CPUActive: time.Duration(r.CPUActiveThreshold)}
}

func reapCommand(env *Env) *cli.Command {
	return &cli.Command{
		Name:  "reap",
		Usage: "stop idle dev containers and destroy long-stopped ones (run by a systemd user timer)",
		Description: "Reads each container's activity (session files, CPU time, keepalive leases),\n" +
			"updates its idle clock, warns before acting, stops containers idle for\n" +
			"[reaper] idle_stop and, after exporting the home volume, destroys containers\n" +
			"stopped for stopped_destroy. --dry-run shows what it would do and changes nothing.\n" +
			"See docs/reaper.md.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "dry-run", Usage: "show each container's clock and the next action; change nothing"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON (schema 1)"},
		},
		Action: func(c *cli.Context) error { return runReap(c, env) },
	}
}

type reapEntry struct {
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

type reapResult struct {
	Schema     int         `json:"schema"`
	DryRun     bool        `json:"dry_run"`
	Now        time.Time   `json:"now"`
	Containers []reapEntry `json:"containers"`
}

func runReap(c *cli.Context, env *Env) error {
	cfg, err := loadConfig(c, env)
	if err != nil {
		return err
	}
	if err := requireUser(env); err != nil {
		return err
	}
	dry := c.Bool("dry-run")
	l, err := lockUser(env, "reap")
	if err != nil {
		return err
	}
	lock := &sweepLock{env: env, l: l}
	defer func() { lock.release() }()
	specs, err := ownContainers(env)
	if err != nil {
		return err
	}
	sys, err := dial(c, env)
	if err != nil {
		return err
	}
	defer sys.Close()

	// One listing call for every state, then one property read per running
	// container. No podman forks: those come only with an export.
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = quadlet.ServiceUnit(s.Name)
	}
	states := map[string]string{}
	if len(names) > 0 {
		units, err := sys.Units(c.Context, names)
		if err != nil {
			return err
		}
		for _, u := range units {
			states[u.Name] = u.ActiveState
		}
	}
	now := env.Now()
	boot := bootTime()
	records := map[string]record{}
	clocks := map[string]reaper.State{}
	running := map[string]bool{}
	specOf := map[string]quadlet.Spec{}
	var obs []reaper.Observation
	for _, s := range specs {
		env.noteStateDir(s)
		unit := quadlet.ServiceUnit(s.Name)
		o := reaper.Observation{Name: s.Name, Created: s.Created, Boot: boot, Running: states[unit] == "active" || states[unit] == "reloading" || states[unit] == "activating"}
		if o.Running {
			if v, ok, err := sys.CPUUsage(c.Context, unit); err == nil && ok {
				o.CPUUsage, o.HasCPU = v, true
			}
		}
		o.Session = env.sessionTime(s.Name)
		r, ok := env.loadRecord(s.Name)
		if ok {
			clocks[s.Name] = r.State
		}
		o.LeaseUntil = r.LeaseUntil
		records[s.Name] = r
		running[s.Name], specOf[s.Name] = o.Running, s
		obs = append(obs, o)
	}
	decisions := reaper.Decide(now, obs, clocks, reaperPolicy(cfg))
	agents := &sweepAgent{c: c, env: env, cfg: cfg}
	defer agents.close()

	res := reapResult{Schema: 1, DryRun: dry, Now: now.UTC(), Containers: []reapEntry{}}
	type pendingDestroy struct {
		entry  int
		action reaper.Action
	}
	var destroys []pendingDestroy
	for _, d := range decisions {
		r := records[d.Name]
		r.State, r.Next, r.Due, r.Swept = d.State, d.Next, d.Due, now
		entry := reapEntry{Name: d.Name, State: "stopped", LastActive: d.State.LastActive.UTC(), Signal: d.State.Signal,
			Next: d.Next, Due: d.Due.UTC(), Actions: d.Now}
		if running[d.Name] {
			entry.State = "running"
		}
		if !r.LeaseUntil.IsZero() && r.LeaseUntil.After(now) {
			lu := r.LeaseUntil.UTC()
			entry.LeaseUntil = &lu
		}
		if entry.Actions == nil {
			entry.Actions = []reaper.Action{}
		}
		if !dry {
			for _, a := range d.Now {
				var err error
				switch a.Kind {
				case reaper.Warn:
					err = reapWarn(env, a)
				case reaper.Stop:
					if err = reapStop(c, env, agents, sys, a); err == nil {
						r.StoppedSince = now
						r.Next, r.Due = reaper.Destroy, now.Add(time.Duration(cfg.Reaper.StoppedDestroy))
					}
				case reaper.Destroy:
					// Destroys come last: each gives up the lock during
					// its export, and every other action was decided on
					// what was seen under the lock.
					destroys = append(destroys, pendingDestroy{entry: len(res.Containers), action: a})
				}
				if err != nil {
					entry.Errors = append(entry.Errors, err.Error())
					warnf(env, "reap %s: %s: %v", d.Name, a.Kind, err)
				}
			}
			if len(entry.Errors) == 0 {
				r.ExportError = ""
			}
			if err := env.saveRecord(d.Name, r); err != nil {
				entry.Errors = append(entry.Errors, err.Error())
			}
		}
		res.Containers = append(res.Containers, entry)
	}
	for _, p := range destroys {
		entry := &res.Containers[p.entry]
		switch err := reapDestroy(c, env, cfg, agents, sys, specOf[entry.Name], p.action, lock); {
		case err == nil:
		case errors.Is(err, errStartedDuringExport):
			// The owner's start wins; the next sweep sees it running.
			entry.Skipped = err.Error()
			warnf(env, "reap %s: %s", entry.Name, entry.Skipped)
		default:
			entry.Errors = append(entry.Errors, err.Error())
			warnf(env, "reap %s: destroy: %v", entry.Name, err)
			if lock.l.f == nil {
				// The lock could not be taken back: touch nothing more.
				return errdefs.Errorf(errdefs.System, "reap: %s: %v", entry.Name, err)
			}
			if r, ok := env.loadRecord(entry.Name); ok {
				r.ExportError = err.Error()
				if serr := env.saveRecord(entry.Name, r); serr != nil {
					entry.Errors = append(entry.Errors, serr.Error())
				}
			}
		}
	}
	if !dry {
		for _, dir := range env.archiveDirs(specs) {
			pruneArchives(dir, now, cfg.Reaper)
		}
	}
	if c.Bool("json") {
		if err := writeJSON(env.Stdout, res); err != nil {
			return err
		}
		return reapErrors(res)
	}
	w := env.Stdout
	fmt.Fprintf(w, "%-20s %-8s %-22s %-10s %s\n", "NAME", "STATE", "LAST ACTIVE", "SIGNAL", "NEXT")
	for _, e := range res.Containers {
		next := e.Next + " at " + e.Due.Format(time.RFC3339)
		if e.LeaseUntil != nil {
			next += " (lease until " + e.LeaseUntil.Format(time.RFC3339) + ")"
		}
		fmt.Fprintf(w, "%-20s %-8s %-22s %-10s %s\n", e.Name, e.State, e.LastActive.Format(time.RFC3339), e.Signal, next)
		for _, a := range e.Actions {
			verb := "did"
			if dry {
				verb = "would"
			}
			fmt.Fprintf(w, "  %s %s%s: %s\n", verb, a.Kind, ofSuffix(a), a.Why)
		}
	}
	return reapErrors(res)
}

// reapErrors is the sweep's exit status: the first container whose action
// failed makes it exit 8, with or without --json.
func reapErrors(res reapResult) error {
	for _, e := range res.Containers {
		if len(e.Errors) > 0 {
			return errdefs.Errorf(errdefs.System, "reap: %s: %s", e.Name, strings.Join(e.Errors, "; "))
		}
	}
	return nil
}

func ofSuffix(a reaper.Action) string {
	if a.Of == "" {
		return ""
	}
	return " of " + a.Of
}

// reapWarn announces an action to come: a structured journal entry and a
// line on each of the owner's terminals.
func reapWarn(env *Env, a reaper.Action) error {
	msg := fmt.Sprintf("devbox-quadlet: %s will be %s at %s (%s); `devbox-quadlet keepalive %s --for 8h` holds it",
		a.Name, pastTense(a.Of), a.At.UTC().Format(time.RFC3339), reasonOf(a), a.Name)
	if a.Of == reaper.Destroy {
		msg = fmt.Sprintf("devbox-quadlet: %s will be archived and destroyed at %s; `devbox-quadlet start %s` keeps it",
			a.Name, a.At.UTC().Format(time.RFC3339), a.Name)
	}
	err := env.SendJournal(msg, map[string]string{
		"MESSAGE_ID": MessageWarn, "DEVBOX_CONTAINER": a.Name, "DEVBOX_ACTION": a.Of,
		"DEVBOX_DUE": a.At.UTC().Format(time.RFC3339),
	})
	wallUser(env, msg)
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

// wallUser writes msg to every terminal the user has open, like write(1).
// Failures are ignored: nobody may be logged in.
func wallUser(env *Env, msg string) {
	entries, err := os.ReadDir(env.TerminalDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		p := filepath.Join(env.TerminalDir, e.Name())
		var st syscall.Stat_t
		if syscall.Stat(p, &st) != nil || int(st.Uid) != env.UID || st.Mode&syscall.S_IFMT != syscall.S_IFCHR {
			continue
		}
		f, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NOCTTY|syscall.O_NONBLOCK, 0)
		if err != nil {
			continue
		}
		_, _ = f.WriteString("\r\n" + msg + "\r\n")
		f.Close()
	}
}

// sweepAgent connects to the host agent at most once per sweep, and only
// when an action needs it: most sweeps stop and destroy nothing.
type sweepAgent struct {
	c     *cli.Context
	env   *Env
	cfg   config.Config
	ag    Agent
	tried bool
}

// get returns the agent, or nil when there is none (standalone, or it is
// down: the reaper's stops and destroys do not wait for it; the agent
// reconciles its ledger from the cgroup tree).
func (s *sweepAgent) get() Agent {
	if !s.tried {
		s.tried = true
		s.ag, _ = hostAgent(s.c, s.env, s.cfg)
	}
	return s.ag
}

func (s *sweepAgent) close() {
	if s.ag != nil {
		s.ag.Close()
	}
}

// reapStop is a normal stop: the autostart link goes, so the container
// stays stopped after a reboot, and the agent's running reservation ends.
func reapStop(c *cli.Context, env *Env, agents *sweepAgent, sys Systemd, a reaper.Action) error {
	if err := env.disableAutostart(a.Name); err != nil {
		return err
	}
	if err := sys.Stop(c.Context, quadlet.ServiceUnit(a.Name)); err != nil {
		return err
	}
	if ag := agents.get(); ag != nil {
		_ = ag.Stop(c.Context, a.Name)
	}
	return env.SendJournal(fmt.Sprintf("devbox-quadlet: stopped %s: %s", a.Name, a.Why), map[string]string{
		"MESSAGE_ID": MessageStopped, "DEVBOX_CONTAINER": a.Name, "DEVBOX_ACTION": reaper.Stop,
	})
}

// errStartedDuringExport says a container was not destroyed because it
// was started (or recreated) while its home was being exported.
var errStartedDuringExport = errors.New("not destroyed: it was started or recreated while its home was exported")

// sweepLock is the reaper's hold on the user's lock, which it gives up
// while it exports a home: an export may take long, and must not keep the
// user from starting or stopping anything meanwhile.
type sweepLock struct {
	env *Env
	l   *userLock
}

func (s *sweepLock) release() { s.l.Unlock() }

func (s *sweepLock) take() error {
	l, err := lockUser(s.env, "reap")
	if err != nil {
		return err
	}
	s.l = l
	return nil
}

// reapDestroy exports the home volume without holding the user's lock,
// takes the lock again, checks that the container is still the same one and
// still stopped, then destroys. If the export fails, or the container was
// started meanwhile, nothing is destroyed.
func reapDestroy(c *cli.Context, env *Env, cfg config.Config, agents *sweepAgent, sys Systemd, spec quadlet.Spec, a reaper.Action, lock *sweepLock) error {
	name := a.Name
	// The archive goes to the state directory the container's create
	// recorded, where that user's restore looks.
	dir := filepath.Join(env.containerStateDir(name), "archives")
	lock.release()
	archive, err := exportHome(c.Context, env, name, dir, exportTimeout(env, cfg))
	if lerr := lock.take(); lerr != nil {
		if err == nil {
			err = fmt.Errorf("archive %s kept: %w", archive, lerr)
		}
		return fmt.Errorf("not destroyed: %w", err)
	}
	if err != nil {
		_ = env.SendJournal(fmt.Sprintf("devbox-quadlet: did not destroy %s: exporting its home failed: %v", name, err), map[string]string{
			"MESSAGE_ID": MessageExportFailed, "DEVBOX_CONTAINER": name, "DEVBOX_ACTION": reaper.Destroy,
		})
		return fmt.Errorf("not destroyed, the export of its home failed: %w", err)
	}
	// Anything may have happened while the lock was free: a start (plain
	// systemctl or devbox-quadlet), or a destroy and a new create of the
	// same name. Destroy only what was decided on.
	unit := quadlet.ServiceUnit(name)
	states, err := sys.Units(c.Context, []string{unit})
	if err != nil {
		return fmt.Errorf("not destroyed (archive %s kept): %w", archive, err)
	}
	cur, specErr := readSpec(env, name)
	if specErr != nil || !cur.Created.Equal(spec.Created) || (len(states) == 1 && isUp(states[0].ActiveState)) {
		removeArchive(archive)
		return errStartedDuringExport
	}
	ag := agents.get()
	cleanup := leaveTailnet(c.Context, env, cfg, ag, name, false, spec.Tailnet)
	if err := teardown(c.Context, env, sys, name, false); err != nil {
		return fmt.Errorf("destroy after export (archive %s kept): %w", archive, err)
	}
	releaseName(c.Context, env, cfg, ag, name)
	return env.SendJournal(fmt.Sprintf("devbox-quadlet: destroyed %s (%s); its home is in %s; tailnet: logout %s, API %s; `devbox-quadlet restore %s` brings it back",
		name, a.Why, archive, cleanup.Logout, cleanup.API, name), map[string]string{
		"MESSAGE_ID": MessageDestroyed, "DEVBOX_CONTAINER": name, "DEVBOX_ACTION": reaper.Destroy, "DEVBOX_ARCHIVE": archive,
	})
}

// removeArchive removes an archive and what lies beside it.
func removeArchive(archive string) {
	for _, p := range []string{archive, archive + ".container", archive + ".json"} {
		os.Remove(p)
	}
}

// pruneArchives ages every archive by its record (NAME-STAMP.tar.json,
// reaper.ArchiveRecord) and removes those kept longer than archive_keep,
// with the files beside them. Never by mtime against the wall clock: an
// archive ages by the time between sweeps, at most twice sweep_interval per
// sweep, so a clock that jumps ahead (or a host that was off) removes
// nothing. An archive without a readable record gets one, aged zero.
// Only files named like archives, and their own side files, are touched.
func pruneArchives(dir string, now time.Time, cfg config.Reaper) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if _, _, ok := reaper.ParseArchiveName(e.Name()); !ok || !e.Type().IsRegular() {
			continue
		}
		archive := filepath.Join(dir, e.Name())
		rec, ok := loadArchiveRecord(archive)
		if ok {
			rec = rec.Advance(now, 2*time.Duration(cfg.SweepInterval))
		} else {
			rec = reaper.NewArchiveRecord(now)
		}
		if !rec.Expired(time.Duration(cfg.ArchiveKeep)) {
			_ = writeArchiveRecord(archive, rec)
			continue
		}
		// The archive first: a sweep that dies half-way leaves side files
		// without an archive, which the loop below removes next time, never
		// an archive without its record (its age would start again at zero).
		if os.Remove(archive) == nil {
			os.Remove(archive + reaper.ArchiveSpecSuffix)
			os.Remove(archive + reaper.ArchiveRecordSuffix)
		}
	}
	// Side files whose archive is gone.
	for _, e := range entries {
		for _, sfx := range []string{reaper.ArchiveSpecSuffix, reaper.ArchiveRecordSuffix} {
			base, found := strings.CutSuffix(e.Name(), sfx)
			if _, _, ok := reaper.ParseArchiveName(base); !found || !ok {
				continue
			}
			if _, err := os.Lstat(filepath.Join(dir, base)); os.IsNotExist(err) {
				os.Remove(filepath.Join(dir, e.Name()))
			}
		}
	}
}

// recordArchive writes the record of an archive written at t, aged zero:
// ARCHIVE.json beside ARCHIVE (dir/NAME-STAMP.tar, named by
// reaper.ArchiveName). Whoever writes an archive calls it once the export
// has succeeded; if it fails, the next sweep writes one, also aged zero.
func recordArchive(archive string, t time.Time) error {
	return writeArchiveRecord(archive, reaper.NewArchiveRecord(t))
}

func writeArchiveRecord(archive string, rec reaper.ArchiveRecord) error {
	data, _ := json.MarshalIndent(rec, "", "  ")
	return replaceFile(filepath.Dir(archive), filepath.Base(archive)+reaper.ArchiveRecordSuffix, data)
}

// loadArchiveRecord reads the record beside archive; false if it is missing
// or unreadable (the caller starts a new one, aged zero).
func loadArchiveRecord(archive string) (reaper.ArchiveRecord, bool) {
	var rec reaper.ArchiveRecord
	data, err := os.ReadFile(archive + reaper.ArchiveRecordSuffix)
	if err != nil || json.Unmarshal(data, &rec) != nil || rec.Age < 0 {
		return reaper.ArchiveRecord{}, false
	}
	return rec, true
}

// latestArchive is the newest archive of exactly name, by the stamp in its
// file name: `restore dev` never picks dev-api's, which dev-*.tar matches.
//
// It looks in every directory that may hold this user's archives
// (env.archiveDirs): this shell's state directory and the default one.
func latestArchive(env *Env, name string) (string, error) {
	var best string
	var bestT time.Time
	dirs := env.archiveDirs(nil)
	for _, dir := range dirs {
		entries, _ := os.ReadDir(dir)
		files := make([]string, 0, len(entries))
		for _, e := range entries {
			files = append(files, e.Name())
		}
		if newest, ok := reaper.NewestArchive(files, name); ok {
			_, t, _ := reaper.ParseArchiveName(newest)
			if best == "" || t.After(bestT) {
				best, bestT = filepath.Join(dir, newest), t
			}
		}
	}
	if best == "" {
		return "", withHint(errdefs.Errorf(errdefs.NotFound, "no archive of %q in %s", name, strings.Join(dirs, " or ")),
			"destroy and the reaper keep archives for [reaper] archive_keep; name one with --from")
	}
	return best, nil
}

func keepaliveCommand(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "keepalive",
		Usage:     "hold a dev container active for a while, so the reaper leaves it alone",
		ArgsUsage: "NAME",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "for", Value: "8h", Usage: "how long (`DURATION`: d, h, m, s)"},
			&cli.BoolFlag{Name: "clear", Usage: "end the lease now"},
		},
		Action: func(c *cli.Context) error {
			t, err := openTarget(c, env, targetOpts{lock: true, mustExist: true})
			if err != nil {
				return err
			}
			defer t.close()
			var until time.Time
			if !c.Bool("clear") {
				d, err := config.ParseDuration(c.String("for"))
				if err != nil {
					return errdefs.Errorf(errdefs.Usage, "--for: %w", err)
				}
				until = env.Now().Add(time.Duration(d)).UTC()
			}
			r, _ := env.loadRecord(t.name)
			r.LeaseUntil = until
			if err := env.saveRecord(t.name, r); err != nil {
				return err
			}
			if until.IsZero() {
				fmt.Fprintf(env.Stdout, "%s\tlease cleared\n", t.name)
			} else {
				fmt.Fprintf(env.Stdout, "%s\tactive until %s\n", t.name, until.Format(time.RFC3339))
			}
			return nil
		},
	}
}

func restoreCommand(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "restore",
		Usage:     "recreate an auto-destroyed dev container with its archived home",
		ArgsUsage: "NAME",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "from", Usage: "the archive (`FILE`; default: the newest of NAME)"},
		},
		Action: func(c *cli.Context) error { return runRestore(c, env) },
	}
}

func runRestore(c *cli.Context, env *Env) error {
	name, err := oneName(c)
	if err != nil {
		return err
	}
	archive := c.String("from")
	if archive == "" {
		if archive, err = latestArchive(env, name); err != nil {
			return err
		}
	}
	if _, err := os.Stat(archive); err != nil {
		return errdefs.Errorf(errdefs.NotFound, "restore %s: %v", name, err)
	}
	if _, err := existing(env, name); err == nil {
		return withHint(errdefs.Errorf(errdefs.Exists, "container %q exists", name), "restore recreates a destroyed container; pick the name of one that is gone")
	}
	args := []string{"devbox-quadlet"}
	if cfgPath := c.String("config"); cfgPath != "" {
		args = append(args, "--config", cfgPath)
	}
	args = append(args, "create", name)
	if data, err := os.ReadFile(archive + ".container"); err == nil {
		if spec, err := quadlet.Parse(data); err == nil {
			args = append(args, "--cpus", spec.CPUs.String(), "--memory", fmt.Sprint(int64(spec.Memory)), "--image", string(spec.Image))
		}
	}
	exists, err := env.Podman.VolumeExists(c.Context, quadlet.VolumeName(name))
	if err != nil {
		return err
	}
	if exists {
		return withHint(errdefs.Errorf(errdefs.Exists, "restore %s: the volume %s exists", name, quadlet.VolumeName(name)),
			"`devbox-quadlet create %s` reuses it as it is", name)
	}
	if err := env.Podman.ImportVolume(c.Context, quadlet.VolumeName(name), archive); err != nil {
		return fmt.Errorf("restore %s: %w", name, err)
	}
	// create reuses the volume it finds, and never removes a volume that
	// was there before it.
	if err := newApp(env).RunContext(c.Context, args); err != nil {
		return withHint(fmt.Errorf("restore %s: the home is back in volume %s, but create failed: %w", name, quadlet.VolumeName(name), err),
			"fix the cause and run `devbox-quadlet create %s`; it reuses the volume", name)
	}
	fmt.Fprintf(env.Stdout, "%s\trestored from %s\n", name, archive)
	return nil
}

// timerAction is what create does with the reaper's timer once the
// container is up.
type timerAction int

const (
	timerKeep    timerAction = iota // running as it should
	timerStart                      // installed or found inactive
	timerRestart                    // its drop-ins changed
)

// ensureReapTimer makes sure the reaper's user timer exists and sweeps with
// this config. A timer in the user's own unit directory is the user's and
// is left alone. The packaged timer (`make install`, the NixOS module) is
// adapted with drop-ins for the config's sweep interval and file. Without a
// packaged timer, create writes a per-user one that runs this binary, with
// the link that `enable` would make.
func ensureReapTimer(ctx context.Context, env *Env, sys Systemd, cfg config.Config, configPath string) (timerAction, error) {
	dir := env.UserUnitDir()
	if _, err := os.Lstat(filepath.Join(dir, reaper.TimerUnit)); err == nil {
		return timerKeep, nil
	}
	interval := time.Duration(cfg.Reaper.SweepInterval)
	packaged, active, err := sys.UnitFile(ctx, reaper.TimerUnit)
	if err != nil {
		return timerKeep, err
	}
	if packaged == "" {
		return timerStart, installUserReapTimer(env, dir, configPath, interval)
	}
	dropIns, err := reaper.RenderDropIns(configPath, interval)
	if err != nil {
		return timerKeep, errdefs.Mark(errdefs.System, err)
	}
	changed := false
	for _, f := range dropIns {
		c, err := syncUnitFile(dir, f)
		if err != nil {
			return timerKeep, err
		}
		changed = changed || c
	}
	switch {
	case changed:
		return timerRestart, nil
	case !active:
		return timerStart, nil
	}
	return timerKeep, nil
}

// installUserReapTimer writes the per-user fallback units and enables the
// timer. They name the binary that runs now: a host without the packaged
// units has no installed path to name.
func installUserReapTimer(env *Env, dir, configPath string, interval time.Duration) error {
	exe, err := env.Executable()
	if err != nil {
		return errdefs.Errorf(errdefs.System, "reaper timer: %w", err)
	}
	files, err := reaper.RenderTimer(exe, configPath, interval)
	if err != nil {
		return errdefs.Mark(errdefs.System, err)
	}
	for _, f := range files {
		if err := replaceFile(dir, f.Name, f.Content); err != nil {
			return err
		}
	}
	wants := filepath.Join(dir, "timers.target.wants")
	if err := os.MkdirAll(wants, 0o755); err != nil {
		return errdefs.Errorf(errdefs.System, "reaper timer: %w", err)
	}
	link := filepath.Join(wants, reaper.TimerUnit)
	if err := os.Symlink(filepath.Join(dir, reaper.TimerUnit), link); err != nil && !os.IsExist(err) {
		return errdefs.Errorf(errdefs.System, "reaper timer: %w", err)
	}
	return nil
}

// syncUnitFile makes dir/f.Name hold f.Content, or not exist when Content
// is nil, and reports whether it changed anything.
func syncUnitFile(dir string, f reaper.UnitFile) (bool, error) {
	path := filepath.Join(dir, f.Name)
	old, err := os.ReadFile(path)
	switch {
	case f.Content == nil && os.IsNotExist(err):
		return false, nil
	case f.Content == nil:
		if err := os.Remove(path); err != nil {
			return false, errdefs.Errorf(errdefs.System, "reaper timer: %w", err)
		}
		return true, nil
	case err == nil && bytes.Equal(old, f.Content):
		return false, nil
	}
	if err := replaceFile(filepath.Dir(path), filepath.Base(path), f.Content); err != nil {
		return false, err
	}
	return true, nil
}

// UserUnitDir is ~/.config/systemd/user.
func (e *Env) UserUnitDir() string { return filepath.Join(e.ConfigHome(), "systemd", "user") }

// reaperView is what list and status show of the reaper's clock: the last
// activity and its signal, the next action and when, and whether that
// action is close enough to have been warned about. Fields may be added,
// never renamed.
type reaperView struct {
	LastActive  *time.Time `json:"last_active"`
	Signal      string     `json:"signal,omitempty"`
	Next        string     `json:"next,omitempty"`
	Due         *time.Time `json:"due"`
	Pending     bool       `json:"pending"`
	LeaseUntil  *time.Time `json:"lease_until"`
	ExportError string     `json:"export_error,omitempty"`
}

// reaperViewOf reads the record the last sweep left; it never sweeps.
func reaperViewOf(env *Env, cfg config.Config, name string) reaperView {
	r, ok := env.loadRecord(name)
	v := reaperView{Signal: r.Signal, Next: r.Next, ExportError: r.ExportError}
	if !ok {
		return v
	}
	t := func(x time.Time) *time.Time {
		if x.IsZero() {
			return nil
		}
		u := x.UTC()
		return &u
	}
	v.LastActive, v.Due = t(r.LastActive), t(r.Due)
	if r.LeaseUntil.After(env.Now()) {
		v.LeaseUntil = t(r.LeaseUntil)
	}
	v.Pending = !r.Due.IsZero() && !env.Now().Before(r.Due.Add(-time.Duration(cfg.Reaper.WarnBefore)))
	return v
}

// brief is the one-word column of list.
func (v reaperView) brief() string {
	switch {
	case v.ExportError != "":
		return "export-failed"
	case v.LeaseUntil != nil:
		return "lease"
	case v.Pending && v.Due != nil:
		return v.Next + "@" + v.Due.Format("01-02T15:04Z")
	}
	return "-"
}

// line is the sentence of status.
func (v reaperView) line() string {
	if v.LastActive == nil {
		return "no sweep yet (the reaper's timer runs `devbox-quadlet reap`)"
	}
	s := fmt.Sprintf("last active %s (%s); next: %s at %s", v.LastActive.Format(time.RFC3339), v.Signal, v.Next, v.Due.Format(time.RFC3339))
	if v.Pending {
		s += " (pending: warned)"
	}
	if v.LeaseUntil != nil {
		s += "; lease until " + v.LeaseUntil.Format(time.RFC3339)
	}
	if v.ExportError != "" {
		s += "; NOT destroyed: " + v.ExportError
	}
	return s
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
