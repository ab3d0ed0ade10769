package cli

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/devbox-quadlet/devbox-quadlet/internal/config"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/lifecycle"
	"github.com/devbox-quadlet/devbox-quadlet/internal/reaper"
)

func reapCommand(env *Env) *cli.Command {
	return &cli.Command{
		Name:  "reap",
		Usage: "stop idle dev containers and destroy long-stopped ones (run by a systemd user timer)",
		Description: "Reads each container's activity (session files, CPU time, keepalive leases),\n" +
			"updates its idle clock, warns before acting, stops containers idle for\n" +
			"[reaper] idle_stop and, after exporting the home volume, destroys containers\n" +
			"stopped for stopped_destroy. --dry-run shows what it would do and changes nothing.\n" +
			"See docs/reaper.md.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "dry-run", Usage: "show each container's clock and the next action; change nothing"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON (schema 1)"},
		},
		Action: func(c *cli.Context) error { return runReap(c, env) },
	}
}

func runReap(c *cli.Context, env *Env) error {
	cfg, err := loadConfig(c, env)
	if err != nil {
		return err
	}
	if err := requireUser(env); err != nil {
		return err
	}
	res, err := newManager(c, env, cfg).Sweep(c.Context, c.Bool("dry-run"))
	if err != nil {
		return err
	}
	if c.Bool("json") {
		if err := writeJSON(env.Stdout, res); err != nil {
			return err
		}
		return res.Err()
	}
	w := env.Stdout
	fmt.Fprintf(w, "%-20s %-8s %-22s %-10s %s\n", "NAME", "STATE", "LAST ACTIVE", "SIGNAL", "NEXT")
	for _, e := range res.Containers {
		next := e.Next + " at " + e.Due.Format(time.RFC3339)
		if e.LeaseUntil != nil {
			next += " (lease until " + e.LeaseUntil.Format(time.RFC3339) + ")"
		}
		fmt.Fprintf(w, "%-20s %-8s %-22s %-10s %s\n", e.Name, e.State, e.LastActive.Format(time.RFC3339), e.Signal, next)
		for _, a := range e.Actions {
			verb := "did"
			if res.DryRun {
				verb = "would"
			}
			fmt.Fprintf(w, "  %s %s%s: %s\n", verb, a.Kind, ofSuffix(a), a.Why)
		}
	}
	return res.Err()
}

func ofSuffix(a reaper.Action) string {
	if a.Of == "" {
		return ""
	}
	return " of " + a.Of
}

func keepaliveCommand(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "keepalive",
		Usage:     "hold a dev container active for a while, so the reaper leaves it alone",
		ArgsUsage: "NAME",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "for", Value: "8h", Usage: "how long (`DURATION`: d, h, m, s)"},
			&cli.BoolFlag{Name: "clear", Usage: "end the lease now"},
		},
		Action: func(c *cli.Context) error {
			t, err := openTarget(c, env)
			if err != nil {
				return err
			}
			var until time.Time
			if !c.Bool("clear") {
				d, err := config.ParseDuration(c.String("for"))
				if err != nil {
					return errdefs.Errorf(errdefs.Usage, "--for: %w", err)
				}
				until = env.Now().Add(time.Duration(d)).UTC()
			}
			if err := newManager(c, env, t.cfg).SetLease(t.name, until); err != nil {
				return err
			}
			if until.IsZero() {
				fmt.Fprintf(env.Stdout, "%s\tlease cleared\n", t.name)
			} else {
				fmt.Fprintf(env.Stdout, "%s\tactive until %s\n", t.name, until.Format(time.RFC3339))
			}
			return nil
		},
	}
}

func restoreCommand(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "restore",
		Usage:     "recreate an auto-destroyed dev container with its archived home",
		ArgsUsage: "NAME",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "from", Usage: "the archive (`FILE`; default: the newest of NAME)"},
		},
		Action: func(c *cli.Context) error { return runRestore(c, env) },
	}
}

func runRestore(c *cli.Context, env *Env) error {
	name, err := oneName(c)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(c, env)
	if err != nil {
		return err
	}
	if err := requireUser(env); err != nil {
		return err
	}
	res, err := newManager(c, env, cfg).Restore(c.Context, lifecycle.RestoreOptions{Name: name, From: c.String("from")})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s\trestored from %s\n", name, res.Archive)
	return nil
}
