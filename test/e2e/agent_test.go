//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The TestAgent tests run as root inside the VM and act as alice, bob and
// carol through runuser, against the real agent on the real system bus.

var raceRounds = 5

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Fatal("the TestAgent tests drive several users and must run as root in the VM (test/vm/guest-test.sh does)")
	}
}

// userConfig writes a config readable by every user: the test image, and
// the agent mode given.
func userConfig(t *testing.T, mode string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "devbox-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	_ = os.Chmod(dir, 0o755)
	p := filepath.Join(dir, "config.toml")
	// Standalone, the key comes from the user's own file (the agent's
	// config decides otherwise).
	body := fmt.Sprintf("[container]\nimage = %q\nmemory = \"256M\"\ncpus = 0.5\n\n[agent]\nmode = %q\n\n[secrets]\nbackend = \"file\"\n", *testImage, mode)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// as runs a command as login with its runtime dir, as an SSH login would.
func as(t *testing.T, login string, env []string, name string, args ...string) result {
	t.Helper()
	u, err := user.Lookup(login)
	if err != nil {
		t.Fatal(err)
	}
	full := append([]string{"-u", login, "--", "env", "HOME=" + u.HomeDir, "USER=" + login,
		"XDG_RUNTIME_DIR=/run/user/" + u.Uid, "PATH=/usr/local/bin:/usr/bin:/bin"}, env...)
	full = append(full, name)
	return run(t, "runuser", append(full, args...)...)
}

func dqAs(t *testing.T, login, cfg string, args ...string) result {
	t.Helper()
	return as(t, login, []string{"DEVBOX_QUADLET_CONFIG=" + cfg}, *devbox, args...)
}

type ledgerJSON struct {
	Entries []struct {
		Name    string `json:"name"`
		User    string `json:"user"`
		Running bool   `json:"running"`
	} `json:"entries"`
}

func ledgerAll(t *testing.T, cfg string) ledgerJSON {
	t.Helper()
	r := dqAs(t, "alice", cfg, "list", "--all", "--json")
	if r.code != 0 {
		t.Fatalf("list --all as the admin alice: %s", r)
	}
	var l ledgerJSON
	if err := json.Unmarshal([]byte(r.stdout), &l); err != nil {
		t.Fatalf("list --all --json: %v\n%s", err, r.stdout)
	}
	return l
}

// setHostConfig rewrites the agent's config and restarts it.
func setHostConfig(t *testing.T, maxGlobal int) {
	t.Helper()
	writeHostConfig(t, fmt.Sprintf("[caps]\nmax_per_user = 5\nmax_global = %d\n", maxGlobal)+hostSecrets)
}

// hostSecrets is the test bed's [secrets] section (test/vm/guest-common.sh).
const hostSecrets = "\n[secrets]\nbackend = \"file\"\npath = \"/run/devbox-authkeys/{user}-tailscale-authkey\"\n"

// writeHostConfig writes the agent's config (the test bed's host, users and
// agent sections, then extra) and restarts the agent.
func writeHostConfig(t *testing.T, extra string) {
	t.Helper()
	body := "[host]\ncpus = 64\nmemory = \"256G\"\n\n[agent]\nmode = \"required\"\nauth_key_burst = 10000\n\n[users.alice]\nadmin = true\n\n" + extra
	if err := os.WriteFile("/etc/devbox-quadlet/config.toml", []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	restartAgent(t)
}

// TestAgentNames: a name owned by alice is refused to bob with exit 4, and
// nothing of alice's is touched.
func TestAgentNames(t *testing.T) {
	requireRoot(t)
	cfg := userConfig(t, "required")
	if r := dqAs(t, "alice", cfg, "create", "demo", "--no-start"); r.code != 0 {
		t.Fatalf("alice create demo: %s", r)
	}
	t.Cleanup(func() { dqAs(t, "alice", cfg, "destroy", "--yes", "demo") })
	before, _ := os.ReadFile("/home/alice/.config/containers/systemd/devbox-demo.container")
	r := dqAs(t, "bob", cfg, "create", "demo", "--no-start")
	if r.code != 4 || !strings.Contains(r.stderr, "taken by another user") {
		t.Errorf("bob create demo: want exit 4 naming the rule, got %s", r)
	}
	if _, err := os.Stat("/home/bob/.config/containers/systemd/devbox-demo.container"); err == nil {
		t.Error("bob's refused create wrote a file")
	}
	after, _ := os.ReadFile("/home/alice/.config/containers/systemd/devbox-demo.container")
	if string(before) != string(after) || len(after) == 0 {
		t.Error("alice's container file changed")
	}
}

// TestAgentRace: 3 users fire 4 creates each at once, 12 in all, against a
// global cap of 7: exactly 7 run and 5 are refused with exit 6, and the
// ledger, podman and list --all agree. Repeated raceRounds times.
func TestAgentRace(t *testing.T) {
	requireRoot(t)
	setHostConfig(t, 7)
	cfg := userConfig(t, "required")
	users := []string{"alice", "bob", "carol"}
	for round := 1; round <= raceRounds; round++ {
		t.Run(fmt.Sprintf("round-%d", round), func(t *testing.T) {
			type outcome struct {
				user, name string
				r          result
			}
			var mu sync.Mutex
			var outcomes []outcome
			var wg sync.WaitGroup
			start := time.Now()
			for _, u := range users {
				for i := 1; i <= 4; i++ {
					wg.Add(1)
					go func(u string, i int) {
						defer wg.Done()
						name := fmt.Sprintf("r%d%s%d", round, u[:1], i)
						r := dqAs(t, u, cfg, "create", name)
						mu.Lock()
						outcomes = append(outcomes, outcome{u, name, r})
						mu.Unlock()
					}(u, i)
				}
			}
			wg.Wait()
			t.Logf("12 parallel creates took %.1f s", time.Since(start).Seconds())
			created, refused := map[string]string{}, 0
			for _, o := range outcomes {
				switch o.r.code {
				case 0:
					created[o.name] = o.user
				case 6:
					refused++
					if !strings.Contains(o.r.stderr, "of 7 containers running") {
						t.Errorf("refusal of %s lacks the numbers:\n%s", o.name, o.r.stderr)
					}
				default:
					t.Errorf("create %s as %s: %s", o.name, o.user, o.r)
				}
			}
			t.Cleanup(func() {
				var wg sync.WaitGroup
				for name, u := range created {
					wg.Add(1)
					go func(name, u string) { defer wg.Done(); dqAs(t, u, cfg, "destroy", "--yes", name) }(name, u)
				}
				wg.Wait()
			})
			if len(created) != 7 || refused != 5 {
				t.Fatalf("created %d and refused %d, want 7 and 5", len(created), refused)
			}
			running := 0
			for _, u := range users {
				out := as(t, u, nil, "podman", "ps", "--format", "{{.Names}}").stdout
				for _, n := range strings.Fields(out) {
					if strings.HasPrefix(n, fmt.Sprintf("devbox-r%d", round)) {
						running++
						if created[strings.TrimPrefix(n, "devbox-")] != u {
							t.Errorf("podman ps of %s shows %s, which the creates did not report", u, n)
						}
					}
				}
			}
			if running != 7 {
				t.Errorf("podman ps shows %d running across users, want 7", running)
			}
			l := ledgerAll(t, cfg)
			inLedger := 0
			for _, e := range l.Entries {
				if strings.HasPrefix(e.Name, fmt.Sprintf("r%d", round)) {
					inLedger++
					if created[e.Name] != e.User || !e.Running {
						t.Errorf("ledger entry %+v disagrees with the creates", e)
					}
				}
			}
			if inLedger != 7 {
				t.Errorf("list --all shows %d entries of this round, want 7", inLedger)
			}
		})
	}
}

// TestAgentReconcile: with a global cap of 1, a container stopped behind the
// CLI's back (systemctl --user stop, or podman kill with restart disabled)
// no longer counts at the next admission, with no manual step.
func TestAgentReconcile(t *testing.T) {
	requireRoot(t)
	setHostConfig(t, 1)
	t.Cleanup(func() { setHostConfig(t, 7) })
	cfg := userConfig(t, "required")
	if r := dqAs(t, "alice", cfg, "create", "holder"); r.code != 0 {
		t.Fatalf("alice create holder: %s", r)
	}
	t.Cleanup(func() { dqAs(t, "alice", cfg, "destroy", "--yes", "holder") })
	if r := dqAs(t, "bob", cfg, "create", "waiter", "--no-start"); r.code != 6 || !strings.Contains(r.stderr, "1 of 1") {
		t.Fatalf("bob create with the host full: want exit 6 naming 1 of 1, got %s", r)
	}
	as(t, "alice", nil, "systemctl", "--user", "stop", "devbox-holder.service")
	if r := dqAs(t, "bob", cfg, "create", "waiter", "--no-start"); r.code != 0 {
		t.Fatalf("bob create after alice's systemctl stop: %s", r)
	}
	t.Cleanup(func() { dqAs(t, "bob", cfg, "destroy", "--yes", "waiter") })

	// Crash without restart: a drop-in disables Restart=, then podman kill.
	as(t, "alice", nil, "systemctl", "--user", "start", "devbox-holder.service")
	drop := "/home/alice/.config/systemd/user/devbox-holder.service.d"
	as(t, "alice", nil, "mkdir", "-p", drop)
	as(t, "alice", nil, "sh", "-c", "printf '[Service]\\nRestart=no\\n' > "+drop+"/norestart.conf")
	as(t, "alice", nil, "systemctl", "--user", "daemon-reload")
	t.Cleanup(func() { os.RemoveAll(drop) })
	if r := dqAs(t, "bob", cfg, "start", "waiter"); r.code != 6 {
		t.Fatalf("bob start while alice's holder runs: want exit 6, got %s", r)
	}
	as(t, "alice", nil, "podman", "kill", "devbox-holder")
	// Wait until the unit has finished going down: while it is
	// "deactivating", podman's cleanup still runs in its cgroup, and the
	// agent rightly counts a populated cgroup as running.
	waitFor(t, "holder to be down", 60*time.Second, func() bool {
		st := strings.TrimSpace(as(t, "alice", nil, "systemctl", "--user", "is-active", "devbox-holder.service").stdout)
		return st == "inactive" || st == "failed"
	})
	if r := dqAs(t, "bob", cfg, "start", "waiter"); r.code != 0 {
		t.Fatalf("bob start after alice's container was killed: %s", r)
	}
}

// TestAgentTrust: each check would pass if the protection were removed, so
// each is checked against the behaviour the protection forbids.
func TestAgentTrust(t *testing.T) {
	requireRoot(t)
	cfg := userConfig(t, "required")
	if r := dqAs(t, "alice", cfg, "create", "mine", "--no-start"); r.code != 0 {
		t.Fatalf("alice create mine: %s", r)
	}
	t.Cleanup(func() { dqAs(t, "alice", cfg, "destroy", "--yes", "mine") })
	const dest, path, iface = "io.github.DevboxQuadlet.Agent1", "/io/github/DevboxQuadlet/Agent1", "io.github.DevboxQuadlet.Agent1"

	// Without the <policy user=...> restriction in the bus policy, the
	// default system policy would still refuse ownership; with an
	// <allow own> for everyone this call would succeed.
	r := as(t, "bob", nil, "busctl", "--system", "call", "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "RequestName", "su", dest, "4")
	if r.code == 0 {
		t.Errorf("bob could own the agent's bus name: %s", r)
	}
	// Release of another user's container: refused because the agent
	// compares the entry's uid with the bus's uid for the caller. If the
	// agent trusted an argument or skipped the check, this would succeed
	// and the entry would vanish from the ledger.
	r = as(t, "bob", nil, "busctl", "--system", "call", dest, path, iface, "Release", "s", "mine")
	if r.code == 0 || !strings.Contains(r.stderr, "not yours") {
		t.Errorf("bob released alice's container: %s", r)
	}
	r = as(t, "bob", nil, "busctl", "--system", "call", dest, path, iface, "Stop", "s", "mine")
	if r.code == 0 {
		t.Errorf("bob stopped alice's reservation: %s", r)
	}
	// Reserving alice's name as bob is refused: names are per uid.
	r = as(t, "bob", nil, "busctl", "--system", "call", dest, path, iface, "Reserve", "sbut", "mine", "false", "500", "268435456")
	if r.code == 0 {
		t.Errorf("bob reserved alice's container: %s", r)
	}
	found := false
	for _, e := range ledgerAll(t, cfg).Entries {
		found = found || (e.Name == "mine" && e.User == "alice")
	}
	if !found {
		t.Error("alice's entry is gone from the ledger after bob's calls")
	}
	// The whole ledger is for admins: bob is not one, alice is.
	r = as(t, "bob", nil, "busctl", "--system", "call", dest, path, iface, "List", "b", "true")
	if r.code == 0 {
		t.Errorf("bob read the whole ledger: %s", r)
	}
	if r := dqAs(t, "bob", cfg, "list", "--all"); r.code == 0 {
		t.Errorf("bob ran list --all: %s", r)
	}
	if r := dqAs(t, "bob", cfg, "status", "--all", "mine"); r.code == 0 {
		t.Errorf("bob ran status --all: %s", r)
	}
	if r := dqAs(t, "alice", cfg, "status", "--all", "mine"); r.code != 0 || !strings.Contains(r.stdout, "owner alice") {
		t.Errorf("the admin's status --all: %s", r)
	}
	r = as(t, "bob", nil, "busctl", "--system", "call", dest, path, iface, "List", "b", "false")
	if r.code != 0 || strings.Contains(r.stdout, "mine") {
		t.Errorf("bob's own listing: %s", r)
	}
	// The ledger file: the state directory is 0700 and owned by the
	// agent's user; with a world-writable file or directory this write
	// would succeed.
	r = as(t, "bob", nil, "sh", "-c", "echo '{}' > /var/lib/devbox-quadlet/ledger.json")
	if r.code == 0 {
		t.Errorf("bob wrote the ledger file: %s", r)
	}
	r = as(t, "bob", nil, "cat", "/var/lib/devbox-quadlet/ledger.json")
	if r.code == 0 {
		t.Errorf("bob read the ledger file: %s", r)
	}
}

// TestAgentStandalone: with the agent off, list says the global cap is not
// enforced, and the per-user cap still holds.
func TestAgentStandalone(t *testing.T) {
	requireRoot(t)
	cfg := userConfig(t, "off")
	r := dqAs(t, "carol", cfg, "list")
	if r.code != 0 || !strings.Contains(r.stderr, "standalone") || !strings.Contains(r.stderr, "global cap and unique names are not enforced") {
		t.Errorf("standalone list: %s", r)
	}
	for i := 1; i <= 5; i++ {
		n := fmt.Sprintf("solo%d", i)
		if r := dqAs(t, "carol", cfg, "create", n, "--no-start"); r.code != 0 {
			t.Fatalf("create %s: %s", n, r)
		}
		t.Cleanup(func() { dqAs(t, "carol", cfg, "destroy", "--yes", n) })
	}
	if r := dqAs(t, "carol", cfg, "create", "solo6", "--no-start"); r.code != 5 {
		t.Errorf("sixth standalone create: want exit 5, got %s", r)
	}
}

// TestAgentRequiredButDown: with mode "required", an agent that is neither
// running nor activatable gives exit 9 and touches nothing.
func TestAgentRequiredButDown(t *testing.T) {
	requireRoot(t)
	cfg := userConfig(t, "required")
	// `make install` puts it under its PREFIX (/usr/local by default).
	activation := "/usr/local/share/dbus-1/system-services/io.github.DevboxQuadlet.Agent1.service"
	if _, err := os.Stat(activation); err != nil {
		activation = "/usr/share/dbus-1/system-services/io.github.DevboxQuadlet.Agent1.service"
	}
	saved, err := os.ReadFile(activation)
	if err != nil {
		t.Fatal(err)
	}
	// Take the agent away the way an uninstall would: no activation file,
	// the bus told, the service stopped.
	must(t, "rm", activation)
	must(t, "busctl", "call", "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "ReloadConfig")
	must(t, "systemctl", "stop", "devbox-quadlet-agent.service")
	t.Cleanup(func() {
		_ = os.WriteFile(activation, saved, 0o644)
		run(t, "busctl", "call", "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "ReloadConfig")
		dqAs(t, "bob", userConfig(t, "off"), "destroy", "--yes", "nobus")
	})
	r := dqAs(t, "bob", cfg, "create", "nobus", "--no-start")
	if r.code != 9 || !strings.Contains(r.stderr, "not running") {
		t.Errorf("create with the agent down: want exit 9 saying so, got %s", r)
	}
	if _, err := os.Stat("/home/bob/.config/containers/systemd/devbox-nobus.container"); err == nil {
		t.Error("create with the agent down wrote a file")
	}
	if r := dqAs(t, "bob", userConfig(t, "auto"), "list"); r.code != 0 || !strings.Contains(r.stderr, "standalone") {
		t.Errorf("mode auto with the agent down should fall back to standalone: %s", r)
	}
}

// TestAgentSecurityScore runs systemd-analyze security on the agent's unit
// and fails above the exposure stated in docs/agent.md.
func TestAgentSecurityScore(t *testing.T) {
	requireRoot(t)
	// Issue 9: the unit's resource limits must not cost exposure; the
	// score stays at or below the 1.1 it had before them.
	r := run(t, "systemd-analyze", "security", "--no-pager", "--threshold=11", "devbox-quadlet-agent.service")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	t.Logf("systemd-analyze security: %s", lines[len(lines)-1])
	if r.code != 0 {
		t.Errorf("exposure above 1.1:\n%s", r)
	}
}
