package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/atomicfile"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/quadlet"
)

// runtimeDir is the user's XDG runtime directory, where systemd puts the
// units that podman's quadlet generator writes.
func (e *Env) runtimeDir() string {
	if d := e.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return d
	}
	return "/run/user/" + strconv.Itoa(e.UID)
}

// wantsDir is the user's default.target.wants directory, the same one
// `systemctl --user enable` writes to.
func (e *Env) wantsDir() string {
	base := e.Getenv("XDG_CONFIG_HOME")
	if base == "" {
		base = filepath.Join(e.Home, ".config")
	}
	return filepath.Join(base, "systemd", "user", "default.target.wants")
}

// Autostart: a quadlet unit is "generated", so `systemctl --user enable`
// refuses it, and an [Install] section in the .container file would be
// re-linked at every daemon-reload, bringing back containers the user stopped.
// So devbox-quadlet does what enable does, by hand: a symlink named after the
// unit in default.target.wants. create and start add it, stop removes it; a
// plain `systemctl --user stop` leaves it, exactly as for any enabled unit.

func (e *Env) autostartLink(name string) string {
	return filepath.Join(e.wantsDir(), quadlet.ServiceUnit(name))
}

func (e *Env) enableAutostart(name string) error {
	dir := e.wantsDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return errdefs.Errorf(errdefs.System, "enable autostart of %s: %w", name, err)
	}
	link := e.autostartLink(name)
	target := filepath.Join(e.runtimeDir(), "systemd", "generator", quadlet.ServiceUnit(name))
	if cur, err := os.Readlink(link); err == nil && cur == target {
		return nil
	}
	_ = os.Remove(link)
	if err := os.Symlink(target, link); err != nil {
		return errdefs.Errorf(errdefs.System, "enable autostart of %s: %w", name, err)
	}
	return nil
}

func (e *Env) disableAutostart(name string) error {
	if err := removeIfExists(e.autostartLink(name)); err != nil {
		return fmt.Errorf("disable autostart of %s: %w", name, err)
	}
	return nil
}

func (e *Env) autostartEnabled(name string) bool {
	_, err := os.Lstat(e.autostartLink(name))
	return err == nil
}

// intent is written before create touches anything and removed when it has
// finished, one way or the other. Finding one means a create was killed
// part-way, and tells the next create or destroy what to clean up.
type intent struct {
	Name          string    `json:"name"`
	Started       time.Time `json:"started"`
	PID           int       `json:"pid"`
	VolumeExisted bool      `json:"volume_existed"` // a kept home volume is reused, never removed on rollback
}

func (e *Env) intentPath(name string) string {
	return filepath.Join(e.StateDir(), "creating", name+".json")
}

// writeIntent records in durably: the file and its directory are fsynced
// (atomicfile.Replace) before create makes anything, so a power cut cannot
// lose the record of what it was making.
func (e *Env) writeIntent(in intent) error {
	data, _ := json.Marshal(in)
	if err := atomicfile.Replace(e.intentPath(in.Name), data); err != nil {
		return errdefs.Errorf(errdefs.System, "record create of %s: %w", in.Name, err)
	}
	return nil
}

func (e *Env) readIntent(name string) (intent, bool) {
	data, err := os.ReadFile(e.intentPath(name))
	if err != nil {
		return intent{}, false
	}
	var in intent
	if json.Unmarshal(data, &in) != nil {
		// A torn record still means a create was interrupted; assume the
		// volume was there before, so cleanup never deletes a home.
		return intent{Name: name, VolumeExisted: true}, true
	}
	return in, true
}

func (e *Env) clearIntent(name string) error {
	return removeIfExists(e.intentPath(name))
}

