//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The tests of issue 9 that need real systemd and podman: what a user's
// destroy, an interrupted create, a hang-up, a name collision and a hung
// podman do to real containers.

func stateDir() string { return filepath.Join(os.Getenv("HOME"), ".local/state/devbox-quadlet") }

// inHome runs a shell command in the container as the test user.
func inHome(t *testing.T, name, script string) string {
	t.Helper()
	return strings.TrimSpace(must(t, "podman", "exec", "devbox-"+name, "sh", "-c", script))
}

// TestDestroyPromptAndRestore: without a terminal destroy wants --yes; on a
// real pty it asks for the name, a wrong answer changes nothing, the right
// one destroys after archiving the home; restore brings the file back.
func TestDestroyPromptAndRestore(t *testing.T) {
	useTestConfig(t)
	name := "undo"
	if r := dq(t, "create", name); r.code != 0 {
		t.Fatalf("create: %s", r)
	}
	t.Cleanup(func() { dq(t, "destroy", "--yes", "--no-archive", name) })
	inHome(t, name, "echo kept-by-the-archive > /home/dev/proof")

	// A script: stdin is not a terminal.
	r := dq(t, "destroy", name)
	if r.code != 2 || !strings.Contains(r.stderr, "--yes") {
		t.Fatalf("destroy without a terminal: want exit 2 asking for --yes, got %s", r)
	}
	if out, _ := systemctl(t, "is-active", "devbox-"+name+".service"); out != "active" {
		t.Fatalf("a refused destroy stopped the container: %s", out)
	}

	// A person on a real pseudo-terminal.
	onPty := func(answer string) (string, int) {
		m, path := openPty(t)
		slave, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer slave.Close()
		cmd := exec.Command(*devbox, "destroy", name)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		seen := readUntil(m, "Type the name to confirm", time.Minute)
		if !strings.Contains(seen, "Type the name to confirm") {
			_ = cmd.Process.Kill()
			t.Fatalf("no prompt on the terminal; it showed %q", seen)
		}
		if _, err := m.WriteString(answer + "\n"); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var rest string
		for {
			select {
			case err := <-done:
				rest += readUntil(m, "\x00never", 500*time.Millisecond)
				code := 0
				if ee, ok := err.(*exec.ExitError); ok {
					code = ee.ExitCode()
				}
				return seen + rest, code
			default:
				rest += readUntil(m, "\n", 200*time.Millisecond)
			}
		}
	}
	if out, code := onPty("nope"); code != 2 || !strings.Contains(out, "not confirmed") {
		t.Fatalf("a wrong name on the terminal: exit %d, want 2 saying not confirmed:\n%s", code, out)
	}
	if got := inHome(t, name, "cat /home/dev/proof"); got != "kept-by-the-archive" {
		t.Fatalf("after a refused destroy the home has %q", got)
	}
	out, code := onPty(name)
	if code != 0 || !strings.Contains(out, "archived") {
		t.Fatalf("destroy confirmed on the terminal: exit %d:\n%s", code, out)
	}
	assertGone(t, name)
	archives, _ := filepath.Glob(filepath.Join(stateDir(), "archives", name+"-*.tar"))
	if len(archives) == 0 {
		t.Fatalf("no archive of %s in %s", name, filepath.Join(stateDir(), "archives"))
	}

	if r := dq(t, "restore", name); r.code != 0 {
		t.Fatalf("restore: %s", r)
	}
	if got := inHome(t, name, "cat /home/dev/proof"); got != "kept-by-the-archive" {
		t.Errorf("after restore the home has %q, want the file written before destroy", got)
	}
	// --yes from a script works and also archives.
	if r := dq(t, "destroy", "--yes", "--json", name); r.code != 0 || !strings.Contains(r.stdout, `"archive": "`+stateDir()) {
		t.Errorf("destroy --yes --json: %s", r)
	}
	assertGone(t, name)
}

