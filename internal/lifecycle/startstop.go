package lifecycle

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/config"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/nodestatus"
	"github.com/devbox-quadlet/devbox-quadlet/internal/quadlet"
	"github.com/devbox-quadlet/devbox-quadlet/internal/sd"
)

// Running is the one predicate for "the container runs": what list and
// status call running and the reaper counts as running. A unit on its way
// up or down is not (isUp is what must never be removed).
func Running(activeState string) bool {
	switch activeState {
	case "active", "reloading", "refreshing":
		return true
	}
	return false
}

// StateWord condenses systemd's active state into the one word users see.
func StateWord(u sd.UnitState) string {
	switch {
	case Running(u.ActiveState):
		return "running"
	case u.ActiveState == "activating":
		return "starting"
	case u.ActiveState == "deactivating":
		return "stopping"
	case u.ActiveState == "failed":
		return "failed"
	}
	return "stopped"
}

// Start starts a stopped container, waits until it stays up and links it
// for autostart; one already running is exit 4 (and still gets the link).
func (m *Manager) Start(ctx context.Context, name string) error { return m.run(ctx, "start", name) }

// Restart restarts a container (starting it if it was stopped).
func (m *Manager) Restart(ctx context.Context, name string) error { return m.run(ctx, "restart", name) }

// Stop unlinks a running container from autostart and stops it; one
// already stopped is exit 4.
func (m *Manager) Stop(ctx context.Context, name string) error { return m.run(ctx, "stop", name) }

func (m *Manager) run(ctx context.Context, verb, name string) error {
	s, err := m.open(ctx, verb, name, sessionOpts{mustExist: true, agent: true, frees: verb == "stop"})
	if err != nil {
		return err
	}
	defer s.close()
	m.tracef("locked, read the config and connected to the host agent")
	if s.sys, err = m.DialSystemd(ctx); err != nil {
		return err
	}
	m.tracef("connected to the user manager")
	unit := quadlet.ServiceUnit(name)
	states, err := s.sys.Units(ctx, []string{unit})
	if err != nil {
		return err
	}
	m.tracef("read the unit's state")
	word := "stopped"
	if len(states) == 1 {
		word = StateWord(states[0])
	}
	switch {
	case verb == "start" && (word == "running" || word == "starting"):
		// Still record the intent, so a container started with plain
		// systemctl also comes back after a reboot.
		_ = m.Layout.EnableAutostart(name)
		return errdefs.WithHint(errdefs.Errorf(errdefs.Exists, "container %q is already running", name), "`devbox-quadlet restart %s` restarts it", name)
	case verb == "stop" && (word == "stopped" || word == "failed"):
		_ = m.Layout.DisableAutostart(name)
		if word == "failed" {
			_ = s.sys.ResetFailed(ctx, unit)
		}
		return errdefs.WithHint(errdefs.Errorf(errdefs.Exists, "container %q is already stopped (%s)", name, states[0]), "`devbox-quadlet start %s` starts it", name)
	case verb == "stop":
		return m.stop(ctx, s, name)
	}
	return m.start(ctx, s, verb, name, word == "running")
}

func (m *Manager) stop(ctx context.Context, s *session, name string) error {
	// Record the intent first: even if the stop is interrupted, the
	// container does not come back at the next boot.
	if err := m.Layout.DisableAutostart(name); err != nil {
		return err
	}
	if err := s.sys.Stop(ctx, quadlet.ServiceUnit(name)); err != nil {
		return fmt.Errorf("stop %s: %w", name, err)
	}
	m.tracef("stop job done")
	if s.ag != nil {
		if err := s.ag.Stop(ctx, name); err != nil {
			m.warnf("%v", err)
		}
	}
	m.noteRunning(name, false)
	return nil
}

func (m *Manager) start(ctx context.Context, s *session, verb, name string, wasRunning bool) error {
	run := s.sys.Start
	if verb == "restart" {
		run = s.sys.Restart
	}
	if s.ag != nil && !wasRunning {
		if err := m.reserveStart(ctx, s.ag, name); err != nil {
			return err
		}
		m.tracef("reserved with the host agent")
	}
	if err := m.startAndSettle(ctx, s.sys, name, run); err != nil {
		if s.ag != nil {
			_ = s.ag.Stop(context.WithoutCancel(ctx), name)
		}
		unit := quadlet.ServiceUnit(name)
		return WithEarlierHint(fmt.Errorf("%s %s: %w", verb, name, err), fmt.Sprintf("see `devbox-quadlet logs %s` and `journalctl --user -u %s`", name, unit))
	}
	if s.ag != nil {
		m.showRunning(ctx, s.ag, name)
	}
	if err := m.Layout.EnableAutostart(name); err != nil {
		return err
	}
	m.noteRunning(name, true)
	return nil
}

// showRunning makes the host agent look at name now that its start
// settled. The agent trusts only the cgroup tree, which it reads on every
// call and otherwise every 15 s; a container it never saw running counts
// as a reservation that was never used, and its owner waits as long as it
// was held before reserving again. Without this call an agent that broke
// right after a create (before its next look) would pace a user whose
// container did run. Confirm is the call: it is idempotent and its answer
// does not matter here.
func (m *Manager) showRunning(ctx context.Context, ag Agent, name string) {
	if err := ag.Confirm(ctx, name); err != nil {
		m.tracef("the agent's look at %s after the start: %v", name, err)
	}
}

