package cli

import (
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestDestroyAsksOnATerminal: on a terminal destroy asks for the name; a
// wrong answer changes nothing; without a terminal it never asks and wants
// --yes (exit 2). The old destroy deleted the home at once.
func TestDestroyAsksOnATerminal(t *testing.T) {
	for _, tc := range []struct {
		name     string
		terminal bool
		typed    string
		args     []string
		code     int
	}{
		{"a script without --yes", false, "demo\n", nil, 2},
		{"a terminal, wrong name", true, "dmeo\n", nil, 2},
		{"a terminal, nothing typed", true, "", nil, 2},
		{"a terminal, the name", true, "demo\n", nil, 0},
		{"a script with --yes", false, "", []string{"--yes"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if code := h.run("create", "demo"); code != 0 {
				t.Fatalf("create: %d %s", code, h.errOut)
			}
			h.pod.volumes = append(h.pod.volumes, "devbox-demo-home")
			h.env.StdinIsTerminal = func() bool { return tc.terminal }
			h.env.Stdin = strings.NewReader(tc.typed)
			h.pod.calls, h.sys.calls = nil, nil
			code := h.run(append([]string{"destroy", "demo"}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s", code, tc.code, h.errOut)
			}
			asked := strings.Contains(h.errOut.String(), "Type the name to confirm")
			if asked != (tc.terminal && !slices.Contains(tc.args, "--yes")) {
				t.Errorf("asked = %v on terminal=%v: %s", asked, tc.terminal, h.errOut)
			}
			if tc.code != 0 {
				if len(h.pod.calls) != 0 || len(h.sys.calls) != 0 || len(h.quadletFiles()) != 2 {
					t.Errorf("a refused destroy acted: podman %v systemd %v files %v", h.pod.calls, h.sys.calls, h.quadletFiles())
				}
				if !tc.terminal && !strings.Contains(h.errOut.String(), "--yes") {
					t.Errorf("the refusal does not tell a script to pass --yes: %s", h.errOut)
				}
				return
			}
			if !slices.Contains(h.pod.calls, "export devbox-demo-home") {
				t.Errorf("destroy did not archive the home first: %v", h.pod.calls)
			}
		})
	}
}

// TestDestroyThenRestore: destroy archives the home by default, restore
// brings the container back from that archive; --no-archive skips it; a
// failed export removes nothing.
func TestDestroyThenRestore(t *testing.T) {
	h := newHarness(t)
	if code := h.run("create", "demo", "--cpus", "1", "--memory", "1G"); code != 0 {
		t.Fatalf("create: %d %s", code, h.errOut)
	}
	h.pod.volumes = append(h.pod.volumes, "devbox-demo-home")
	if code := h.run("destroy", "--yes", "--json", "demo"); code != 0 {
		t.Fatalf("destroy: %d %s", code, h.errOut)
	}
	var res destroyResult
	if err := json.Unmarshal(h.out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if res.Archive == "" {
		t.Fatalf("no archive in %s", h.out)
	}
	if data, err := os.ReadFile(res.Archive); err != nil || string(data) != "tar of devbox-demo-home" {
		t.Fatalf("archive %s: %q %v", res.Archive, data, err)
	}
	// The export must come before anything is removed.
	exp := slices.Index(h.pod.calls, "export devbox-demo-home")
	rm := slices.Index(h.pod.calls, "rm volume devbox-demo-home")
	if exp < 0 || rm < 0 || exp > rm {
		t.Errorf("export after removal: %v", h.pod.calls)
	}
	h.pod.volumes = nil
	if code := h.run("restore", "demo"); code != 0 {
		t.Fatalf("restore: %d %s", code, h.errOut)
	}
	if !slices.Contains(h.pod.calls, "import devbox-demo-home") || len(h.quadletFiles()) != 2 {
		t.Errorf("restore did not bring it back: %v %v", h.pod.calls, h.quadletFiles())
	}
	spec, err := readSpec(h.env, "demo")
	if err != nil || spec.CPUs != 1 || spec.Memory != 1<<30 {
		t.Errorf("restored spec %+v %v, want the archived limits", spec, err)
	}

	// --no-archive: no export.
	h.pod.calls = nil
	if code := h.run("destroy", "--yes", "--no-archive", "demo"); code != 0 {
		t.Fatalf("destroy --no-archive: %d %s", code, h.errOut)
	}
	if slices.Contains(h.pod.calls, "export devbox-demo-home") {
		t.Errorf("--no-archive exported: %v", h.pod.calls)
	}

	// A failed export removes nothing.
	if code := h.run("create", "demo"); code != 0 {
		t.Fatalf("create: %d %s", code, h.errOut)
	}
	h.pod.exportErr = errors.New("no space left on device")
	h.pod.calls = nil
	if code := h.run("destroy", "--yes", "demo"); code != 8 {
		t.Fatalf("destroy with a failing export: exit %d, want 8: %s", code, h.errOut)
	}
	if rm := removedAnything(h); len(rm) != 0 || len(h.quadletFiles()) != 2 {
		t.Errorf("a failed export still removed %v (files %v)", rm, h.quadletFiles())
	}
	if !strings.Contains(h.errOut.String(), "nothing was removed") {
		t.Errorf("the error does not say nothing was removed: %s", h.errOut)
	}
}
