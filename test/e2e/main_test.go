//go:build e2e

// Package e2e is the end-to-end suite. It runs inside the test-bed VM as an
// unprivileged user, drives the real devbox-quadlet binary, and checks what
// systemd, podman, the cgroup tree and the file system say, never what
// devbox-quadlet says about itself. test/vm/e2e.sh builds and boots it.
package e2e

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var (
	devbox    = flag.String("devbox", "/share/bin/devbox-quadlet", "devbox-quadlet binary under test")
	testImage = flag.String("image", "localhost/devbox-test:latest", "image whose entrypoint traps SIGTERM")
	badImage  = flag.String("broken-image", "localhost/devbox-broken:latest", "image whose entrypoint does not exist")
	exitImage = "localhost/devbox-exit1:latest"  // entrypoint prints an error and exits 1
	chatty    = "localhost/devbox-chatty:latest" // prints "line 1".."line 12", then idles
	busyImage = "localhost/devbox-busy:latest"   // spins on the CPU until SIGTERM
	reboot    = flag.String("reboot", "", "reboot phase: prepare (first boot) or check (second boot)")
)

func TestMain(m *testing.M) {
	flag.Parse()
	// As root, the suite only drives other users (the TestAgent tests);
	// everything else runs as an unprivileged user with its own images.
	if os.Getuid() == 0 {
		os.Exit(m.Run())
	}
	if err := importTestImages(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building test images:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// importTestImages builds the payload images from the guest's busybox-static
// with `podman import`: no registry, no network.
func importTestImages() error {
	if exec.Command("podman", "image", "exists", *testImage).Run() == nil &&
		exec.Command("podman", "image", "exists", chatty).Run() == nil &&
		exec.Command("podman", "image", "exists", busyImage).Run() == nil {
		return nil
	}
	dir, err := os.MkdirTemp("", "devbox-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	root := filepath.Join(dir, "root")
	for _, d := range []string{"bin", "tmp", "home/dev", "run", "proc", "sys", "dev", "etc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), bb, 0o755); err != nil {
		return err
	}
	list, err := exec.Command("/bin/busybox", "--list").Output()
	if err != nil {
		return err
	}
	for _, a := range strings.Fields(string(list)) {
		if a != "busybox" {
			_ = os.Symlink("busybox", filepath.Join(root, "bin", a))
		}
	}
	// The payload contract for test images: announce itself on stdout (the
	// unit's journal) and exit 0 on SIGTERM, so a stop ends "inactive".
	// It sleeps an hour at a time, not a second: an idle container must be
	// idle for the reaper's CPU signal, and a fork a second under TCG costs
	// a real part of TestReaper's 2m-per-hour threshold.
	entry := `#!/bin/sh
echo "devbox-test: up as uid $(id -u) on $(hostname)"
[ -r /run/secrets/tailscale-authkey ] && echo "devbox-test: auth key present; would join as $DEVBOX_TS_HOSTNAME with $DEVBOX_TS_TAGS"
trap 'echo "devbox-test: SIGTERM, exiting"; exit 0' TERM
while :; do sleep 3600 & wait $!; done
`
	if err := os.WriteFile(filepath.Join(root, "entrypoint"), []byte(entry), 0o755); err != nil {
		return err
	}
	// The real tailnet cannot be reached from the test bed, so the image
	// ships a stand-in tailscale that records its arguments in the
	// container's log (PID 1's stdout goes to the unit's journal).
	standin := `#!/bin/sh
echo "tailscale-standin: $*" >/proc/1/fd/1
`
	if err := os.WriteFile(filepath.Join(root, "bin/tailscale"), []byte(standin), 0o755); err != nil {
		return err
	}
	chat := `#!/bin/sh
i=1
while [ $i -le 12 ]; do echo "line $i"; i=$((i + 1)); done
trap 'exit 0' TERM
while :; do sleep 1 & wait $!; done
`
	if err := os.WriteFile(filepath.Join(root, "chatty"), []byte(chat), 0o755); err != nil {
		return err
	}
	tarball := filepath.Join(dir, "root.tar")
	if out, err := exec.Command("tar", "-C", root, "-cf", tarball, ".").CombinedOutput(); err != nil {
		return fmt.Errorf("tar: %v: %s", err, out)
	}
	for ref, cmd := range map[string]string{
		*testImage: `CMD ["/entrypoint"]`,
		*badImage:  `CMD ["/no/such/entrypoint"]`,
		exitImage:  `CMD ["/bin/sh", "-c", "echo failing on purpose: no config; exit 1"]`,
		chatty:     `CMD ["/chatty"]`,
		busyImage:  `CMD ["/bin/sh", "-c", "trap 'exit 0' TERM; while :; do :; done"]`,
	} {
		if out, err := exec.Command("podman", "import", "--change", cmd, tarball, ref).CombinedOutput(); err != nil {
			return fmt.Errorf("podman import %s: %v: %s", ref, err, out)
		}
	}
	return nil
}

// result is what one command did.
type result struct {
	stdout, stderr string
	code           int
	took           time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// run runs a command with a bound and returns what it did; it fails the test
// only if the command could not be started at all.
func run(t *testing.T, name string, args ...string) result {
	t.Helper()
	// Not t.Context(): cleanups run after it is cancelled, and they must
	// still be able to destroy what the test made.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	return runCmd(t, exec.CommandContext(ctx, name, args...))
}

// runCmd runs a prepared command as run does.
func runCmd(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String(), took: time.Since(start)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", strings.Join(cmd.Args, " "), err)
	}
	return r
}

// dq runs devbox-quadlet.
func dq(t *testing.T, args ...string) result {
	t.Helper()
	return run(t, *devbox, args...)
}

// must runs a command and fails the test unless it exits 0.
func must(t *testing.T, name string, args ...string) string {
	t.Helper()
	r := run(t, name, args...)
	if r.code != 0 {
		t.Fatalf("%s %s: %s", name, strings.Join(args, " "), r)
	}
	return r.stdout
}

func quadletDir() string {
	return filepath.Join(os.Getenv("HOME"), ".config", "containers", "systemd")
}

// systemctl runs `systemctl --user` and returns its trimmed stdout and code.
func systemctl(t *testing.T, args ...string) (string, int) {
	t.Helper()
	r := run(t, "systemctl", append([]string{"--user"}, args...)...)
	return strings.TrimSpace(r.stdout), r.code
}

func readTrim(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// serviceCgroup is the cgroup directory systemd made for the unit.
func serviceCgroup(t *testing.T, unit string) string {
	t.Helper()
	cg, _ := systemctl(t, "show", "-P", "ControlGroup", unit)
	if cg == "" {
		t.Fatalf("%s has no ControlGroup", unit)
	}
	return filepath.Join("/sys/fs/cgroup", cg)
}

// containerCgroup is the container's own cgroup, as podman reports it.
func containerCgroup(t *testing.T, container string) string {
	t.Helper()
	cg := strings.TrimSpace(must(t, "podman", "inspect", "--format", "{{.State.CgroupPath}}", container))
	if cg == "" {
		t.Fatalf("podman reports no cgroup for %s", container)
	}
	return filepath.Join("/sys/fs/cgroup", cg)
}

// assertGone checks, from systemd's, podman's and the file system's point of
// view, that nothing of container name is left.
func assertGone(t *testing.T, name string) {
	t.Helper()
	if out := must(t, "podman", "ps", "-a", "--format", "{{.Names}}"); strings.Contains(out, "devbox-"+name) {
		t.Errorf("podman ps -a still shows devbox-%s:\n%s", name, out)
	}
	if out := must(t, "podman", "volume", "ls", "--format", "{{.Name}}"); strings.Contains(out, "devbox-"+name+"-home") {
		t.Errorf("podman volume ls still shows devbox-%s-home:\n%s", name, out)
	}
	if out := must(t, "podman", "secret", "ls", "--format", "{{.Name}}"); strings.Contains(out, "devbox-"+name+"-tsauthkey") {
		t.Errorf("podman secret ls still shows devbox-%s-tsauthkey:\n%s", name, out)
	}
	entries, _ := os.ReadDir(quadletDir())
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "devbox-"+name+".") || strings.HasPrefix(e.Name(), "devbox-"+name+"-home.") {
			t.Errorf("quadlet directory still has %s", e.Name())
		}
		if strings.HasPrefix(e.Name(), ".devbox-quadlet-") {
			t.Errorf("quadlet directory has a leftover temporary file %s", e.Name())
		}
	}
	out, _ := systemctl(t, "list-units", "--all", "--plain", "--no-legend", "devbox-"+name+".service", "devbox-"+name+"-home-volume.service")
	if out != "" {
		t.Errorf("systemctl --user list-units still shows:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(os.Getenv("XDG_RUNTIME_DIR"), "systemd", "generator", "devbox-"+name+".service")); err == nil {
		t.Errorf("the generated unit devbox-%s.service is still in the generator directory", name)
	}
}

// quadletFiles lists the devbox files in the quadlet directory.
func quadletFiles(t *testing.T) []string {
	t.Helper()
	entries, _ := os.ReadDir(quadletDir())
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
