package lifecycle

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/reaper"
)

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestContainerNames(t *testing.T) {
	home := t.TempDir()
	env := map[string]string{"XDG_CONFIG_HOME": filepath.Join(home, "xdg")}
	l := NewLayout(home, 1000, func(k string) string { return env[k] }, "")

	if names, err := l.ContainerNames(); err != nil || names != nil {
		t.Fatalf("no quadlet directory: names = %q, err = %v; want none and no error", names, err)
	}
	for _, f := range []string{
		"devbox-dev.container", "devbox-dev-home.volume", "devbox-dev-api.container",
		"devbox-Bad.container", "other.container", "devbox-old.container.bak",
	} {
		touch(t, filepath.Join(home, "xdg", "containers", "systemd", f))
	}
	// The default directory, which XDG_CONFIG_HOME overrides, is not read.
	touch(t, filepath.Join(home, ".config", "containers", "systemd", "devbox-ignored.container"))
	names, err := l.ContainerNames()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"dev", "dev-api"}; !slices.Equal(names, want) {
		t.Errorf("names = %q, want %q", names, want)
	}
}

func TestArchivedNames(t *testing.T) {
	home := t.TempDir()
	env := map[string]string{"XDG_STATE_HOME": filepath.Join(home, "state")}
	l := NewLayout(home, 1000, func(k string) string { return env[k] }, "")
	if names := l.ArchivedNames(); names != nil {
		t.Fatalf("no state directory: names = %q, want none", names)
	}
	t1 := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	ours := filepath.Join(home, "state", "devbox-quadlet", "archives")
	dflt := filepath.Join(home, ".local", "state", "devbox-quadlet", "archives")
	for _, p := range []string{
		filepath.Join(ours, reaper.ArchiveName("dev-api", t1)),
		filepath.Join(ours, reaper.ArchiveName("dev-api", t1.Add(time.Hour))),
		filepath.Join(ours, reaper.ArchiveName("dev-api", t1)+reaper.ArchiveRecordSuffix),
		filepath.Join(ours, "dev-notastamp.tar"),
		filepath.Join(dflt, reaper.ArchiveName("dev", t1)),
	} {
		touch(t, p)
	}
	if got, want := l.ArchivedNames(), []string{"dev", "dev-api"}; !slices.Equal(got, want) {
		t.Errorf("names = %q, want %q", got, want)
	}
}
