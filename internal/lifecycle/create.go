package lifecycle

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/podman"
	"github.com/devbox-quadlet/devbox-quadlet/internal/policy"
	"github.com/devbox-quadlet/devbox-quadlet/internal/quadlet"
	"github.com/devbox-quadlet/devbox-quadlet/internal/secrets"
)

// CreateOptions is a create: the request, and what to do on failure.
type CreateOptions struct {
	CreateRequest
	// KeepOnFailure keeps the files, units and volume of a failed create
	// for inspection instead of rolling back.
	KeepOnFailure bool
}

// CreateResult is what a create made.
type CreateResult struct {
	Spec          quadlet.Spec
	Running       bool
	ContainerFile string
	VolumeFile    string
}

// Create makes a container: plan, then check, then apply with an undo for
// each completed step. Its steps, in order:
//
//  1. plan (touches nothing): the name, the files, the secret;
//  2. lock and connect; tear down the leftovers of a killed create;
//  3. check: the files do not exist (exit 4), the per-user cap (exit 5),
//     the image (exit 8; its readiness label), a kept home volume;
//  4. record the intent, resolve the auth key (exit 7), reserve with the
//     host agent;
//  5. apply: secret, activity directory, files, reaper timer, reload,
//     start, settle, autostart link; on failure, undo what was done;
//  6. clear the intent, record the reaper's clock.
func (m *Manager) Create(ctx context.Context, o CreateOptions) (CreateResult, error) {
	name := o.Name
	plan, err := m.Plan(o.CreateRequest, false)
	if err != nil {
		return CreateResult{}, err
	}
	m.tracef("validated the request and rendered the units")

	s, err := m.open(ctx, "create", name, sessionOpts{systemd: true})
	if err != nil {
		return CreateResult{}, err
	}
	defer s.close()
	m.tracef("locked and connected to the user manager")
	// A create that was killed part-way left an intent record: clean up what
	// it made, then start afresh, unless it may be in use (see
	// recoverInterrupted). Never double anything, never delete a home.
	if left, ok := m.Layout.ReadIntent(name); ok {
		if err := m.recoverInterrupted(ctx, s.sys, name, left); err != nil {
			return CreateResult{}, err
		}
	}

	// The agent first: a broken one is the answer (exit 9) within about a
	// second, before the podman calls of the checks, which take seconds
	// on a slow host.
	ag, err := m.agent(ctx)
	if err != nil {
		return CreateResult{}, err
	}
	if ag != nil {
		defer ag.Close()
		m.replayPendingReleases(ctx, ag)
	}
	volumeExisted, err := m.checkCreate(ctx, &plan)
	if err != nil {
		return CreateResult{}, err
	}

	u, key, err := m.recordAndAdmit(ctx, ag, plan, volumeExisted, o.KeepOnFailure)
	if err != nil {
		return CreateResult{}, err
	}
	timer, err := m.apply(ctx, s.sys, ag, plan, key, volumeExisted, u)
	if err != nil {
		return CreateResult{}, m.rollback(ctx, name, err, u, o.KeepOnFailure)
	}
	return m.finishCreate(ctx, s.sys, ag, o, plan, timer)
}

// checkCreate refuses a create whose files exist (exit 4), that would pass
// the per-user cap (exit 5) or whose image is missing (exit 8). An image
// whose init reports readiness (devbox-init does) gets a unit whose start
// waits for it: plan is re-rendered with Notify. It reports whether a kept
// home volume will be reused.
func (m *Manager) checkCreate(ctx context.Context, plan *Plan) (volumeExisted bool, err error) {
	name := plan.Spec.Name
	for _, f := range plan.Files {
		p := filepath.Join(plan.Dir, f.Name)
		exists, err := fileExists(p)
		if err != nil {
			return false, errdefs.Mark(errdefs.System, err)
		}
		if exists {
			return false, errdefs.WithHint(errdefs.Errorf(errdefs.Exists, "container %q already exists: %s is there", name, p),
				"pick another name, or remove it first with `devbox-quadlet destroy %s`", name)
		}
	}
	mine, err := m.Layout.Containers(m.warnf)
	if err != nil {
		return false, err
	}
	names := make([]string, len(mine))
	for i, s := range mine {
		names[i] = s.Name
	}
	if err := policy.CheckUserCap(m.UserName, names, m.Config.MaxPerUser(m.UserName)); err != nil {
		return false, errdefs.WithHint(err, "free a slot with `devbox-quadlet destroy NAME` (`devbox-quadlet list` shows them)")
	}
	image, volumeExisted, err := m.podmanChecks(ctx, plan.Spec)
	if err != nil {
		return false, err
	}
	if !image.Exists {
		return false, errdefs.WithHint(errdefs.Errorf(errdefs.System, "image %s is not in your podman image store", plan.Spec.Image), "%s", MissingImageHint(plan.Spec.Image, m.UserName))
	}
	if image.Labels[quadlet.NotifyLabel] == "true" {
		req := CreateRequest{Name: name, CPUs: plan.Spec.CPUs, Memory: plan.Spec.Memory, Image: plan.Spec.Image,
			Syncthing: plan.Spec.Syncthing, NoStart: len(plan.Start) == 0}
		if *plan, err = m.Plan(req, true); err != nil {
			return false, err
		}
	}
	if volumeExisted {
		m.warnf("reusing the existing home volume %s", quadlet.VolumeName(name))
	}
	return volumeExisted, nil
}

