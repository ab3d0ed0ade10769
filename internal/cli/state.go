package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/atomicfile"
	"github.com/devbox-quadlet/devbox-quadlet/internal/nodestatus"
	"github.com/devbox-quadlet/devbox-quadlet/internal/policy"
	"github.com/devbox-quadlet/devbox-quadlet/internal/quadlet"
)

// Where a container's state lives. The per-user state directory of SPEC §6
// is $XDG_STATE_HOME/devbox-quadlet, but XDG_STATE_HOME is whatever the
// calling process has: a login shell may set it while the user manager that
// runs the reaper's timer does not. So the directory is resolved once, by
// create, and recorded in the container's unit (its activity directory,
// STATE/activity/NAME, is bind-mounted into the container); every later
// command, the reaper included, reads it back from there. Only a new
// container, restore's search and the archives of a gone container fall back
// to this process's own StateDir.

// newActivityDir is the activity directory create records for a new container.
func (e *Env) newActivityDir(name string) string {
	return filepath.Join(e.StateDir(), "activity", name)
}

// stateDirOfSpec is the state directory recorded in spec, or "" when the
// unit records none (a container made without an activity directory).
func stateDirOfSpec(s quadlet.Spec) string {
	d := s.ActivityDir
	if d == "" || filepath.Base(d) != s.Name || filepath.Base(filepath.Dir(d)) != "activity" {
		return ""
	}
	return filepath.Dir(filepath.Dir(d))
}

// containerStateDir is the state directory of container name: the one its
// unit records, else this process's. It is looked up once per process.
func (e *Env) containerStateDir(name string) string {
	if d, ok := e.stateDirs[name]; ok {
		return d
	}
	d := e.StateDir()
	if s, err := readSpec(e, name); err == nil {
		if rec := stateDirOfSpec(s); rec != "" {
			d = rec
		}
	}
	if e.stateDirs == nil {
		e.stateDirs = map[string]string{}
	}
	e.stateDirs[name] = d
	return d
}

// noteStateDir records what a caller already parsed, sparing a read.
func (e *Env) noteStateDir(s quadlet.Spec) {
	if d := stateDirOfSpec(s); d != "" {
		if e.stateDirs == nil {
			e.stateDirs = map[string]string{}
		}
		e.stateDirs[s.Name] = d
	}
}

func (e *Env) activityDir(name string) string {
	return filepath.Join(e.containerStateDir(name), "activity", name)
}

func (e *Env) recordPath(name string) string {
	return filepath.Join(e.containerStateDir(name), "reaper", name+".json")
}

// archiveDir is where this process's destroy keeps home archives.
func (e *Env) archiveDir() string { return filepath.Join(e.StateDir(), "archives") }

// archiveDirs lists, once each, the directories that may hold this user's
// archives: this process's, the default one (~/.local/state), and those
// recorded by the containers in specs. The reaper archives a container
// into the state directory its create recorded, so a shell with another
// XDG_STATE_HOME, or the timer's service without one, still finds them.
func (e *Env) archiveDirs(specs []quadlet.Spec) []string {
	dirs := []string{e.archiveDir(), filepath.Join(e.Home, ".local", "state", "devbox-quadlet", "archives")}
	for _, s := range specs {
		if d := stateDirOfSpec(s); d != "" {
			dirs = append(dirs, filepath.Join(d, "archives"))
		}
	}
	slices.Sort(dirs)
	return slices.Compact(dirs)
}

// loadRecord returns the record of name; a missing or unreadable one is the
// zero record (the clock starts again, never an early action).
func (e *Env) loadRecord(name string) (record, bool) {
	var r record
	data, err := os.ReadFile(e.recordPath(name))
	if err != nil || json.Unmarshal(data, &r) != nil {
		return record{}, false
	}
	return r, true
}

// saveRecord replaces the record atomically (temp file, fsync, rename).
func (e *Env) saveRecord(name string, r record) error {
	data, _ := json.MarshalIndent(r, "", "  ")
	return replaceFile(filepath.Dir(e.recordPath(name)), filepath.Base(e.recordPath(name)), data)
}

// sessionTime is the newest mtime in the container's activity directory,
// leaving out the init's status file and hidden files (its temporary
// files): those change at every start, not at every session.
func (e *Env) sessionTime(name string) time.Time {
	var newest time.Time
	entries, _ := os.ReadDir(e.activityDir(name))
	for _, ent := range entries {
		if ent.Name() == nodestatus.FileName || strings.HasPrefix(ent.Name(), ".") {
			continue
		}
		if info, err := ent.Info(); err == nil && info.ModTime().After(newest) {
			newest = info.ModTime()
		}
	}
	return newest
}

// Pending releases. A destroy (the user's or the reaper's) in agent mode
// "auto" while the host agent cannot be reached removes the container but
// cannot free its name and cap slot in the host ledger. It leaves a marker,
// STATE/pending-release/NAME, and the next mutating command that reaches the
// agent, under the user's lock, releases the name, unless a container of
// that name exists again by then (its entry is then the new one's).

func (e *Env) pendingReleaseDir() string { return filepath.Join(e.StateDir(), "pending-release") }

// notePendingRelease records that name's ledger entry must still be released.
func (e *Env) notePendingRelease(name string) {
	if err := atomicfile.Replace(filepath.Join(e.pendingReleaseDir(), name), nil); err != nil {
		warnf(e, "could not note that %s must still be released from the host ledger: %v", name, err)
	}
}

// replayPendingReleases releases what notePendingRelease noted. The caller
// holds the user's lock.
func replayPendingReleases(ctx context.Context, env *Env, ag Agent) {
	if ag == nil {
		return
	}
	entries, err := os.ReadDir(env.pendingReleaseDir())
	if err != nil {
		return
	}
	for _, ent := range entries {
		name := ent.Name()
		marker := filepath.Join(env.pendingReleaseDir(), name)
		if policy.ValidateName(name) != nil {
			os.Remove(marker)
			continue
		}
		if _, err := existing(env, name); err == nil {
			os.Remove(marker) // made again since: the entry is the new container's
			continue
		}
		if err := ag.Release(ctx, name); err != nil {
			warnf(env, "release of %s in the host ledger: %v", name, err)
			continue
		}
		os.Remove(marker)
	}
}
