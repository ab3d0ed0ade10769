package devboxinit

import (
	"github.com/devbox-quadlet/devbox-quadlet/internal/quadlet"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var demo = Config{
	AuthKeyFile:  "/run/secrets/tailscale-authkey",
	Hostname:     "demo",
	Tags:         "tag:devcontainer,tag:alice-container",
	UpTimeout:    120 * time.Second,
	StateDir:     DefaultStateDir,
	Socket:       DefaultSocket,
	SyncthingDir: DefaultSyncthingDir,

	CodeServerPort:    CodeServerPort,
	SyncthingGUIPort:  SyncthingGUIPort,
	SyncthingSyncPort: SyncthingSyncPort,
}

func TestArgv(t *testing.T) {
	withLogin := demo
	withLogin.LoginServer = "http://127.0.0.1:18080"
	for _, tc := range []struct {
		name string
		got  []string
		want string
	}{
		{
			name: "tailscaled: userspace networking, state in the home volume, no fixed UDP port",
			got:  TailscaledArgv(demo),
			want: "tailscaled --tun=userspace-networking --statedir=/home/dev/.local/state/devbox/tailscale --socket=/run/tailscale/tailscaled.sock --port=0",
		},
		{
			name: "tailscaled for a self-hosted control server: no logs to Tailscale",
			got:  TailscaledArgv(withLogin),
			want: "tailscaled --tun=userspace-networking --statedir=/home/dev/.local/state/devbox/tailscale --socket=/run/tailscale/tailscaled.sock --port=0 --no-logs-no-support",
		},
		{
			name: "up on Tailscale's control server: the key only as file:PATH",
			got:  UpArgv(demo),
			want: "tailscale --socket=/run/tailscale/tailscaled.sock up --reset --auth-key=file:/run/secrets/tailscale-authkey --hostname=demo --advertise-tags=tag:devcontainer,tag:alice-container --ssh --timeout=2m0s",
		},
		{
			name: "up on another control server",
			got:  UpArgv(withLogin),
			want: "tailscale --socket=/run/tailscale/tailscaled.sock up --reset --auth-key=file:/run/secrets/tailscale-authkey --hostname=demo --advertise-tags=tag:devcontainer,tag:alice-container --ssh --login-server=http://127.0.0.1:18080 --timeout=2m0s",
		},
		{
			name: "serve publishes a loopback port on the same tailnet port",
			got:  ServeArgv(demo, 8080),
			want: "tailscale --socket=/run/tailscale/tailscaled.sock serve --bg --yes --tcp=8080 tcp://127.0.0.1:8080",
		},
		{
			name: "serve reset",
			got:  ServeResetArgv(demo),
			want: "tailscale --socket=/run/tailscale/tailscaled.sock serve reset",
		},
		{
			name: "status",
			got:  StatusArgv(demo),
			want: "tailscale --socket=/run/tailscale/tailscaled.sock status --json",
		},
		{
			name: "code-server on loopback",
			got:  CodeServerArgv("/usr/local/bin/code-server", 8080),
			want: "/usr/local/bin/code-server --bind-addr 127.0.0.1:8080",
		},
		{
			name: "syncthing: GUI on loopback, restarts left to devbox-init",
			got:  SyncthingArgv(demo),
			want: "syncthing serve --no-browser --no-restart --gui-address=127.0.0.1:8384 --home=/home/dev/.local/state/syncthing",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.Join(tc.got, " "); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestServices(t *testing.T) {
	withSync := demo
	withSync.Syncthing = true
	for _, tc := range []struct {
		name       string
		cfg        Config
		codeServer string
		want       []string // name:port,port
	}{
		{name: "nothing installed, no Syncthing: nothing to run", cfg: demo},
		{name: "code-server only", cfg: demo, codeServer: "/usr/local/bin/code-server", want: []string{"code-server:8080"}},
		{name: "Syncthing without code-server", cfg: withSync, want: []string{"syncthing:8384,22000"}},
		{name: "both, code-server first", cfg: withSync, codeServer: "/x/code-server", want: []string{"code-server:8080", "syncthing:8384,22000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, s := range Services(tc.cfg, tc.codeServer) {
				var ports []string
				for _, p := range sortedPorts(s.Ports) {
					ports = append(ports, strconv.Itoa(p))
				}
				got = append(got, s.Name+":"+strings.Join(ports, ","))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEnvs(t *testing.T) {
	dev := User{Name: "dev", UID: 1000, GID: 1000, Home: "/home/dev", Shell: "/bin/bash"}
	for _, tc := range []struct {
		name string
		got  []string
		want []string
	}{
		{
			name: "a user's environment is built from scratch",
			got:  UserEnv(dev, "/usr/bin:/bin", "STNOUPGRADE=1"),
			want: []string{"HOME=/home/dev", "USER=dev", "LOGNAME=dev", "SHELL=/bin/bash", "PATH=/usr/bin:/bin", "STNOUPGRADE=1"},
		},
		{
			name: "no PATH and no shell: sane defaults",
			got:  UserEnv(User{Name: "dev", Home: "/home/dev"}, ""),
			want: []string{"HOME=/home/dev", "USER=dev", "LOGNAME=dev", "SHELL=/bin/sh", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		},
		{
			name: "root children lose NOTIFY_SOCKET, which tailscaled would answer with READY=1",
			got:  RootEnv([]string{"PATH=/bin", "NOTIFY_SOCKET=/run/notify", "NOTIFY_SOCKETX=keep", "DEVBOX_TS_HOSTNAME=demo"}),
			want: []string{"PATH=/bin", "NOTIFY_SOCKETX=keep", "DEVBOX_TS_HOSTNAME=demo"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !slices.Equal(tc.got, tc.want) {
				t.Errorf("got  %q\nwant %q", tc.got, tc.want)
			}
		})
	}
}

func TestTailscaledEnv(t *testing.T) {
	environ := []string{"PATH=/usr/bin", "NOTIFY_SOCKET=/run/notify", "DEVBOX_TS_HOSTNAME=demo"}
	https := demo
	https.LoginServer = "https://headscale.example.com"
	plain := demo
	plain.LoginServer = "http://10.99.0.1:8080"
	for _, tc := range []struct {
		name string
		c    Config
		want []string
	}{
		{"Tailscale's control server", demo, []string{"PATH=/usr/bin", "DEVBOX_TS_HOSTNAME=demo"}},
		{"headscale over https", https, []string{"PATH=/usr/bin", "DEVBOX_TS_HOSTNAME=demo"}},
		{"headscale over plain http: DERP over http too", plain, []string{"PATH=/usr/bin", "DEVBOX_TS_HOSTNAME=demo", "TS_DEBUG_USE_DERP_HTTP=1"}},
	} {
		if got := TailscaledEnv(tc.c, environ); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

// The unit's RestartPreventExitStatus= names the code devbox-init exits
// with for a refused key; the two must not drift.
func TestKeyRefusedExitMatchesTheUnit(t *testing.T) {
	if ExitKeyRefused != quadlet.KeyRefusedExit {
		t.Errorf("devbox-init exits %d for a refused key, the unit prevents restarts on %d", ExitKeyRefused, quadlet.KeyRefusedExit)
	}
}
