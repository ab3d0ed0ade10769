package cli

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/devbox-quadlet/devbox-quadlet/internal/config"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/quadlet"
	"github.com/devbox-quadlet/devbox-quadlet/internal/reaper"
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
		if released, rerr := releaseOrphan(c.Context, env, ag, name); rerr != nil || !released {
			if rerr != nil {
				warnf(env, "%v", rerr)
			}
			return err
		}
		if c.Bool("json") {
			return writeJSON(env.Stdout, destroyResult{Schema: 1, Name: name, Volume: quadlet.VolumeName(name), RemovedUnit: quadlet.ServiceUnit(name), Released: true,
				TailnetCleanup: tailnetCleanup{Logout: "not needed", API: "not needed", OK: true}})
		}
		fmt.Fprintf(env.Stdout, "%s\treleased\tthe host agent held the name for you; no files were left\n", name)
		return nil
	}
	keep := c.Bool("keep-volume") || (interrupted && left.VolumeExisted)
	archive := !keep && !c.Bool("no-archive")
	if err := confirmDestroy(c, env, name, archive); err != nil {
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
	spec, specErr := readSpec(env, name)
	if specErr == nil {
		onTailnet = spec.Tailnet
	}
	if states, err := sys.Units(c.Context, []string{quadlet.ServiceUnit(name)}); err == nil && len(states) == 1 {
		running = states[0].ActiveState == "active"
	}
	cleanup := leaveTailnet(c.Context, env, t.cfg, ag, name, running, onTailnet)
	if !cleanup.OK {
		warnf(env, "%s may still be on the tailnet: logout %s; API %s", name, cleanup.Logout, cleanup.API)
	}

	// Archive the home before anything is removed, from a stopped
	// container so the copy is consistent. If the export fails, nothing is
	// removed.
	var archivePath string
	if archive {
		if archivePath, err = archiveHome(c.Context, env, sys, name, exportTimeout(env, t.cfg)); err != nil {
			return withHint(fmt.Errorf("destroy %s: nothing was removed: %w", name, err),
				"the container is stopped; `devbox-quadlet start %s` brings it back. Free space in %s, or pass --no-archive to destroy without a way back", name, env.archiveDir())
		}
	}

	if err := teardown(c.Context, env, sys, name, keep); err != nil {
		return withHint(fmt.Errorf("destroy %s: %w", name, err), "run `devbox-quadlet destroy %s` again; each step skips what is already gone", name)
	}
	if err := env.clearIntent(name); err != nil {
		return err
	}
	releaseName(c.Context, env, t.cfg, ag, name)
	if c.Bool("json") {
		return writeJSON(env.Stdout, destroyResult{Schema: 1, Name: name, VolumeKept: keep, Volume: quadlet.VolumeName(name), RemovedUnit: quadlet.ServiceUnit(name), TailnetCleanup: cleanup, Archive: archivePath})
	}
	detail := "tailnet: logout " + cleanup.Logout
	if cleanup.API != "not needed" {
		detail += ", API " + cleanup.API
	}
	if keep {
		detail = "volume " + quadlet.VolumeName(name) + " kept\t" + detail
	} else if archivePath != "" {
		detail = "home archived to " + archivePath + " (`devbox-quadlet restore " + name + "`)\t" + detail
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

// archiveHome stops the container and exports its home volume into the
// archive directory, with the unit file beside it so restore recreates the
// same container (image, limits). It returns the archive's path; no volume
// means nothing to archive (""). The export is bounded (Env.ExportTimeout).
func archiveHome(ctx context.Context, env *Env, sys Systemd, name string, timeout time.Duration) (string, error) {
	exists, err := env.Podman.VolumeExists(ctx, quadlet.VolumeName(name))
	if err != nil || !exists {
		return "", err
	}
	if err := env.disableAutostart(name); err != nil {
		return "", err
	}
	if err := sys.Stop(ctx, quadlet.ServiceUnit(name)); err != nil {
		return "", err
	}
	return exportHome(ctx, env, name, env.archiveDir(), timeout)
}

// exportHome writes the archive of name's home volume into dir, with the
// unit file beside it. A failed export leaves no partial archive.
func exportHome(ctx context.Context, env *Env, name, dir string, timeout time.Duration) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", errdefs.Errorf(errdefs.System, "export %s: %w", name, err)
	}
	archive := filepath.Join(dir, reaper.ArchiveName(name, env.Now()))
	ectx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := env.Podman.ExportVolume(ectx, quadlet.VolumeName(name), archive); err != nil {
		os.Remove(archive)
		if ectx.Err() != nil && ctx.Err() == nil {
			return "", errdefs.Errorf(errdefs.System, "export the home of %s: podman did not finish within %s", name, timeout)
		}
		return "", errdefs.Errorf(errdefs.System, "export the home of %s: %w", name, err)
	}
	if unitData, err := os.ReadFile(filepath.Join(env.QuadletDir(), quadlet.ContainerFile(name))); err == nil {
		_ = replaceFile(dir, filepath.Base(archive)+reaper.ArchiveSpecSuffix, unitData)
	}
	// Its age starts now; if this fails, the next sweep starts it.
	_ = recordArchive(archive, env.Now())
	return archive, nil
}

// exportTimeout is Env.ExportTimeout if set (tests), else [reaper] export_timeout.
func exportTimeout(env *Env, cfg config.Config) time.Duration {
	if env.ExportTimeout > 0 {
		return env.ExportTimeout
	}
	if d := time.Duration(cfg.Reaper.ExportTimeout); d > 0 {
		return d
	}
	return DefaultExportTimeout
}

// releaseOrphan frees a name the host agent holds for this user although no
// file of it is left (a create killed after its reservation, a destroy
// while the agent was down). It reports whether it released anything.
func releaseOrphan(ctx context.Context, env *Env, ag Agent, name string) (bool, error) {
	if ag == nil {
		return false, nil
	}
	l, err := ag.List(ctx, false)
	if err != nil {
		return false, err
	}
	for _, e := range l.Entries {
		if e.Name == name && int(e.UID) == env.UID {
			if err := ag.Release(ctx, name); err != nil {
				return false, err
			}
			return true, nil
		}
	}
	return false, nil
}

// releaseName frees name in the host ledger after a destroy. Without an
// agent in mode "auto" (it may be installed but down) it leaves a marker for
// a later command (replayPendingReleases); mode "off" has no ledger.
func releaseName(ctx context.Context, env *Env, cfg config.Config, ag Agent, name string) {
	if ag == nil {
		if cfg.Agent.Mode == "auto" {
			env.notePendingRelease(name)
		}
		return
	}
	if err := ag.Release(ctx, name); err != nil {
		warnf(env, "%v; the next command that reaches the host agent releases it", err)
		env.notePendingRelease(name)
	}
}