// TestInterruptedCreateKeepsWhatRuns: a create killed during the start
// leaves its intent record while the container comes up; once it is in use,
// the next create says it exists (exit 4) and removes nothing.
func TestInterruptedCreateKeepsWhatRuns(t *testing.T) {
	useTestConfig(t)
	name := "inuse"
	cmd := exec.Command(*devbox, "create", name)
	cmd.Env = append(os.Environ(), "DEVBOX_QUADLET_CRASH_AT=during-start")
	_ = cmd.Run()
	t.Cleanup(func() { dq(t, "destroy", "--yes", "--no-archive", name) })
	if _, err := os.Stat(filepath.Join(stateDir(), "creating", name+".json")); err != nil {
		t.Fatalf("the killed create left no intent record: %v", err)
	}
	waitFor(t, "the container to come up", 2*time.Minute, func() bool {
		out, _ := systemctl(t, "is-active", "devbox-"+name+".service")
		return out == "active"
	})
	inHome(t, name, "echo work > /home/dev/work")
	r := dq(t, "create", name)
	if r.code != 4 || !strings.Contains(r.stderr, "nothing was removed") {
		t.Fatalf("create over a running leftover: want exit 4, got %s", r)
	}
	if got := inHome(t, name, "cat /home/dev/work"); got != "work" {
		t.Errorf("the home lost the work: %q", got)
	}
	// It is an ordinary container now: stop it, and create still refuses.
	if r := dq(t, "stop", name); r.code != 0 {
		t.Fatalf("stop: %s", r)
	}
	if r := dq(t, "create", name); r.code != 4 {
		t.Errorf("create over a stopped container: want 4, got %s", r)
	}
	if out := must(t, "podman", "volume", "ls", "--format", "{{.Name}}"); !strings.Contains(out, "devbox-"+name+"-home") {
		t.Errorf("the home volume is gone: %s", out)
	}
}

// TestHangUpRollsBackCreate: SIGHUP (an SSH session that drops) during a
// create rolls it back like Ctrl-C; the old CLI died of it and left
// leftovers that a later create tore down.
func TestHangUpRollsBackCreate(t *testing.T) {
	useTestConfig(t)
	name := "hangup"
	cmd := exec.Command(*devbox, "create", name)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Hang up once the unit files are written: the rollback then has
	// files, a reload and maybe a start to undo.
	intent := filepath.Join(stateDir(), "creating", name+".json")
	waitFor(t, "create to write the unit files", time.Minute, func() bool {
		_, err := os.Stat(filepath.Join(quadletDir(), "devbox-"+name+".container"))
		return err == nil
	})
	_ = cmd.Process.Signal(syscall.SIGHUP)
	err := cmd.Wait()
	ee, ok := err.(*exec.ExitError)
	if ok && ee.Sys().(syscall.WaitStatus).Signaled() {
		t.Fatalf("create died of SIGHUP instead of rolling back: %v\n%s", err, stderr.String())
	}
	t.Logf("create after SIGHUP: %v\n%s", err, stderr.String())
	if err == nil {
		t.Logf("create finished before the hang-up arrived; destroying")
		dq(t, "destroy", "--yes", "--no-archive", name)
	}
	assertGone(t, name)
	if t.Failed() {
		gen, _ := os.ReadDir(filepath.Join(os.Getenv("XDG_RUNTIME_DIR"), "systemd", "generator"))
		t.Logf("generator dir: %v", gen)
		t.Logf("journal: %s", journalUser(t, "-n", "40", "-o", "short-precise"))
		time.Sleep(5 * time.Second)
		t.Logf("after 5 s:")
		assertGone(t, name)
	}
	if _, err := os.Stat(intent); err == nil {
		t.Errorf("the intent record survived the rollback")
	}
}

