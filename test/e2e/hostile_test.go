//go:build e2e

package e2e

import (
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// assertNothingOf checks, as root, that login has nothing of container
// name: no unit file, no podman container, volume or secret, and no entry
// in the host ledger.
func assertNothingOf(t *testing.T, login, cfg, name string) {
	t.Helper()
	u, err := user.Lookup(login)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(u.HomeDir, ".config/containers/systemd")
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "devbox-"+name) || strings.HasPrefix(e.Name(), ".devbox-quadlet-") {
			t.Errorf("%s is left in %s", e.Name(), dir)
		}
	}
	for _, args := range [][]string{{"secret", "ls"}, {"volume", "ls"}, {"ps", "-a"}} {
		if out := as(t, login, nil, "podman", append(args, "--format", "{{.Name}}")...).stdout; strings.Contains(out, "devbox-"+name) {
			t.Errorf("podman %s shows %q", args[0], out)
		}
	}
	if _, err := os.Stat(filepath.Join(u.HomeDir, ".local/state/devbox-quadlet/creating", name+".json")); err == nil {
		t.Errorf("the intent record of %s is still there", name)
	}
	for _, e := range ledgerAll(t, cfg).Entries {
		if e.Name == name {
			t.Errorf("the host ledger kept %q for %s", name, e.User)
		}
	}
}

// TestHostileMissingPodman: with no podman on PATH, create fails before it
// makes anything, with exit 8 and a message that says so.
func TestHostileMissingPodman(t *testing.T) {
	requireRoot(t)
	setHostConfig(t, 7)
	cfg := userConfig(t, "required")
	empty := t.TempDir()
	_ = os.Chmod(empty, 0o755)
	// as() puts a PATH first; env(1) lets the later one win.
	r := as(t, "bob", []string{"DEVBOX_QUADLET_CONFIG=" + cfg, "PATH=" + empty}, *devbox, "create", "nopodman")
	if r.code != 8 || !strings.Contains(r.stderr, "podman is not installed") {
		t.Errorf("create without podman: want exit 8 saying podman is not installed, got %s", r)
	}
	assertNothingOf(t, "bob", cfg, "nopodman")
}

// TestHostileFullDisk: the quadlet directory is on a full file system when
// create writes the unit files. Create fails with exit 8 naming the cause,
// and rolls back what it had made by then (the reservation, the podman
// secret, the intent record).
func TestHostileFullDisk(t *testing.T) {
	requireRoot(t)
	setHostConfig(t, 7)
	cfg := userConfig(t, "required")
	u, err := user.Lookup("bob")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(u.HomeDir, ".config/containers/systemd")
	if r := as(t, "bob", nil, "mkdir", "-p", dir); r.code != 0 {
		t.Fatal(r)
	}
	// A 64 KiB tmpfs over bob's quadlet directory, owned by bob, then
	// filled to the last block by root.
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64k,mode=0755,uid="+u.Uid+",gid="+u.Gid); err != nil {
		t.Fatalf("mount a small tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	fill, err := os.Create(filepath.Join(dir, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	block := make([]byte, 4096)
	for {
		if _, err := fill.Write(block); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill the tmpfs: %v", err)
			}
			break
		}
	}
	fill.Close()

	r := dqAs(t, "bob", cfg, "create", "fulldisk")
	if r.code != 8 || !strings.Contains(r.stderr, "no space left on device") {
		t.Errorf("create on a full disk: want exit 8 saying no space left on device, got %s", r)
	}
	if !strings.Contains(r.stderr, "nothing was left behind") {
		t.Errorf("create on a full disk does not say it rolled back:\n%s", r.stderr)
	}
	assertNothingOf(t, "bob", cfg, "fulldisk")
}

