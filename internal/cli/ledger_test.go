package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/agentproto"
	"github.com/devbox-quadlet/devbox-quadlet/internal/config"
	"github.com/devbox-quadlet/devbox-quadlet/internal/quadlet"
)

// TestLedgerNeedsRoot: the scan reads other users' files, so a user is
// told to run it as root, before anything is read or asked.
func TestLedgerNeedsRoot(t *testing.T) {
	h := newHarness(t)
	a := &fakeAgent{available: true}
	withAgent(h, a, "required")
	if code := h.run("ledger", "check"); code != 2 || !strings.Contains(h.errOut.String(), "run it as root") {
		t.Errorf("ledger check as a user: exit %d: %s", code, h.errOut)
	}
	if len(a.calls) != 0 {
		t.Errorf("agent calls: %v", a.calls)
	}
}

// TestLedgerScan: the scan finds the containers in the quadlet
// directories of the users with a uid of 1000 or more and of the users the
// config names, and skips what a user could use to trick root: a file of
// someone else's, a symbolic link, a FIFO.
func TestLedgerScan(t *testing.T) {
	h := newHarness(t)
	root := t.TempDir()
	me := os.Getuid()
	passwd := filepath.Join(root, "passwd")
	lines := []string{
		fmt.Sprintf("alice:x:%d:%d::%s:/bin/sh", me, me, filepath.Join(root, "alice")),
		fmt.Sprintf("bob:x:4242:4242::%s:/bin/sh", filepath.Join(root, "bob")),
		fmt.Sprintf("svc:x:999:999::%s:/bin/false", filepath.Join(root, "svc")),
		"nobody:x:65534:65534::/nonexistent:/bin/false",
	}
	if err := os.WriteFile(passwd, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	write := func(user, name string) string {
		files, err := quadlet.Render(quadlet.Spec{Name: name, Owner: user, Image: "localhost/devbox:latest", CPUs: 2, Memory: 4 << 30, TasksMax: 4096, Created: created, ToolVersion: "test"})
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(root, user, ".config/containers/systemd")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if err := os.WriteFile(filepath.Join(dir, f.Name), f.Content, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	dir := write("alice", "web")
	write("bob", "api") // owned by the test's uid, not by bob's 4242
	write("svc", "hidden")
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "devbox-link.container")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "devbox-fifo.container"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Users = map[string]config.User{"alice": {}, "ghost": {}}
	a := &fakeAgent{available: true, report: agentproto.RepairReport{Schema: 1, Removed: []agentproto.RepairChange{{Name: "orphan", User: "bob", Why: "gone"}}, Kept: 1}}
	opts := ledgerOptions{DryRun: true, Passwd: passwd, QuadletDir: ".config/containers/systemd"}
	done := make(chan error, 1)
	go func() { done <- ledgerRun(context.Background(), h.env, cfg, a, opts) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the scan hangs (on the FIFO?)")
	}
	got := a.observed.Containers
	if len(got) != 1 || got[0] != (agentproto.ObservedContainer{Name: "web", UID: uint32(me), User: "alice", CPUs: 2, Memory: 4 << 30, Created: created}) {
		t.Errorf("observed %+v, want only alice's web", got)
	}
	if a.observed.Schema != 1 || a.observed.Scanned.IsZero() {
		t.Errorf("observed %+v", a.observed)
	}
	warnings := h.errOut.String()
	for _, want := range []string{"devbox-api.container: owned by uid", "devbox-link.container: too many levels of symbolic links", "devbox-fifo.container: not a regular file", "[users.ghost] is in the config but not in"} {
		if !strings.Contains(warnings, want) {
			t.Errorf("stderr lacks %q:\n%s", want, warnings)
		}
	}
	if strings.Contains(warnings, "hidden") {
		t.Errorf("a system user's directory was scanned:\n%s", warnings)
	}
	out := h.out.String()
	if !strings.Contains(out, "would remove  orphan") || !strings.Contains(out, "1 entries would stay") || !strings.Contains(out, "`devbox-quadlet ledger repair` makes these changes") {
		t.Errorf("stdout:\n%s", out)
	}
}
