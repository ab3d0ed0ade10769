// Package config defines the devbox-quadlet configuration file: its TOML
// schema, the built-in defaults, and a loader whose errors name the key and line.
package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
)

// DefaultPath is where the NixOS module writes the host configuration.
const DefaultPath = "/etc/devbox-quadlet/config.toml"

// Config is the whole configuration. Every field has a default, so an absent
// file and an empty file mean the same thing.
type Config struct {
	Container Container       `toml:"container"`
	Caps      Caps            `toml:"caps"`
	Reaper    Reaper          `toml:"reaper"`
	Secrets   Secrets         `toml:"secrets"`
	Tailnet   Tailnet         `toml:"tailnet"`
	Host      Host            `toml:"host"`
	Agent     Agent           `toml:"agent"`
	Users     map[string]User `toml:"users"`
}

// Host describes the orchestrator's capacity for resource admission.
// Zero CPUs or memory means: read it from the host.
type Host struct {
	CPUs       CPUs  `toml:"cpus"`
	Memory     Size  `toml:"memory"`
	Overcommit Ratio `toml:"overcommit"`
}

// Agent says whether the CLI uses the host agent (SPEC §3 item 2), and
// bounds what callers may ask of the agent.
type Agent struct {
	// Mode is "auto" (use the agent if it is installed, else standalone),
	// "required" (exit 9 if it is unreachable) or "off" (standalone).
	Mode AgentMode `toml:"mode"`
	// AllowedGroup, if set, is the group whose members (and root) may call
	// the agent; anyone else is refused. Empty: any local user.
	AllowedGroup GroupName `toml:"allowed_group"`
	// AuthKeyBurst and AuthKeyInterval rate-limit each user's auth-key
	// lookups: a burst of AuthKeyBurst, then one per AuthKeyInterval.
	// Tailscale device deletions (ForgetDevice) have a bucket of their own
	// with the same sizes. Both APIs rate-limit the host's one credential,
	// so one user's loop must not use it up for everyone.
	AuthKeyBurst    Count    `toml:"auth_key_burst"`
	AuthKeyInterval Duration `toml:"auth_key_interval"`
}

// Container holds the defaults for new containers; create flags override them.
type Container struct {
	Image    ImageRef `toml:"image"`
	CPUs     CPUs     `toml:"cpus"`
	Memory   Size     `toml:"memory"`
	TasksMax Count    `toml:"tasks_max"`
}

// Caps bounds how many containers exist per user and run per host,
// and what one container and one reservation may hold.
type Caps struct {
	MaxPerUser Count `toml:"max_per_user"`
	MaxGlobal  Count `toml:"max_global"`
	// MaxCPUsPerContainer and MaxMemoryPerContainer bound what one
	// container may reserve; the agent refuses more (and anything above
	// the host's own size).
	MaxCPUsPerContainer   CPUs `toml:"max_cpus_per_container"`
	MaxMemoryPerContainer Size `toml:"max_memory_per_container"`
	// ReservationTimeout is how long an admitted create or start counts as
	// running before its container shows up in its cgroup: the unit's
	// start, image load included. A reservation never seen running ends
	// then, and is the longest one user's reservations can keep another
	// user's create out at a stretch (docs/agent.md).
	ReservationTimeout Duration `toml:"reservation_timeout"`
}

// Reservation timeout bounds: below 10 s a create with an image load would
// lose its reservation; above an hour a squatter holds a slot that long.
const (
	MinReservationTimeout = Duration(10 * time.Second)
	MaxReservationTimeout = Duration(time.Hour)
)

// validate checks what the types alone cannot: the timeout's range, and
// that the container defaults fit the per-container maxima (else every
// create without flags would be refused).
func (c Caps) validate(cfg Config, data []byte, filename string) error {
	line := func(key string) int { return keyLine(data, toml.Key{"caps", key}) }
	if c.ReservationTimeout < MinReservationTimeout || c.ReservationTimeout > MaxReservationTimeout {
		return errdefs.Errorf(errdefs.Usage, "config %s line %d: caps.reservation_timeout: %s is out of range: want from %s to %s",
			filename, line("reservation_timeout"), c.ReservationTimeout, MinReservationTimeout, MaxReservationTimeout)
	}
	if cfg.Container.CPUs > c.MaxCPUsPerContainer {
		return errdefs.Errorf(errdefs.Usage, "config %s line %d: caps.max_cpus_per_container: %s is below container.cpus (%s), the default of every create",
			filename, line("max_cpus_per_container"), c.MaxCPUsPerContainer, cfg.Container.CPUs)
	}
	if cfg.Container.Memory > c.MaxMemoryPerContainer {
		return errdefs.Errorf(errdefs.Usage, "config %s line %d: caps.max_memory_per_container: %s is below container.memory (%s), the default of every create",
			filename, line("max_memory_per_container"), c.MaxMemoryPerContainer, cfg.Container.Memory)
	}
	return nil
}