// startAndSettle clears the last status file, runs the start job and
// checks the container stayed up; a failure is explained (startFailure).
func (m *Manager) startAndSettle(ctx context.Context, sys Systemd, name string, run func(context.Context, string) error) error {
	m.clearNodeStatus(name)
	if err := run(ctx, quadlet.ServiceUnit(name)); err != nil {
		return m.startFailure(ctx, name, err)
	}
	m.tracef("start job done")
	if err := m.settle(ctx, sys, name); err != nil {
		return m.startFailure(ctx, name, err)
	}
	m.tracef("settled: still up after %s", m.StartSettle)
	return nil
}

// reserveStart asks the agent to admit a start. A container the ledger does
// not know (created before the agent was installed) is adopted: admitted as
// a create, which also checks its name is still free.
func (m *Manager) reserveStart(ctx context.Context, ag Agent, name string) error {
	spec, err := m.Layout.ReadSpec(name)
	if err != nil {
		return err
	}
	cpus, mem := float64(spec.CPUs), int64(spec.Memory)
	err = ag.Reserve(ctx, name, false, cpus, mem)
	adopted := false
	if errdefs.Is(err, errdefs.NotFound) {
		err, adopted = ag.Reserve(ctx, name, true, cpus, mem), true
	}
	if err != nil {
		return errdefs.WithHint(fmt.Errorf("start %s: %w", name, err), "%s", AdmissionHint(err, name))
	}
	if adopted {
		// Its files exist (open checked): say so, or the new entry is
		// dropped as an unconfirmed reservation if the start fails.
		if err := ag.Confirm(ctx, name); err != nil {
			m.warnf("%v", err)
		}
	}
	return nil
}

// settle checks, a moment after a start job finished "done", that the
// container is still up: the unit is active, has not restarted, and the
// payload's own cgroup is populated. An entrypoint that fails at once passes
// the start job (conmon reports ready) and is caught only here.
func (m *Manager) settle(ctx context.Context, sys Systemd, name string) error {
	unit := quadlet.ServiceUnit(name)
	select {
	case <-time.After(m.StartSettle):
	case <-ctx.Done():
		return errdefs.Errorf(errdefs.System, "start %s: %w", unit, ctx.Err())
	}
	st, err := sys.ServiceStatus(ctx, unit)
	if err != nil {
		return err
	}
	alive, err := m.PayloadAlive(st.ControlGroup)
	if err != nil {
		return err
	}
	if st.ActiveState != "active" || st.NRestarts > 0 || !alive {
		return errdefs.Errorf(errdefs.System, "start %s: the container exited right after starting (unit %s, %d restarts)", unit, st, st.NRestarts)
	}
	return nil
}

// startFailure explains a unit start that failed. If the container's init
// said why (the control server refused the key, or could not be reached),
// that is the error, with the class and hint that fit; otherwise it is the
// systemd error with the unit's last log lines.
func (m *Manager) startFailure(ctx context.Context, name string, err error) error {
	s, ok := m.NodeStatus(name)
	if !ok || s.State != nodestatus.StateFailed {
		return m.failureWithLog(ctx, name, err)
	}
	msg := errdefs.OneLine(s.Message)
	switch s.Reason {
	case nodestatus.ReasonKeyRefused:
		return errdefs.WithHint(errdefs.Errorf(errdefs.Secret, "the tailnet's control server refused the auth key: %s", msg),
			"the key is expired, revoked, used up, or not allowed the tags %s; put a new reusable, ephemeral, tagged key where the secrets backend reads it, then run the command again", "tag:devcontainer,tag:"+m.UserName+"-container")
	case nodestatus.ReasonControlUnreachable:
		return errdefs.WithHint(errdefs.Errorf(errdefs.System, "the container could not reach the tailnet's control server: %s", msg),
			"check [tailnet] login_server in the config and that containers on this host can reach it")
	}
	return m.failureWithLog(ctx, name, fmt.Errorf("%w; the container's init reported %s: %s", err, cmp.Or(s.Reason, "a failure"), msg))
}

// failureWithLog adds the unit's last journal lines to a start failure, so
// the user sees the payload's own error without running journalctl.
func (m *Manager) failureWithLog(ctx context.Context, name string, err error) error {
	if m.Tail == nil {
		return err
	}
	lines := m.Tail(context.WithoutCancel(ctx), quadlet.ServiceUnit(name), 8)
	if len(lines) == 0 || (len(lines) == 1 && lines[0] == "") {
		return err
	}
	return fmt.Errorf("%w; last log lines: %s", err, strings.Join(lines, " | "))
}

// WithEarlierHint keeps the hint an inner error already carries, in front
// of the one the caller adds: a refused key's advice must survive create's
// rollback message.
func WithEarlierHint(err error, hint string) error {
	if h := errdefs.Hint(err); h != "" && !strings.Contains(hint, h) {
		hint = h + "; " + hint
	}
	return errdefs.WithHint(err, "%s", hint)
}

// MissingImageHint names the one command that fixes a missing image. The
// built-in default image is the project's own, which an admin loads for
// each user (containers/load.sh, or the NixOS module does it); any other
// image is the user's to pull.
func MissingImageHint(ref config.ImageRef, user string) string {
	if ref == config.Default().Container.Image {
		return fmt.Sprintf("the devbox image is loaded per user by the host's admin: ask them to run `containers/load.sh %s` (README: \"Build and load the dev image\"), or pick another image with --image", user)
	}
	return fmt.Sprintf("pull or load it first (`podman pull %s`), or choose another with --image", ref)
}
