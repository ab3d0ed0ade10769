package cli

import (
	"fmt"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/quadlet"
)

func destroyCommand(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "destroy",
		Usage:     "stop a dev container and remove its units, container and home volume",
		ArgsUsage: "NAME",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "keep-volume", Usage: "keep the home volume devbox-NAME-home"},
			&cli.BoolFlag{Name: "json", Usage: "print the result as JSON (schema 1)"},
		},
		Action: func(c *cli.Context) error { return runDestroy(c, env) },
	}
}

type destroyResult struct {
	Schema         int            `json:"schema"`
	Name           string         `json:"name"`
	VolumeKept     bool           `json:"volume_kept"`
	Volume         string         `json:"volume"`
	RemovedUnit    string         `json:"removed_unit"`
	TailnetCleanup tailnetCleanup `json:"tailnet_cleanup"`
}

// existing returns the quadlet files of name that are on disk, and a
// not-found error when there are none.
func existing(env *Env, name string) ([]string, error) {
	dir := env.QuadletDir()
	var found []string
	for _, f := range []string{quadlet.ContainerFile(name), quadlet.VolumeFile(name)} {
		p := filepath.Join(dir, f)
		ok, err := fileExists(p)
		if err != nil {
			return nil, errdefs.Mark(errdefs.System, err)
		}
		if ok {
			found = append(found, p)
		}
	}
	if len(found) == 0 {
		return nil, withHint(errdefs.Errorf(errdefs.NotFound, "no container %q: there is no %s in %s", name, quadlet.ContainerFile(name), dir),
			"`devbox-quadlet list` shows your containers")
	}
	return found, nil
}

func runDestroy(c *cli.Context, env *Env) error {
	t, err := openTarget(c, env, targetOpts{lock: true, agent: true})
	if err != nil {
		return err
	}
	defer t.close()
	name, ag := t.name, t.ag
	// The leftovers of an interrupted create count as a container to destroy.
	left, interrupted := env.readIntent(name)
	if _, err := existing(env, name); err != nil && !interrupted {
		return err
	}
	sys, err := dial(c, env)
	if err != nil {
		return err
	}
	defer sys.Close()

	// Leave the tailnet first, while the container still runs. A
	// failure here is reported, never fatal: the node is ephemeral.
	onTailnet, running := false, false
	if spec, err := readSpec(env, name); err == nil {
		onTailnet = spec.Tailnet
	}
	if states, err := sys.Units(c.Context, []string{quadlet.ServiceUnit(name)}); err == nil && len(states) == 1 {
		running = states[0].ActiveState == "active"
	}
	cleanup := leaveTailnet(c.Context, env, t.cfg, ag, name, running, onTailnet)
	if !cleanup.OK {
		warnf(env, "%s may still be on the tailnet: logout %s; API %s", name, cleanup.Logout, cleanup.API)
	}

	keep := c.Bool("keep-volume") || (interrupted && left.VolumeExisted)
	if err := teardown(c.Context, env, sys, name, keep); err != nil {
		return withHint(fmt.Errorf("destroy %s: %w", name, err), "run `devbox-quadlet destroy %s` again; each step skips what is already gone", name)
	}
	if err := env.clearIntent(name); err != nil {
		return err
	}
	if ag != nil {
		if err := ag.Release(c.Context, name); err != nil {
			warnf(env, "%v", err)
		}
	}
	if c.Bool("json") {
		return writeJSON(env.Stdout, destroyResult{Schema: 1, Name: name, VolumeKept: keep, Volume: quadlet.VolumeName(name), RemovedUnit: quadlet.ServiceUnit(name), TailnetCleanup: cleanup})
	}
	detail := "tailnet: logout " + cleanup.Logout
	if cleanup.API != "not needed" {
		detail += ", API " + cleanup.API
	}
	if keep {
		detail = "volume " + quadlet.VolumeName(name) + " kept\t" + detail
	}
	fmt.Fprintf(env.Stdout, "%s\tdestroyed\t%s\n", name, detail)
	return nil
}
