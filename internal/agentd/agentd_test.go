package agentd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/agent"
	"github.com/devbox-quadlet/devbox-quadlet/internal/config"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/secrets"
	"github.com/devbox-quadlet/devbox-quadlet/internal/secrets/onepassword"
	"github.com/devbox-quadlet/devbox-quadlet/internal/tailnet"
)

// harness runs the agent's command line with fake backends and a Serve
// that records the server instead of serving it.
type harness struct {
	env    Env
	vars   map[string]string
	out    bytes.Buffer
	errOut bytes.Buffer
	served *agent.Server
}

func newHarness(t *testing.T, configText string) *harness {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(cfg, []byte(configText), 0o644); err != nil {
		t.Fatal(err)
	}
	h := &harness{vars: map[string]string{}}
	now := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	h.env = Env{
		Stdout: &h.out, Stderr: &h.errOut,
		Getenv:        func(k string) string { return h.vars[k] },
		Now:           func() time.Time { return now },
		DefaultConfig: cfg,
		CgroupRoot:    "/test/cgroup",
		Backends: func(config.Config, func(string) string) (secrets.Resolver, agent.Forgetter, error) {
			return secrets.File{Template: "/keys/{user}"}, nil, nil
		},
		Serve: func(_ context.Context, s *agent.Server) error { h.served = s; return nil },
	}
	return h
}

func (h *harness) run(args ...string) int {
	return Run(context.Background(), append([]string{"devbox-quadlet-agent"}, args...), h.env)
}

// TestRunBuildsTheServerFromTheConfig: the config's caps, host capacity,
// overcommit and rate limits reach the server, with the ledger under the
// state directory and the bus from $DBUS_SYSTEM_BUS_ADDRESS.
func TestRunBuildsTheServerFromTheConfig(t *testing.T) {
	h := newHarness(t, "[host]\ncpus = 8\nmemory = \"32G\"\novercommit = 1.5\n[caps]\nmax_global = 12\nreservation_timeout = \"2m\"\n"+
		"[agent]\nauth_key_burst = 3\nauth_key_interval = \"1m\"\n")
	h.vars["DBUS_SYSTEM_BUS_ADDRESS"] = "unix:path=/test/bus"
	if code := h.run(); code != 0 {
		t.Fatalf("exit %d: %s", code, h.errOut.String())
	}
	s := h.served
	if s == nil {
		t.Fatal("nothing served")
	}
	l := s.Limits
	if l.MaxGlobal != 12 || l.HostCPUs != 8 || l.CPUs != 12 || l.HostMemory != 32<<30 || l.Memory != 48<<30 || l.InFlight != 2*time.Minute {
		t.Errorf("limits = %+v", l)
	}
	if s.Store.Path != DefaultStateDir+"/ledger.json" || s.BusAddress != "unix:path=/test/bus" || s.CgroupRoot != "/test/cgroup" || s.BlockWait != BlockWait {
		t.Errorf("server = store %q, bus %q, cgroups %q, block wait %s", s.Store.Path, s.BusAddress, s.CgroupRoot, s.BlockWait)
	}
	if s.AuthKeyLimit.Burst != 3 || s.AuthKeyLimit.Interval != time.Minute || s.ForgetLimit == s.AuthKeyLimit || s.ForgetLimit.Burst != 3 {
		t.Errorf("rate limits = %+v, %+v (one bucket each)", s.AuthKeyLimit, s.ForgetLimit)
	}
	if s.Secrets.Describe("alice") != "file /keys/alice" || s.Tailnet != nil || !s.Now().Equal(h.env.Now()) {
		t.Errorf("backends or clock not passed: %s %v", s.Secrets.Describe("alice"), s.Tailnet)
	}
}

