package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/devbox-quadlet/devbox-quadlet/internal/config"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/policy"
)

// Run runs the command line args (args[0] is the program name) and returns
// the process exit code. It never calls os.Exit: only main does.
func Run(ctx context.Context, args []string, env *Env) int {
	return run(ctx, newApp(env), args, env)
}

func run(ctx context.Context, app *cli.App, args []string, env *Env) (code int) {
	// A bug must not look like a usage error: Go's own panic exit status is
	// 2, which R-09 gives to usage errors. Exit 1 ("anything else") instead.
	// A create cut short this way leaves its intent record, so the next
	// create or destroy cleans up after it.
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(env.Stderr, "devbox-quadlet: internal error: %v\n%s\nhint: this is a bug in devbox-quadlet; please report it with the lines above\n", r, debug.Stack())
			code = 1
		}
	}()
	var notFound string
	app.CommandNotFound = func(_ *cli.Context, cmd string) { notFound = cmd }
	err := app.RunContext(ctx, args)
	if err == nil && notFound != "" {
		err = errdefs.Errorf(errdefs.Usage, "unknown command %q", notFound)
	}
	if err != nil {
		printError(env.Stderr, err)
	}
	env.tracef("exit %d", errdefs.ExitCode(err))
	return errdefs.ExitCode(err)
}

func newApp(env *Env) *cli.App {
	app := &cli.App{
		Name:      "devbox-quadlet",
		Usage:     "personal dev containers as rootless podman quadlets in your own systemd",
		Version:   Version,
		Writer:    env.Stdout,
		ErrWriter: env.Stderr,
		Flags: []cli.Flag{
			&cli.StringFlag{
				Name:  "config",
				Usage: "configuration `FILE` (default: $DEVBOX_QUADLET_CONFIG, else " + config.DefaultPath + ")",
			},
		},
		// urfave's default handler calls os.Exit inside Run; we map codes ourselves.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError:   usageError,
		Commands: []*cli.Command{
			createCommand(env),
			rotateKeyCommand(env),
			keepaliveCommand(env),
			reapCommand(env),
			restoreCommand(env),
			startCommand(env),
			stopCommand(env),
			restartCommand(env),
			statusCommand(env),
			logsCommand(env),
			destroyCommand(env),
			listCommand(env),
			renderCommand(env),
			configCommand(env),
			ledgerCommand(env),
			completionCommand(env),
			completeCommand(env),
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return errdefs.Errorf(errdefs.Usage, "unknown command %q", c.Args().First())
			}
			_ = cli.ShowAppHelp(c)
			return errdefs.Errorf(errdefs.Usage, "no command given")
		},
		CustomAppHelpTemplate: cli.AppHelpTemplate + "\n" + exitCodeHelp(),
	}
	for _, cmd := range app.Commands {
		cmd.OnUsageError = usageError
	}
	return app
}

func usageError(_ *cli.Context, err error, _ bool) error {
	return unknownFlag(errdefs.Mark(errdefs.Usage, err))
}

// unknownFlag adds the name rule to an unknown-flag error: `create -lead` is
// more often a bad container name than a bad flag.
func unknownFlag(err error) error {
	if strings.Contains(err.Error(), "flag provided but not defined") {
		return withHint(err, "flags are listed by --help; if you meant a container name, %s", policy.NameRule)
	}
	return err
}

// args returns the positional arguments of c and applies any flags that follow
// them. urfave/cli v2 stops parsing flags at the first positional argument,
// but `create demo --cpus 1` is how people type it.
func args(c *cli.Context) ([]string, error) {
	var pos []string
	in := c.Args().Slice()
	// urfave has already parsed every flag before the first positional
	// argument, so that one is positional even if it starts with '-': it
	// can only have got here after a "--".
	if len(in) > 0 {
		pos = append(pos, in[0])
	}
	for i := 1; i < len(in); i++ {
		tok := in[i]
		if tok == "--" {
			pos = append(pos, in[i+1:]...)
			break
		}
		if !strings.HasPrefix(tok, "-") || tok == "-" {
			pos = append(pos, tok)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(tok, "-"), "=")
		f := lookupFlag(c.Command.Flags, name)
		if f == nil {
			return nil, unknownFlag(errdefs.Errorf(errdefs.Usage, "flag provided but not defined: %s", tok))
		}
		if _, isBool := f.(*cli.BoolFlag); isBool {
			if !hasValue {
				value = "true"
			}
		} else if !hasValue {
			if i+1 >= len(in) {
				return nil, errdefs.Errorf(errdefs.Usage, "flag needs an argument: %s", tok)
			}
			i++
			value = in[i]
		}
		if err := c.Set(name, value); err != nil {
			return nil, errdefs.Errorf(errdefs.Usage, "invalid value %q for flag %s: %w", value, tok, err)
		}
	}
	return pos, nil
}

