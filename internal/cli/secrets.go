package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/devbox-quadlet/devbox-quadlet/internal/agentproto"
	"github.com/devbox-quadlet/devbox-quadlet/internal/config"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/quadlet"
	"github.com/devbox-quadlet/devbox-quadlet/internal/secrets"
)

// tailnetEnabled says whether new containers get an auth key at all.
func tailnetEnabled(cfg config.Config) bool { return cfg.Secrets.Backend != "none" }

// standaloneResolver builds the CLI's own resolver when there is no agent.
// The file backend's default is a file the user owns, and it must be private.
func standaloneResolver(cfg config.Config, env *Env) secrets.Resolver {
	s := cfg.Secrets
	switch s.Backend {
	case "env":
		return secrets.Env{Var: string(s.Env), Getenv: env.Getenv}
	case "file":
		path := string(s.Path)
		if path == "" {
			path = filepath.Join(env.ConfigHome(), "devbox-quadlet", "tailscale-authkey")
		}
		return secrets.File{Template: path, Private: true}
	}
	// onepassword: the service-account token is held only by the host
	// agent, and only the agent binary links the SDK.
	return noAgentOnePassword{vault: string(s.Vault)}
}

// noAgentOnePassword stands for the 1Password backend when there is no host
// agent to run it: every resolution says so.
type noAgentOnePassword struct{ vault string }

func (n noAgentOnePassword) Describe(user string) string { return secrets.Reference(n.vault, user) }
func (n noAgentOnePassword) Resolve(context.Context, string) (secrets.Key, error) {
	return nil, errdefs.Errorf(errdefs.Secret, "secrets.backend = \"onepassword\" is resolved by the host agent, which holds the 1Password token, and there is none; standalone, use \"file\" or \"env\"")
}

// authKey resolves the invoking user's auth key: from the agent when there
// is one (the user never sees the token), else from the standalone backend.
func authKey(ctx context.Context, env *Env, cfg config.Config, ag Agent, name string) (secrets.Key, error) {
	if ag != nil {
		k, err := ag.AuthKey(ctx, name)
		if errors.Is(err, agentproto.ErrRateLimited) {
			return nil, withHint(err, "wait until the time given and run it again")
		}
		if err != nil {
			return nil, withHint(err, "the host agent resolves your key from the backend in the host's config; ask the host's admin to check `journalctl -u devbox-quadlet-agent`")
		}
		return k, nil
	}
	r := standaloneResolver(cfg, env)
	k, err := r.Resolve(ctx, env.UserName)
	if err != nil && cfg.Secrets.Backend == "onepassword" {
		// The built-in default on a host without the agent: the one thing
		// to do is the admin's, or the user's own key file.
		return nil, withHint(err, "ask the host's admin to install the host agent, which resolves everyone's keys (docs/agent.md); to use a key of your own instead, put it in %s (mode 0600) and point DEVBOX_QUADLET_CONFIG at a config with [secrets] backend = \"file\"",
			filepath.Join(env.ConfigHome(), "devbox-quadlet", "tailscale-authkey"))
	}
	if err != nil {
		return nil, withHint(err, "standalone mode reads your key from %s (secrets.backend = %q)", r.Describe(env.UserName), cfg.Secrets.Backend)
	}
	return k, nil
}

// ConfigHome is $XDG_CONFIG_HOME or ~/.config.
func (e *Env) ConfigHome() string {
	if d := e.Getenv("XDG_CONFIG_HOME"); filepath.IsAbs(d) {
		return d
	}
	return filepath.Join(e.Home, ".config")
}

func rotateKeyCommand(env *Env) *cli.Command {
	return &cli.Command{
		Name:      "rotate-key",
		Usage:     "fetch the Tailscale auth key again and restart the container if it runs",
		ArgsUsage: "NAME",
		Description: "Resolves your auth key again (through the host agent, or the standalone\n" +
			"backend), replaces the podman secret devbox-NAME-tsauthkey, and restarts the\n" +
			"container if it is running so it reads the new key. The home volume and the\n" +
			"units are kept. Keys are not fetched on every start: service-account tokens\n" +
			"are rate-limited.",
		Flags:  []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print the result as JSON (schema 1)"}},
		Action: func(c *cli.Context) error { return runRotateKey(c, env) },
	}
}

