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
		Description: "Each file is printed after a `# path: FILE` line.",
		Flags:       specFlags(),
		Action:      func(c *cli.Context) error { return runRender(c, env) },
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
	spec, err := specFromFlags(c, env, name, cfg, env.Now())
	if err != nil {
		return err
	}
	files, err := quadlet.Render(spec)
	if err != nil {
		return err
	}
	for i, f := range files {
		if i > 0 {
			fmt.Fprintln(env.Stdout)
		}
		fmt.Fprintf(env.Stdout, "# path: %s/%s\n", env.QuadletDir(), f.Name)
		env.Stdout.Write(f.Content)
	}
	return nil
}