// Reaper holds the idle windows of.
type Reaper struct {
	// IdleStop: a running container with no activity this long is stopped.
	IdleStop Duration `toml:"idle_stop"`
	// StoppedDestroy: a container stopped this long is archived and destroyed.
	StoppedDestroy Duration `toml:"stopped_destroy"`
	// WarnBefore: the owner is warned this long before either.
	WarnBefore Duration `toml:"warn_before"`
	// CPUActiveThreshold: CPU time per hour of wall time above which a
	// container counts as busy.
	CPUActiveThreshold Duration `toml:"cpu_active_threshold"`
	// ArchiveKeep: how long the home archives of destroyed containers stay.
	ArchiveKeep Duration `toml:"archive_keep"`
	// SweepInterval: how often the reaper's timer runs.
	SweepInterval Duration `toml:"sweep_interval"`
	// ExportTimeout bounds one `podman volume export` of a home, by the
	// reaper or destroy, so a hung podman cannot hold anything up forever.
	ExportTimeout Duration `toml:"export_timeout"`
}

// Secrets says where Tailscale auth keys come from. With the agent,
// the agent's copy of this section decides; standalone, the CLI's does.
type Secrets struct {
	// Backend is "onepassword", "file", "env" (standalone only) or "none"
	// (containers get no auth key and do not join a tailnet).
	Backend Backend `toml:"backend"`
	// Vault is the 1Password vault of op://{vault}/{user}-tailscale-authkey/password.
	Vault Word `toml:"vault"`
	// TokenFile holds the 1Password service-account token, for hosts that do
	// not use the systemd credential devbox-quadlet.op-token.
	TokenFile AbsPath `toml:"token_file"`
	// Path is the file backend's per-user file, with {user} for the login
	// name. Empty means /etc/devbox-quadlet/authkeys/{user} for the agent and
	// $XDG_CONFIG_HOME/devbox-quadlet/tailscale-authkey standalone.
	Path AbsPath `toml:"path"`
	// Env is the env backend's variable.
	Env Word `toml:"env"`
	// Timeout bounds one resolution.
	Timeout Duration `toml:"timeout"`
}

// Tailnet holds the settings for joining and leaving the tailnet.
type Tailnet struct {
	// LogoutTimeout bounds `tailscale logout` inside a container at destroy.
	LogoutTimeout Duration `toml:"logout_timeout"`
	// LoginServer is the control server containers join ("" is
	// Tailscale's own), e.g. a team's headscale. It is passed to the image
	// as DEVBOX_TS_LOGIN_SERVER (docs/image-contract.md).
	LoginServer ControlURL `toml:"login_server"`
	// APIURL, Name, OAuthClientID and OAuthSecretFile configure the
	// Tailscale API fallback that deletes a destroyed container's device.
	// It is off unless OAuthClientID is set; the secret may also come from
	// the agent's systemd credential devbox-quadlet.ts-oauth-secret.
	APIURL          URL     `toml:"api_url"`
	Name            Word    `toml:"tailnet"`
	OAuthClientID   Word    `toml:"oauth_client_id"`
	OAuthSecretFile AbsPath `toml:"oauth_secret_file"`
}

// User holds per-user overrides, keyed by login name.
type User struct {
	MaxPerUser Count `toml:"max_per_user"`
	Admin      bool  `toml:"admin"`
}

