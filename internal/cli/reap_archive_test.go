package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// putArchive writes an archive file as the reaper would name it, with mtime.
func putArchive(t *testing.T, h *harness, file string, mtime time.Time) string {
	t.Helper()
	dir := h.env.archiveDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, file)
	if err := os.WriteFile(p, []byte("tar of "+file), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	return p
}

// withArchiveKeep adds archive_keep to the [reaper] table withClock wrote.
func withArchiveKeep(t *testing.T, h *harness, keep string) {
	t.Helper()
	cfg, _ := os.ReadFile(h.env.DefaultConfig)
	if err := os.WriteFile(h.env.DefaultConfig, append(cfg, "archive_keep = \""+keep+"\"\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRestorePicksTheNamedContainersArchive: `restore dev` takes the newest
// archive of dev, never one of dev-api, whose name also matches dev-*.tar
// and sorts after every stamp.
func TestRestorePicksTheNamedContainersArchive(t *testing.T) {
	for _, tc := range []struct {
		name     string
		archives []string
		restore  string
		want     string // "" for not found
	}{
		{"dev's own newest archive, not dev-api's", []string{"dev-20240101T000000Z.tar", "dev-20240601T000000Z.tar", "dev-api-20250101T000000Z.tar"}, "dev", "dev-20240601T000000Z.tar"},
		{"dev-api's archive for dev-api", []string{"dev-20260101T000000Z.tar", "dev-api-20250101T000000Z.tar"}, "dev-api", "dev-api-20250101T000000Z.tar"},
		{"newest by the stamp, whatever the file's mtime", []string{"dev-20250102T000000Z.tar", "dev-20241231T235959Z.tar"}, "dev", "dev-20250102T000000Z.tar"},
		{"only another container's archives: none of dev", []string{"dev-api-20250101T000000Z.tar", "dev-20250101T000000Z.tar.container"}, "dev", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			withClock(t, h)
			for i, a := range tc.archives {
				// mtimes run opposite to the stamps: only the name counts.
				putArchive(t, h, a, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(-time.Duration(i)*time.Hour))
			}
			running(h, tc.restore, true) // what systemd says once create has started it
			code := h.run("restore", tc.restore)
			if tc.want == "" {
				if code != 3 || slices.Contains(h.pod.calls, "import devbox-"+tc.restore+"-home") {
					t.Fatalf("restore %s with no archive of it: exit %d, podman %v, stdout %q", tc.restore, code, h.pod.calls, h.out)
				}
				return
			}
			if code != 0 {
				t.Fatalf("restore %s: %d %s", tc.restore, code, h.errOut)
			}
			if !strings.Contains(h.out.String(), "restored from "+filepath.Join(h.env.archiveDir(), tc.want)) {
				t.Errorf("restore %s: %q; want it restored from %s", tc.restore, h.out, tc.want)
			}
		})
	}
}

// TestPruneArchivesSurvivesAClockJump: a clock a year ahead (a wrong RTC at
// boot) prunes nothing, and neither does the first sight of an archive
// whose mtime is older than archive_keep.
func TestPruneArchivesSurvivesAClockJump(t *testing.T) {
	h := newHarness(t)
	now := withClock(t, h)
	withArchiveKeep(t, h, "30d")
	fresh := putArchive(t, h, "demo-20261128T100000Z.tar", *now)
	oldMtime := putArchive(t, h, "old-20261128T090000Z.tar", now.Add(-365*24*time.Hour))
	if code := h.run("reap"); code != 0 {
		t.Fatalf("reap: %d %s", code, h.errOut)
	}
	if _, err := os.Stat(oldMtime); err != nil {
		t.Errorf("an archive without a record was pruned on first sight by its mtime: %v", err)
	}
	*now = now.Add(365 * 24 * time.Hour)
	if code := h.run("reap"); code != 0 {
		t.Fatalf("reap: %d %s", code, h.errOut)
	}
	for _, p := range []string{fresh, oldMtime} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("a clock jump of a year pruned %s: %v", filepath.Base(p), err)
		}
	}
}

// TestPruneArchivesByRecordedAge: sweep by sweep, an archive ages by the
// time between sweeps and goes, with the files beside it, once that age
// passes archive_keep; files that are not archives stay.
func TestPruneArchivesByRecordedAge(t *testing.T) {
	h := newHarness(t)
	now := withClock(t, h)
	withArchiveKeep(t, h, "60s")
	a := putArchive(t, h, "demo-20261128T100000Z.tar", *now)
	putArchive(t, h, "demo-20261128T100000Z.tar.container", *now)
	notes := putArchive(t, h, "notes.txt", now.Add(-365*24*time.Hour))
	for i := 0; i <= 6; i++ { // 0 s to 60 s: kept
		if code := h.run("reap"); code != 0 {
			t.Fatalf("reap: %d %s", code, h.errOut)
		}
		if _, err := os.Stat(a); err != nil {
			t.Fatalf("pruned at %d s, before archive_keep: %v", i*10, err)
		}
		*now = now.Add(10 * time.Second)
	}
	if code := h.run("reap"); code != 0 { // 70 s
		t.Fatalf("reap: %d %s", code, h.errOut)
	}
	for _, p := range []string{a, a + ".container", a + ".json"} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s is left after archive_keep: %v", filepath.Base(p), err)
		}
	}
	if _, err := os.Stat(notes); err != nil {
		t.Errorf("a file that is no archive was pruned: %v", err)
	}
}

// TestReapDestroyRecordsTheArchive: the archive the reaper writes gets its
// record at once, aged zero.
func TestReapDestroyRecordsTheArchive(t *testing.T) {
	h := newHarness(t)
	now := withClock(t, h)
	if code := h.run("create", "--no-start", "demo"); code != 0 {
		t.Fatalf("create: %d %s", code, h.errOut)
	}
	running(h, "demo", false)
	// First seen at 0 s, warned at 100 s, destroyed a full warning later.
	for _, d := range []time.Duration{0, 100 * time.Second, 30 * time.Second} {
		*now = now.Add(d)
		if code := h.run("reap"); code != 0 {
			t.Fatalf("reap: %d %s", code, h.errOut)
		}
	}
	archives, _ := filepath.Glob(filepath.Join(h.env.archiveDir(), "demo-*.tar"))
	if len(archives) != 1 {
		t.Fatalf("archives: %v (journal %v)", archives, h.journal)
	}
	data, err := os.ReadFile(archives[0] + ".json")
	if err != nil {
		t.Fatalf("no record beside the archive: %v", err)
	}
	var rec struct {
		Created time.Time `json:"created"`
		Age     int64     `json:"age_nsec"`
	}
	if err := json.Unmarshal(data, &rec); err != nil || rec.Age != 0 || rec.Created.IsZero() {
		t.Errorf("record %s: %+v %v", data, rec, err)
	}
}
