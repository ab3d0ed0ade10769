package lifecycle

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/policy"
	"github.com/devbox-quadlet/devbox-quadlet/internal/quadlet"
)

// Layout decides every path devbox-quadlet uses for one user: the quadlet
// directory, the user unit directory, the state directory and what lies in
// it (activity directories, reaper records, archives, intent records,
// pending releases) and the lock. One XDG rule holds for all of them: an
// XDG_*_HOME that is set and absolute, else the default under the home.
//
// The per-user state directory is $XDG_STATE_HOME/devbox-quadlet, but
// XDG_STATE_HOME is whatever the calling process has: a login shell may set
// it while the user manager that runs the reaper's timer does not. So the
// directory is resolved once, by create, and recorded in the container's
// unit (its activity directory, STATE/activity/NAME, is bind-mounted into
// the container); every later command, the reaper included, reads it back
// from there (ContainerStateDir). Only a new container, restore's search and
// the archives of a gone container use this process's own StateDir.
type Layout struct {
	Home       string
	ConfigHome string // $XDG_CONFIG_HOME or ~/.config
	StateHome  string // $XDG_STATE_HOME or ~/.local/state
	RuntimeDir string // $XDG_RUNTIME_DIR or /run/user/UID
	// LockDir holds the user's lock: /run/user/UID/devbox-quadlet, a path
	// that depends on the uid alone, never on the environment.
	LockDir string

	stateDirs map[string]string // ContainerStateDir's cache
}

// NewLayout resolves the user's directories from the environment once.
// lockDir overrides the lock's directory (tests); "" is the default.
func NewLayout(home string, uid int, getenv func(string) string, lockDir string) *Layout {
	xdg := func(v, def string) string {
		if d := getenv(v); filepath.IsAbs(d) {
			return d
		}
		return def
	}
	l := &Layout{
		Home:       home,
		ConfigHome: xdg("XDG_CONFIG_HOME", filepath.Join(home, ".config")),
		StateHome:  xdg("XDG_STATE_HOME", filepath.Join(home, ".local", "state")),
		RuntimeDir: xdg("XDG_RUNTIME_DIR", "/run/user/"+strconv.Itoa(uid)),
		LockDir:    lockDir,
	}
	if l.LockDir == "" {
		l.LockDir = filepath.Join("/run/user", strconv.Itoa(uid), "devbox-quadlet")
	}
	return l
}

// LockPath is the user's lock file, which one command at a time holds.
func (l *Layout) LockPath() string { return filepath.Join(l.LockDir, "lock") }

// QuadletDir is where podman's user generator looks for .container and
// .volume files.
func (l *Layout) QuadletDir() string { return filepath.Join(l.ConfigHome, "containers", "systemd") }

// UserUnitDir is ~/.config/systemd/user.
func (l *Layout) UserUnitDir() string { return filepath.Join(l.ConfigHome, "systemd", "user") }

// WantsDir is default.target.wants, where `systemctl --user enable` links.
func (l *Layout) WantsDir() string { return filepath.Join(l.UserUnitDir(), "default.target.wants") }

// KeyFile is the standalone file backend's auth key when [secrets] path
// names none: a file the user owns, which must be private.
func (l *Layout) KeyFile() string {
	return filepath.Join(l.ConfigHome, "devbox-quadlet", "tailscale-authkey")
}

// StateDir is this process's per-user state directory (SPEC §6).
func (l *Layout) StateDir() string { return filepath.Join(l.StateHome, "devbox-quadlet") }

// DefaultStateDir is the state directory without XDG_STATE_HOME.
func (l *Layout) DefaultStateDir() string {
	return filepath.Join(l.Home, ".local", "state", "devbox-quadlet")
}

// NewActivityDir is the activity directory create records for a new container.
func (l *Layout) NewActivityDir(name string) string {
	return filepath.Join(l.StateDir(), "activity", name)
}

// ArchiveDir is where this process's destroy keeps home archives.
func (l *Layout) ArchiveDir() string { return filepath.Join(l.StateDir(), "archives") }

// IntentPath is the record of a create of name in progress.
func (l *Layout) IntentPath(name string) string {
	return filepath.Join(l.StateDir(), "creating", name+".json")
}

// PendingReleaseDir holds the names the host ledger must still release.
func (l *Layout) PendingReleaseDir() string { return filepath.Join(l.StateDir(), "pending-release") }

// stateDirOfSpec is the state directory recorded in spec, or "" when the
// unit records none (a container made without an activity directory).
func stateDirOfSpec(s quadlet.Spec) string {
	d := s.ActivityDir
	if d == "" || filepath.Base(d) != s.Name || filepath.Base(filepath.Dir(d)) != "activity" {
		return ""
	}
	return filepath.Dir(filepath.Dir(d))
}

