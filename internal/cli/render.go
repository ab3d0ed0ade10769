package cli

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/devbox-quadlet/devbox-quadlet/internal/quadlet"
)

func renderCommand(env *Env) *cli.Command {
	return &cli.Command{
		Name:        "render",
		Usage:       "print the quadlet files that create would write, and touch nothing",
		ArgsUsage:   "NAME",
		Description: "Each file is printed after a `# path: FILE` line: the plan create applies.",
		Flags: append(specFlags(),
			&cli.BoolFlag{Name: "with-syncthing", Usage: "ask the image to run Syncthing (tailnet only), recorded in the unit"},
		),
		Action: func(c *cli.Context) error { return runRender(c, env) },
	}
}

func runRender(c *cli.Context, env *Env) error {
	name, err := oneName(c)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(c, env)
	if err != nil {
		return err
	}
	req, err := requestFromFlags(c, name)
	if err != nil {
		return err
	}
	m := newManager(c, env, cfg)
	plan, err := m.Plan(req, false)
	if err != nil {
		return err
	}
	// create asks the image whether its init reports readiness; so does
	// render, read-only, so that the two cannot differ.
	if img, err := env.Podman.Image(c.Context, string(plan.Spec.Image), quadlet.NotifyLabel); err == nil && img.Labels[quadlet.NotifyLabel] == "true" {
		if plan, err = m.Plan(req, true); err != nil {
			return err
		}
	}
	for i, f := range plan.Files {
		if i > 0 {
			fmt.Fprintln(env.Stdout)
		}
		fmt.Fprintf(env.Stdout, "# path: %s/%s\n", plan.Dir, f.Name)
		env.Stdout.Write(f.Content)
	}
	return nil
}
