package cli

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/devbox-quadlet/devbox-quadlet/internal/config"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/podman"
	"github.com/devbox-quadlet/devbox-quadlet/internal/policy"
	"github.com/devbox-quadlet/devbox-quadlet/internal/quadlet"
	"github.com/devbox-quadlet/devbox-quadlet/internal/reaper"
	"github.com/devbox-quadlet/devbox-quadlet/internal/secrets"
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
			&cli.BoolFlag{Name: "with-syncthing", Usage: "ask the image to run Syncthing (tailnet only), recorded in the unit"},
			&cli.BoolFlag{Name: "keep-on-failure", Usage: "on failure, keep the files, units and volume for inspection instead of rolling back"},
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
	Syncthing     bool    `json:"syncthing"`
	// Secret is the podman secret with the auth key; empty without a tailnet.
	Secret string `json:"secret"`
	// Hostname and Tags are what the container joins the tailnet as.
	Hostname string `json:"tailnet_hostname,omitempty"`
	Tags     string `json:"tailnet_tags,omitempty"`
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
	spec.Syncthing = c.Bool("with-syncthing")
	spec.Tailnet = tailnetEnabled(cfg)
	if spec.Tailnet {
		spec.LoginServer = string(cfg.Tailnet.LoginServer)
	}
	spec.ActivityDir = env.newActivityDir(name)
	files, err := quadlet.Render(spec)
	if err != nil {
		return err
	}
	if err := requireUser(env); err != nil {
		return err
	}
	env.tracef("validated the request and rendered the units")

	lock, err := lockUser(env, "create "+name)
	if err != nil {
		return err
	}
	defer lock.Unlock()

	sys, err := dial(c, env)
	if err != nil {
		return err
	}
	defer sys.Close()
	env.tracef("locked and connected to the user manager")

	// A create that was killed part-way left an intent record: clean up what
	// it made, then start afresh, unless it may be in use (see
	// recoverInterrupted). Never double anything, never delete a home.
	if left, ok := env.readIntent(name); ok {
		if err := recoverInterrupted(c.Context, env, sys, name, left); err != nil {
			return err
		}
	}

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
	mine, err := ownContainers(env)
	if err != nil {
		return err
	}
	names := make([]string, len(mine))
	for i, s := range mine {
		names[i] = s.Name
	}
	if err := policy.CheckUserCap(env.UserName, names, cfg.MaxPerUser(env.UserName)); err != nil {
		return withHint(err, "free a slot with `devbox-quadlet destroy NAME` (`devbox-quadlet list` shows them)")
	}
	// Each podman check is a whole podman start-up, the slowest thing here
	// before the start itself; they do not depend on each other.
	var (
		image               podman.Image
		volumeExisted       bool
		imageErr, volumeErr error
		checks              sync.WaitGroup
	)
	checks.Add(2)
	go func() {
		defer checks.Done()
		image, imageErr = env.Podman.Image(c.Context, string(spec.Image), quadlet.NotifyLabel)
	}()
	go func() {
		defer checks.Done()
		volumeExisted, volumeErr = env.Podman.VolumeExists(c.Context, quadlet.VolumeName(name))
	}()
	checks.Wait()
	env.tracef("podman image exists and volume exists")
	// One message is enough when both fail alike (no podman at all).
	if err := cmp.Or(imageErr, volumeErr); err != nil {
		return err
	}
	if !image.Exists {
		return withHint(errdefs.Errorf(errdefs.System, "image %s is not in your podman image store", spec.Image), "%s", missingImageHint(spec.Image, env.UserName))
	}
	// An image whose init reports readiness (devbox-init does) gets a unit
	// whose start waits for it: create returns once the container is on
	// the tailnet, not when its process was forked.
	if image.Labels[quadlet.NotifyLabel] == "true" {
		spec.Notify = true
		if files, err = quadlet.Render(spec); err != nil {
			return err
		}
	}
	if volumeExisted {
		warnf(env, "reusing the existing home volume %s", quadlet.VolumeName(name))
	}

	ag, err := hostAgent(c, env, cfg)
	if err != nil {
		return err
	}
	if ag != nil {
		defer ag.Close()
		replayPendingReleases(c.Context, env, ag)
	}

	// Act. The intent record goes first, before the agent's reservation,
	// so a kill at any later point is recoverable and tells the next create
	// or destroy that the agent may hold the name; it is cleared last,
	// whatever happened.
	if err := env.writeIntent(intent{Name: name, Started: env.Now().UTC(), PID: os.Getpid(), VolumeExisted: volumeExisted}); err != nil {
		return err
	}
	// abandon undoes what happened before anything was made.
	abandon := func() {
		if err := env.clearIntent(name); err != nil {
			warnf(env, "%v", err)
		}
	}

	// The auth key is resolved before the reservation and before anything
	// is made, so a secrets failure (exit 7) leaves nothing behind, and a
	// slow or failing lookup (1Password may take its whole timeout) never
	// holds a reservation: the agent makes a user wait as long as a
	// reservation that never ran was held (docs/agent.md).
	var key secrets.Key
	if spec.Tailnet {
		if key, err = authKey(c.Context, env, cfg, ag, name); err != nil {
			abandon()
			return fmt.Errorf("create %s: %w", name, err)
		}
		env.tracef("resolved the auth key")
	}
	if ag != nil {
		// Host-wide admission: unique name, caps and resources, decided by
		// the agent in one serialised path. Everything after this releases
		// the reservation if it fails.
		if err := ag.Reserve(c.Context, name, true, float64(spec.CPUs), int64(spec.Memory)); err != nil {
			abandon()
			return withHint(fmt.Errorf("create %s: %w", name, err), "%s", admissionHint(err, name))
		}
		env.tracef("reserved with the host agent")
	}
	timer := timerKeep
	err = func() error {
		// The podman secret is needed by the start, not by the reload: make
		// it alongside the files and the reload, and always wait for it
		// before returning, so a rollback never races a late secret.
		secretDone := make(chan error, 1)
		if spec.Tailnet {
			go func() { secretDone <- env.Podman.CreateSecret(c.Context, quadlet.SecretName(name), key) }()
		} else {
			secretDone <- nil
		}
		waitSecret := sync.OnceValue(func() error { return <-secretDone })
		defer waitSecret()
		// The activity directory must exist before the start: podman
		// refuses a bind mount of a missing path.
		if err := os.MkdirAll(spec.ActivityDir, 0o700); err != nil {
			return errdefs.Errorf(errdefs.System, "create %s: %w", spec.ActivityDir, err)
		}
		for _, f := range files {
			if err := writeNew(dir, f.Name, f.Content); err != nil {
				return err
			}
		}
		if ag != nil {
			// The agent cannot read homes: it learns from us that the
			// container now exists, so the entry never expires as an
			// unconfirmed reservation (docs/agent.md). Not fatal: an
			// entry seen running is kept too.
			if err := ag.Confirm(c.Context, name); err != nil {
				warnf(env, "%v", err)
			}
		}
		crashPoint(env, "after-files")
		// The reaper's timer is per user, not per container: installed by
		// the first create that finds it missing, and kept by rollbacks.
		var terr error
		if timer, terr = ensureReapTimer(c.Context, env, sys, cfg, configFileArg(c, env)); terr != nil {
			warnf(env, "the reaper's timer was not installed: %v", terr)
		}
		if err := sys.Reload(c.Context); err != nil {
			return err
		}
		env.tracef("wrote the files and reloaded")
		crashPoint(env, "after-reload")
		if err := waitSecret(); err != nil {
			return err
		}
		if spec.Tailnet {
			env.tracef("podman secret create")
			crashPoint(env, "after-secret")
		}
		if c.Bool("no-start") {
			return nil
		}
		if env.Getenv("DEVBOX_QUADLET_CRASH_AT") == "during-start" {
			go func() { time.Sleep(300 * time.Millisecond); crashPoint(env, "during-start") }()
		}
		clearNodeStatus(env, name)
		if err := sys.Start(c.Context, quadlet.ServiceUnit(name)); err != nil {
			return startFailure(c.Context, env, name, err)
		}
		env.tracef("start job done")
		if err := settle(c.Context, env, sys, name, env.StartSettle); err != nil {
			return startFailure(c.Context, env, name, err)
		}
		env.tracef("settled: still up after %s", env.StartSettle)
		return env.enableAutostart(name)
	}()
	if err != nil {
		hint := "nothing was left behind; see `journalctl --user -u " + quadlet.ServiceUnit(name) + "`"
		if c.Bool("keep-on-failure") {
			hint = "--keep-on-failure kept the files, units and volume for inspection; `devbox-quadlet destroy " + name + "` removes them"
		} else if terr := teardown(c.Context, env, sys, name, volumeExisted); terr != nil {
			warnf(env, "rollback of %s was incomplete: %v", name, terr)
			hint = "rollback was incomplete; run `devbox-quadlet destroy " + name + "` to finish it"
		}
		_ = env.clearIntent(name)
		if ag != nil {
			if c.Bool("keep-on-failure") {
				_ = ag.Stop(context.WithoutCancel(c.Context), name)
			} else if rerr := ag.Release(context.WithoutCancel(c.Context), name); rerr != nil {
				warnf(env, "release of %s in the host ledger failed: %v", name, rerr)
			}
		}
		return withEarlierHint(fmt.Errorf("create %s: %w", name, err), hint)
	}
	if ag != nil && c.Bool("no-start") {
		// Created but not running: give back the running reservation.
		if err := ag.Stop(c.Context, name); err != nil {
			warnf(env, "%v", err)
		}
	}
	if err := env.clearIntent(name); err != nil {
		return err
	}
	switch timer {
	case timerStart:
		if err := sys.Start(c.Context, reaper.TimerUnit); err != nil {
			warnf(env, "the reaper's timer is installed but did not start: %v", err)
		}
	case timerRestart:
		if err := sys.Restart(c.Context, reaper.TimerUnit); err != nil {
			warnf(env, "the reaper's timer did not restart with the new settings: %v", err)
		}
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
		Syncthing:     spec.Syncthing,
	}
	if spec.Tailnet {
		res.Secret, res.Hostname, res.Tags = quadlet.SecretName(name), name, quadlet.Tags(env.UserName)
	}
	if c.Bool("json") {
		return writeJSON(env.Stdout, res)
	}
	fmt.Fprintf(env.Stdout, "%s\t%s\t%s\n", name, state, res.Unit)
	return nil
}

