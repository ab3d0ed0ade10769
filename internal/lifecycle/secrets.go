package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/agentproto"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/policy"
	"github.com/devbox-quadlet/devbox-quadlet/internal/quadlet"
	"github.com/devbox-quadlet/devbox-quadlet/internal/secrets"
)

// StandaloneResolver builds the CLI's own resolver when there is no agent.
// The file backend's default is a file the user owns, and it must be private.
func (m *Manager) StandaloneResolver() secrets.Resolver {
	s := m.Config.Secrets
	switch s.Backend {
	case "env":
		return secrets.Env{Var: string(s.Env), Getenv: m.Getenv}
	case "file":
		path := string(s.Path)
		if path == "" {
			path = m.Layout.KeyFile()
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
func (m *Manager) authKey(ctx context.Context, ag Agent, name string) (secrets.Key, error) {
	if ag != nil {
		k, err := ag.AuthKey(ctx, name)
		if errors.Is(err, agentproto.ErrRateLimited) {
			return nil, errdefs.WithHint(err, "wait until the time given and run it again")
		}
		if err != nil {
			return nil, errdefs.WithHint(err, "the host agent resolves your key from the backend in the host's config; ask the host's admin to check `journalctl -u devbox-quadlet-agent`")
		}
		return k, nil
	}
	cfg := m.Config
	r := m.StandaloneResolver()
	k, err := r.Resolve(ctx, m.UserName)
	if err != nil && cfg.Secrets.Backend == "onepassword" {
		// The built-in default on a host without the agent: the one thing
		// to do is the admin's, or the user's own key file.
		return nil, errdefs.WithHint(err, "ask the host's admin to install the host agent, which resolves everyone's keys (docs/agent.md); to use a key of your own instead, put it in %s (mode 0600) and point DEVBOX_QUADLET_CONFIG at a config with [secrets] backend = \"file\"",
			m.Layout.KeyFile())
	}
	if err != nil {
		return nil, errdefs.WithHint(err, "standalone mode reads your key from %s (secrets.backend = %q)", r.Describe(m.UserName), cfg.Secrets.Backend)
	}
	return k, nil
}

// AdmissionHint says what to do about a refusal from the host agent.
func AdmissionHint(err error, name string) string {
	switch {
	case errdefs.Is(err, errdefs.HostCap):
		return "the host is full: stop a container you do not need (`devbox-quadlet stop NAME`), or ask an admin (`devbox-quadlet list --all`)"
	case errdefs.Is(err, errdefs.UserCap) && strings.Contains(err.Error(), policy.BlockedPhrase):
		return "try again at the time given; the host agent paces reservations of containers that never ran (docs/agent.md)"
	case errdefs.Is(err, errdefs.UserCap) && strings.Contains(err.Error(), policy.InFlightPhrase):
		return "wait for that container to come up (`devbox-quadlet list`), then try again"
	case errdefs.Is(err, errdefs.UserCap):
		return "free a slot with `devbox-quadlet destroy NAME`"
	case errdefs.Is(err, errdefs.Exists):
		return "pick another name for " + name
	case errdefs.Is(err, errdefs.AgentMissing):
		return "ask the host's admin to check `systemctl status devbox-quadlet-agent`"
	}
	return "see `journalctl -u devbox-quadlet-agent` on the host"
}

// RotateResult is what rotate-key did.
type RotateResult struct {
	Secret    string
	Restarted bool
}

// RotateKey resolves the auth key again, replaces the podman secret and
// restarts the container if it runs, so it reads the new key.
func (m *Manager) RotateKey(ctx context.Context, name string) (RotateResult, error) {
	s, err := m.open(ctx, "rotate-key", name, sessionOpts{mustExist: true, agent: true})
	if err != nil {
		return RotateResult{}, err
	}
	defer s.close()
	spec, err := m.Layout.ReadSpec(name)
	if err != nil {
		return RotateResult{}, err
	}
	if !spec.Tailnet {
		return RotateResult{}, errdefs.WithHint(errdefs.Errorf(errdefs.Usage, "container %q was created without a tailnet auth key", name),
			"destroy and create it again on a host whose secrets backend is not \"none\"")
	}
	if s.sys, err = m.DialSystemd(ctx); err != nil {
		return RotateResult{}, err
	}
	key, err := m.authKey(ctx, s.ag, name)
	if err != nil {
		return RotateResult{}, fmt.Errorf("rotate-key %s: %w", name, err)
	}
	res := RotateResult{Secret: quadlet.SecretName(name)}
	if err := m.Podman.CreateSecret(ctx, res.Secret, key); err != nil {
		return RotateResult{}, fmt.Errorf("rotate-key %s: %w", name, err)
	}
	states, err := s.sys.Units(ctx, []string{quadlet.ServiceUnit(name)})
	if err != nil {
		return RotateResult{}, err
	}
	if len(states) == 1 && Running(states[0].ActiveState) {
		// A mounted secret is copied into the container when podman creates
		// it; quadlet's unit creates the container afresh on every start.
		if err := s.sys.Restart(ctx, quadlet.ServiceUnit(name)); err != nil {
			return RotateResult{}, errdefs.WithHint(fmt.Errorf("rotate-key %s: the new key is stored but the restart failed: %w", name, err),
				"`devbox-quadlet start %s` picks the new key up", name)
		}
		res.Restarted = true
	}
	return res, nil
}

// TailnetCleanup is what destroy did to take the container off the tailnet
// . It never blocks destroy. Fields may be added, never renamed.
type TailnetCleanup struct {
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
func (m *Manager) leaveTailnet(ctx context.Context, ag Agent, name string, running, onTailnet bool) TailnetCleanup {
	if !onTailnet {
		return TailnetCleanup{Logout: "skipped: not on a tailnet", API: "not needed", OK: true}
	}
	res := TailnetCleanup{Logout: "skipped: not running"}
	if running {
		lctx, cancel := context.WithTimeout(ctx, time.Duration(m.Config.Tailnet.LogoutTimeout))
		_, err := m.Podman.Exec(lctx, quadlet.ContainerName(name), "tailscale", "logout")
		cancel()
		if err == nil {
			return TailnetCleanup{Logout: "done", API: "not needed", OK: true}
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