// Default returns the built-in configuration used when no file exists.
func Default() Config {
	return Config{
		Container: Container{
			Image:    "localhost/devbox:latest",
			CPUs:     2,
			Memory:   4 << 30,
			TasksMax: 4096,
		},
		Caps: Caps{MaxPerUser: 5, MaxGlobal: 7, MaxCPUsPerContainer: 16, MaxMemoryPerContainer: 64 << 30,
			ReservationTimeout: Duration(5 * time.Minute)},
		Reaper: Reaper{IdleStop: Duration(7 * 24 * 3600e9), StoppedDestroy: Duration(14 * 24 * 3600e9),
			WarnBefore: Duration(24 * 3600e9), CPUActiveThreshold: Duration(5 * 60e9),
			ArchiveKeep: Duration(30 * 24 * 3600e9), SweepInterval: Duration(3600e9), ExportTimeout: Duration(30 * 60e9)},
		Secrets: Secrets{Backend: "onepassword", Vault: "DevBox", Env: "DEVBOX_QUADLET_TS_AUTHKEY", Timeout: Duration(20e9)},
		Tailnet: Tailnet{LogoutTimeout: Duration(15e9), APIURL: "https://api.tailscale.com", Name: "-"},
		Host:    Host{Overcommit: 1},
		Agent:   Agent{Mode: "auto", AuthKeyBurst: 5, AuthKeyInterval: Duration(30 * time.Second)},
	}
}

// MaxPerUser is the per-user cap for user, with any override applied.
func (c Config) MaxPerUser(user string) int {
	if u, ok := c.Users[user]; ok && u.MaxPerUser > 0 {
		return int(u.MaxPerUser)
	}
	return int(c.Caps.MaxPerUser)
}

// Load reads the configuration from path. A missing file at the default path
// yields the defaults; a missing file anywhere else is an error, because the
// user named it on purpose. The boolean reports whether a file was read.
func Load(path string, explicit bool) (Config, bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && !explicit {
		return Default(), false, nil
	}
	if err != nil {
		return Config{}, false, errdefs.Errorf(errdefs.Usage, "read config: %w", err)
	}
	cfg, err := Parse(data, path)
	return cfg, true, err
}

// Parse decodes data over the defaults. Unknown keys and bad values are errors
// of class errdefs.Usage that name the file, line and key.
func Parse(data []byte, filename string) (Config, error) {
	cfg := Default()
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&cfg)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			key := pe.LastKey
			if key != "" {
				return Config{}, errdefs.Errorf(errdefs.Usage, "config %s line %d: %s: %s", filename, pe.Position.Line, key, pe.Message)
			}
			return Config{}, errdefs.Errorf(errdefs.Usage, "config %s line %d: %s", filename, pe.Position.Line, pe.Message)
		}
		return Config{}, errdefs.Errorf(errdefs.Usage, "config %s: %w", filename, err)
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		key := undecoded[0].String()
		return Config{}, errdefs.Errorf(errdefs.Usage, "config %s line %d: unknown key %q", filename, keyLine(data, undecoded[0]), key)
	}
	for name := range cfg.Users {
		if !validLogin(name) {
			return Config{}, errdefs.Errorf(errdefs.Usage, "config %s line %d: users.%s: invalid user name: want a unix login name", filename, keyLine(data, toml.Key{"users", name}), name)
		}
	}
	if err := cfg.Caps.validate(cfg, data, filename); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// keyLine finds the line that defines key, for error messages. BurntSushi/toml
// records positions but does not export them for keys that decode cleanly, so
// this scans table headers and "key =" lines. It returns 0 when unsure.
func keyLine(data []byte, key toml.Key) int {
	table := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	want := key.String()
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(s, "[") {
			table = strings.Trim(strings.SplitN(s, "#", 2)[0], "[] \t")
			if table == want {
				return line
			}
			continue
		}
		k, _, ok := strings.Cut(s, "=")
		if !ok {
			continue
		}
		full := strings.Trim(strings.TrimSpace(k), `"`)
		if table != "" {
			full = table + "." + full
		}
		if full == want {
			return line
		}
	}
	return 0
}