func lookupFlag(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

// oneName returns the single NAME argument of a verb.
func oneName(c *cli.Context) (string, error) {
	pos, err := args(c)
	if err != nil {
		return "", err
	}
	if len(pos) != 1 {
		return "", withHint(errdefs.Errorf(errdefs.Usage, "%s takes exactly one container NAME, got %d arguments", c.Command.Name, len(pos)),
			"run `devbox-quadlet %s --help`", c.Command.Name)
	}
	return pos[0], nil
}

// configPath returns the configuration file to read and whether the user
// named it (--config, then $DEVBOX_QUADLET_CONFIG); a named file must exist,
// while the default path may be absent and then means built-in defaults.
func configPath(c *cli.Context, env *Env) (string, bool) {
	if c.IsSet("config") {
		return c.String("config"), true
	}
	if p := env.Getenv("DEVBOX_QUADLET_CONFIG"); p != "" {
		return p, true
	}
	return env.DefaultConfig, false
}

// loadConfig loads the configuration that configPath names.
// configFileArg is the config file named by --config or
// $DEVBOX_QUADLET_CONFIG, or "" for the default path.
func configFileArg(c *cli.Context, env *Env) string {
	if path, explicit := configPath(c, env); explicit {
		if abs, err := filepath.Abs(path); err == nil {
			return abs
		}
		return path
	}
	return ""
}

func loadConfig(c *cli.Context, env *Env) (config.Config, error) {
	path, explicit := configPath(c, env)
	cfg, _, err := config.Load(path, explicit)
	return cfg, err
}

// requireUser refuses root: containers live in the invoking user's own
// systemd manager and podman store, and root's are the host's, not a developer's.
func requireUser(env *Env) error {
	if env.UID == 0 {
		return withHint(errdefs.Errorf(errdefs.Usage, "devbox-quadlet manages rootless containers in your own systemd user manager, and you are root"),
			"run it as the developer who owns the container, e.g. over SSH as that user")
	}
	if env.UserName == "" || env.Home == "" {
		return errdefs.Errorf(errdefs.System, "cannot tell who you are: no user name or home directory for uid %d", env.UID)
	}
	return nil
}

func dial(c *cli.Context, env *Env) (Systemd, error) {
	// The connection must outlive a cancelled command context: godbus
	// closes a connection when the context it was dialled with ends, and a
	// create interrupted by Ctrl-C, SIGTERM or SIGHUP still needs the bus
	// to roll back. Each call still takes the command's context.
	m, err := env.DialSystemd(context.WithoutCancel(c.Context), env)
	if err != nil {
		return nil, withHint(err, "is your user manager running? Check `systemctl --user status`; on a server, enable lingering with `loginctl enable-linger %s`", env.UserName)
	}
	return m, nil
}

func warnf(env *Env, format string, args ...any) {
	fmt.Fprintf(env.Stderr, "devbox-quadlet: "+format+"\n", args...)
}

// target is a verb's validated NAME and the config it read.
type target struct {
	name string
	cfg  config.Config
}

// openTarget does the common first steps of a verb on NAME, touching
// nothing: validate the name and the config and refuse root. The lock,
// the existence check and the host agent are the lifecycle's.
func openTarget(c *cli.Context, env *Env) (*target, error) {
	name, err := oneName(c)
	if err != nil {
		return nil, err
	}
	if err := policy.ValidateName(name); err != nil {
		return nil, err
	}
	cfg, err := loadConfig(c, env)
	if err != nil {
		return nil, err
	}
	if err := requireUser(env); err != nil {
		return nil, err
	}
	return &target{name: name, cfg: cfg}, nil
}