type rotateResult struct {
	Schema    int    `json:"schema"`
	Name      string `json:"name"`
	Secret    string `json:"secret"`
	Restarted bool   `json:"restarted"`
}

func runRotateKey(c *cli.Context, env *Env) error {
	t, err := openTarget(c, env, targetOpts{lock: true, mustExist: true, agent: true})
	if err != nil {
		return err
	}
	defer t.close()
	name := t.name
	spec, err := readSpec(env, name)
	if err != nil {
		return err
	}
	if !spec.Tailnet {
		return withHint(errdefs.Errorf(errdefs.Usage, "container %q was created without a tailnet auth key", name),
			"destroy and create it again on a host whose secrets backend is not \"none\"")
	}
	sys, err := dial(c, env)
	if err != nil {
		return err
	}
	defer sys.Close()
	key, err := authKey(c.Context, env, t.cfg, t.ag, name)
	if err != nil {
		return fmt.Errorf("rotate-key %s: %w", name, err)
	}
	if err := env.Podman.CreateSecret(c.Context, quadlet.SecretName(name), key); err != nil {
		return fmt.Errorf("rotate-key %s: %w", name, err)
	}
	states, err := sys.Units(c.Context, []string{quadlet.ServiceUnit(name)})
	if err != nil {
		return err
	}
	restarted := false
	if len(states) == 1 && states[0].ActiveState == "active" {
		// A mounted secret is copied into the container when podman creates
		// it; quadlet's unit creates the container afresh on every start.
		if err := sys.Restart(c.Context, quadlet.ServiceUnit(name)); err != nil {
			return withHint(fmt.Errorf("rotate-key %s: the new key is stored but the restart failed: %w", name, err),
				"`devbox-quadlet start %s` picks the new key up", name)
		}
		restarted = true
	}
	res := rotateResult{Schema: 1, Name: name, Secret: quadlet.SecretName(name), Restarted: restarted}
	if c.Bool("json") {
		return writeJSON(env.Stdout, res)
	}
	how := "the container is stopped; it reads the new key when started"
	if restarted {
		how = "restarted with the new key"
	}
	fmt.Fprintf(env.Stdout, "%s\tkey rotated\t%s\n", name, how)
	return nil
}

// readSpec reads the container's own quadlet file back.
func readSpec(env *Env, name string) (quadlet.Spec, error) {
	data, err := os.ReadFile(filepath.Join(env.QuadletDir(), quadlet.ContainerFile(name)))
	if err != nil {
		return quadlet.Spec{}, errdefs.Mark(errdefs.System, err)
	}
	return quadlet.Parse(data)
}

// tailnetCleanup is what destroy did to take the container off the tailnet
// . It never blocks destroy. Fields may be added, never renamed.
type tailnetCleanup struct {
	// Logout is "done", "skipped: ..." or "failed: ...".
	Logout string `json:"logout"`
	// API is the Tailscale API fallback: "deleted", "not configured",
	// "not needed", "skipped: ..." or "failed: ...".
	API string `json:"api"`
	// OK is true when the node is known to be off the tailnet, or the
	// container never joined one.
	OK bool `json:"ok"`
}

// leaveTailnet runs `tailscale logout` in the container if it is running,
// bounded by tailnet.logout_timeout, and falls back to the agent's
// Tailscale API client when that did not work.
func leaveTailnet(ctx context.Context, env *Env, cfg config.Config, ag Agent, name string, running, onTailnet bool) tailnetCleanup {
	if !onTailnet {
		return tailnetCleanup{Logout: "skipped: not on a tailnet", API: "not needed", OK: true}
	}
	res := tailnetCleanup{Logout: "skipped: not running"}
	if running {
		lctx, cancel := context.WithTimeout(ctx, time.Duration(cfg.Tailnet.LogoutTimeout))
		_, err := env.Podman.Exec(lctx, quadlet.ContainerName(name), "tailscale", "logout")
		cancel()
		if err == nil {
			return tailnetCleanup{Logout: "done", API: "not needed", OK: true}
		}
		res.Logout = "failed: " + firstLine(err.Error())
	}
	if ag == nil {
		res.API = "skipped: no host agent (the API client lives in the agent)"
		return res
	}
	out, err := ag.ForgetDevice(ctx, name)
	if err != nil {
		res.API = "failed: " + firstLine(err.Error())
		return res
	}
	res.API = out.String()
	res.OK = out.Gone()
	return res
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