// TestStateAndConfigPaths: systemd's $STATE_DIRECTORY (its first entry)
// unless --state-dir says; --config over $DEVBOX_QUADLET_CONFIG over the
// default path.
func TestStateAndConfigPaths(t *testing.T) {
	h := newHarness(t, "")
	h.vars["STATE_DIRECTORY"] = "/var/lib/devbox-quadlet:/other"
	if code := h.run(); code != 0 || h.served.Store.Path != "/var/lib/devbox-quadlet/ledger.json" {
		t.Errorf("$STATE_DIRECTORY: exit %d, ledger %v", code, h.served)
	}
	if code := h.run("--state-dir", "/tmp/x"); code != 0 || h.served.Store.Path != "/tmp/x/ledger.json" {
		t.Errorf("--state-dir: exit %d, ledger %v", code, h.served)
	}
	other := filepath.Join(t.TempDir(), "other.toml")
	if err := os.WriteFile(other, []byte("[caps]\nmax_global = 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.vars["DEVBOX_QUADLET_CONFIG"] = other
	if code := h.run(); code != 0 || h.served.Limits.MaxGlobal != 3 {
		t.Errorf("$DEVBOX_QUADLET_CONFIG: exit %d", code)
	}
	h.vars["DEVBOX_QUADLET_CONFIG"] = "/nonexistent.toml"
	if code := h.run("-config", other); code != 0 || h.served.Limits.MaxGlobal != 3 {
		t.Errorf("--config over the environment: exit %d: %s", code, h.errOut.String())
	}
	h.errOut.Reset()
	if code := h.run(); code == 0 || !strings.Contains(h.errOut.String(), "/nonexistent.toml") {
		t.Errorf("a missing config named by the environment: exit %d: %s", code, h.errOut.String())
	}
}

// TestRunRefusals: the exit codes and messages of a bad command line or
// config, and what --help and --version print.
func TestRunRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config string
		args   []string
		exit   int
		stderr string
	}{
		{"an argument", "", []string{"serve"}, 2, `devbox-quadlet-agent: devbox-quadlet-agent takes no arguments, got "serve"`},
		{"an unknown flag", "", []string{"--verbose"}, 2, "flag provided but not defined: -verbose"},
		{"a bad config", "[caps]\nmax_global = -1\n", nil, 2, "line 2"},
		{"help", "", []string{"--help"}, 0, "usage: devbox-quadlet-agent [--config FILE] [--state-dir DIR]"},
	} {
		h := newHarness(t, tc.config)
		if code := h.run(tc.args...); code != tc.exit || !strings.Contains(h.errOut.String(), tc.stderr) {
			t.Errorf("%s: exit %d, stderr %q; want exit %d and %q", tc.name, code, h.errOut.String(), tc.exit, tc.stderr)
		}
		if tc.exit != 0 && h.served != nil {
			t.Errorf("%s: served anyway", tc.name)
		}
	}
	h := newHarness(t, "")
	if code := h.run("--version"); code != 0 || h.out.String() != "devbox-quadlet-agent version "+Version+"\n" || h.served != nil {
		t.Errorf("--version: exit %d %q", code, h.out.String())
	}
	h = newHarness(t, "")
	h.env.Backends = nil
	if code := h.run(); code != 8 || !strings.Contains(h.errOut.String(), "no agent backends") {
		t.Errorf("no backends: exit %d %s", code, h.errOut.String())
	}
	h = newHarness(t, "")
	h.env.Backends = func(config.Config, func(string) string) (secrets.Resolver, agent.Forgetter, error) {
		return nil, nil, errdefs.Errorf(errdefs.Usage, "secrets.backend = \"env\" is for standalone use")
	}
	if code := h.run(); code != 2 || !strings.Contains(h.errOut.String(), "standalone use") {
		t.Errorf("a backend error: exit %d %s", code, h.errOut.String())
	}
	h = newHarness(t, "")
	h.env.Serve = func(context.Context, *agent.Server) error {
		return errdefs.Errorf(errdefs.System, "agent: lost the connection to the system bus")
	}
	if code := h.run(); code != 8 || h.errOut.String() != "devbox-quadlet-agent: agent: lost the connection to the system bus\n" {
		t.Errorf("Serve's error: exit %d %q", code, h.errOut.String())
	}
}

// TestHostCapacity: zero in the config means what the host has.
func TestHostCapacity(t *testing.T) {
	cfg := config.Default()
	cpus, mem := hostCapacity(cfg)
	if cpus < 1 || mem < 1<<20 {
		t.Errorf("the host's own capacity: %v CPUs, %d bytes", cpus, mem)
	}
	cfg.Host.CPUs, cfg.Host.Memory = 3, 5<<30
	if cpus, mem := hostCapacity(cfg); cpus != 3 || mem != 5<<30 {
		t.Errorf("configured capacity: %v, %d", cpus, mem)
	}
}

