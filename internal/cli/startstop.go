package cli

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/quadlet"
)

func startCommand(env *Env) *cli.Command {
	return &cli.Command{
		Name:        "start",
		Usage:       "start a stopped dev container; it will come back after a reboot",
		ArgsUsage:   "NAME",
		Description: "Starts devbox-NAME.service and links it into default.target.wants, as\n`systemctl --user enable --now` would for a unit that is not generated.",
		Action:      func(c *cli.Context) error { return runLifecycle(c, env, "start") },
	}
}

func stopCommand(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "stop",
		Usage:     "stop a running dev container; it stays stopped after a reboot, and its home volume is kept",
		ArgsUsage: "NAME",
		Description: "Unlinks devbox-NAME.service from default.target.wants and stops it, as\n" +
			"`systemctl --user disable --now` would. A plain `systemctl --user stop` only\n" +
			"stops it until the next boot, as for any enabled unit.",
		Action: func(c *cli.Context) error { return runLifecycle(c, env, "stop") },
	}
}

func restartCommand(env *Env) *cli.Command {
	return &cli.Command{
		Name:        "restart",
		Usage:       "restart a dev container; the home volume is kept, the root file system is recreated",
		ArgsUsage:   "NAME",
		Description: "Restarts devbox-NAME.service (starting it if it was stopped) and links it into default.target.wants.",
		Action:      func(c *cli.Context) error { return runLifecycle(c, env, "restart") },
	}
}

func runLifecycle(c *cli.Context, env *Env, verb string) error {
	t, err := openTarget(c, env, targetOpts{lock: true, mustExist: true, agent: true})
	if err != nil {
		return err
	}
	defer t.close()
	name, ag := t.name, t.ag
	env.tracef("locked, read the config and connected to the host agent")
	sys, err := dial(c, env)
	if err != nil {
		return err
	}
	defer sys.Close()
	env.tracef("connected to the user manager")
	unit := quadlet.ServiceUnit(name)
	states, err := sys.Units(c.Context, []string{unit})
	if err != nil {
		return err
	}
	env.tracef("read the unit's state")
	word := "stopped"
	if len(states) == 1 {
		word = stateWord(states[0])
	}
	switch {
	case verb == "start" && (word == "running" || word == "starting"):
		// Still record the intent, so a container started with plain
		// systemctl also comes back after a reboot.
		_ = env.enableAutostart(name)
		return withHint(errdefs.Errorf(errdefs.Exists, "container %q is already running", name), "`devbox-quadlet restart %s` restarts it", name)
	case verb == "stop" && (word == "stopped" || word == "failed"):
		_ = env.disableAutostart(name)
		if word == "failed" {
			_ = sys.ResetFailed(c.Context, unit)
		}
		return withHint(errdefs.Errorf(errdefs.Exists, "container %q is already stopped (%s)", name, states[0]), "`devbox-quadlet start %s` starts it", name)
	}

	switch verb {
	case "stop":
		// Record the intent first: even if the stop is interrupted, the
		// container does not come back at the next boot.
		if err := env.disableAutostart(name); err != nil {
			return err
		}
		if err := sys.Stop(c.Context, unit); err != nil {
			return fmt.Errorf("stop %s: %w", name, err)
		}
		env.tracef("stop job done")
		if ag != nil {
			if err := ag.Stop(c.Context, name); err != nil {
				warnf(env, "%v", err)
			}
		}
		fmt.Fprintf(env.Stdout, "%s\tstopped\n", name)
		return nil
	case "start", "restart":
		run := sys.Start
		if verb == "restart" {
			run = sys.Restart
		}
		if ag != nil && word != "running" {
			if err := reserveStart(c, env, ag, name); err != nil {
				return err
			}
			env.tracef("reserved with the host agent")
		}
		release := func() {
			if ag != nil {
				_ = ag.Stop(context.WithoutCancel(c.Context), name)
			}
		}
		clearNodeStatus(env, name)
		if err := run(c.Context, unit); err != nil {
			release()
			return withEarlierHint(fmt.Errorf("%s %s: %w", verb, name, startFailure(c.Context, env, name, err)), fmt.Sprintf("see `devbox-quadlet logs %s` and `journalctl --user -u %s`", name, unit))
		}
		env.tracef("%s job done", verb)
		if err := settle(c.Context, env, sys, name, env.StartSettle); err != nil {
			release()
			return withEarlierHint(fmt.Errorf("%s %s: %w", verb, name, startFailure(c.Context, env, name, err)), fmt.Sprintf("see `devbox-quadlet logs %s` and `journalctl --user -u %s`", name, unit))
		}
		if err := env.enableAutostart(name); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%s\trunning\n", name)
		return nil
	}
	return errdefs.Errorf(errdefs.Usage, "unknown verb %q", verb)
}

// reserveStart asks the agent to admit a start. A container the ledger does
// not know (created before the agent was installed) is adopted: admitted as
// a create, which also checks its name is still free.
func reserveStart(c *cli.Context, env *Env, ag Agent, name string) error {
	spec, err := readSpec(env, name)
	if err != nil {
		return err
	}
	cpus, mem := float64(spec.CPUs), int64(spec.Memory)
	err = ag.Reserve(c.Context, name, false, cpus, mem)
	adopted := false
	if errdefs.Is(err, errdefs.NotFound) {
		err, adopted = ag.Reserve(c.Context, name, true, cpus, mem), true
	}
	if err != nil {
		return withHint(fmt.Errorf("start %s: %w", name, err), "%s", admissionHint(err, name))
	}
	if adopted {
		// Its files exist (openTarget checked): say so, or the new entry is
		// dropped as an unconfirmed reservation if the start fails.
		if err := ag.Confirm(c.Context, name); err != nil {
			warnf(env, "%v", err)
		}
	}
	return nil
}
