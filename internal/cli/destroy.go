package cli

import (
	"bufio"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/lifecycle"
	"github.com/devbox-quadlet/devbox-quadlet/internal/quadlet"
)

func destroyCommand(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "destroy",
		Usage:     "stop a dev container, archive its home, and remove its units, container and home volume",
		ArgsUsage: "NAME",
		Description: "Logs the container out of the tailnet, stops it, exports its home volume to an\n" +
			"archive in $XDG_STATE_HOME/devbox-quadlet/archives (kept for [reaper] archive_keep;\n" +
			"`devbox-quadlet restore NAME` brings the container back), then removes its units,\n" +
			"container, secret and volume. On a terminal it asks you to type the name; scripts\n" +
			"must pass --yes. A name the host agent still holds for you with no files left is\n" +
			"released.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "do not ask for the name (required when stdin is not a terminal)"},
			&cli.BoolFlag{Name: "no-archive", Usage: "do not archive the home first: it is gone for good"},
			&cli.BoolFlag{Name: "keep-volume", Usage: "keep the home volume devbox-NAME-home (no archive needed)"},
			&cli.BoolFlag{Name: "json", Usage: "print the result as JSON (schema 1)"},
		},
		Action: func(c *cli.Context) error { return runDestroy(c, env) },
	}
}

// destroyResult is the --json output of destroy. Fields may be added, never renamed.
type destroyResult struct {
	Schema         int            `json:"schema"`
	Name           string         `json:"name"`
	VolumeKept     bool           `json:"volume_kept"`
	Volume         string         `json:"volume"`
	RemovedUnit    string         `json:"removed_unit"`
	TailnetCleanup tailnetCleanup `json:"tailnet_cleanup"`
	// Archive is the export of the home that restore brings back; empty
	// with --no-archive, --keep-volume, or when there was no volume.
	Archive string `json:"archive"`
	// Released is true when only a host-ledger entry was left, and freed.
	Released bool `json:"released,omitempty"`
}

func runDestroy(c *cli.Context, env *Env) error {
	t, err := openTarget(c, env)
	if err != nil {
		return err
	}
	name := t.name
	r, err := newManager(c, env, t.cfg).Destroy(c.Context, lifecycle.DestroyOptions{
		Name: name, NoArchive: c.Bool("no-archive"), KeepVolume: c.Bool("keep-volume"),
		Confirm: func(archive bool) error { return confirmDestroy(c, env, name, archive) },
	})
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return writeJSON(env.Stdout, destroyResult{Schema: 1, Name: name, VolumeKept: r.VolumeKept, Volume: quadlet.VolumeName(name),
			RemovedUnit: quadlet.ServiceUnit(name), TailnetCleanup: r.Tailnet, Archive: r.Archive, Released: r.Released})
	}
	if r.Released {
		fmt.Fprintf(env.Stdout, "%s\treleased\tthe host agent held the name for you; no files were left\n", name)
		return nil
	}
	detail := "tailnet: logout " + r.Tailnet.Logout
	if r.Tailnet.API != "not needed" {
		detail += ", API " + r.Tailnet.API
	}
	if r.VolumeKept {
		detail = "volume " + quadlet.VolumeName(name) + " kept\t" + detail
	} else if r.Archive != "" {
		detail = "home archived to " + r.Archive + " (`devbox-quadlet restore " + name + "`)\t" + detail
	}
	fmt.Fprintf(env.Stdout, "%s\tdestroyed\t%s\n", name, detail)
	return nil
}

// confirmDestroy asks for the container's name on a terminal, unless --yes.
// It never prompts a script: without a terminal and without --yes the answer
// is exit 2, so a pipeline cannot destroy by accident.
func confirmDestroy(c *cli.Context, env *Env, name string, archive bool) error {
	if c.Bool("yes") {
		return nil
	}
	if env.StdinIsTerminal == nil || !env.StdinIsTerminal() {
		return withHint(errdefs.Errorf(errdefs.Usage, "destroy %s: refusing to destroy without confirmation: stdin is not a terminal", name),
			"pass --yes to destroy %s from a script", name)
	}
	what := "Its home is archived first; `devbox-quadlet restore " + name + "` brings it back."
	if !archive {
		what = "Its home is NOT archived."
	}
	fmt.Fprintf(env.Stderr, "This destroys the dev container %s: its units, container and home volume. %s\nType the name to confirm: ", name, what)
	line, err := bufio.NewReader(env.Stdin).ReadString('\n')
	if strings.TrimSpace(line) != name {
		if err != nil && strings.TrimSpace(line) == "" {
			fmt.Fprintln(env.Stderr)
		}
		return withHint(errdefs.Errorf(errdefs.Usage, "destroy %s: not confirmed; nothing was changed", name),
			"type the name exactly, or pass --yes")
	}
	return nil
}
