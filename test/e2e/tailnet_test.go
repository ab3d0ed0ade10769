//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The TestTailnet tests run as root inside the VM on a real tailnet: the
// test bed's guest script (test/vm/guest-tailnet.sh) runs headscale as the
// control server, a second tailscaled as alice's "laptop", and writes real
// headscale pre-auth keys where the agent's file backend reads them. The
// containers run the real devbox image (containers/) with devbox-init,
// tailscaled, code-server and Syncthing. Nothing here is a stand-in.

const (
	laptopSocket = "/run/laptop-ts/tailscaled.sock"
	hostConfig   = "/etc/devbox-quadlet/config.toml"
	// tailnetGuest holds the shell functions the guest script uses; the
	// tests call them for new keys, so both make keys the same way.
	tailnetGuest = "/share/guest-tailnet.sh"
)

// tailnetHostConfig is the test bed's host config with the tailnet's
// control server, the real image (the built-in default), and a CPU
// threshold no idle dev container reaches under TCG, so the session signal
// is what the reaper names.
const tailnetHostConfig = "[host]\ncpus = 64\nmemory = \"256G\"\n\n[agent]\nmode = \"required\"\nauth_key_burst = 10000\n\n[users.alice]\nadmin = true\n\n" +
	"[container]\ncpus = 1\nmemory = \"1G\"\n\n[reaper]\ncpu_active_threshold = \"50m\"\n\n[tailnet]\nlogin_server = \"http://10.99.0.1:8080\"\n" + hostSecrets

// useTailnetHostConfig installs tailnetHostConfig for the test and puts the
// previous host config back afterwards.
func useTailnetHostConfig(t *testing.T) {
	t.Helper()
	old, err := os.ReadFile(hostConfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hostConfig, []byte(tailnetHostConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	restartAgent(t)
	t.Cleanup(func() {
		_ = os.WriteFile(hostConfig, old, 0o644)
		_ = exec.Command("systemctl", "reset-failed", "devbox-quadlet-agent.service").Run()
		_ = exec.Command("systemctl", "restart", "devbox-quadlet-agent.service").Run()
	})
}

// guestFn runs one of the test bed's tailnet shell functions.
func guestFn(t *testing.T, fn string, args ...string) string {
	t.Helper()
	return strings.TrimSpace(must(t, "bash", append([]string{"-c", ". " + tailnetGuest + " && " + fn + ` "$@"`, fn}, args...)...))
}

// laptop runs the tailscale CLI of alice's laptop node.
func laptop(t *testing.T, bound time.Duration, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	return runCmd(t, laptopCmd(ctx, args...))
}

// laptopCmd is the laptop's tailscale CLI. `tailscale ssh` runs the ssh
// client, which wants a home for its known_hosts; the guest runner has none.
func laptopCmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "tailscale", append([]string{"--socket=" + laptopSocket}, args...)...)
	cmd.Env = append(os.Environ(), "HOME=/root")
	return cmd
}

// hsNode is a node as `headscale nodes list -o json` prints it.
type hsNode struct {
	ID          json.Number `json:"id"`
	Name        string      `json:"name"`
	GivenName   string      `json:"given_name"`
	IPAddresses []string    `json:"ip_addresses"`
	User        struct {
		Name string `json:"name"`
	} `json:"user"`
	ForcedTags  []string `json:"forced_tags"`
	ValidTags   []string `json:"valid_tags"`
	InvalidTags []string `json:"invalid_tags"`
	Online      bool     `json:"online"`
}

// tags is every tag the control server gives the node.
func (n hsNode) tags() []string {
	all := slices.Concat(n.ForcedTags, n.ValidTags)
	slices.Sort(all)
	return slices.Compact(all)
}

func hsNodes(t *testing.T) []hsNode {
	t.Helper()
	out := must(t, "headscale", "nodes", "list", "-o", "json")
	var nodes []hsNode
	if err := json.Unmarshal([]byte(out), &nodes); err != nil {
		t.Fatalf("headscale nodes list -o json: %v\n%s", err, out)
	}
	return nodes
}