func validLogin(s string) bool {
	if s == "" || len(s) > 32 || s[0] == '-' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// ImageRef is a container image reference. It ends up in a unit file, so it
// must be one line without spaces.
type ImageRef string

// UnmarshalText implements encoding.TextUnmarshaler for TOML decoding.
func (r *ImageRef) UnmarshalText(b []byte) error {
	v, err := ParseImageRef(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// ParseImageRef checks that s can be written into a unit file as an Image= value.
func ParseImageRef(s string) (ImageRef, error) {
	if s == "" || len(s) > 512 {
		return "", fmt.Errorf("invalid image %q: want a non-empty image reference of at most 512 characters", s)
	}
	for _, c := range s {
		if c <= ' ' || c == 0x7f || c == '%' || c == '\\' || c == '"' || c == '\'' {
			return "", fmt.Errorf("invalid image %q: want an image reference such as localhost/devbox:latest, without spaces, quotes or control characters", s)
		}
	}
	return ImageRef(s), nil
}

// AbsPath is an absolute file path (a path template may hold {user}).
type AbsPath string

// UnmarshalText implements encoding.TextUnmarshaler for TOML decoding.
func (p *AbsPath) UnmarshalText(b []byte) error {
	s := string(b)
	if !strings.HasPrefix(s, "/") || len(s) > 1024 || strings.ContainsAny(s, "\n\r\x00") || strings.Contains(s, "/../") || strings.HasSuffix(s, "/..") {
		return fmt.Errorf("invalid path %q: want an absolute path without \"..\" or line breaks", s)
	}
	*p = AbsPath(s)
	return nil
}

// URL is an http(s) base URL.
type URL string

// UnmarshalText implements encoding.TextUnmarshaler for TOML decoding.
func (u *URL) UnmarshalText(b []byte) error {
	s := string(b)
	if !(strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://")) || len(s) > 1024 || strings.ContainsAny(s, " \n\r\x00") {
		return fmt.Errorf("invalid URL %q: want an http:// or https:// URL", s)
	}
	*u = URL(s)
	return nil
}

// ControlURL is the URL of a tailnet control server. It ends up in a unit
// file's Environment= line, so besides being an http(s) URL with a host it
// may not hold what a unit file would read as a specifier, quote or escape.
type ControlURL string

// UnmarshalText implements encoding.TextUnmarshaler for TOML decoding.
func (u *ControlURL) UnmarshalText(b []byte) error {
	s := string(b)
	p, err := url.Parse(s)
	if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" || p.User != nil ||
		len(s) > 512 || strings.ContainsAny(s, " \t\n\r\x00%\"'\\") {
		return fmt.Errorf("invalid control server URL %q: want http(s)://host[:port][/path], without spaces, quotes, %% or backslashes", s)
	}
	*u = ControlURL(s)
	return nil
}

// Word is a short identifier such as a vault name.
type Word string

// UnmarshalText implements encoding.TextUnmarshaler for TOML decoding.
func (w *Word) UnmarshalText(b []byte) error {
	s := string(b)
	if s == "" || len(s) > 128 || strings.ContainsAny(s, "/\n\r\x00") {
		return fmt.Errorf("invalid value %q: want 1-128 characters without '/' or line breaks", s)
	}
	*w = Word(s)
	return nil
}

// Backend names where auth keys come from.
type Backend string

// Backends lists the supported secret backends.
var Backends = []string{"env", "file", "none", "onepassword"}

// UnmarshalText implements encoding.TextUnmarshaler for TOML decoding.
func (b *Backend) UnmarshalText(text []byte) error {
	s := string(text)
	if i := sort.SearchStrings(Backends, s); i < len(Backends) && Backends[i] == s {
		*b = Backend(s)
		return nil
	}
	return fmt.Errorf("invalid backend %q: want one of %s", s, strings.Join(Backends, ", "))
}

// Ratio is an overcommit factor: reservations may add up to capacity times it.
type Ratio float64

// UnmarshalText implements encoding.TextUnmarshaler for TOML decoding.
func (r *Ratio) UnmarshalText(b []byte) error {
	f, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	if err != nil || f < 0.1 || f > 100 {
		return fmt.Errorf("invalid ratio %q: want a number from 0.1 to 100, e.g. 1.5", string(b))
	}
	*r = Ratio(f)
	return nil
}

// GroupName is a unix group name.
type GroupName string

// UnmarshalText implements encoding.TextUnmarshaler for TOML decoding.
func (g *GroupName) UnmarshalText(b []byte) error {
	if !validLogin(string(b)) {
		return fmt.Errorf("invalid group name %q: want a unix group name such as devbox", string(b))
	}
	*g = GroupName(b)
	return nil
}

// AgentMode is how the CLI treats the host agent.
type AgentMode string

// UnmarshalText implements encoding.TextUnmarshaler for TOML decoding.
func (m *AgentMode) UnmarshalText(b []byte) error {
	switch s := string(b); s {
	case "auto", "required", "off":
		*m = AgentMode(s)
		return nil
	}
	return fmt.Errorf("invalid agent mode %q: want auto, required or off", string(b))
}
