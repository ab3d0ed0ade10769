package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
)

func TestParseValid(t *testing.T) {
	data := []byte(`# a full file
[container]
image = "localhost/devbox-test:latest"
cpus = 1.5
memory = "512M"
tasks_max = 1024

[caps]
max_per_user = 3
max_global = 10

[reaper]
idle_stop = "36h"
stopped_destroy = "1d12h"
warn_before = "30s"
cpu_active_threshold = "2m"
archive_keep = "7d"
sweep_interval = "10s"

[secrets]
backend = "file"
vault = "Team"
path = "/run/agenix/{user}-tailscale-authkey"
token_file = "/etc/devbox-quadlet/op-token"
timeout = "30s"

[tailnet]
logout_timeout = "10s"
login_server = "https://headscale.example.com:8443"
api_url = "http://127.0.0.1:8080"
tailnet = "example.com"
oauth_client_id = "k123"
oauth_secret_file = "/etc/devbox-quadlet/ts-oauth"

[host]
cpus = 16
memory = "64G"
overcommit = 1.5

[agent]
mode = "required"

[users.alice]
admin = true
max_per_user = 2
`)
	cfg, err := Parse(data, "test.toml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Container.CPUs != 1.5 || cfg.Container.Memory != 512<<20 || cfg.Container.TasksMax != 1024 {
		t.Errorf("container = %+v", cfg.Container)
	}
	if cfg.Reaper.IdleStop != Duration(36*time.Hour) || cfg.Reaper.StoppedDestroy != Duration(36*time.Hour) ||
		cfg.Reaper.WarnBefore != Duration(30*time.Second) || cfg.Reaper.CPUActiveThreshold != Duration(2*time.Minute) ||
		cfg.Reaper.ArchiveKeep != Duration(7*24*time.Hour) || cfg.Reaper.SweepInterval != Duration(10*time.Second) {
		t.Errorf("reaper = %+v", cfg.Reaper)
	}
	if cfg.Secrets.Path != "/run/agenix/{user}-tailscale-authkey" || cfg.Secrets.Timeout != Duration(30*time.Second) || cfg.Secrets.Env != "DEVBOX_QUADLET_TS_AUTHKEY" {
		t.Errorf("secrets = %+v", cfg.Secrets)
	}
	if cfg.Tailnet.LoginServer != "https://headscale.example.com:8443" {
		t.Errorf("login_server = %q", cfg.Tailnet.LoginServer)
	}
	if cfg.Tailnet.APIURL != "http://127.0.0.1:8080" || cfg.Tailnet.OAuthClientID != "k123" || cfg.Tailnet.LogoutTimeout != Duration(10*time.Second) {
		t.Errorf("tailnet = %+v", cfg.Tailnet)
	}
	if cfg.MaxPerUser("alice") != 2 || cfg.MaxPerUser("bob") != 3 || !cfg.Users["alice"].Admin {
		t.Errorf("per-user caps wrong: %+v", cfg)
	}
	if cfg.Host.CPUs != 16 || cfg.Host.Memory != 64<<30 || cfg.Host.Overcommit != 1.5 || cfg.Agent.Mode != "required" {
		t.Errorf("host/agent = %+v %+v", cfg.Host, cfg.Agent)
	}
	if cfg.Secrets.Backend != "file" || cfg.Secrets.Vault != "Team" {
		t.Errorf("secrets = %+v", cfg.Secrets)
	}
}