// podmanChecks asks podman about the image and the home volume. Each is a
// whole podman start-up, the slowest thing before the start itself; they
// do not depend on each other, so they run side by side.
func (m *Manager) podmanChecks(ctx context.Context, s quadlet.Spec) (podman.Image, bool, error) {
	var (
		image               podman.Image
		volumeExisted       bool
		imageErr, volumeErr error
		checks              sync.WaitGroup
	)
	checks.Add(2)
	go func() {
		defer checks.Done()
		image, imageErr = m.Podman.Image(ctx, string(s.Image), quadlet.NotifyLabel)
	}()
	go func() {
		defer checks.Done()
		volumeExisted, volumeErr = m.Podman.VolumeExists(ctx, quadlet.VolumeName(s.Name))
	}()
	checks.Wait()
	m.tracef("podman image exists and volume exists")
	// One message is enough when both fail alike (no podman at all).
	return image, volumeExisted, cmp.Or(imageErr, volumeErr)
}

// recordAndAdmit writes the intent record, then admits the create (see
// admit). It returns the undo stack, which from here on clears the intent
// and gives back the reservation whatever happens; if admission fails, it
// has run it already.
func (m *Manager) recordAndAdmit(ctx context.Context, ag Agent, plan Plan, volumeExisted, keepOnFailure bool) (*undo, secrets.Key, error) {
	name := plan.Spec.Name
	// The intent record goes first, before the agent's reservation, so a
	// kill at any later point is recoverable and tells the next create or
	// destroy that the agent may hold the name; it is cleared last,
	// whatever happened.
	if err := m.Layout.WriteIntent(Intent{Name: name, Started: m.Now().UTC(), PID: os.Getpid(), VolumeExisted: volumeExisted}); err != nil {
		return nil, nil, err
	}
	u := &undo{}
	u.pushRecord(func(context.Context) error { _ = m.Layout.ClearIntent(name); return nil })
	key, err := m.admit(ctx, ag, plan)
	if err != nil {
		_ = u.run(ctx)
		return nil, nil, fmt.Errorf("create %s: %w", name, err)
	}
	if ag != nil {
		u.pushRecord(func(ctx context.Context) error { m.giveBack(ctx, ag, name, keepOnFailure); return nil })
	}
	return u, key, nil
}

// admit resolves the auth key and reserves with the host agent. The key
// comes first, before anything is made, so a secrets failure (exit 7)
// leaves nothing behind, and a slow or failing lookup (1Password may take
// its whole timeout) never holds a reservation: the agent makes a user
// wait as long as a reservation that never ran was held (docs/agent.md).
func (m *Manager) admit(ctx context.Context, ag Agent, plan Plan) (secrets.Key, error) {
	name := plan.Spec.Name
	var key secrets.Key
	if plan.Secret != "" {
		var err error
		if key, err = m.authKey(ctx, ag, name); err != nil {
			return nil, err
		}
		m.tracef("resolved the auth key")
	}
	if ag != nil {
		// Host-wide admission: unique name, caps and resources, decided by
		// the agent in one serialised path.
		if err := ag.Reserve(ctx, name, true, plan.Reservation.CPUs, plan.Reservation.Memory); err != nil {
			return nil, errdefs.WithHint(err, "%s", AdmissionHint(err, name))
		}
		m.tracef("reserved with the host agent")
	}
	return key, nil
}

// apply makes what plan says, pushing onto u, before each step, the undo
// of that step. The podman secret is needed by the start, not by the
// reload: it is made alongside the files and the reload, and always waited
// for before apply returns, so a rollback never races a late secret.
func (m *Manager) apply(ctx context.Context, sys Systemd, ag Agent, plan Plan, key secrets.Key, volumeExisted bool, u *undo) (timerAction, error) {
	name, spec := plan.Spec.Name, plan.Spec
	rm := m.removals(sys, name, volumeExisted)
	u.push(rm.secret)
	waitSecret := m.createSecret(ctx, plan, key)
	defer waitSecret()

	// The activity directory must exist before the start: podman refuses
	// a bind mount of a missing path.
	u.push(rm.state)
	if err := os.MkdirAll(spec.ActivityDir, 0o700); err != nil {
		return timerKeep, errdefs.Errorf(errdefs.System, "create %s: %w", spec.ActivityDir, err)
	}
	u.push(rm.files)
	for _, f := range plan.Files {
		if err := writeNew(plan.Dir, f.Name, f.Content); err != nil {
			return timerKeep, err
		}
	}
	m.confirmCreated(ctx, ag, name)
	m.crashPoint("after-files")
	timer, err := m.installTimerAndReload(ctx, sys)
	if err != nil {
		return timer, err
	}
	m.crashPoint("after-reload")
	if err := waitSecret(); err != nil {
		return timer, err
	}
	if plan.Secret != "" {
		m.tracef("podman secret create")
		m.crashPoint("after-secret")
	}
	if len(plan.Start) == 0 {
		return timer, nil
	}
	if m.CrashAt == "during-start" {
		go func() { time.Sleep(300 * time.Millisecond); m.crashPoint("during-start") }()
	}
	u.push(rm.units)
	if err := m.startAndSettle(ctx, sys, name, sys.Start); err != nil {
		return timer, err
	}
	u.push(rm.link)
	return timer, m.Layout.EnableAutostart(name)
}

