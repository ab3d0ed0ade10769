package cli

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/devbox-quadlet/devbox-quadlet/internal/config"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/lifecycle"
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

// requestFromFlags validates NAME and the flags and builds the request.
// It touches nothing, so every verb can call it first.
func requestFromFlags(c *cli.Context, name string) (lifecycle.CreateRequest, error) {
	r := lifecycle.CreateRequest{Name: name}
	if err := policy.ValidateName(name); err != nil {
		return r, err
	}
	if c.IsSet("cpus") {
		v, err := config.ParseCPUs(c.String("cpus"))
		if err != nil {
			return r, errdefs.Errorf(errdefs.Usage, "--cpus: %w", err)
		}
		r.CPUs = v
	}
	if c.IsSet("memory") {
		v, err := config.ParseSize(c.String("memory"))
		if err != nil {
			return r, errdefs.Errorf(errdefs.Usage, "--memory: %w", err)
		}
		r.Memory = v
	}
	if c.IsSet("image") {
		v, err := config.ParseImageRef(c.String("image"))
		if err != nil {
			return r, errdefs.Errorf(errdefs.Usage, "--image: %w", err)
		}
		r.Image = v
	}
	r.Syncthing = c.Bool("with-syncthing")
	r.NoStart = c.Bool("no-start")
	return r, nil
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
	req, err := requestFromFlags(c, name)
	if err != nil {
		return err
	}
	m := newManager(c, env, cfg)
	if _, err := m.Plan(req, false); err != nil {
		return err
	}
	if err := requireUser(env); err != nil {
		return err
	}
	res, err := m.Create(c.Context, lifecycle.CreateOptions{CreateRequest: req, KeepOnFailure: c.Bool("keep-on-failure")})
	if err != nil {
		return err
	}
	return printCreate(c, env, res)
}

func printCreate(c *cli.Context, env *Env, r lifecycle.CreateResult) error {
	name, spec := r.Spec.Name, r.Spec
	state := "stopped"
	if r.Running {
		state = "running"
	}
	res := createResult{
		Schema: 1, Name: name, Unit: quadlet.ServiceUnit(name), State: state,
		Image: string(spec.Image), CPUs: float64(spec.CPUs), MemoryMax: int64(spec.Memory),
		ContainerFile: r.ContainerFile, VolumeFile: r.VolumeFile,
		Volume:    quadlet.VolumeName(name),
		Syncthing: spec.Syncthing,
	}
	if spec.Tailnet {
		res.Secret, res.Hostname, res.Tags = quadlet.SecretName(name), name, quadlet.Tags(spec.Owner)
	}
	if c.Bool("json") {
		return writeJSON(env.Stdout, res)
	}
	fmt.Fprintf(env.Stdout, "%s\t%s\t%s\n", name, state, res.Unit)
	return nil
}