// TestHostileOrphanRelease: a name the agent holds for bob with no file of
// it left (here a raw Reserve, as a create killed after its reservation
// leaves) is released by `destroy NAME` (exit 0) instead of exit 3 with the
// name and the cap slot taken.
func TestHostileOrphanRelease(t *testing.T) {
	requireRoot(t)
	setHostConfig(t, 7)
	cfg := userConfig(t, "required")
	const dest, path, iface = "io.github.DevboxQuadlet.Agent1", "/io/github/DevboxQuadlet/Agent1", "io.github.DevboxQuadlet.Agent1"
	r := as(t, "bob", nil, "busctl", "--system", "call", dest, path, iface, "Reserve", "sbut", "orphan", "true", "500", "268435456")
	if r.code != 0 {
		t.Fatalf("raw Reserve as bob: %s", r)
	}
	held := func() bool {
		for _, e := range ledgerAll(t, cfg).Entries {
			if e.Name == "orphan" && e.User == "bob" {
				return true
			}
		}
		return false
	}
	if !held() {
		t.Fatal("the raw Reserve left no entry")
	}
	r = dqAs(t, "bob", cfg, "destroy", "orphan")
	if r.code != 0 || !strings.Contains(r.stdout, "released") {
		t.Errorf("destroy of a name held with no files: want exit 0 saying released, got %s", r)
	}
	if held() {
		t.Error("the host ledger still holds orphan for bob")
	}
	assertNothingOf(t, "bob", cfg, "orphan")
}

// TestHostileLedgerRepair: `devbox-quadlet ledger check|repair` (root)
// shows and drops an entry whose container does not exist, keeps one that
// does, and rebuilds a ledger file that cannot be read, which until then
// fails every admission closed.
func TestHostileLedgerRepair(t *testing.T) {
	requireRoot(t)
	setHostConfig(t, 7)
	cfg := userConfig(t, "required")
	if r := dqAs(t, "alice", cfg, "create", "--no-start", "keepme"); r.code != 0 {
		t.Fatalf("alice create keepme: %s", r)
	}
	t.Cleanup(func() { dqAs(t, "alice", cfg, "destroy", "--yes", "--no-archive", "keepme") })
	const dest, path, iface = "io.github.DevboxQuadlet.Agent1", "/io/github/DevboxQuadlet/Agent1", "io.github.DevboxQuadlet.Agent1"
	// A confirmed entry with no container: it never expires by itself.
	for _, call := range [][]string{{"Reserve", "sbut", "ghostb", "true", "500", "268435456"}, {"Confirm", "s", "ghostb"}, {"Stop", "s", "ghostb"}} {
		if r := as(t, "bob", nil, "busctl", append([]string{"--system", "call", dest, path, iface}, call...)...); r.code != 0 {
			t.Fatalf("bob %s: %s", call[0], r)
		}
	}
	has := func(name string) bool {
		for _, e := range ledgerAll(t, cfg).Entries {
			if e.Name == name {
				return true
			}
		}
		return false
	}
	if !has("ghostb") || !has("keepme") {
		t.Fatal("the ledger lacks the entries the test made")
	}
	r := run(t, *devbox, "--config", "/etc/devbox-quadlet/config.toml", "ledger", "check")
	if r.code != 0 || !strings.Contains(r.stdout, "ghostb") {
		t.Errorf("ledger check: %s", r)
	}
	if !has("ghostb") {
		t.Error("ledger check changed the ledger")
	}
	if r := run(t, *devbox, "--config", "/etc/devbox-quadlet/config.toml", "ledger", "repair"); r.code != 0 || !strings.Contains(r.stdout, "ghostb") {
		t.Errorf("ledger repair: %s", r)
	}
	if has("ghostb") || !has("keepme") {
		t.Errorf("after repair: ghostb held %v (want false), keepme held %v (want true)", has("ghostb"), has("keepme"))
	}

	// A ledger file that cannot be read fails closed, until a repair.
	if err := os.WriteFile("/var/lib/devbox-quadlet/ledger.json", []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := dqAs(t, "alice", cfg, "start", "keepme"); r.code == 0 {
		t.Fatalf("a start was admitted with an unreadable ledger: %s", r)
	}
	r = run(t, *devbox, "--config", "/etc/devbox-quadlet/config.toml", "ledger", "repair")
	if r.code != 0 || !strings.Contains(r.stdout, "rebuilt") {
		t.Fatalf("ledger repair of an unreadable ledger: %s", r)
	}
	if !has("keepme") {
		t.Error("the rebuilt ledger lacks alice's keepme")
	}
	if r := dqAs(t, "alice", cfg, "start", "keepme"); r.code != 0 {
		t.Errorf("start after the repair: %s", r)
	}
}