// TestNameCollisionRefused: a name whose units would be another
// container's volume unit, or the reaper's, is refused with the rule.
func TestNameCollisionRefused(t *testing.T) {
	useTestConfig(t)
	if r := dq(t, "create", "--no-start", "clash"); r.code != 0 {
		t.Fatalf("create clash: %s", r)
	}
	t.Cleanup(func() { dq(t, "destroy", "--yes", "--no-archive", "clash") })
	for _, bad := range []string{"clash-home-volume", "quadlet-reap"} {
		r := dq(t, "create", bad)
		if r.code != 2 || !strings.Contains(r.stderr, "-home-volume") {
			t.Errorf("create %s: want exit 2 stating the rule, got %s", bad, r)
		}
		if files := quadletFiles(t); containsPrefix(files, "devbox-"+bad) {
			t.Errorf("create %s wrote %v", bad, files)
		}
	}
	if out, _ := systemctl(t, "show", "-P", "LoadState", "devbox-clash-home-volume.service"); out != "loaded" {
		t.Errorf("clash's volume unit is %q", out)
	}
}

// forgeRecord rewrites the reaper's record of name.
func forgeRecord(t *testing.T, name string, rec map[string]any) {
	t.Helper()
	data, _ := json.Marshal(rec)
	p := filepath.Join(stateDir(), "reaper", name+".json")
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

type reapJSON struct {
	Containers []struct {
		Name    string `json:"name"`
		Actions []struct {
			Kind string `json:"kind"`
			Of   string `json:"of"`
		} `json:"actions"`
		Skipped string   `json:"skipped"`
		Errors  []string `json:"errors"`
	} `json:"containers"`
}

func reapNow(t *testing.T, env ...string) (reapJSON, result) {
	t.Helper()
	cmd := exec.Command(*devbox, "reap", "--json")
	cmd.Env = append(os.Environ(), env...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	}
	var res reapJSON
	_ = json.Unmarshal([]byte(r.stdout), &res)
	return res, r
}

func actionsOf(res reapJSON, name string) []string {
	var out []string
	for _, c := range res.Containers {
		if c.Name == name {
			for _, a := range c.Actions {
				out = append(out, a.Kind+a.Of)
			}
		}
	}
	return out
}

// TestReaperWarnsFirst: a lost record never destroys a container created
// long ago, and after a gap in sweeps an overdue container is warned about
// first, never acted on at once.
func TestReaperWarnsFirst(t *testing.T) {
	reaperConfig(t)
	name := "longago"
	if r := dq(t, "create", "--no-start", name); r.code != 0 {
		t.Fatalf("create: %s", r)
	}
	t.Cleanup(func() { dq(t, "destroy", "--yes", "--no-archive", name) })
	// Only this test's sweeps: a timer-run one would warn in between.
	removeReapTimer(t)
	// Created 20 days ago, as its label says; the record is lost.
	file := filepath.Join(quadletDir(), "devbox-"+name+".container")
	data, _ := os.ReadFile(file)
	old := time.Now().Add(-20 * 24 * time.Hour).UTC().Format(time.RFC3339)
	forged := []byte{}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "Label=devbox-quadlet.created=") {
			line = "Label=devbox-quadlet.created=" + old
		}
		forged = append(forged, line+"\n"...)
	}
	if err := os.WriteFile(file, forged, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(stateDir(), "reaper", name+".json"))
	res, r := reapNow(t)
	if r.code != 0 {
		t.Fatalf("reap: %s", r)
	}
	if acts := actionsOf(res, name); len(acts) != 0 {
		t.Errorf("a lost record made the reaper act at once: %v", acts)
	}

	// A gap: the record says stopped 20 days ago, never warned.
	since := time.Now().Add(-20 * 24 * time.Hour).UTC().Truncate(time.Second)
	forgeRecord(t, name, map[string]any{"last_active": since, "signal": "first-seen", "stopped_since": since})
	res, r = reapNow(t)
	if r.code != 0 {
		t.Fatalf("reap after a gap: %s", r)
	}
	if acts := actionsOf(res, name); len(acts) != 1 || acts[0] != "warndestroy" {
		t.Errorf("after a gap the reaper did %v; want only a warning of the destroy", acts)
	}
	if files := quadletFiles(t); !containsPrefix(files, "devbox-"+name+".container") {
		t.Errorf("destroyed after a gap: %v", files)
	}
}

