// Package lifecycle is what devbox-quadlet does to a user's dev containers:
// Create, Destroy, Start, Stop, Restart, Restore, RotateKey and the reaper's
// Sweep. A Manager owns the effects (the user's systemd, podman, the host
// agent, the file layout, the clock); its methods take option structs and
// return results, and never print: warnings go to Manager.Warn. The command
// line (internal/cli) turns flags into options, calls one method and prints
// the result.
//
// Create is a pure plan (PlanCreate: the files, the secret, the reservation,
// the units to start) followed by an apply step that records an undo for
// each step it completes (create.go reads in order). Every verb that changes
// whether a container runs records the reaper's clock through the same pure
// decision as the sweep (reaper.Update), so list, status and
// `reap --dry-run` agree at every moment.
package lifecycle

import (
	"context"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/agentproto"
	"github.com/devbox-quadlet/devbox-quadlet/internal/config"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/podman"
	"github.com/devbox-quadlet/devbox-quadlet/internal/sd"
	"github.com/devbox-quadlet/devbox-quadlet/internal/secrets"
)

// Systemd is what the lifecycle needs from the user's systemd manager.
type Systemd interface {
	Reload(ctx context.Context) error
	Start(ctx context.Context, unit string) error
	Stop(ctx context.Context, unit string) error
	Restart(ctx context.Context, unit string) error
	ResetFailed(ctx context.Context, unit string) error
	Units(ctx context.Context, names []string) ([]sd.UnitState, error)
	ServiceStatus(ctx context.Context, unit string) (sd.Status, error)
	CPUUsage(ctx context.Context, unit string) (time.Duration, bool, error)
	UnitFile(ctx context.Context, unit string) (path string, active bool, err error)
	Close()
}

// Podman is what the lifecycle needs from podman.
type Podman interface {
	Image(ctx context.Context, ref string, labels ...string) (podman.Image, error)
	VolumeExists(ctx context.Context, name string) (bool, error)
	RemoveVolume(ctx context.Context, name string) error
	RemoveContainer(ctx context.Context, name string) error
	CreateSecret(ctx context.Context, name string, data []byte) error
	RemoveSecret(ctx context.Context, name string) error
	Exec(ctx context.Context, container string, argv ...string) (string, error)
	ExportVolume(ctx context.Context, name, path string) error
	ImportVolume(ctx context.Context, name, path string) error
}

// Agent is what the lifecycle needs from the host agent's client.
type Agent interface {
	Reserve(ctx context.Context, name string, create bool, cpus float64, memory int64) error
	Stop(ctx context.Context, name string) error
	Release(ctx context.Context, name string) error
	Confirm(ctx context.Context, name string) error
	List(ctx context.Context, all bool) (agentproto.Listing, error)
	AuthKey(ctx context.Context, name string) (secrets.Key, error)
	ForgetDevice(ctx context.Context, name string) (agentproto.ForgetOutcome, error)
	Close()
}

// Bounds on waiting; a Manager's fields override them.
const (
	// DefaultLockTimeout is longer than a create that waits out a slow
	// start (quadlet.StartTimeout is 300 s) only for the reaper's sake: a
	// person sees who holds the lock after a moment and can Ctrl-C.
	DefaultLockTimeout = 6 * time.Minute
	// DefaultExportTimeout bounds the export of one home volume.
	DefaultExportTimeout = 30 * time.Minute
)

