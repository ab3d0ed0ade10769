package lifecycle

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/atomicfile"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/quadlet"
)

// undo is what a create has done so far, as the steps that take it back,
// run in reverse. Effects are what the create made; records are its own
// bookkeeping (the intent record, the agent's reservation), which are
// undone even when --keep-on-failure keeps the effects.
type undo struct{ steps []undoStep }

type undoStep struct {
	fn     func(context.Context) error
	record bool
}

func (u *undo) push(fn func(context.Context) error) {
	u.steps = append(u.steps, undoStep{fn: fn})
}

func (u *undo) pushRecord(fn func(context.Context) error) {
	u.steps = append(u.steps, undoStep{fn: fn, record: true})
}

// keepEffects drops every step but the records.
func (u *undo) keepEffects() {
	kept := u.steps[:0]
	for _, s := range u.steps {
		if s.record {
			kept = append(kept, s)
		}
	}
	u.steps = kept
}

// run undoes the steps in reverse on a fresh bounded context, so that
// Ctrl-C during create still cleans up; every step runs, and their errors
// are joined.
func (u *undo) run(parent context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), 3*time.Minute)
	defer cancel()
	var errs []error
	for i := len(u.steps) - 1; i >= 0; i-- {
		if err := u.steps[i].fn(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	u.steps = nil
	return errors.Join(errs...)
}

// removal is how each part of a container goes. Every part tolerates
// "already gone", so they serve a create's undo, destroy and the cleanup
// after a crash alike.
type removal struct {
	link   func(context.Context) error // the autostart link
	units  func(context.Context) error // stop both units, remove the container
	secret func(context.Context) error // after the container: podman refuses to remove a secret in use
	files  func(context.Context) error // the files, reload, reset-failed, the volume
	state  func(context.Context) error // the activity directory and the reaper's record
}

func (m *Manager) removals(sys Systemd, name string, keepVolume bool) removal {
	// The activity directory and the reaper's record are found through the
	// unit file, which goes: resolve them now.
	activity, rec := m.Layout.ActivityDir(name), m.Layout.RecordPath(name)
	return removal{
		link: func(context.Context) error { return m.Layout.DisableAutostart(name) },
		units: func(ctx context.Context) error {
			return errors.Join(sys.Stop(ctx, quadlet.ServiceUnit(name)), sys.Stop(ctx, quadlet.VolumeServiceUnit(name)),
				m.Podman.RemoveContainer(ctx, quadlet.ContainerName(name)))
		},
		secret: func(ctx context.Context) error { return m.Podman.RemoveSecret(ctx, quadlet.SecretName(name)) },
		files: func(ctx context.Context) error {
			var errs []error
			dir := m.Layout.QuadletDir()
			for _, f := range []string{quadlet.ContainerFile(name), quadlet.VolumeFile(name)} {
				errs = append(errs, removeIfExists(filepath.Join(dir, f)))
			}
			errs = append(errs, sys.Reload(ctx))
			for _, u := range []string{quadlet.ServiceUnit(name), quadlet.VolumeServiceUnit(name)} {
				errs = append(errs, sys.ResetFailed(ctx, u))
			}
			if !keepVolume {
				errs = append(errs, m.Podman.RemoveVolume(ctx, quadlet.VolumeName(name)))
			}
			return errors.Join(errs...)
		},
		state: func(context.Context) error {
			// A later container of the same name starts afresh. A file the
			// image made as a non-root user inside belongs to a subuid the
			// user cannot delete without `podman unshare`; that must not
			// fail a destroy, so it is only reported.
			if err := os.RemoveAll(activity); err != nil {
				m.warnf("could not remove the activity directory: %v (`podman unshare rm -rf %s` will)", err, activity)
			}
			delete(m.Layout.stateDirs, name)
			return removeIfExists(rec)
		},
	}
}

// teardown removes everything of container name that exists, in an order
// that leaves no unit loaded: unlink, stop, remove the container and the
// secret, remove the files, reload, clear failed state, remove the volume,
// the activity directory and the reaper's record. It serves destroy and
// the cleanup after a crash; a failed create undoes its own steps.
func (m *Manager) teardown(parent context.Context, sys Systemd, name string, keepVolume bool) error {
	rm := m.removals(sys, name, keepVolume)
	u := &undo{}
	for _, step := range []func(context.Context) error{rm.state, rm.files, rm.secret, rm.units, rm.link} {
		u.push(step)
	}
	return u.run(parent)
}

// isUp reports whether a unit in activeState runs or is on its way up or
// down: what create's leftover check and the reaper's re-check before a
// destroy must never remove.
func isUp(activeState string) bool {
	switch activeState {
	case "active", "activating", "reloading", "deactivating":
		return true
	}
	return false
}

// writeNew writes data to dir/name atomically and refuses to replace an
// existing file (atomicfile.CreateNew).
func writeNew(dir, name string, data []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return errdefs.Errorf(errdefs.System, "create %s: %w", dir, err)
	}
	return createNew(dir, name, data)
}

func createNew(dir, name string, data []byte) error {
	final := filepath.Join(dir, name)
	if err := atomicfile.CreateNew(final, data, 0o644); err != nil {
		if errors.Is(err, os.ErrExist) {
			return errdefs.Errorf(errdefs.Exists, "write %s: it already exists", final)
		}
		return errdefs.Errorf(errdefs.System, "write %s: %w", final, err)
	}
	return nil
}