// createSecret starts making plan's podman secret (if any) in the
// background and returns the wait for it, which may be called more than
// once: apply waits before the start, and in any case before it returns.
func (m *Manager) createSecret(ctx context.Context, plan Plan, key secrets.Key) func() error {
	secretDone := make(chan error, 1)
	if plan.Secret != "" {
		go func() { secretDone <- m.Podman.CreateSecret(ctx, plan.Secret, key) }()
	} else {
		secretDone <- nil
	}
	return sync.OnceValue(func() error { return <-secretDone })
}

// confirmCreated tells the host agent, if any, that the container's files
// exist.
func (m *Manager) confirmCreated(ctx context.Context, ag Agent, name string) {
	if ag != nil {
		// The agent cannot read homes: it learns from us that the
		// container now exists, so the entry never expires as an
		// unconfirmed reservation (docs/agent.md). Not fatal: an entry
		// seen running is kept too.
		if err := ag.Confirm(ctx, name); err != nil {
			m.warnf("%v", err)
		}
	}
}

// installTimerAndReload installs the reaper's timer if it is missing, then
// has systemd read the new files.
func (m *Manager) installTimerAndReload(ctx context.Context, sys Systemd) (timerAction, error) {
	// The reaper's timer is per user, not per container: installed by the
	// first create that finds it missing, and kept by rollbacks.
	timer, terr := m.ensureReapTimer(ctx, sys)
	if terr != nil {
		m.warnf("the reaper's timer was not installed: %v", terr)
	}
	if err := sys.Reload(ctx); err != nil {
		return timer, err
	}
	m.tracef("wrote the files and reloaded")
	return timer, nil
}

// finishCreate ends a create that worked: a container made with --no-start
// gives back its running reservation, the intent record is cleared, the
// reaper's timer started and its clock recorded.
func (m *Manager) finishCreate(ctx context.Context, sys Systemd, ag Agent, o CreateOptions, plan Plan, timer timerAction) (CreateResult, error) {
	name := o.Name
	if ag != nil && o.NoStart {
		// Created but not running: give back the running reservation.
		if err := ag.Stop(ctx, name); err != nil {
			m.warnf("%v", err)
		}
	}
	if ag != nil && !o.NoStart {
		m.showRunning(ctx, ag, name)
	}
	if err := m.Layout.ClearIntent(name); err != nil {
		return CreateResult{}, err
	}
	m.startReapTimer(ctx, sys, timer)
	m.noteRunning(name, !o.NoStart)
	return CreateResult{Spec: plan.Spec, Running: !o.NoStart,
		ContainerFile: filepath.Join(plan.Dir, quadlet.ContainerFile(name)),
		VolumeFile:    filepath.Join(plan.Dir, quadlet.VolumeFile(name))}, nil
}

// rollback undoes a failed create (or, with keepOnFailure, only clears its
// intent record and gives back the running reservation) and says what is
// left.
func (m *Manager) rollback(ctx context.Context, name string, err error, u *undo, keepOnFailure bool) error {
	hint := "nothing was left behind; see `journalctl --user -u " + quadlet.ServiceUnit(name) + "`"
	if keepOnFailure {
		hint = "--keep-on-failure kept the files, units and volume for inspection; `devbox-quadlet destroy " + name + "` removes them"
		u.keepEffects() // undo only the intent record and the reservation
	}
	if terr := u.run(ctx); terr != nil {
		m.warnf("rollback of %s was incomplete: %v", name, terr)
		hint = "rollback was incomplete; run `devbox-quadlet destroy " + name + "` to finish it"
	}
	return WithEarlierHint(fmt.Errorf("create %s: %w", name, err), hint)
}

// giveBack ends a failed create's reservation: released, or with
// --keep-on-failure only stopped (the container is kept).
func (m *Manager) giveBack(ctx context.Context, ag Agent, name string, keep bool) {
	if keep {
		_ = ag.Stop(ctx, name)
	} else if err := ag.Release(ctx, name); err != nil {
		m.warnf("release of %s in the host ledger failed: %v", name, err)
	}
}

// crashPoint kills the process at a named point of create when
// Manager.CrashAt names it. It exists for the e2e suite, which proves that
// a create killed at each point is cleaned up by the next create or
// destroy; SIGKILL is what a power cut or the OOM killer looks like.
func (m *Manager) crashPoint(point string) {
	if m.CrashAt == point {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		time.Sleep(time.Minute) // SIGKILL is asynchronous; never run on
	}
}
