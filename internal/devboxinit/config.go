// Package devboxinit is the dev container's init, PID 1 in every devbox
// container: it joins the tailnet with tailscaled, publishes code-server and
// Syncthing on the tailnet only, tells systemd (through podman's
// NOTIFY_SOCKET) when the container is ready, reports sessions to the
// host's reaper through the activity directory, and stops everything in
// order on SIGTERM.
//
// The decisions are pure functions (argv of every child, failure
// classification, session detection, the status file, sd_notify messages)
// and are table-tested; Run is the thin shell that execs, reaps, signals and
// writes files. Every path is a field of Config so tests run unprivileged in
// a temporary directory.
package devboxinit

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Environment variables the host tool sets in the quadlet unit
// (docs/image-contract.md), and the optional tuning knobs.
const (
	EnvAuthKeyFile      = "DEVBOX_TS_AUTHKEY_FILE"
	EnvHostname         = "DEVBOX_TS_HOSTNAME"
	EnvTags             = "DEVBOX_TS_TAGS"
	EnvLoginServer      = "DEVBOX_TS_LOGIN_SERVER"
	EnvSyncthing        = "DEVBOX_SYNCTHING"
	EnvActivityDir      = "DEVBOX_ACTIVITY_DIR"
	EnvActivityInterval = "DEVBOX_ACTIVITY_INTERVAL"
	EnvUpTimeout        = "DEVBOX_INIT_UP_TIMEOUT"
	EnvReadyTimeout     = "DEVBOX_INIT_READY_TIMEOUT"
	EnvNotifySocket     = "NOTIFY_SOCKET"
)

// Default ports of the services, on 127.0.0.1 inside the container and
// on the same ports of the node's tailnet addresses through
// `tailscale serve --tcp`.
const (
	CodeServerPort    = 8080
	SyncthingGUIPort  = 8384
	SyncthingSyncPort = 22000
)

// Config is everything Run needs, read once from the environment by
// FromEnv. The path fields have production defaults and exist so tests
// can point them into a temporary directory.
type Config struct {
	// AuthKeyFile is the path of the auth key; empty means no tailnet.
	// The file is only ever handed to tailscale as "file:PATH".
	AuthKeyFile string
	Hostname    string
	Tags        string
	LoginServer string // empty: Tailscale's default control server
	Syncthing   bool

	ActivityDir  string // empty: no status or session files
	NotifySocket string // empty: no sd_notify

	ActivityInterval time.Duration
	UpTimeout        time.Duration
	ReadyTimeout     time.Duration

	// User is the account that runs code-server and Syncthing.
	User       string
	PasswdFile string
	GroupFile  string

	StateDir     string // tailscaled --statedir, in the home volume
	Socket       string // tailscaled --socket
	SyncthingDir string // syncthing --home
	SyncFolder   string
	ProcRoot     string // /proc, read for sessions

	// CodeServerPaths are tried in order before code-server is looked up
	// on PATH.
	CodeServerPaths []string

	// Ports of the services; fields so tests can use free ports.
	CodeServerPort, SyncthingGUIPort, SyncthingSyncPort int
}

// Defaults of the paths and durations.
const (
	DefaultUser             = "dev"
	DefaultStateDir         = "/home/dev/.local/state/devbox/tailscale"
	DefaultSocket           = "/run/tailscale/tailscaled.sock"
	DefaultSyncthingDir     = "/home/dev/.local/state/syncthing"
	DefaultSyncFolder       = "/home/dev/sync"
	DefaultActivityInterval = 15 * time.Second
	// Together with the socket wait they stay inside the unit's start
	// timeout (quadlet.StartTimeout, 300 s), so systemd never kills a
	// start that devbox-init would still report on.
	DefaultUpTimeout    = 90 * time.Second
	DefaultReadyTimeout = 150 * time.Second
)

// FromEnv builds the Config from getenv (os.Getenv in main). It fails only
// on malformed values: a missing key file variable is a valid "no tailnet".
func FromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		AuthKeyFile:      getenv(EnvAuthKeyFile),
		Hostname:         getenv(EnvHostname),
		Tags:             getenv(EnvTags),
		LoginServer:      getenv(EnvLoginServer),
		Syncthing:        getenv(EnvSyncthing) == "1",
		ActivityDir:      getenv(EnvActivityDir),
		NotifySocket:     getenv(EnvNotifySocket),
		ActivityInterval: DefaultActivityInterval,
		UpTimeout:        DefaultUpTimeout,
		ReadyTimeout:     DefaultReadyTimeout,
		User:             DefaultUser,
		PasswdFile:       "/etc/passwd",
		GroupFile:        "/etc/group",
		StateDir:         DefaultStateDir,
		Socket:           DefaultSocket,
		SyncthingDir:     DefaultSyncthingDir,
		SyncFolder:       DefaultSyncFolder,
		ProcRoot:         "/proc",
		CodeServerPaths:  []string{"/usr/local/bin/code-server"},

		CodeServerPort:    CodeServerPort,
		SyncthingGUIPort:  SyncthingGUIPort,
		SyncthingSyncPort: SyncthingSyncPort,
	}
	for _, d := range []struct {
		env string
		to  *time.Duration
	}{
		{EnvActivityInterval, &c.ActivityInterval},
		{EnvUpTimeout, &c.UpTimeout},
		{EnvReadyTimeout, &c.ReadyTimeout},
	} {
		v := getenv(d.env)
		if v == "" {
			continue
		}
		dur, err := parseDuration(v)
		if err != nil {
			return Config{}, fmt.Errorf("%s=%q: %w", d.env, v, err)
		}
		*d.to = dur
	}
	if c.AuthKeyFile != "" && c.Hostname == "" {
		return Config{}, fmt.Errorf("%s is set but %s is empty", EnvAuthKeyFile, EnvHostname)
	}
	return c, nil
}

// Tailnet reports whether the container joins a tailnet at all.
func (c Config) Tailnet() bool { return c.AuthKeyFile != "" }

// parseDuration accepts a Go duration ("90s", "2m") or whole seconds
// ("90"), the form people write into unit files.
func parseDuration(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if n, err := strconv.Atoi(v); err == nil {
		if n <= 0 {
			return 0, fmt.Errorf("must be positive")
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, err
	}
	if d <= 0 {
		return 0, fmt.Errorf("must be positive")
	}
	return d, nil
}
