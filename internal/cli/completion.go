package cli

import (
	_ "embed"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
)

// The file under contrib/ that this package generates (the man page) is
// rewritten by its test:
//
//go:generate go test -run ^TestGeneratedFilesAreCurrent$ -update

// The completion scripts, as `completion SHELL` prints them and `make
// install` installs them (from this package's completion/, the one copy).
// Each is a small fixed shim around `__complete` (complete.go).
var (
	//go:embed completion/devbox-quadlet.bash
	bashCompletion string
	//go:embed completion/_devbox-quadlet
	zshCompletion string
	//go:embed completion/devbox-quadlet.fish
	fishCompletion string
)

// completionScript is one shell's script, and its help: how to load it
// by hand and where `make install` puts it.
type completionScript struct {
	Shell, Script, Description string
}

// completionScripts lists the shells in the order help shows them.
func completionScripts() []completionScript {
	return []completionScript{
		{"bash", bashCompletion, "To load it into the running shell: `source <(devbox-quadlet completion bash)`.\n" +
			"`make install` puts it in PREFIX/share/bash-completion/completions/."},
		{"zsh", zshCompletion, "To load it into the running shell, after compinit:\n" +
			"`source <(devbox-quadlet completion zsh)`.\n" +
			"`make install` puts it in PREFIX/share/zsh/site-functions/."},
		{"fish", fishCompletion, "To load it into the running shell: `devbox-quadlet completion fish | source`.\n" +
			"`make install` puts it in PREFIX/share/fish/vendor_completions.d/."},
	}
}

func completionCommand(env *Env) *cli.Command {
	var subs []*cli.Command
	for _, s := range completionScripts() {
		subs = append(subs, &cli.Command{
			Name:        s.Shell,
			Usage:       "print the " + s.Shell + " completion script",
			Description: s.Description,
			Action: func(c *cli.Context) error {
				if c.NArg() > 0 {
					return errdefs.Errorf(errdefs.Usage, "completion %s takes no arguments, got %q", s.Shell, c.Args().First())
				}
				fmt.Fprint(env.Stdout, s.Script)
				return nil
			},
		})
	}
	return &cli.Command{
		Name:  "completion",
		Usage: "print the shell completion script for bash, zsh or fish",
		Description: "The scripts complete verbs, flags and the names of your containers, which\n" +
			"they read from your quadlet directory. `make install` installs all three where\n" +
			"bash-completion, zsh and fish look for them; each subcommand's help says how\n" +
			"to load one by hand.",
		Subcommands: subs,
	}
}