// hsNode returns the node whose (given) name is name.
func findNode(t *testing.T, name string) (hsNode, bool) {
	t.Helper()
	for _, n := range hsNodes(t) {
		if n.GivenName == name || n.Name == name {
			return n, true
		}
	}
	return hsNode{}, false
}

func ipv4(ips []string) string {
	for _, ip := range ips {
		if strings.Count(ip, ".") == 3 {
			return ip
		}
	}
	return ""
}

// waitUntil polls cond every second up to bound; it reports whether cond held.
func waitUntil(bound time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(bound)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Second)
	}
}

// listener is a TCP socket listening in a container beyond loopback.
type listener struct {
	port  uint64
	owner string // the owning process's comm and argv
}

func (l listener) String() string { return fmt.Sprintf("port %d (%s)", l.port, l.owner) }

// listenersOutsideLoopback lists the TCP sockets listening inside the
// container on anything but loopback, from its /proc/net/tcp{,6}, with the
// process that owns each.
func listenersOutsideLoopback(t *testing.T, login, ctr string) []listener {
	t.Helper()
	r := inContainer(t, login, ctr, "cat", "/proc/net/tcp", "/proc/net/tcp6")
	if r.code != 0 {
		t.Fatalf("reading the container's sockets: %s", r)
	}
	var out []listener
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[3] != "0A" { // 0A is TCP_LISTEN
			continue
		}
		addr, port, _ := strings.Cut(f[1], ":")
		switch addr {
		case "0100007F", "00000000000000000000000001000000": // 127.0.0.1, ::1
			continue
		}
		p, _ := strconv.ParseUint(port, 16, 16)
		find := `for p in /proc/[0-9]*; do ls -l $p/fd 2>/dev/null | grep -q "socket:\[` + f[9] + `\]" && echo "$(cat $p/comm) $(tr '\0' ' ' <$p/cmdline)"; done`
		out = append(out, listener{port: p, owner: strings.TrimSpace(inContainer(t, login, ctr, "sh", "-c", find).stdout)})
	}
	return out
}

// answersFromOutsideTheTailnet sends an HTTP request to port from the
// container's own non-tailnet address and returns whatever came back.
func answersFromOutsideTheTailnet(t *testing.T, login, ctr string, port uint64) string {
	t.Helper()
	script := `a=$(ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | head -n1)
exec 3<>/dev/tcp/$a/` + strconv.FormatUint(port, 10) + ` || exit 0
printf 'GET / HTTP/1.0\r\n\r\n' >&3
timeout 5 cat <&3`
	return inContainer(t, login, ctr, "bash", "-c", script).stdout
}

// sessionMtime is the mtime of the container's session file on the host.
func sessionMtime(login, name string) time.Time {
	u, err := user.Lookup(login)
	if err != nil {
		return time.Time{}
	}
	info, err := os.Stat(filepath.Join(u.HomeDir, ".local/state/devbox-quadlet/activity", name, "session"))
	if err != nil {
		return time.Time{}
	}
	return info.ModTime()
}

type tailnetListJSON struct {
	Containers []struct {
		Name    string `json:"name"`
		Tailnet *struct {
			State   string   `json:"state"`
			Address string   `json:"address"`
			IPs     []string `json:"ips"`
		} `json:"tailnet"`
	} `json:"containers"`
}

