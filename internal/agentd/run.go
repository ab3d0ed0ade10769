package agentd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/agent"
	"github.com/devbox-quadlet/devbox-quadlet/internal/agentproto"
	"github.com/devbox-quadlet/devbox-quadlet/internal/config"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/policy"
	"github.com/devbox-quadlet/devbox-quadlet/internal/secrets"
)

// Version is the agent's version, reported by --version and to 1Password.
// Release builds set it with -ldflags "-X .../internal/agentd.Version=...",
// as they set the CLI's (the Makefile and nix/package.nix set both).
var Version = "0.1.0-dev"

// DefaultStateDir is where the ledger lives when neither --state-dir nor
// systemd's $STATE_DIRECTORY says.
const DefaultStateDir = "/var/lib/devbox-quadlet"

// ledgerFile is the ledger's file in the state directory.
const ledgerFile = "ledger.json"

// BlockWait is the longest duty-cycle wait the agent sits out rather than
// refuse: long enough for the seconds a `create --no-start` holds its
// reservation (more under emulation), and below the 25 s that libdbus and
// sd-bus clients wait for a reply by default.
const BlockWait = 20 * time.Second

// Env is everything the agent's command line takes from the process; main
// builds the real one, tests one with fakes.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	Now            func() time.Time
	// DefaultConfig is the config path when neither --config nor
	// $DEVBOX_QUADLET_CONFIG names one (config.DefaultPath).
	DefaultConfig string
	// CgroupRoot is where cgroup v2 is mounted, to observe what runs.
	CgroupRoot string
	// Backends builds the key resolver and the Tailscale API client from
	// the config (Backends(Version) outside tests).
	Backends func(cfg config.Config, getenv func(string) string) (secrets.Resolver, agent.Forgetter, error)
	// Serve runs the built server until ctx ends ((*agent.Server).Serve
	// outside tests).
	Serve func(ctx context.Context, s *agent.Server) error
}

// DefaultEnv is the environment of the running process.
func DefaultEnv() Env {
	return Env{
		Stdout:        os.Stdout,
		Stderr:        os.Stderr,
		Getenv:        os.Getenv,
		Now:           time.Now,
		DefaultConfig: config.DefaultPath,
		CgroupRoot:    "/sys/fs/cgroup",
		Backends:      Backends(Version),
		Serve:         func(ctx context.Context, s *agent.Server) error { return s.Serve(ctx) },
	}
}

// Run runs the agent's command line (args[0] is the program name) until
// ctx ends, and returns the process exit code (R-09's classes). It never
// calls os.Exit: only main does.
func Run(ctx context.Context, args []string, env Env) int {
	err := run(ctx, args, env)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "devbox-quadlet-agent: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
	}
	return errdefs.ExitCode(err)
}

// options are the agent's command-line flags.
type options struct {
	configFile, stateDir *string
	version, check       *bool
}

// newFlagSet declares the agent's flags, writing usage and errors to out.
// The man page (ManPage) lists its options from here.
func newFlagSet(out io.Writer) (*flag.FlagSet, options) {
	fs := flag.NewFlagSet("devbox-quadlet-agent", flag.ContinueOnError)
	fs.SetOutput(out)
	o := options{
		configFile: fs.String("config", "", "configuration `FILE` (default: $DEVBOX_QUADLET_CONFIG, else "+config.DefaultPath+")"),
		stateDir:   fs.String("state-dir", DefaultStateDir, "where the ledger lives (`DIR`; default: systemd's $STATE_DIRECTORY, else "+DefaultStateDir+")"),
		version:    fs.Bool("version", false, "print the version and exit"),
		check:      fs.Bool("check-config", false, "check the config as the agent would use it (its backends and credentials included), say so and exit; the unit runs this first (ExecStartPre=)"),
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: devbox-quadlet-agent [--config FILE] [--state-dir DIR] [--check-config]\n\n"+
			"The devbox-quadlet host agent on the system bus (run as a system service, not by hand):\n"+
			"owns %s and keeps the host-wide ledger in the state directory.\n"+
			"See docs/agent.md.\n\n", agentproto.BusName)
		fs.PrintDefaults()
	}
	return fs, o
}

func run(ctx context.Context, args []string, env Env) error {
	fs, o := newFlagSet(env.Stderr)
	configFile, stateDir, version, check := o.configFile, o.stateDir, o.version, o.check
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errdefs.Mark(errdefs.Usage, err)
	}
	if *version {
		fmt.Fprintf(env.Stdout, "devbox-quadlet-agent version %s\n", Version)
		return nil
	}
	if fs.NArg() > 0 {
		return errdefs.Errorf(errdefs.Usage, "devbox-quadlet-agent takes no arguments, got %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	path, explicit := *configFile, set["config"]
	if !explicit {
		if p := env.Getenv("DEVBOX_QUADLET_CONFIG"); p != "" {
			path, explicit = p, true
		} else {
			path = env.DefaultConfig
		}
	}
	// A config the agent cannot use ends it here, before it takes its bus
	// name, with the file, line and key in the message (its journal).
	cfg, loaded, err := config.Load(path, explicit)
	if err != nil {
		return err
	}
	dir := *stateDir
	if sd := env.Getenv("STATE_DIRECTORY"); sd != "" && !set["state-dir"] {
		dir = strings.Split(sd, ":")[0]
	}
	s, err := NewServer(cfg, dir, env)
	if err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	if *check {
		if loaded {
			fmt.Fprintf(env.Stdout, "devbox-quadlet-agent: config %s is good\n", path)
		} else {
			fmt.Fprintf(env.Stdout, "devbox-quadlet-agent: no config at %s: the defaults are good\n", path)
		}
		return nil
	}
	return env.Serve(ctx, s)
}

// NewServer builds the agent's server from cfg, with its ledger in dir.
func NewServer(cfg config.Config, dir string, env Env) (*agent.Server, error) {
	if env.Backends == nil {
		return nil, errdefs.Errorf(errdefs.System, "this build has no agent backends")
	}
	resolver, forgetter, err := env.Backends(cfg, env.Getenv)
	if err != nil {
		return nil, err
	}
	cpus, mem := hostCapacity(cfg)
	ratio := float64(cfg.Host.Overcommit)
	every := time.Duration(cfg.Agent.AuthKeyInterval)
	return &agent.Server{
		Store:  agent.Store{Path: dir + "/" + ledgerFile},
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
		BlockWait:    BlockWait,
		AuthKeyLimit: agent.NewLimiter(int(cfg.Agent.AuthKeyBurst), every),
		ForgetLimit:  agent.NewLimiter(int(cfg.Agent.AuthKeyBurst), every),
		CgroupRoot:   env.CgroupRoot,
		BusAddress:   env.Getenv("DBUS_SYSTEM_BUS_ADDRESS"),
		Secrets:      resolver,
		Tailnet:      forgetter,
		Now:          env.Now,
		Log:          env.Stderr,
	}, nil
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