// TestReaperHungExport: a podman that hangs in `volume export` neither
// blocks the owner (the lock is free during an export) nor destroys a
// container the owner starts meanwhile; and [reaper] export_timeout ends it.
func TestReaperHungExport(t *testing.T) {
	cfg := reaperConfig(t)
	body, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, append(body, "export_timeout = \"20s\"\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	name := "slowexp"
	if r := dq(t, "create", "--no-start", name); r.code != 0 {
		t.Fatalf("create: %s", r)
	}
	t.Cleanup(func() { dq(t, "destroy", "--yes", "--no-archive", name) })
	// Only this test's sweeps, with this test's podman.
	removeReapTimer(t)
	// Quadlet makes the volume at the first start; start and stop once.
	if r := dq(t, "start", name); r.code != 0 {
		t.Fatalf("start: %s", r)
	}
	if r := dq(t, "stop", name); r.code != 0 {
		t.Fatalf("stop: %s", r)
	}
	dueNow := func() {
		since := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
		forgeRecord(t, name, map[string]any{"last_active": since, "signal": "first-seen", "stopped_since": since,
			"warned": since.Add(120 * time.Second), "warned_at": since, "warned_of": "destroy"})
	}
	// A podman whose volume export waits for a go-ahead file.
	bin := t.TempDir()
	gate := filepath.Join(bin, "go")
	real, err := exec.LookPath("podman")
	if err != nil {
		t.Fatal(err)
	}
	wrapper := "#!/bin/sh\nif [ \"$1\" = volume ] && [ \"$2\" = export ]; then\n  touch " + bin + "/started\n" +
		"  while [ ! -e " + gate + " ]; do sleep 0.2; done\nfi\nexec " + real + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "podman"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	path := "PATH=" + bin + ":" + os.Getenv("PATH")

	// 1. The owner starts the container during the export.
	dueNow()
	type reaped struct {
		res reapJSON
		r   result
	}
	done := make(chan reaped, 1)
	go func() { res, r := reapNow(t, path); done <- reaped{res, r} }()
	waitFor(t, "the reaper to begin the export", time.Minute, func() bool {
		_, err := os.Stat(filepath.Join(bin, "started"))
		return err == nil
	})
	r := dq(t, "start", name)
	if r.code != 0 {
		t.Fatalf("start during the reaper's export: %s", r)
	}
	if r.took > 30*time.Second {
		t.Errorf("start waited %s for the reaper", r.took)
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	got := <-done
	if got.r.code != 0 || len(got.res.Containers) == 0 || !strings.Contains(got.res.Containers[0].Skipped, "started") {
		t.Errorf("reap with a start during its export: %s", got.r)
	}
	if out, _ := systemctl(t, "is-active", "devbox-"+name+".service"); out != "active" {
		t.Errorf("the container started during the export is %q", out)
	}

	// 2. A hung export is given up after export_timeout; nothing is destroyed.
	if r := dq(t, "stop", name); r.code != 0 {
		t.Fatalf("stop: %s", r)
	}
	os.Remove(gate)
	os.Remove(filepath.Join(bin, "started"))
	dueNow()
	start := time.Now()
	_, rr := reapNow(t, path)
	if rr.code != 8 || !strings.Contains(rr.stderr, "did not finish within 20s") {
		t.Errorf("reap with a hung export: want exit 8 after export_timeout, got %s", rr)
	}
	if took := time.Since(start); took > 2*time.Minute {
		t.Errorf("the hung export held the reaper for %s", took)
	}
	if files := quadletFiles(t); !containsPrefix(files, "devbox-"+name+".container") {
		t.Errorf("destroyed although the export failed: %v", files)
	}
	_ = os.WriteFile(gate, nil, 0o644) // let the stray wrapper go
}
