package lifecycle

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/reaper"
)

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
func (m *Manager) ensureReapTimer(ctx context.Context, sys Systemd) (timerAction, error) {
	dir := m.Layout.UserUnitDir()
	if _, err := os.Lstat(filepath.Join(dir, reaper.TimerUnit)); err == nil {
		return timerKeep, nil
	}
	interval := time.Duration(m.Config.Reaper.SweepInterval)
	packaged, active, err := sys.UnitFile(ctx, reaper.TimerUnit)
	if err != nil {
		return timerKeep, err
	}
	if packaged == "" {
		return timerStart, m.installUserReapTimer(dir, interval)
	}
	dropIns, err := reaper.RenderDropIns(m.ConfigFile, interval)
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

// startReapTimer does what ensureReapTimer decided, once the container is up.
func (m *Manager) startReapTimer(ctx context.Context, sys Systemd, timer timerAction) {
	switch timer {
	case timerStart:
		if err := sys.Start(ctx, reaper.TimerUnit); err != nil {
			m.warnf("the reaper's timer is installed but did not start: %v", err)
		}
	case timerRestart:
		if err := sys.Restart(ctx, reaper.TimerUnit); err != nil {
			m.warnf("the reaper's timer did not restart with the new settings: %v", err)
		}
	}
}

// installUserReapTimer writes the per-user fallback units and enables the
// timer. They name the binary that runs now: a host without the packaged
// units has no installed path to name.
func (m *Manager) installUserReapTimer(dir string, interval time.Duration) error {
	exe, err := m.Executable()
	if err != nil {
		return errdefs.Errorf(errdefs.System, "reaper timer: %w", err)
	}
	files, err := reaper.RenderTimer(exe, m.ConfigFile, interval)
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
