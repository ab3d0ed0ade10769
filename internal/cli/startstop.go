package cli

import (
	"fmt"

	"github.com/urfave/cli/v2"
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
	t, err := openTarget(c, env)
	if err != nil {
		return err
	}
	m := newManager(c, env, t.cfg)
	run, word := m.Start, "running"
	switch verb {
	case "stop":
		run, word = m.Stop, "stopped"
	case "restart":
		run = m.Restart
	}
	if err := run(c.Context, t.name); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s\t%s\n", t.name, word)
	return nil
}
