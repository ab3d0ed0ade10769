package lifecycle

import (
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/config"
	"github.com/devbox-quadlet/devbox-quadlet/internal/policy"
	"github.com/devbox-quadlet/devbox-quadlet/internal/quadlet"
)

// CreateRequest is what a user asks create (and render) for. Zero values
// mean the config's.
type CreateRequest struct {
	Name      string
	CPUs      config.CPUs
	Memory    config.Size
	Image     config.ImageRef
	Syncthing bool
	// NoStart writes and loads the units but starts nothing.
	NoStart bool
}

// PlanInput is everything a plan depends on besides the request.
type PlanInput struct {
	Config      config.Config
	Owner       string
	Version     string
	Now         time.Time
	QuadletDir  string
	ActivityDir string
	// Notify is true when the image's init reports readiness
	// (quadlet.NotifyLabel): the start job then waits for it.
	Notify bool
}

// Reservation is what create asks the host agent to admit.
type Reservation struct {
	CPUs   float64
	Memory int64
}

// Plan is what a create will make: the files (in Dir), the podman secret
// with the auth key ("" without a tailnet), the reservation and the units
// to start. render prints its files; create applies it.
type Plan struct {
	Spec        quadlet.Spec
	Dir         string
	Files       []quadlet.File
	Secret      string
	Reservation Reservation
	Start       []string
}

// TailnetEnabled says whether new containers get an auth key at all.
func TailnetEnabled(cfg config.Config) bool { return cfg.Secrets.Backend != "none" }

// PlanCreate is the plan of a create. It is pure: the same request and
// input give the same plan, byte for byte.
func PlanCreate(r CreateRequest, in PlanInput) (Plan, error) {
	if err := policy.ValidateName(r.Name); err != nil {
		return Plan{}, err
	}
	c := in.Config.Container
	s := quadlet.Spec{
		Name: r.Name, Owner: in.Owner,
		Image: or(r.Image, c.Image), CPUs: or(r.CPUs, c.CPUs), Memory: or(r.Memory, c.Memory),
		TasksMax:    int(c.TasksMax),
		Created:     in.Now.UTC().Truncate(time.Second),
		ToolVersion: in.Version,
		Syncthing:   r.Syncthing,
		Tailnet:     TailnetEnabled(in.Config),
		ActivityDir: in.ActivityDir,
		Notify:      in.Notify,
	}
	if s.Owner == "" {
		s.Owner = "unknown"
	}
	if s.Tailnet {
		s.LoginServer = string(in.Config.Tailnet.LoginServer)
	}
	files, err := quadlet.Render(s)
	if err != nil {
		return Plan{}, err
	}
	p := Plan{Spec: s, Dir: in.QuadletDir, Files: files,
		Reservation: Reservation{CPUs: float64(s.CPUs), Memory: int64(s.Memory)}}
	if s.Tailnet {
		p.Secret = quadlet.SecretName(r.Name)
	}
	if !r.NoStart {
		p.Start = []string{quadlet.ServiceUnit(r.Name)}
	}
	return p, nil
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Plan is PlanCreate with this manager's user, clock and layout.
func (m *Manager) Plan(r CreateRequest, notify bool) (Plan, error) {
	return PlanCreate(r, PlanInput{
		Config: m.Config, Owner: m.UserName, Version: m.Version, Now: m.Now(),
		QuadletDir: m.Layout.QuadletDir(), ActivityDir: m.Layout.NewActivityDir(r.Name), Notify: notify,
	})
}