// teardown removes everything of container name that exists, in an order that
// leaves no unit loaded: stop, unlink, remove container, remove files, reload,
// clear failed state, remove volume. Every step tolerates "already gone", so
// it serves destroy, rollback and cleanup after a crash alike. It runs on a
// fresh bounded context so that Ctrl-C during create still cleans up.
func teardown(parent context.Context, env *Env, sys Systemd, name string, keepVolume bool) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), 3*time.Minute)
	defer cancel()
	var errs []error
	step := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	// The activity directory and the reaper's record are found through the
	// unit file, which goes below: resolve them first.
	activity, rec := env.activityDir(name), env.recordPath(name)
	step(env.disableAutostart(name))
	step(sys.Stop(ctx, quadlet.ServiceUnit(name)))
	step(sys.Stop(ctx, quadlet.VolumeServiceUnit(name)))
	step(env.Podman.RemoveContainer(ctx, quadlet.ContainerName(name)))
	// After the container: podman refuses to remove a secret in use.
	step(env.Podman.RemoveSecret(ctx, quadlet.SecretName(name)))
	dir := env.QuadletDir()
	for _, f := range []string{quadlet.ContainerFile(name), quadlet.VolumeFile(name)} {
		step(removeIfExists(filepath.Join(dir, f)))
	}
	step(sys.Reload(ctx))
	for _, u := range []string{quadlet.ServiceUnit(name), quadlet.VolumeServiceUnit(name)} {
		step(sys.ResetFailed(ctx, u))
	}
	if !keepVolume {
		step(env.Podman.RemoveVolume(ctx, quadlet.VolumeName(name)))
	}
	// The reaper's clock and the activity directory belong to this
	// container; a later container of the same name starts afresh.
	// A file the image made as a non-root user inside belongs to a subuid
	// the user cannot delete without `podman unshare`; that must not fail a
	// destroy, so it is only reported.
	if err := os.RemoveAll(activity); err != nil {
		warnf(env, "could not remove the activity directory: %v (`podman unshare rm -rf %s` will)", err, activity)
	}
	step(removeIfExists(rec))
	delete(env.stateDirs, name)
	return errors.Join(errs...)
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

// settle checks, a moment after a start job finished "done", that the
// container is still up: the unit is active, has not restarted, and the
// payload's own cgroup is populated. An entrypoint that fails at once passes
// the start job (conmon reports ready) and is caught only here.
func settle(ctx context.Context, env *Env, sys Systemd, name string, wait time.Duration) error {
	unit := quadlet.ServiceUnit(name)
	select {
	case <-time.After(wait):
	case <-ctx.Done():
		return errdefs.Errorf(errdefs.System, "start %s: %w", unit, ctx.Err())
	}
	st, err := sys.ServiceStatus(ctx, unit)
	if err != nil {
		return err
	}
	alive, err := env.PayloadAlive(st.ControlGroup)
	if err != nil {
		return err
	}
	if st.ActiveState != "active" || st.NRestarts > 0 || !alive {
		return errdefs.Errorf(errdefs.System, "start %s: the container exited right after starting (unit %s, %d restarts)", unit, st, st.NRestarts)
	}
	return nil
}

// failureWithLog adds the unit's last journal lines to a start failure, so the
// user sees the payload's own error without running journalctl.
func failureWithLog(ctx context.Context, env *Env, name string, err error) error {
	lines := env.Journal.Tail(context.WithoutCancel(ctx), quadlet.ServiceUnit(name), 8)
	if len(lines) == 0 || (len(lines) == 1 && lines[0] == "") {
		return err
	}
	return fmt.Errorf("%w; last log lines: %s", err, strings.Join(lines, " | "))
}

// crashPoint kills the process at a named point of create when
// DEVBOX_QUADLET_CRASH_AT names it. It exists for the e2e suite, which proves
// that a create killed at each point is cleaned up by the next create or
// destroy; SIGKILL is what a power cut or the OOM killer looks like.
func crashPoint(env *Env, point string) {
	if env.Getenv("DEVBOX_QUADLET_CRASH_AT") == point {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		time.Sleep(time.Minute) // SIGKILL is asynchronous; never run on
	}
}
