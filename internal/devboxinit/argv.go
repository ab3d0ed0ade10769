package devboxinit

import (
	"fmt"
	"strconv"
	"strings"
)

// The argv builders below have no side effects, like tailscale's own
// prefsFromUpArgs, so the exact command lines are table-tested. argv[0]
// is the program name to look up on PATH.

// TailscaledArgv is the tailscale daemon. Userspace networking because a
// rootless container has no /dev/net/tun worth using; --port=0 because
// several containers share the host's UDP ports; the state directory lives
// in the home volume so the node keeps its identity across stop and start.
func TailscaledArgv(c Config) []string {
	a := []string{
		"tailscaled",
		"--tun=userspace-networking",
		"--statedir=" + c.StateDir,
		"--socket=" + c.Socket,
		"--port=0",
	}
	if c.LoginServer != "" {
		// A team that runs its own control server (headscale) does not
		// want its nodes' logs sent to Tailscale's log service.
		a = append(a, "--no-logs-no-support")
	}
	return a
}

// TailscaledEnv is tailscaled's environment: devbox-init's own, without
// NOTIFY_SOCKET (tailscaled speaks sd_notify and would report ready too
// early). A control server on plain http (a headscale without TLS, as in
// the test bed) serves its embedded DERP relay on plain http too, which
// tailscaled only uses when TS_DEBUG_USE_DERP_HTTP=1; without it the
// nodes cannot reach each other through the relay.
func TailscaledEnv(c Config, environ []string) []string {
	env := RootEnv(environ)
	if strings.HasPrefix(c.LoginServer, "http://") {
		env = append(env, "TS_DEBUG_USE_DERP_HTTP=1")
	}
	return env
}

// UpArgv joins the tailnet. The key is passed as "file:PATH" only, so it
// is never in devbox-init's memory, argv, environment or logs. --reset
// makes the command declarative: with a persistent state directory, any
// setting that differs from the last run (a changed login server or tags)
// would otherwise fail with "changing settings via 'tailscale up' requires
// mentioning all non-default flags". --timeout bounds the wait for the
// Running state; without it `up` blocks forever when control is down.
func UpArgv(c Config) []string {
	a := []string{
		"tailscale", "--socket=" + c.Socket, "up",
		"--reset",
		"--auth-key=file:" + c.AuthKeyFile,
		"--hostname=" + c.Hostname,
		"--advertise-tags=" + c.Tags,
		"--ssh",
	}
	if c.LoginServer != "" {
		a = append(a, "--login-server="+c.LoginServer)
	}
	return append(a, "--timeout="+c.UpTimeout.String())
}

// ServeResetArgv clears the serve configuration, which tailscaled keeps
// in its state directory: a service dropped since the last start (say,
// Syncthing) must not stay published.
func ServeResetArgv(c Config) []string {
	return []string{"tailscale", "--socket=" + c.Socket, "serve", "reset"}
}

// ServeArgv publishes a loopback TCP port on the same port of the node's
// tailnet addresses, in the background (the setting outlives the command).
// Raw TCP, not HTTPS: the tailnet already encrypts, and a headscale
// control server need not grant the HTTPS certificate capability.
func ServeArgv(c Config, port int) []string {
	p := strconv.Itoa(port)
	return []string{"tailscale", "--socket=" + c.Socket, "serve", "--bg", "--yes", "--tcp=" + p, "tcp://127.0.0.1:" + p}
}

// StatusArgv asks for the node's addresses, DNS name and health.
func StatusArgv(c Config) []string {
	return []string{"tailscale", "--socket=" + c.Socket, "status", "--json"}
}

// CodeServerArgv runs code-server on loopback with its default password
// authentication; the tailnet reaches it through `tailscale serve`.
func CodeServerArgv(path string, port int) []string {
	return []string{path, "--bind-addr", "127.0.0.1:" + strconv.Itoa(port)}
}

// SyncthingArgv runs Syncthing's GUI on loopback. --no-restart leaves
// restarts to devbox-init, which backs off; the listen address is in the
// config that SyncthingConfigXML writes before the first start.
func SyncthingArgv(c Config) []string {
	return []string{
		"syncthing", "serve",
		"--no-browser",
		"--no-restart",
		"--gui-address=127.0.0.1:" + strconv.Itoa(c.SyncthingGUIPort),
		"--home=" + c.SyncthingDir,
	}
}

// Service is one program devbox-init supervises as the dev user and
// publishes on the tailnet.
type Service struct {
	Name  string   // as in the status file's "services"
	Argv  []string // argv[0] is a path or a name looked up on PATH
	Env   []string // extra variables on top of the user's login environment
	Ports map[string]int
}

// Services lists what to run: code-server when codeServer (its resolved
// path) is not empty, Syncthing when the container was created with it.
func Services(c Config, codeServer string) []Service {
	var s []Service
	if codeServer != "" {
		s = append(s, Service{
			Name:  "code-server",
			Argv:  CodeServerArgv(codeServer, c.CodeServerPort),
			Ports: map[string]int{"code-server": c.CodeServerPort},
		})
	}
	if c.Syncthing {
		s = append(s, Service{
			Name: "syncthing",
			Argv: SyncthingArgv(c),
			// No self-upgrade inside an image; no monitor restarts.
			Env:   []string{"STNOUPGRADE=1", "STNORESTART=1"},
			Ports: map[string]int{"syncthing-gui": c.SyncthingGUIPort, "syncthing": c.SyncthingSyncPort},
		})
	}
	return s
}

// UserEnv is the environment of a program run as u: a login-like
// environment built from scratch, so nothing of init's (NOTIFY_SOCKET
// above all) leaks into the user's processes. path is init's PATH.
func UserEnv(u User, path string, extra ...string) []string {
	if path == "" {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	shell := u.Shell
	if shell == "" {
		shell = "/bin/sh"
	}
	env := []string{
		"HOME=" + u.Home,
		"USER=" + u.Name,
		"LOGNAME=" + u.Name,
		"SHELL=" + shell,
		"PATH=" + path,
	}
	return append(env, extra...)
}

// RootEnv is init's own environment for the root children (tailscaled
// and the tailscale CLI) without NOTIFY_SOCKET: tailscaled speaks sd_notify
// itself and would report READY=1 to systemd before the node is up.
func RootEnv(environ []string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		if strings.HasPrefix(kv, EnvNotifySocket+"=") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// commandLine renders argv for a log line.
func commandLine(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		if a == "" || strings.ContainsAny(a, " \t\n\"'\\$") {
			a = fmt.Sprintf("%q", a)
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}
