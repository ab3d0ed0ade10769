package cli

import (
	"github.com/urfave/cli/v2"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/journal"
	"github.com/devbox-quadlet/devbox-quadlet/internal/quadlet"
)

func logsCommand(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "logs",
		Usage:     "show a dev container's output from the user journal",
		ArgsUsage: "NAME",
		Description: "Runs `journalctl --user --unit devbox-NAME.service CONTAINER_NAME=devbox-NAME`:\n" +
			"the payload's own lines. --all adds systemd's and podman's lines about the unit.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing new lines until interrupted"},
			&cli.IntFlag{Name: "tail", Aliases: []string{"n"}, Usage: "print only the last `N` lines"},
			&cli.StringFlag{Name: "since", Usage: "lines since `TIME`, in journalctl's syntax (\"1h ago\", \"2026-11-28 10:00\")"},
			&cli.BoolFlag{Name: "timestamps", Aliases: []string{"t"}, Usage: "prefix each line with its time"},
			&cli.BoolFlag{Name: "all", Usage: "include systemd's and podman's own lines about the unit"},
		},
		Action: func(c *cli.Context) error { return runLogs(c, env) },
	}
}

func runLogs(c *cli.Context, env *Env) error {
	t, err := openTarget(c, env)
	if err != nil {
		return err
	}
	if _, err := existing(env, t.name); err != nil {
		return err
	}
	if c.Int("tail") < 0 {
		return errdefs.Errorf(errdefs.Usage, "--tail %d: want a positive number of lines", c.Int("tail"))
	}
	name := t.name
	q := journal.Query{
		Unit: quadlet.ServiceUnit(name), Container: quadlet.ContainerName(name),
		Tail: c.Int("tail"), Since: c.String("since"), Follow: c.Bool("follow"),
		Timestamps: c.Bool("timestamps"), Everything: c.Bool("all"),
	}
	// Ctrl-C cancels c.Context; for --follow that is the normal way out.
	return env.Journal.Logs(c.Context, q, env.Stdout, env.Stderr)
}