func TestParseEmptyIsDefault(t *testing.T) {
	cfg, err := Parse(nil, "empty.toml")
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	if cfg.Container != d.Container || cfg.Caps != d.Caps || cfg.Reaper != d.Reaper || cfg.Secrets != d.Secrets || cfg.Host != d.Host || cfg.Agent != d.Agent {
		t.Errorf("empty file = %+v, want defaults %+v", cfg, d)
	}
	if d.Container.CPUs != 2 || d.Container.Memory != 4<<30 || d.Caps.MaxPerUser != 5 || d.Caps.MaxGlobal != 7 ||
		d.Reaper.IdleStop.String() != "7d" || d.Reaper.StoppedDestroy.String() != "14d" || d.Secrets.Vault != "DevBox" {
		t.Errorf("defaults drifted from SPEC: %+v", d)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []string // substrings of the error
	}{
		{"unknown key", "[container]\ncpus = 2\nflavour = \"x\"\n", []string{"line 3", `unknown key "container.flavour"`}},
		{"unknown table", "\n\n[extras]\nx = 1\n", []string{"line 3", `unknown key "extras"`}},
		{"unknown top key", "colour = 1\n", []string{"line 1", `unknown key "colour"`}},
		{"bad memory", "[container]\nmemory = \"lots\"\n", []string{"line 2", "container.memory", `invalid size "lots"`, "4G"}},
		{"memory too small", "[container]\nmemory = \"1k\"\n", []string{"line 2", "out of range"}},
		{"bad cpus", "[container]\n\ncpus = \"many\"\n", []string{"line 3", "container.cpus", "invalid CPU count"}},
		{"negative cpus", "[container]\ncpus = -1\n", []string{"line 2", "out of range"}},
		{"zero cap", "[caps]\nmax_global = 0\n", []string{"line 2", "caps.max_global", "invalid count"}},
		{"bad duration", "[reaper]\nidle_stop = \"7 days\"\n", []string{"line 2", "reaper.idle_stop", "invalid duration"}},
		{"bad backend", "[secrets]\nbackend = \"vault\"\n", []string{"line 2", "one of env, file, none, onepassword"}},
		{"image with newline", "[container]\nimage = \"a\\nExecStart=x\"\n", []string{"line 2", "invalid image"}},
		{"syntax", "cpus = = 2\n", []string{"line 1"}},
		{"relative key path", "[secrets]\npath = \"keys/{user}\"\n", []string{"line 2", "secrets.path", "absolute path"}},
		{"dotdot key path", "[secrets]\npath = \"/etc/../root/{user}\"\n", []string{"line 2", "absolute path"}},
		{"login server not http", "[tailnet]\nlogin_server = \"ftp://x\"\n", []string{"line 2", "tailnet.login_server"}},
		{"login server without host", "[tailnet]\nlogin_server = \"http://\"\n", []string{"line 2", "tailnet.login_server"}},
		{"login server with a specifier", "[tailnet]\nlogin_server = \"http://x/%h\"\n", []string{"line 2", "tailnet.login_server"}},
		{"login server with a quote", "[tailnet]\nlogin_server = \"http://x/\\\"y\"\n", []string{"line 2", "tailnet.login_server"}},
		{"bad api url", "[tailnet]\napi_url = \"file:///etc/passwd\"\n", []string{"line 2", "tailnet.api_url"}},
		{"bad user name", "[users.\"../root\"]\nadmin = true\n", []string{"line 1", "invalid user name"}},
		{"bad overcommit", "[host]\novercommit = 0\n", []string{"line 2", "invalid ratio"}},
		{"bad agent mode", "[agent]\nmode = \"maybe\"\n", []string{"line 2", "auto, required or off"}},
		{"wrong type", "[caps]\nmax_per_user = true\n", []string{"line 2", "caps.max_per_user"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.input), "bad.toml")
			if err == nil {
				t.Fatal("Parse accepted a bad file")
			}
			if !errdefs.Is(err, errdefs.Usage) {
				t.Errorf("class of %v is not usage", err)
			}
			for _, w := range append(tt.want, "bad.toml") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.toml")
	cfg, found, err := Load(missing, false)
	if err != nil || found || cfg.Caps.MaxGlobal != 7 {
		t.Errorf("implicit missing file: cfg=%+v found=%v err=%v", cfg, found, err)
	}
	if _, _, err := Load(missing, true); !errdefs.Is(err, errdefs.Usage) {
		t.Errorf("explicit missing file: err=%v, want usage error", err)
	}
	p := filepath.Join(dir, "c.toml")
	if err := os.WriteFile(p, []byte("[caps]\nmax_global = 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, found, err = Load(p, true)
	if err != nil || !found || cfg.Caps.MaxGlobal != 3 {
		t.Errorf("Load = %+v %v %v", cfg, found, err)
	}
}

func TestParseUnits(t *testing.T) {
	sizes := map[string]Size{"512M": 512 << 20, "4G": 4 << 30, "4GiB": 4 << 30, "4g": 4 << 30, "1.5G": 3 << 29}
	for in, want := range sizes {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "lots", "-1G", "0", "1k", "17T", "4 G B"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) accepted", in)
		}
	}
	durs := map[string]time.Duration{"7d": 7 * 24 * time.Hour, "36h": 36 * time.Hour, "90s": 90 * time.Second, "1d12h30m": 36*time.Hour + 30*time.Minute}
	for in, want := range durs {
		if got, err := ParseDuration(in); err != nil || time.Duration(got) != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "7", "d", "7w", "0s", "-1d", "1.5d", "99999999999d"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) accepted", in)
		}
	}
	cpus := map[string]CPUs{"2": 2, "0.5": 0.5, "1.234": 1.23}
	for in, want := range cpus {
		if got, err := ParseCPUs(in); err != nil || got != want {
			t.Errorf("ParseCPUs(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-2", "NaN", "Inf", "2000", "two"} {
		if _, err := ParseCPUs(in); err == nil {
			t.Errorf("ParseCPUs(%q) accepted", in)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("[container]\ncpus = 2\nmemory = \"4G\"\n"))
	f.Add([]byte("[caps]\nmax_global = 0\n"))
	f.Add([]byte("[users.alice]\nadmin = true\n"))
	f.Add([]byte("[reaper]\nidle_stop = \"1d2h\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, "fuzz.toml")
		if err != nil {
			if !errdefs.Is(err, errdefs.Usage) {
				t.Fatalf("error of wrong class: %v", err)
			}
			return
		}
		// Whatever parses must satisfy every invariant renderers rely on.
		if _, err := ParseImageRef(string(cfg.Container.Image)); err != nil {
			t.Fatalf("accepted image %q", cfg.Container.Image)
		}
		if cfg.Container.CPUs < MinCPUs || cfg.Container.CPUs > MaxCPUs || cfg.Container.Memory < MinSize || cfg.Container.Memory > MaxSize {
			t.Fatalf("accepted out-of-range container %+v", cfg.Container)
		}
		if cfg.Caps.MaxGlobal < 1 || cfg.Caps.MaxPerUser < 1 || cfg.Reaper.IdleStop <= 0 {
			t.Fatalf("accepted out-of-range caps/reaper %+v %+v", cfg.Caps, cfg.Reaper)
		}
	})
}

// FuzzParseDuration: a successful parse is positive, at most MaxDuration,
// and prints in a form that parses back to the same value and prints the
// same again.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"7d", "1d12h", "90s", "", "x", "3650d", "616385997d", "999999999d", "9999999999s", "1d106752d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		if d <= 0 || d > MaxDuration {
			t.Fatalf("ParseDuration(%q) = %d ns, outside (0, MaxDuration]", s, int64(d))
		}
		back, err := ParseDuration(d.String())
		if err != nil || back != d || back.String() != d.String() {
			t.Fatalf("round trip %q -> %v -> %q failed: %v", s, d, d.String(), err)
		}
	})
}
