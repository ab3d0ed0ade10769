package cli

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/devbox-quadlet/devbox-quadlet/internal/agent"
	"github.com/devbox-quadlet/devbox-quadlet/internal/config"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/policy"
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
	List(ctx context.Context, all bool) (agent.Listing, error)
	// Repair checks (dryRun) or repairs the ledger against the containers
	// found on the host; root and admins only (`devbox-quadlet ledger`).
	Repair(ctx context.Context, observed agent.Observed, dryRun bool) (agent.RepairReport, error)
	AuthKey(ctx context.Context, name string) (secrets.Key, error)
	ForgetDevice(ctx context.Context, name string) (string, error)
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
		a, err = nil, errdefs.Errorf(errdefs.AgentMissing, "the host agent %s is not running and cannot be activated", agent.BusName)
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

// newAgentApp is the command line of devbox-quadlet-agent, the host agent:
// a separate binary, because only the agent links the 1Password SDK and the
// Tailscale API client (env.AgentBackends), which would cost every CLI verb
// their start-up time.
func newAgentApp(env *Env) *cli.App {
	return &cli.App{
		Name:  "devbox-quadlet-agent",
		Usage: "the devbox-quadlet host agent on the system bus (run as a system service, not by hand)",
		Description: "Owns " + agent.BusName + " on the system bus and keeps the host-wide ledger\n" +
			"in --state-dir. See docs/agent.md.",
		Version:         Version,
		Writer:          env.Stdout,
		ErrWriter:       env.Stderr,
		ExitErrHandler:  func(*cli.Context, error) {},
		OnUsageError:    usageError,
		HideHelpCommand: true,
		Flags: []cli.Flag{
			&cli.StringFlag{
				Name:  "config",
				Usage: "configuration `FILE` (default: $DEVBOX_QUADLET_CONFIG, else " + config.DefaultPath + ")",
			},
			&cli.StringFlag{Name: "state-dir", Value: "/var/lib/devbox-quadlet", Usage: "where the ledger lives (`DIR`; systemd's StateDirectory=)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return errdefs.Errorf(errdefs.Usage, "devbox-quadlet-agent takes no arguments, got %q", c.Args().First())
			}
			if env.AgentBackends == nil {
				return errdefs.Errorf(errdefs.System, "this build has no agent backends")
			}
			cfg, err := loadConfig(c, env)
			if err != nil {
				return err
			}
			dir := c.String("state-dir")
			if sd := env.Getenv("STATE_DIRECTORY"); sd != "" && !c.IsSet("state-dir") {
				dir = strings.Split(sd, ":")[0]
			}
			resolver, forgetter, err := env.AgentBackends(cfg, env.Getenv)
			if err != nil {
				return err
			}
			cpus, mem := hostCapacity(cfg)
			ratio := float64(cfg.Host.Overcommit)
			s := &agent.Server{
				Store:  agent.Store{Path: dir + "/ledger.json"},
				Config: cfg,
				Limits: policy.Limits{
					MaxPerUser: cfg.MaxPerUser,
					MaxGlobal:  int(cfg.Caps.MaxGlobal),
					CPUs:       cpus * ratio,
					Memory:     int64(float64(mem) * ratio),
					MaxCPUs:    float64(cfg.Caps.MaxCPUsPerContainer),
					MaxMemory:  int64(cfg.Caps.MaxMemoryPerContainer),
					HostCPUs:   cpus,
					HostMemory: mem,
					InFlight:   time.Duration(cfg.Caps.ReservationTimeout),
				},
				BlockWait:    agentBlockWait,
				AuthKeyLimit: agent.NewLimiter(int(cfg.Agent.AuthKeyBurst), time.Duration(cfg.Agent.AuthKeyInterval)),
				ForgetLimit:  agent.NewLimiter(int(cfg.Agent.AuthKeyBurst), time.Duration(cfg.Agent.AuthKeyInterval)),
				CgroupRoot:   env.CgroupRoot,
				BusAddress:   env.Getenv("DBUS_SYSTEM_BUS_ADDRESS"),
				Secrets:      resolver,
				Tailnet:      forgetter,
				Now:          time.Now,
				Log:          env.Stderr,
			}
			return s.Serve(c.Context)
		},
	}
}

// agentBlockWait is the longest duty-cycle wait the agent sits out rather
// than refuse: long enough for the seconds a `create --no-start` holds its
// reservation (more under emulation), and below the 25 s that libdbus and
// sd-bus clients wait for a reply by default.
const agentBlockWait = 20 * time.Second

// hostCapacity is the configured host capacity, or what the host has.
func hostCapacity(cfg config.Config) (float64, int64) {
	cpus := float64(cfg.Host.CPUs)
	if cpus == 0 {
		cpus = float64(runtime.NumCPU())
	}
	mem := int64(cfg.Host.Memory)
	if mem == 0 {
		mem = memTotal()
	}
	return cpus, mem
}

// memTotal asks the kernel (sysinfo(2)) rather than /proc/meminfo, which the
// agent's ProcSubset=pid sandbox hides.
func memTotal() int64 {
	var si syscall.Sysinfo_t
	if syscall.Sysinfo(&si) != nil {
		return 0
	}
	return int64(si.Totalram) * int64(si.Unit)
}

// printLedger prints the agent's view for list --all.
func printLedger(env *Env, l agent.Listing) {
	fmt.Fprintf(env.Stdout, "%-20s %-10s %-8s %-6s %s\n", "NAME", "USER", "RUNNING", "CPUS", "MEMORY")
	for _, e := range l.Entries {
		fmt.Fprintf(env.Stdout, "%-20s %-10s %-8t %-6s %s\n", e.Name, e.User, e.Running, config.CPUs(e.CPUs), config.Size(e.Memory))
	}
}
