package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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
	"github.com/devbox-quadlet/devbox-quadlet/internal/tailnet"
)

// Agent is what the verbs need from the host agent.
type Agent interface {
	Available(ctx context.Context) bool
	Reserve(ctx context.Context, name string, create bool, cpus float64, memory int64) error
	Stop(ctx context.Context, name string) error
	Release(ctx context.Context, name string) error
	List(ctx context.Context, all bool) (agent.Listing, error)
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
	a, err := env.DialAgent(c.Context)
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

func agentCommand(env *Env) *cli.Command {
	return &cli.Command{
		Name:  "agent",
		Usage: "run the host agent on the system bus (as a system service, not by hand)",
		Description: "Owns " + agent.BusName + " on the system bus and keeps the host-wide ledger\n" +
			"in --state-dir. See docs/agent.md.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "state-dir", Value: "/var/lib/devbox-quadlet", Usage: "where the ledger lives (`DIR`; systemd's StateDirectory=)"},
		},
		Action: func(c *cli.Context) error {
			cfg, err := loadConfig(c, env)
			if err != nil {
				return err
			}
			dir := c.String("state-dir")
			if sd := env.Getenv("STATE_DIRECTORY"); sd != "" && !c.IsSet("state-dir") {
				dir = strings.Split(sd, ":")[0]
			}
			resolver, err := agentResolver(cfg, env)
			if err != nil {
				return err
			}
			forgetter, err := agentTailnet(cfg, env)
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
				},
				CgroupRoot: env.CgroupRoot,
				Secrets:    resolver,
				Tailnet:    forgetter,
				Now:        time.Now,
				Log:        env.Stderr,
			}
			return s.Serve(c.Context)
		},
	}
}

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

// TailnetSecretCredential is the systemd credential with the Tailscale
// OAuth client secret, imported like the 1Password token.
const TailnetSecretCredential = "devbox-quadlet.ts-oauth-secret"

// agentTailnet builds the Tailscale API client of the destroy fallback, or
// nil when tailnet.oauth_client_id is not set.
func agentTailnet(cfg config.Config, env *Env) (agent.Forgetter, error) {
	t := cfg.Tailnet
	if t.OAuthClientID == "" {
		return nil, nil
	}
	var paths []string
	if d := env.Getenv("CREDENTIALS_DIRECTORY"); d != "" {
		paths = append(paths, filepath.Join(d, TailnetSecretCredential))
	}
	if t.OAuthSecretFile != "" {
		paths = append(paths, string(t.OAuthSecretFile))
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if secret := strings.TrimSpace(string(data)); secret != "" {
			return tailnet.New(string(t.APIURL), string(t.Name), string(t.OAuthClientID), secret)
		}
	}
	return nil, errdefs.Errorf(errdefs.Usage, "tailnet.oauth_client_id is set but there is no OAuth client secret: put it in /etc/credstore/%s or set tailnet.oauth_secret_file", TailnetSecretCredential)
}