// ContainerStateDir is the state directory of container name: the one its
// unit records, else this process's. It is looked up once per Layout.
func (l *Layout) ContainerStateDir(name string) string {
	if d, ok := l.stateDirs[name]; ok {
		return d
	}
	d := l.StateDir()
	if s, err := l.ReadSpec(name); err == nil {
		if rec := stateDirOfSpec(s); rec != "" {
			d = rec
		}
	}
	l.noteStateDir(name, d)
	return d
}

// NoteSpec records what a caller already parsed, sparing a read.
func (l *Layout) NoteSpec(s quadlet.Spec) {
	if d := stateDirOfSpec(s); d != "" {
		l.noteStateDir(s.Name, d)
	}
}

func (l *Layout) noteStateDir(name, dir string) {
	if l.stateDirs == nil {
		l.stateDirs = map[string]string{}
	}
	l.stateDirs[name] = dir
}

// ActivityDir is container name's activity directory.
func (l *Layout) ActivityDir(name string) string {
	return filepath.Join(l.ContainerStateDir(name), "activity", name)
}

// RecordPath is container name's reaper record.
func (l *Layout) RecordPath(name string) string {
	return filepath.Join(l.ContainerStateDir(name), "reaper", name+".json")
}

// ArchiveDirs lists, once each, the directories that may hold this user's
// archives: this process's, the default one (~/.local/state), and those
// recorded by the containers in specs. The reaper archives a container
// into the state directory its create recorded, so a shell with another
// XDG_STATE_HOME, or the timer's service without one, still finds them.
func (l *Layout) ArchiveDirs(specs []quadlet.Spec) []string {
	dirs := []string{l.ArchiveDir(), filepath.Join(l.DefaultStateDir(), "archives")}
	for _, s := range specs {
		if d := stateDirOfSpec(s); d != "" {
			dirs = append(dirs, filepath.Join(d, "archives"))
		}
	}
	slices.Sort(dirs)
	return slices.Compact(dirs)
}

// ReadSpec reads the container's own quadlet file back.
func (l *Layout) ReadSpec(name string) (quadlet.Spec, error) {
	data, err := os.ReadFile(filepath.Join(l.QuadletDir(), quadlet.ContainerFile(name)))
	if err != nil {
		return quadlet.Spec{}, errdefs.Mark(errdefs.System, err)
	}
	return quadlet.Parse(data)
}

// Existing returns the quadlet files of name that are on disk, and a
// not-found error when there are none.
func (l *Layout) Existing(name string) ([]string, error) {
	dir := l.QuadletDir()
	var found []string
	for _, f := range []string{quadlet.ContainerFile(name), quadlet.VolumeFile(name)} {
		p := filepath.Join(dir, f)
		ok, err := fileExists(p)
		if err != nil {
			return nil, errdefs.Mark(errdefs.System, err)
		}
		if ok {
			found = append(found, p)
		}
	}
	if len(found) == 0 {
		return nil, errdefs.WithHint(errdefs.Errorf(errdefs.NotFound, "no container %q: there is no %s in %s", name, quadlet.ContainerFile(name), dir),
			"`devbox-quadlet list` shows your containers")
	}
	return found, nil
}

// ContainerNames returns the names of the containers in the user's quadlet
// directory, sorted, from the directory listing alone: shell completion
// runs it on every TAB, so it opens no file. A missing directory means none.
// Files that do not carry a valid container name are not ours.
func (l *Layout) ContainerNames() ([]string, error) {
	dir := l.QuadletDir()
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, errdefs.Errorf(errdefs.System, "read %s: %w", dir, err)
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if !strings.HasPrefix(n, quadlet.Prefix) || !strings.HasSuffix(n, ".container") {
			continue
		}
		name := strings.TrimSuffix(strings.TrimPrefix(n, quadlet.Prefix), ".container")
		if policy.ValidateName(name) == nil {
			names = append(names, name)
		}
	}
	// Not the listing's order: devbox-a-b.container sorts before devbox-a.container.
	sort.Strings(names)
	return names, nil
}

// Containers returns the specs of the containers in the user's quadlet
// directory, sorted by name (ContainerNames). Files that do not parse are
// skipped with a warning to warn.
func (l *Layout) Containers(warn func(string, ...any)) ([]quadlet.Spec, error) {
	names, err := l.ContainerNames()
	if err != nil {
		return nil, err
	}
	var specs []quadlet.Spec
	for _, name := range names {
		file := quadlet.ContainerFile(name)
		data, err := os.ReadFile(filepath.Join(l.QuadletDir(), file))
		if err != nil {
			return nil, errdefs.Errorf(errdefs.System, "read %s: %w", file, err)
		}
		s, err := quadlet.Parse(data)
		if err != nil {
			if warn != nil {
				warn("skipping %s: %v", file, err)
			}
			continue
		}
		s.Name = name
		specs = append(specs, s)
	}
	return specs, nil
}

func fileExists(path string) (bool, error) {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("stat %s: %w", path, err)
	}
}

// removeIfExists removes path; a missing file is not an error.
func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return errdefs.Errorf(errdefs.System, "remove %s: %w", path, err)
	}
	return nil
}