// TestBackends: which resolver and API client each config gives, and the
// configs the agent refuses.
func TestBackends(t *testing.T) {
	creds := t.TempDir()
	getenv := func(k string) string {
		if k == "CREDENTIALS_DIRECTORY" {
			return creds
		}
		return ""
	}
	build := Backends("1.2.3")
	cfg := config.Default()

	r, f, err := build(cfg, getenv)
	op, ok := r.(*onepassword.Resolver)
	if err != nil || !ok || op.Vault != "DevBox" || op.Version != "1.2.3" || f != nil {
		t.Errorf("the default config: %T %+v %v %v", r, op, f, err)
	}
	cfg.Secrets.Backend = "file"
	if r, _, err := build(cfg, getenv); err != nil || r != (secrets.File{Template: AgentKeyTemplate}) {
		t.Errorf("file backend: %v %v", r, err)
	}
	cfg.Secrets.Path = "/srv/keys/{user}.key"
	if r, _, err := build(cfg, getenv); err != nil || r != (secrets.File{Template: "/srv/keys/{user}.key"}) {
		t.Errorf("file backend with a path: %v %v", r, err)
	}
	cfg.Secrets.Backend = "none"
	if r, _, err := build(cfg, getenv); err != nil || r != nil {
		t.Errorf("no backend: %v %v", r, err)
	}
	cfg.Secrets.Backend = "env"
	if _, _, err := build(cfg, getenv); errdefs.ExitCode(err) != 2 || !strings.Contains(err.Error(), "cannot read a user's environment") {
		t.Errorf("env backend: %v", err)
	}

	cfg.Secrets.Backend = "none"
	cfg.Tailnet.OAuthClientID = "client-1"
	if _, _, err := build(cfg, getenv); errdefs.ExitCode(err) != 2 || !strings.Contains(err.Error(), TailnetSecretCredential) {
		t.Errorf("an OAuth client without a secret: %v", err)
	}
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Tailnet.OAuthSecretFile = config.AbsPath(secretFile)
	if _, f, err := build(cfg, getenv); err != nil {
		t.Errorf("secret from oauth_secret_file: %v", err)
	} else if _, ok := f.(*tailnet.API); !ok {
		t.Errorf("secret from oauth_secret_file: API client %T, want *tailnet.API", f)
	}
	if err := os.WriteFile(filepath.Join(creds, TailnetSecretCredential), []byte("  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// An empty credential is skipped for the file.
	if _, f, err := build(cfg, getenv); err != nil || f == nil {
		t.Errorf("an empty credential and a secret file: %v %v", f, err)
	}
	cfg.Tailnet.OAuthSecretFile = ""
	if _, _, err := build(cfg, getenv); err == nil {
		t.Error("an empty credential was taken for a secret")
	}
	if err := os.WriteFile(filepath.Join(creds, TailnetSecretCredential), []byte("from-credential"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, f, err := build(cfg, getenv); err != nil || f == nil {
		t.Errorf("secret from the credential: %v %v", f, err)
	}
	cfg.Tailnet.APIURL = "ftp://example.com"
	if _, _, err := build(cfg, getenv); errdefs.ExitCode(err) != 2 {
		t.Errorf("a non-http API URL: %v", err)
	}
}

// TestCheckConfig: --check-config (the unit's ExecStartPre=) builds what the
// agent would and serves nothing; a config the agent cannot use is exit 2
// with the file, line and key, and so is the same config without the flag,
// before the agent takes its bus name.
func TestCheckConfig(t *testing.T) {
	tests := []struct {
		name     string
		config   string
		backends bool // the real backends, whose refusals are config errors too
		code     int
		want     []string
	}{
		{"a good config", "[caps]\nmax_global = 3\n", false, 0, []string{"is good"}},
		{"a typo in a key", "[caps]\nmax_global = 3\nmax_per_usr = 2\n", false, 2, []string{"config.toml line 3", "caps.max_per_usr"}},
		{"a bad value", "[caps]\n\nreservation_timeout = \"forever\"\n", false, 2, []string{"config.toml line 3", "reservation_timeout"}},
		{"a backend the agent cannot use", "[secrets]\nbackend = \"env\"\n", true, 2, []string{"config.toml", "secrets.backend"}},
	}
	for _, tt := range tests {
		for _, flag := range []string{"--check-config", ""} {
			t.Run(tt.name+" "+flag, func(t *testing.T) {
				h := newHarness(t, tt.config)
				if tt.backends {
					h.env.Backends = Backends("test")
				}
				var args []string
				if flag != "" {
					args = append(args, flag)
				}
				code := h.run(args...)
				if flag == "" && tt.code == 0 {
					if code != 0 || h.served == nil {
						t.Fatalf("without the flag: exit %d, served %v: %s", code, h.served != nil, h.errOut.String())
					}
					return
				}
				if code != tt.code {
					t.Fatalf("exit %d, want %d: %s%s", code, tt.code, h.out.String(), h.errOut.String())
				}
				if h.served != nil {
					t.Error("served")
				}
				for _, w := range tt.want {
					if !strings.Contains(h.out.String()+h.errOut.String(), w) {
						t.Errorf("output lacks %q: %s%s", w, h.out.String(), h.errOut.String())
					}
				}
			})
		}
	}
}
