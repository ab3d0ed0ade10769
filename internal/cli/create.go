package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/devbox-quadlet/devbox-quadlet/internal/config"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/policy"
	"github.com/devbox-quadlet/devbox-quadlet/internal/quadlet"
)

func specFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "cpus", Usage: "CPU limit, e.g. 2 or 0.5 (default from config: 2)"},
		&cli.StringFlag{Name: "memory", Usage: "memory limit, e.g. 512M, 4G or 4GiB (default from config: 4G)"},
		&cli.StringFlag{Name: "image", Usage: "container image (default from config)"},
	}
}

// specFromFlags validates NAME and the flags against the configuration and
// builds the spec. It touches nothing, so every verb can call it first.
func specFromFlags(c *cli.Context, env *Env, name string, cfg config.Config, now time.Time) (quadlet.Spec, error) {
	if err := policy.ValidateName(name); err != nil {
		return quadlet.Spec{}, err
	}
	s := quadlet.Spec{
		Name:        name,
		Owner:       env.UserName,
		Image:       cfg.Container.Image,
		CPUs:        cfg.Container.CPUs,
		Memory:      cfg.Container.Memory,
		TasksMax:    int(cfg.Container.TasksMax),
		Created:     now.UTC().Truncate(time.Second),
		ToolVersion: Version,
	}
	if c.IsSet("cpus") {
		v, err := config.ParseCPUs(c.String("cpus"))
		if err != nil {
			return s, errdefs.Errorf(errdefs.Usage, "--cpus: %w", err)
		}
		s.CPUs = v
	}
	if c.IsSet("memory") {
		v, err := config.ParseSize(c.String("memory"))
		if err != nil {
			return s, errdefs.Errorf(errdefs.Usage, "--memory: %w", err)
		}
		s.Memory = v
	}
	if c.IsSet("image") {
		v, err := config.ParseImageRef(c.String("image"))
		if err != nil {
			return s, errdefs.Errorf(errdefs.Usage, "--image: %w", err)
		}
		s.Image = v
	}
	if s.Owner == "" {
		s.Owner = "unknown"
	}
	return s, nil
}

func createCommand(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "create",
		Usage:     "create a dev container and start it",
		ArgsUsage: "NAME",
		Description: "Writes devbox-NAME.container and devbox-NAME-home.volume into your quadlet\n" +
			"directory, reloads your systemd user manager and starts devbox-NAME.service.\n" +
			"If any step fails, the earlier steps are undone and nothing is left behind.",
		Flags: append(specFlags(),
			&cli.BoolFlag{Name: "no-start", Usage: "write and load the units but do not start the container"},
			&cli.BoolFlag{Name: "json", Usage: "print the result as JSON (schema 1)"},
		),
		Action: func(c *cli.Context) error { return runCreate(c, env) },
	}
}

// createResult is the --json output of create. Fields may be added, never renamed.
type createResult struct {
	Schema        int     `json:"schema"`
	Name          string  `json:"name"`
	Unit          string  `json:"unit"`
	State         string  `json:"state"`
	Image         string  `json:"image"`
	CPUs          float64 `json:"cpus"`
	MemoryMax     int64   `json:"memory_max"`
	ContainerFile string  `json:"container_file"`
	VolumeFile    string  `json:"volume_file"`
	Volume        string  `json:"volume"`
}

