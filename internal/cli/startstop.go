package cli

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/policy"
	"github.com/devbox-quadlet/devbox-quadlet/internal/quadlet"
)

func startCommand(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "start",
		Usage:     "start a stopped dev container",
		ArgsUsage: "NAME",
		Action:    func(c *cli.Context) error { return runStartStop(c, env, true) },
	}
}

func stopCommand(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "stop",
		Usage:     "stop a running dev container; its home volume is kept",
		ArgsUsage: "NAME",
		Action:    func(c *cli.Context) error { return runStartStop(c, env, false) },
	}
}

func runStartStop(c *cli.Context, env *Env, start bool) error {
	name, err := oneName(c)
	if err != nil {
		return err
	}
	if err := policy.ValidateName(name); err != nil {
		return err
	}
	if err := requireUser(env); err != nil {
		return err
	}
	lock, err := lockUser(env)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	if _, err := existing(env, name); err != nil {
		return err
	}
	sys, err := dial(c, env)
	if err != nil {
		return err
	}
	defer sys.Close()
	unit := quadlet.ServiceUnit(name)
	states, err := sys.Units(c.Context, []string{unit})
	if err != nil {
		return err
	}
	running := len(states) == 1 && stateWord(states[0]) == "running"
	switch {
	case start && running:
		return withHint(errdefs.Errorf(errdefs.Exists, "container %q is already running", name), "`devbox-quadlet stop %s` stops it", name)
	case !start && !running && len(states) == 1 && states[0].ActiveState != "activating":
		return withHint(errdefs.Errorf(errdefs.Exists, "container %q is already stopped (%s)", name, states[0]), "`devbox-quadlet start %s` starts it", name)
	}
	if start {
		if err := sys.Start(c.Context, unit); err != nil {
			return withHint(fmt.Errorf("start %s: %w", name, err), "see `journalctl --user -u %s`", unit)
		}
		fmt.Fprintf(env.Stdout, "%s\trunning\n", name)
		return nil
	}
	if err := sys.Stop(c.Context, unit); err != nil {
		return fmt.Errorf("stop %s: %w", name, err)
	}
	fmt.Fprintf(env.Stdout, "%s\tstopped\n", name)
	return nil
}
