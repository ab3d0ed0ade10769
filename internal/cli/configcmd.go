package cli

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/devbox-quadlet/devbox-quadlet/internal/config"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
)

func configCommand(env *Env) *cli.Command {
	return &cli.Command{
		Name:  "config",
		Usage: "work with the configuration file",
		Subcommands: []*cli.Command{{
			Name:      "validate",
			Usage:     "check a configuration file; exit 0 if valid, 2 if not",
			ArgsUsage: "[FILE]",
			Action: func(c *cli.Context) error {
				pos, err := args(c)
				if err != nil {
					return err
				}
				path, explicit := configPath(c, env)
				switch len(pos) {
				case 0:
				case 1:
					path, explicit = pos[0], true
				default:
					return errdefs.Errorf(errdefs.Usage, "config validate takes at most one FILE")
				}
				_, found, err := config.Load(path, explicit)
				if err != nil {
					return err
				}
				if !found {
					fmt.Fprintf(env.Stdout, "%s: not present; built-in defaults apply\n", path)
					return nil
				}
				fmt.Fprintf(env.Stdout, "%s: valid\n", path)
				return nil
			},
		}},
	}
}
