package reaper

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPackagedUnitsAreRendered keeps the units `make install` ships equal to
// what RenderTimer makes, so the packaged timer and the per-user fallback
// cannot drift apart.
func TestPackagedUnitsAreRendered(t *testing.T) {
	files, err := RenderTimer("@BINDIR@/devbox-quadlet", "", PackagedInterval)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := f.Name
		if name == ServiceUnit {
			name += ".in" // make install substitutes @BINDIR@
		}
		got, err := os.ReadFile(filepath.Join("..", "..", "contrib", "systemd", "user", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, f.Content) {
			t.Errorf("contrib/systemd/user/%s differs from RenderTimer:\n--- contrib\n%s\n--- rendered\n%s", name, got, f.Content)
		}
	}
}

func TestRenderDropIns(t *testing.T) {
	for _, tc := range []struct {
		name           string
		config         string
		interval       time.Duration
		service, timer string // substrings; "" means no file
	}{
		{"packaged defaults need none", "", PackagedInterval, "", ""},
		{"a config file", "/home/a/c.toml", PackagedInterval, "Environment=DEVBOX_QUADLET_CONFIG=/home/a/c.toml\n", ""},
		{"a short interval", "", 5 * time.Second, "", "OnStartupSec=\nOnUnitActiveSec=\nOnStartupSec=5s\nOnUnitActiveSec=5s\nAccuracySec=1s\n"},
		{"both", "/c.toml", 2 * time.Hour, "DEVBOX_QUADLET_CONFIG=/c.toml", "OnUnitActiveSec=7200s\nAccuracySec=1min\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files, err := RenderDropIns(tc.config, tc.interval)
			if err != nil {
				t.Fatal(err)
			}
			if len(files) != 2 || files[0].Name != "devbox-quadlet-reap.service.d/50-devbox-quadlet.conf" || files[1].Name != "devbox-quadlet-reap.timer.d/50-devbox-quadlet.conf" {
				t.Fatalf("files = %+v", files)
			}
			for i, want := range []string{tc.service, tc.timer} {
				got := files[i].Content
				if (want == "") != (got == nil) || !strings.Contains(string(got), want) {
					t.Errorf("%s = %q, want %q", files[i].Name, got, want)
				}
			}
		})
	}
	if _, err := RenderDropIns("/a b.toml", time.Hour); err == nil {
		t.Error("a path with a space was accepted")
	}
	if _, err := RenderDropIns("", time.Millisecond); err == nil {
		t.Error("an interval below a second was accepted")
	}
}