// TestTailnetDevContainer walks alice's real dev container through its life
// on the real tailnet: ready means on the tailnet, Tailscale SSH and
// code-server from the laptop, nothing listening elsewhere, sessions seen by
// the reaper, the address in list and status, the same node after stop and
// start, a rotated key, and the node gone after destroy. One container for
// all of it: under TCG each start of the real image costs tens of seconds.
func TestTailnetDevContainer(t *testing.T) {
	requireRoot(t)
	useTailnetHostConfig(t)
	name, ctr := "demo", "devbox-demo"
	t.Cleanup(func() { dqAs(t, "alice", hostConfig, "destroy", "--yes", "--no-archive", name) })
	key := readTrim(t, aliceKeyFile)

	start := time.Now()
	r := dqAs(t, "alice", hostConfig, "create", name)
	if r.code != 0 {
		t.Fatalf("create with the real image: %s\nunit log:\n%s", r, as(t, "alice", nil, "journalctl", "--user", "-u", "devbox-demo.service", "--no-pager", "-n", "60").stdout)
	}
	t.Logf("create returned after %s (readiness: tailscale up done, services listening)", time.Since(start).Round(time.Millisecond))

	// Readiness: the unit is Type=notify, and the node is there the moment
	// create returns, owned by alice with exactly her two tags.
	if typ := strings.TrimSpace(as(t, "alice", nil, "systemctl", "--user", "show", "-P", "Type", "devbox-demo.service").stdout); typ != "notify" {
		t.Errorf("devbox-demo.service has Type=%s; want notify (the image's label io.github.devbox-quadlet.notify)", typ)
	}
	node, ok := findNode(t, name)
	if !ok {
		t.Fatalf("create returned, but headscale does not list a node %q: %v", name, hsNodes(t))
	}
	if node.User.Name != "alice" || !slices.Equal(node.tags(), []string{"tag:alice-container", "tag:devcontainer"}) || len(node.InvalidTags) > 0 {
		t.Errorf("node %s: user %q, tags %v (invalid %v); want alice with tag:alice-container and tag:devcontainer", name, node.User.Name, node.tags(), node.InvalidTags)
	}
	if !node.Online {
		t.Errorf("node %s is not online right after create returned", name)
	}
	addr := ipv4(node.IPAddresses)
	t.Logf("node %s: id %s, %v", name, node.ID, node.IPAddresses)

	// list and status show the tailnet address the control server gave.
	r = dqAs(t, "alice", hostConfig, "list", "--json")
	var l tailnetListJSON
	if err := json.Unmarshal([]byte(r.stdout), &l); err != nil || len(l.Containers) == 0 || l.Containers[0].Tailnet == nil ||
		l.Containers[0].Tailnet.State != "up" || !slices.Contains(l.Containers[0].Tailnet.IPs, addr) {
		t.Errorf("list --json does not show %s up at %s: %s", name, addr, r)
	}
	if r := dqAs(t, "alice", hostConfig, "status", name); !strings.Contains(r.stdout, addr) {
		t.Errorf("status does not show the address %s:\n%s", addr, r)
	}

	// Tailscale SSH from the laptop, as dev, with no OpenSSH server in the
	// container.
	ssh := laptop(t, 2*time.Minute, "ssh", "dev@"+name, "--", "id")
	if ssh.code != 0 || !strings.Contains(ssh.stdout, "uid=1000(dev)") {
		t.Errorf("tailscale ssh dev@%s -- id: %s", name, ssh)
	}
	t.Logf("tailscale ssh dev@%s -- id: %s in %s", name, strings.TrimSpace(ssh.stdout), ssh.took.Round(time.Millisecond))
	if r := inContainer(t, "alice", ctr, "sh", "-c", "command -v sshd || ls /usr/sbin/sshd"); r.code == 0 {
		t.Errorf("the image has an OpenSSH server (%s); Tailscale SSH is the only way in", strings.TrimSpace(r.stdout))
	}

	// code-server over the tailnet: its login page.
	http := httpOverTailnet(t, name, 8080, "/login")
	if !strings.Contains(http, "code-server") || !strings.Contains(strings.ToLower(http), "password") {
		t.Errorf("GET /login from code-server over the tailnet did not return its login page:\n%.600s", http)
	}
	// Services listen on loopback and reach the tailnet through tailscale
	// serve. The one exception is tailscaled's own PeerAPI, which in
	// userspace-networking mode listens on all addresses and closes every
	// connection that does not come from a tailnet peer
	// (ipn/ipnlocal/peerapi.go); that it answers nothing is checked.
	for _, l := range listenersOutsideLoopback(t, "alice", ctr) {
		if !strings.HasPrefix(l.owner, "tailscaled ") {
			t.Errorf("the container listens outside loopback: %s (services must be reachable on the tailnet only)", l)
			continue
		}
		if got := answersFromOutsideTheTailnet(t, "alice", ctr, l.port); got != "" {
			t.Errorf("tailscaled's %s answered a request from outside the tailnet:\n%.300s", l, got)
		}
	}

	// An open Tailscale SSH session moves the session file, and the reaper
	// names the session signal. One real sweep first, so the reaper has a
	// clock (a first sight is "first-seen" whatever the files say).
	if r := dqAs(t, "alice", hostConfig, "reap", "--json"); r.code != 0 {
		t.Fatalf("reap: %s", r)
	}
	before := sessionMtime("alice", name)
	sessCtx, endSession := context.WithCancel(context.Background())
	sess := laptopCmd(sessCtx, "ssh", "dev@"+name, "--", "sleep", "150")
	if err := sess.Start(); err != nil {
		t.Fatal(err)
	}
	if !waitUntil(90*time.Second, func() bool { return sessionMtime("alice", name).After(before) }) {
		t.Errorf("the session file did not move within 90 s of opening a Tailscale SSH session (mtime %v)", sessionMtime("alice", name))
	}
	r = dqAs(t, "alice", hostConfig, "reap", "--dry-run", "--json")
	var dry struct {
		Containers []struct {
			Name   string `json:"name"`
			Signal string `json:"signal"`
		} `json:"containers"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &dry); err != nil {
		t.Fatalf("reap --dry-run --json: %v\n%s", err, r)
	}
	for _, c := range dry.Containers {
		if c.Name == name && c.Signal != "session" {
			t.Errorf("reap --dry-run names the signal %q for %s during an SSH session; want session\n%s", c.Signal, name, r.stdout)
		}
	}
	endSession()
	_ = sess.Wait()

	// The container's own logs and processes never hold the key.
	logs := as(t, "alice", nil, "journalctl", "--user", "-u", "devbox-demo.service", "--no-pager", "-o", "cat").stdout
	if strings.Contains(logs, key) {
		t.Errorf("the auth key is in the container's journal")
	}
	if !strings.Contains(logs, "devbox-init") {
		t.Errorf("the unit's journal has no devbox-init lines; is the canary check reading the right log?\n%.1000s", logs)
	}
	procs := inContainer(t, "alice", ctr, "sh", "-c", "for p in /proc/[0-9]*; do cat $p/cmdline $p/environ 2>/dev/null; echo; done")
	if strings.Contains(procs.stdout, key) {
		t.Errorf("the auth key is in the argv or environment of a process in the container")
	}
	if !strings.Contains(procs.stdout, "tailscaled") {
		t.Errorf("no tailscaled among the container's processes; the /proc check proves nothing:\n%.600s", procs.stdout)
	}

	// stop, then start: the same node comes back, same name and address.
	for _, verb := range []string{"stop", "start"} {
		if r := dqAs(t, "alice", hostConfig, verb, name); r.code != 0 {
			t.Fatalf("%s: %s", verb, r)
		}
	}
	again, ok := findNode(t, name)
	if !ok || again.ID != node.ID || ipv4(again.IPAddresses) != addr || !again.Online {
		t.Errorf("after stop and start: node %+v (found %v); want node %s again at %s, online", again, ok, node.ID, addr)
	}
	if ssh := laptop(t, 2*time.Minute, "ssh", "dev@"+name, "--", "true"); ssh.code != 0 {
		t.Errorf("tailscale ssh after stop and start: %s", ssh)
	}

	// rotate-key with a new pre-auth key restarts the container; it is up.
	setKey(t, aliceKeyFile, guestFn(t, "preauth_key", "alice"))
	if r := dqAs(t, "alice", hostConfig, "rotate-key", name); r.code != 0 {
		t.Fatalf("rotate-key: %s", r)
	}
	if n, ok := findNode(t, name); !ok || !n.Online {
		t.Errorf("after rotate-key the node is not online: %+v", n)
	}

	// destroy logs the node out: the control server forgets it, in bounded time.
	if r := dqAs(t, "alice", hostConfig, "destroy", "--yes", "--no-archive", name); r.code != 0 {
		t.Fatalf("destroy: %s", r)
	}
	if !waitUntil(30*time.Second, func() bool { _, ok := findNode(t, name); return !ok }) {
		n, _ := findNode(t, name)
		t.Errorf("30 s after destroy headscale still lists %s: %+v", name, n)
	}
}

// httpOverTailnet sends GET path to name:port over the tailnet from the
// laptop (tailscale nc) and returns the raw response.
func httpOverTailnet(t *testing.T, name string, port int, path string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := laptopCmd(ctx, "nc", name, strconv.Itoa(port))
	// tailscale nc drops the connection when its stdin ends, so stdin
	// stays open until nc exits (the server closes after an HTTP/1.0
	// response); Wait closes the pipe then.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.WriteString(stdin, "GET "+path+" HTTP/1.0\r\nHost: "+name+"\r\n\r\n") }()
	out, err := cmd.Output()
	if err != nil && len(out) == 0 {
		t.Errorf("tailscale nc %s %d: %v", name, port, err)
	}
	return string(out)
}

// TestTailnetRefusedKey: an expired key makes create fail with exit 7 and a
// message that says the key was refused, and leaves nothing behind.
func TestTailnetRefusedKey(t *testing.T) {
	requireRoot(t)
	useTailnetHostConfig(t)
	name := "refused"
	t.Cleanup(func() { dqAs(t, "alice", hostConfig, "destroy", "--yes", "--no-archive", name) })
	setKey(t, aliceKeyFile, guestFn(t, "expired_key", "alice"))
	r := dqAs(t, "alice", hostConfig, "create", name)
	if r.code != 7 || !strings.Contains(r.stderr, "refused the auth key") {
		t.Errorf("create with an expired key: want exit 7 saying the key was refused, got %s", r)
	}
	assertNothingOf(t, "alice", hostConfig, name)
	if _, ok := findNode(t, name); ok {
		t.Errorf("headscale lists a node %s made with an expired key", name)
	}
}

// TestTailnetUsersApart: bob's container and alice's cannot reach each other
// over Tailscale SSH, and alice's laptop cannot reach bob's container: the
// ACL (test/tailnet/policy.hujson) allows each user only their own.
func TestTailnetUsersApart(t *testing.T) {
	requireRoot(t)
	useTailnetHostConfig(t)
	t.Cleanup(func() {
		dqAs(t, "alice", hostConfig, "destroy", "--yes", "--no-archive", "alicebox")
		dqAs(t, "bob", hostConfig, "destroy", "--yes", "--no-archive", "bobbox")
	})
	for _, c := range [][2]string{{"alice", "alicebox"}, {"bob", "bobbox"}} {
		if r := dqAs(t, c[0], hostConfig, "create", c[1]); r.code != 0 {
			t.Fatalf("%s: create %s: %s", c[0], c[1], r)
		}
	}
	if n, ok := findNode(t, "bobbox"); !ok || n.User.Name != "bob" || !slices.Equal(n.tags(), []string{"tag:bob-container", "tag:devcontainer"}) {
		t.Errorf("bobbox: %+v; want bob's, with tag:bob-container and tag:devcontainer", n)
	}
	// Positive control: alice's laptop reaches her own container.
	if r := laptop(t, 2*time.Minute, "ssh", "dev@alicebox", "--", "true"); r.code != 0 {
		t.Fatalf("alice's laptop cannot SSH into alicebox, so the denials below would prove nothing: %s", r)
	}
	if r := laptop(t, time.Minute, "ssh", "dev@bobbox", "--", "id"); r.code == 0 {
		t.Errorf("alice's laptop got into bob's container: %s", r)
	}
	for _, c := range [][3]string{{"alice", "devbox-alicebox", "bobbox"}, {"bob", "devbox-bobbox", "alicebox"}} {
		r := as(t, c[0], nil, "timeout", "60", "podman", "exec", c[1], "tailscale", "ssh", "dev@"+c[2], "--", "id")
		if r.code == 0 {
			t.Errorf("%s's container got into %s: %s", c[0], c[2], r)
		}
	}
}