func runCreate(c *cli.Context, env *Env) error {
	// Validate everything first; nothing below this block may fail on input.
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
	if err := requireUser(env); err != nil {
		return err
	}

	lock, err := lockUser(env)
	if err != nil {
		return err
	}
	defer lock.Unlock()

	dir := env.QuadletDir()
	for _, f := range files {
		exists, err := fileExists(filepath.Join(dir, f.Name))
		if err != nil {
			return errdefs.Mark(errdefs.System, err)
		}
		if exists {
			return withHint(errdefs.Errorf(errdefs.Exists, "container %q already exists: %s is there", name, filepath.Join(dir, f.Name)),
				"pick another name, or remove it first with `devbox-quadlet destroy %s`", name)
		}
	}
	ok, err := env.Podman.ImageExists(c.Context, string(spec.Image))
	if err != nil {
		return err
	}
	if !ok {
		return withHint(errdefs.Errorf(errdefs.System, "image %s is not in your podman image store", spec.Image),
			"load it first (`podman load` or `podman pull`), or choose another with --image")
	}
	sys, err := dial(c, env)
	if err != nil {
		return err
	}
	defer sys.Close()

	var undo undoStack
	err = func() error {
		// Undo runs newest first: stop, remove container and volume, remove
		// the files, and only then reload, so the units disappear.
		undo.push("reload the user manager", sys.Reload)
		for _, f := range files {
			if err := writeNew(dir, f.Name, f.Content); err != nil {
				return err
			}
			path := filepath.Join(dir, f.Name)
			undo.push("remove "+path, func(context.Context) error { return removeIfExists(path) })
		}
		if err := sys.Reload(c.Context); err != nil {
			return err
		}
		if c.Bool("no-start") {
			return nil
		}
		undo.push("remove volume "+quadlet.VolumeName(name), func(ctx context.Context) error {
			return env.Podman.RemoveVolume(ctx, quadlet.VolumeName(name))
		})
		undo.push("remove container "+quadlet.ContainerName(name), func(ctx context.Context) error {
			return env.Podman.RemoveContainer(ctx, quadlet.ContainerName(name))
		})
		undo.push("stop "+quadlet.ServiceUnit(name), func(ctx context.Context) error {
			_ = sys.Stop(ctx, quadlet.VolumeServiceUnit(name))
			_ = sys.ResetFailed(ctx, quadlet.VolumeServiceUnit(name))
			err := sys.Stop(ctx, quadlet.ServiceUnit(name))
			_ = sys.ResetFailed(ctx, quadlet.ServiceUnit(name))
			return err
		})
		return sys.Start(c.Context, quadlet.ServiceUnit(name))
	}()
	if err != nil {
		undo.run(c.Context, env)
		return withHint(fmt.Errorf("create %s: %w", name, err),
			"nothing was left behind; see `journalctl --user -u %s` for the container's own output", quadlet.ServiceUnit(name))
	}

	state := "stopped"
	if !c.Bool("no-start") {
		state = "running"
	}
	res := createResult{
		Schema: 1, Name: name, Unit: quadlet.ServiceUnit(name), State: state,
		Image: string(spec.Image), CPUs: float64(spec.CPUs), MemoryMax: int64(spec.Memory),
		ContainerFile: filepath.Join(dir, quadlet.ContainerFile(name)),
		VolumeFile:    filepath.Join(dir, quadlet.VolumeFile(name)),
		Volume:        quadlet.VolumeName(name),
	}
	if c.Bool("json") {
		return writeJSON(env.Stdout, res)
	}
	fmt.Fprintf(env.Stdout, "%s\t%s\t%s\n", name, state, res.Unit)
	return nil
}

// undoStack records how to reverse each completed step of a multi-step verb
// and replays them newest first when a later step fails.
type undoStack struct {
	steps []undoStep
}

type undoStep struct {
	what string
	fn   func(context.Context) error
}

func (u *undoStack) push(what string, fn func(context.Context) error) {
	u.steps = append(u.steps, undoStep{what, fn})
}

// run undoes every step. It uses a fresh, bounded context so that a cancelled
// create (Ctrl-C, SIGTERM) still cleans up after itself.
func (u *undoStack) run(parent context.Context, env *Env) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), 2*time.Minute)
	defer cancel()
	for i := len(u.steps) - 1; i >= 0; i-- {
		s := u.steps[i]
		if err := s.fn(ctx); err != nil {
			warnf(env, "rollback: %s: %v", s.what, err)
		}
	}
}
