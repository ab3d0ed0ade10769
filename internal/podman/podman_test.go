package podman

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
)

// fakePodman writes an executable shell script standing in for podman.
func fakePodman(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "podman")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExistsReadsTheExitStatus(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		body    string
		want    bool
		wantErr string
	}{
		{"exit 0", true, ""},
		{"exit 1", false, ""},
		{"echo 'cannot open the database' >&2; exit 125", false, "exit 125: cannot open the database"},
	} {
		got, err := Client{Path: fakePodman(t, tc.body)}.VolumeExists(ctx, "devbox-x-home")
		if got != tc.want || (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%q: got %v, %v; want %v, error containing %q", tc.body, got, err, tc.want, tc.wantErr)
		}
	}
}

// TestImageReadsLabels runs Image against stand-ins that print what podman
// 5.4 prints for an image with and without the label, and for a missing
// image (exit 125, "image not known").
func TestImageReadsLabels(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, body string
		want       Image
		wantErr    string
	}{
		{"labelled", `echo true`, Image{Exists: true, Labels: map[string]string{"k": "true"}}, ""},
		{"no such label", `echo '<no value>'`, Image{Exists: true, Labels: map[string]string{}}, ""},
		{"no labels at all", `echo`, Image{Exists: true, Labels: map[string]string{}}, ""},
		{"missing", `echo 'Error: localhost/x: image not known' >&2; exit 125`, Image{}, ""},
		{"broken store", `echo 'Error: cannot open the database' >&2; exit 125`, Image{}, "exit 125: Error: cannot open the database"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Client{Path: fakePodman(t, tc.body)}.Image(ctx, "localhost/x", "k")
			if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v; want one containing %q", err, tc.wantErr)
			}
			if got.Exists != tc.want.Exists || len(got.Labels) != len(tc.want.Labels) || got.Labels["k"] != tc.want.Labels["k"] {
				t.Errorf("got %+v; want %+v", got, tc.want)
			}
		})
	}
}

func TestMissingPodmanSaysSo(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := Client{}.VolumeExists(context.Background(), "devbox-x-home")
	if !errdefs.Is(err, errdefs.System) || !strings.Contains(err.Error(), "podman is not installed or not in PATH") {
		t.Fatalf("got %v; want a system error saying podman is missing", err)
	}
}

func TestSecretBytesGoThroughStdin(t *testing.T) {
	dir := t.TempDir()
	p := fakePodman(t, `echo "$*" >`+dir+`/argv; cat >`+dir+`/stdin`)
	if err := (Client{Path: p}).CreateSecret(context.Background(), "devbox-x-tsauthkey", []byte("tskey-canary")); err != nil {
		t.Fatal(err)
	}
	argv, _ := os.ReadFile(filepath.Join(dir, "argv"))
	stdin, _ := os.ReadFile(filepath.Join(dir, "stdin"))
	if strings.Contains(string(argv), "canary") || string(stdin) != "tskey-canary" {
		t.Errorf("argv %q, stdin %q: the key must reach podman on stdin only", argv, stdin)
	}
}

// TestPodmanDiesWithUs kills a process that is waiting on podman and
// checks the podman goes too. Without Pdeathsig the stand-in would sleep
// on, as a real podman secret create would go on to make its secret after
// the next command's cleanup had removed it.
func TestPodmanDiesWithUs(t *testing.T) {
	if dir := os.Getenv("PODMAN_TEST_HELPER"); dir != "" {
		// The helper: run the stand-in and wait on it; the test kills us.
		_, _ = Client{Path: filepath.Join(dir, "podman")}.Image(context.Background(), "x")
		os.Exit(0)
	}
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	if err := os.WriteFile(filepath.Join(dir, "podman"), []byte("#!/bin/sh\necho $$ >"+pidFile+".tmp\nmv "+pidFile+".tmp "+pidFile+"\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	helper := exec.Command(os.Args[0], "-test.run", "^TestPodmanDiesWithUs$")
	helper.Env = append(os.Environ(), "PODMAN_TEST_HELPER="+dir)
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	for deadline := time.Now().Add(20 * time.Second); pid == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			_ = helper.Process.Kill()
			t.Fatal("the stand-in podman never started")
		}
		if b, err := os.ReadFile(pidFile); err == nil {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
	}
	_ = helper.Process.Kill()
	_ = helper.Wait()
	for deadline := time.Now().Add(10 * time.Second); alive(pid); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("podman (pid %d) outlived the killed devbox-quadlet", pid)
		}
	}
}

// alive reports whether pid runs; a zombie waiting for its new parent to
// reap it has already died.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z' && s[i+2] != 'X'
	}
	return true
}