// Manager carries out the verbs for one user with one configuration.
type Manager struct {
	Layout   *Layout
	Config   config.Config
	UserName string
	UID      int
	// Version is the tool version written into every unit's labels.
	Version string
	// ConfigFile is the config file named by --config or
	// $DEVBOX_QUADLET_CONFIG ("" for the default): the reaper's service
	// is pointed at it.
	ConfigFile string
	Now        func() time.Time
	// DialSystemd connects to the user's manager; the connection must
	// outlive a cancelled context (a rollback still needs it).
	DialSystemd func(ctx context.Context) (Systemd, error)
	// DialAgent connects to the host agent as the config says: nil and no
	// error when there is none (standalone).
	DialAgent func(ctx context.Context) (Agent, error)
	Podman    Podman
	// Tail returns a unit's last journal lines, for start failures.
	Tail func(ctx context.Context, unit string, n int) []string
	// PayloadAlive reports whether a unit's container payload runs, from
	// its cgroup (sd.PayloadAlive).
	PayloadAlive func(controlGroup string) (bool, error)
	// SendJournal writes a structured journal entry (the reaper's).
	SendJournal func(msg string, fields map[string]string) error
	// TerminalDir holds the terminals the reaper warns on (/dev/pts).
	TerminalDir string
	// Executable is this binary's path, for the per-user reaper service.
	Executable func() (string, error)
	// Getenv is read by the standalone env secrets backend only.
	Getenv func(string) string
	// StartSettle is how long after a start job the container must still
	// be up.
	StartSettle   time.Duration
	LockTimeout   time.Duration
	ExportTimeout time.Duration
	// CrashAt names a point of create at which the process kills itself
	// (DEVBOX_QUADLET_CRASH_AT, for the e2e suite).
	CrashAt string
	// Warn receives warnings (the CLI prints them on stderr); Trace timing
	// notes. Either may be nil.
	Warn  func(format string, args ...any)
	Trace func(format string, args ...any)
}

func (m *Manager) warnf(format string, args ...any) {
	if m.Warn != nil {
		m.Warn(format, args...)
	}
}

func (m *Manager) tracef(format string, args ...any) {
	if m.Trace != nil {
		m.Trace(format, args...)
	}
}

func (m *Manager) agent(ctx context.Context) (Agent, error) {
	if m.DialAgent == nil {
		return nil, nil
	}
	return m.DialAgent(ctx)
}

func (m *Manager) lockTimeout() time.Duration {
	if m.LockTimeout > 0 {
		return m.LockTimeout
	}
	return DefaultLockTimeout
}

// exportTimeout is Manager.ExportTimeout if set (tests), else [reaper]
// export_timeout.
func (m *Manager) exportTimeout() time.Duration {
	if m.ExportTimeout > 0 {
		return m.ExportTimeout
	}
	if d := time.Duration(m.Config.Reaper.ExportTimeout); d > 0 {
		return d
	}
	return DefaultExportTimeout
}

// session is what a verb on one container has opened: the user's lock,
// the host agent (nil when standalone) and the user's manager.
type session struct {
	m    *Manager
	lock *UserLock
	ag   Agent
	sys  Systemd
}

type sessionOpts struct {
	mustExist bool // the container's files must be there (exit 3)
	agent     bool // connect to the host agent if the config says so
	// frees: the verb only frees resources (stop, destroy), so an agent
	// that is installed or required but does not answer is warned about,
	// not waited for. Admission guards what is taken, never what is
	// given back, and the agent reconciles its ledger from the cgroup tree
	// when it is back, as after the reaper's own stops and destroys.
	frees   bool
	systemd bool // connect to the user's manager
}

// open takes the lock, checks that name exists, connects to the agent
// (replaying pending releases) and to systemd, as o asks.
func (m *Manager) open(ctx context.Context, command, name string, o sessionOpts) (*session, error) {
	s := &session{m: m}
	var err error
	if s.lock, err = m.Lock(command + " " + name); err != nil {
		return nil, err
	}
	if o.mustExist {
		if _, err := m.Layout.Existing(name); err != nil {
			s.close()
			return nil, err
		}
	}
	if o.agent {
		if s.ag, err = m.agent(ctx); err != nil {
			if !o.frees || !errdefs.Is(err, errdefs.AgentMissing) {
				s.close()
				return nil, err
			}
			m.warnf("warning: the host agent does not answer, so %s goes on without it (freeing needs no admission; the agent catches up when it is back): %s",
				command, errdefs.OneLine(err.Error()))
			if hint := errdefs.Hint(err); hint != "" {
				m.warnf("hint: %s", hint)
			}
		}
		m.replayPendingReleases(ctx, s.ag)
	}
	if o.systemd {
		if s.sys, err = m.DialSystemd(ctx); err != nil {
			s.close()
			return nil, err
		}
	}
	return s, nil
}

func (s *session) close() {
	if s.sys != nil {
		s.sys.Close()
	}
	if s.ag != nil {
		s.ag.Close()
	}
	s.lock.Unlock()
}
