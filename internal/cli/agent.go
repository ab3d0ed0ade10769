package cli

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/devbox-quadlet/devbox-quadlet/internal/agentproto"
	"github.com/devbox-quadlet/devbox-quadlet/internal/config"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/secrets"
)

// Agent is what the verbs need from the host agent.
type Agent interface {
	Available(ctx context.Context) bool
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
)

// hostAgent connects to the host agent as the config says. It returns nil
// in standalone mode: config mode "off", or "auto" with no agent installed.
// Mode "required" with no agent is an errdefs.AgentMissing error (exit 9).
func hostAgent(c *cli.Context, env *Env, cfg config.Config) (Agent, error) {
	if cfg.Agent.Mode == "off" || env.DialAgent == nil {
		return nil, nil
	}
	// Not tied to the command's context, for the rollback's sake (see dial).
	a, err := env.DialAgent(context.WithoutCancel(c.Context))
	if err == nil && !a.Available(c.Context) {
		a.Close()
		a, err = nil, errdefs.Errorf(errdefs.AgentMissing, "the host agent %s is not running and cannot be activated", agentproto.BusName)
	}
	if err != nil {
		if cfg.Agent.Mode == "required" {
			return nil, withHint(err, "ask the host's admin to check `systemctl status devbox-quadlet-agent`; the config requires the agent ([agent] mode = \"required\")")
		}
		return nil, nil
	}
	return a, nil
}

func modeOf(a Agent) string {
	if a == nil {
		return modeStandalone
	}
	return modeAgent
}

// modeLine explains the mode to a person.
func modeLine(a Agent) string {
	if a == nil {
		return "standalone: per-user caps only; the global cap and unique names are not enforced (no host agent)"
	}
	return "agent: admission, global cap and unique names by the host agent"
}

// printLedger prints the agent's view for list --all.
func printLedger(env *Env, l agentproto.Listing) {
	fmt.Fprintf(env.Stdout, "%-20s %-10s %-8s %-6s %s\n", "NAME", "USER", "RUNNING", "CPUS", "MEMORY")
	for _, e := range l.Entries {
		fmt.Fprintf(env.Stdout, "%-20s %-10s %-8t %-6s %s\n", e.Name, e.User, e.Running, config.CPUs(e.CPUs), config.Size(e.Memory))
	}
}
