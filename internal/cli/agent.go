package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/devbox-quadlet/devbox-quadlet/internal/agentclient"
	"github.com/devbox-quadlet/devbox-quadlet/internal/agentproto"
	"github.com/devbox-quadlet/devbox-quadlet/internal/config"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/secrets"
)

// Agent is what the verbs need from the host agent.
type Agent interface {
	// Ready makes sure the agent answers, starting it if need be
	// (agentclient.Client.Ready): agentclient.ErrNotInstalled when there
	// is none, an *agentclient.UnitFailedError when it is installed but
	// failing, within about a second either way.
	Ready(ctx context.Context) error
	Reserve(ctx context.Context, name string, create bool, cpus float64, memory int64) error
	Stop(ctx context.Context, name string) error
	Release(ctx context.Context, name string) error
	// Confirm says that name's quadlet files exist; create calls it right
	// after writing them.
	Confirm(ctx context.Context, name string) error
	List(ctx context.Context, all bool) (agentproto.Listing, error)
	// Repair checks (dryRun) or repairs the ledger against the containers
	// found on the host; root and admins only (`devbox-quadlet ledger`).
	Repair(ctx context.Context, observed agentproto.Observed, dryRun bool) (agentproto.RepairReport, error)
	AuthKey(ctx context.Context, name string) (secrets.Key, error)
	ForgetDevice(ctx context.Context, name string) (agentproto.ForgetOutcome, error)
	Close()
}

// Modes as printed by list and status.
const (
	modeAgent      = "agent"
	modeStandalone = "standalone"
	// modeUnavailable: the agent is required or installed but does not
	// answer; read-only verbs go on with the user's own containers.
	modeUnavailable = "unavailable"
)

// hostAgent connects to the host agent as the config says. It returns nil
// in standalone mode: config mode "off", or "auto" with no agent installed.
// An agent that is installed but failing (its unit failed, is restarting
// or cannot be loaded) is an errdefs.AgentMissing error (exit 9) in modes
// "required" and "auto" alike: falling back to standalone would skip the
// global cap and unique names behind the admin's back. So is no agent at
// all in mode "required".
func hostAgent(c *cli.Context, env *Env, cfg config.Config) (Agent, error) {
	if cfg.Agent.Mode == "off" || env.DialAgent == nil {
		return nil, nil
	}
	// Not tied to the command's context, for the rollback's sake (see dial).
	a, err := env.DialAgent(context.WithoutCancel(c.Context))
	if err == nil {
		if err = a.Ready(c.Context); err == nil {
			return a, nil
		}
		a.Close()
		if cfg.Agent.Mode != "required" && agentclient.IsNotInstalled(err) {
			return nil, nil
		}
	} else if cfg.Agent.Mode != "required" {
		// No system bus to ask: nothing says an agent is installed.
		return nil, nil
	}
	why := "the config requires the agent ([agent] mode = \"required\")"
	var failed *agentclient.UnitFailedError
	if errors.As(err, &failed) || cfg.Agent.Mode != "required" {
		why = "while the agent is installed, no command goes on without it (that would skip the global cap and unique names)"
	}
	return nil, withHint(err, "%s; %s", whereToLook, why)
}

// whereToLook is the start of every hint about an agent that does not answer.
const whereToLook = "an admin can see why with `systemctl status devbox-quadlet-agent` and `journalctl -u devbox-quadlet-agent`"

// agentView is hostAgent for the read-only verbs (list, status): when the
// agent is required or installed but does not answer, they go on with the
// user's own containers and warn that the host-wide view is unavailable.
// down is that error, nil otherwise.
func agentView(c *cli.Context, env *Env, cfg config.Config) (a Agent, down error) {
	a, err := hostAgent(c, env, cfg)
	if err != nil {
		warnf(env, "warning: the host-wide view is unavailable, showing your own containers only: %s", errdefs.OneLine(err.Error()))
		fmt.Fprintf(env.Stderr, "hint: %s\n", whereToLook)
		return nil, err
	}
	return a, nil
}

func modeOf(a Agent, down error) string {
	switch {
	case a != nil:
		return modeAgent
	case down != nil:
		return modeUnavailable
	}
	return modeStandalone
}

// modeLine explains the mode to a person.
func modeLine(a Agent, down error) string {
	switch {
	case a != nil:
		return "agent: admission, global cap and unique names by the host agent"
	case down != nil:
		return "unavailable: the host agent does not answer, so the host-wide view is unavailable; your own containers only"
	}
	return "standalone: per-user caps only; the global cap and unique names are not enforced (no host agent)"
}

// printLedger prints the agent's view for list --all.
func printLedger(env *Env, l agentproto.Listing) {
	fmt.Fprintf(env.Stdout, "%-20s %-10s %-8s %-6s %s\n", "NAME", "USER", "RUNNING", "CPUS", "MEMORY")
	for _, e := range l.Entries {
		fmt.Fprintf(env.Stdout, "%-20s %-10s %-8t %-6s %s\n", e.Name, e.User, e.Running, config.CPUs(e.CPUs), config.Size(e.Memory))
	}
}