// admissionHint says what to do about a refusal from the host agent.
func admissionHint(err error, name string) string {
	switch {
	case errdefs.Is(err, errdefs.HostCap):
		return "the host is full: stop a container you do not need (`devbox-quadlet stop NAME`), or ask an admin (`devbox-quadlet list --all`)"
	case errdefs.Is(err, errdefs.UserCap) && strings.Contains(err.Error(), policy.BlockedPhrase):
		return "try again at the time given; the host agent paces reservations of containers that never ran (docs/agent.md)"
	case errdefs.Is(err, errdefs.UserCap) && strings.Contains(err.Error(), policy.InFlightPhrase):
		return "wait for that container to come up (`devbox-quadlet list`), then try again"
	case errdefs.Is(err, errdefs.UserCap):
		return "free a slot with `devbox-quadlet destroy NAME`"
	case errdefs.Is(err, errdefs.Exists):
		return "pick another name for " + name
	case errdefs.Is(err, errdefs.AgentMissing):
		return "ask the host's admin to check `systemctl status devbox-quadlet-agent`"
	}
	return "see `journalctl -u devbox-quadlet-agent` on the host"
}

// recoverInterrupted deals with the intent record of a create that was
// killed part-way (SIGKILL, a power cut, an OOM kill). It never removes
// anything that runs or may hold data written after that create: a
// container that runs, or whose files and home volume are both there (so
// its start was at least attempted and the home may be in use), is left
// as it is and reported as existing (exit 4). Otherwise the leftovers are
// torn down, always keeping a home volume, which the create that follows
// reuses.
func recoverInterrupted(ctx context.Context, env *Env, sys Systemd, name string, left intent) error {
	unit := quadlet.ServiceUnit(name)
	states, err := sys.Units(ctx, []string{unit})
	if err != nil {
		return err
	}
	active := len(states) == 1 && isUp(states[0].ActiveState)
	filesThere, err := fileExists(filepath.Join(env.QuadletDir(), quadlet.ContainerFile(name)))
	if err != nil {
		return errdefs.Mark(errdefs.System, err)
	}
	volumeThere := false
	if !active && filesThere {
		if volumeThere, err = env.Podman.VolumeExists(ctx, quadlet.VolumeName(name)); err != nil {
			return err
		}
	}
	started := left.Started.UTC().Format(time.RFC3339)
	if active || (filesThere && volumeThere) {
		why := "its home volume exists, so it may hold your work"
		if active {
			why = "it is " + states[0].ActiveState
		}
		// The container is complete as far as anyone can tell: from now on
		// it is an ordinary container, and the record has done its job.
		if err := env.clearIntent(name); err != nil {
			return err
		}
		return withHint(errdefs.Errorf(errdefs.Exists, "container %q already exists: an interrupted create of it (started %s) got as far as starting it and %s; nothing was removed", name, started, why),
			"it is yours: `devbox-quadlet status %s` shows it; to start over, `devbox-quadlet destroy %s` (the home is archived first)", name, name)
	}
	warnf(env, "found the leftovers of an interrupted create of %q (started %s); cleaning them up first (a home volume is kept)", name, started)
	if err := teardown(ctx, env, sys, name, true); err != nil {
		return withHint(fmt.Errorf("clean up interrupted create of %s: %w", name, err), "run `devbox-quadlet destroy %s`, then create again", name)
	}
	return env.clearIntent(name)
}
