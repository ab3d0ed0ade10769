package cli

import (
	"context"

	"github.com/urfave/cli/v2"

	"github.com/devbox-quadlet/devbox-quadlet/internal/config"
	"github.com/devbox-quadlet/devbox-quadlet/internal/lifecycle"
	"github.com/devbox-quadlet/devbox-quadlet/internal/quadlet"
)

// Names kept for the verbs and their tests; the lifecycle owns them.
type (
	record         = lifecycle.Record
	reaperView     = lifecycle.View
	tailnetCleanup = lifecycle.TailnetCleanup
	intent         = lifecycle.Intent
)

// MESSAGE_IDs of the reaper's journal entries (lifecycle).
const (
	MessageWarn         = lifecycle.MessageWarn
	MessageStopped      = lifecycle.MessageStopped
	MessageDestroyed    = lifecycle.MessageDestroyed
	MessageExportFailed = lifecycle.MessageExportFailed
)

// Bounds on waiting (lifecycle).
const (
	DefaultLockTimeout   = lifecycle.DefaultLockTimeout
	DefaultExportTimeout = lifecycle.DefaultExportTimeout
)

// layout is the user's layout as this process's environment resolves it.
func (e *Env) layout() *lifecycle.Layout {
	return lifecycle.NewLayout(e.Home, e.UID, e.Getenv, e.LockDir)
}

// newManager builds the lifecycle for one command with the config it read.
func newManager(c *cli.Context, env *Env, cfg config.Config) *lifecycle.Manager {
	return &lifecycle.Manager{
		Layout: env.layout(), Config: cfg, UserName: env.UserName, UID: env.UID, Version: Version,
		ConfigFile: configFileArg(c, env), Now: env.Now,
		DialSystemd: func(ctx context.Context) (lifecycle.Systemd, error) { return dial(c, env) },
		DialAgent: func(context.Context) (lifecycle.Agent, error) {
			ag, err := hostAgent(c, env, cfg)
			if ag == nil || err != nil {
				return nil, err
			}
			return ag, nil
		},
		Podman: env.Podman, Tail: env.Journal.Tail, PayloadAlive: env.PayloadAlive,
		SendJournal: env.SendJournal, TerminalDir: env.TerminalDir, Executable: env.Executable,
		Getenv: env.Getenv, StartSettle: env.StartSettle, LockTimeout: env.LockTimeout,
		ExportTimeout: env.ExportTimeout, CrashAt: env.Getenv("DEVBOX_QUADLET_CRASH_AT"),
		Warn:  func(f string, a ...any) { warnf(env, f, a...) },
		Trace: env.tracef,
	}
}

// QuadletDir is the user's quadlet directory, where podman's user generator
// looks for .container and .volume files.
func (e *Env) QuadletDir() string { return e.layout().QuadletDir() }

// StateDir is the per-user state directory of SPEC §6.
func (e *Env) StateDir() string { return e.layout().StateDir() }

// UserUnitDir is ~/.config/systemd/user.
func (e *Env) UserUnitDir() string { return e.layout().UserUnitDir() }

// ConfigHome is $XDG_CONFIG_HOME or ~/.config.
func (e *Env) ConfigHome() string { return e.layout().ConfigHome }

func (e *Env) archiveDir() string                     { return e.layout().ArchiveDir() }
func (e *Env) activityDir(name string) string         { return e.layout().ActivityDir(name) }
func (e *Env) autostartEnabled(name string) bool      { return e.layout().AutostartEnabled(name) }
func (e *Env) autostartLink(name string) string       { return e.layout().AutostartLink(name) }
func (e *Env) intentPath(name string) string          { return e.layout().IntentPath(name) }
func (e *Env) writeIntent(in intent) error            { return e.layout().WriteIntent(in) }
func (e *Env) readIntent(name string) (intent, bool)  { return e.layout().ReadIntent(name) }
func (e *Env) pendingReleaseDir() string              { return e.layout().PendingReleaseDir() }
func (e *Env) loadRecord(name string) (record, bool)  { return e.layout().LoadRecord(name) }
func (e *Env) saveRecord(name string, r record) error { return e.layout().SaveRecord(name, r) }

// readSpec reads the container's own quadlet file back.
func readSpec(env *Env, name string) (quadlet.Spec, error) { return env.layout().ReadSpec(name) }

// ownContainers returns the specs of the user's containers, sorted by name.
func ownContainers(env *Env) ([]quadlet.Spec, error) {
	return env.layout().Containers(func(f string, a ...any) { warnf(env, f, a...) })
}

// existing returns the quadlet files of name on disk; not found if none.
func existing(env *Env, name string) ([]string, error) { return env.layout().Existing(name) }

// admissionHint says what to do about a refusal from the host agent.
func admissionHint(err error, name string) string { return lifecycle.AdmissionHint(err, name) }
