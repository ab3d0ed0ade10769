package reaper

import (
	"testing"
	"time"
)

func TestParseArchiveName(t *testing.T) {
	stamp := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		file     string
		wantName string // "" for not an archive
		wantT    time.Time
	}{
		{"a plain name", "dev-20250101T000000Z.tar", "dev", stamp},
		{"a name with dashes keeps them all", "dev-api-20250101T000000Z.tar", "dev-api", stamp},
		{"a name that looks like a stamp itself", "20240101T000000Z-20250101T000000Z.tar", "20240101T000000Z", stamp},
		{"the unit file beside an archive is not one", "dev-20250101T000000Z.tar.container", "", time.Time{}},
		{"the record beside an archive is not one", "dev-20250101T000000Z.tar.json", "", time.Time{}},
		{"a temporary file is not one", ".dev-20250101T000000Z.tar.tmp123", "", time.Time{}},
		{"no name", "-20250101T000000Z.tar", "", time.Time{}},
		{"no dash before the stamp", "dev20250101T000000Z.tar", "", time.Time{}},
		{"a stamp that is no time", "dev-20251301T000000Z.tar", "", time.Time{}},
		{"a short stamp", "dev-2025011T000000Z.tar", "", time.Time{}},
		{"no stamp", "dev.tar", "", time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, at, ok := ParseArchiveName(tc.file)
			if ok != (tc.wantName != "") || n != tc.wantName || !at.Equal(tc.wantT) {
				t.Errorf("ParseArchiveName(%q) = %q, %s, %v; want %q, %s", tc.file, n, at, ok, tc.wantName, tc.wantT)
			}
		})
	}
}

func TestArchiveNameRoundTrips(t *testing.T) {
	at := time.Date(2026, 11, 28, 10, 2, 30, 999, time.FixedZone("CET", 3600))
	f := ArchiveName("dev-api", at)
	if f != "dev-api-20261128T090230Z.tar" {
		t.Fatalf("ArchiveName = %q", f)
	}
	if n, got, ok := ParseArchiveName(f); !ok || n != "dev-api" || !got.Equal(at.Truncate(time.Second)) {
		t.Errorf("ParseArchiveName(%q) = %q, %s, %v", f, n, got, ok)
	}
}

func TestNewestArchive(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files []string
		of    string
		want  string // "" for none
	}{
		{"dev's newest, not dev-api's that sorts after it",
			[]string{"dev-20240101T000000Z.tar", "dev-api-20250101T000000Z.tar", "dev-20240601T000000Z.tar"}, "dev", "dev-20240601T000000Z.tar"},
		{"dev-api's for dev-api", []string{"dev-20260101T000000Z.tar", "dev-api-20250101T000000Z.tar"}, "dev-api", "dev-api-20250101T000000Z.tar"},
		{"only another container's: none", []string{"dev-api-20250101T000000Z.tar"}, "dev", ""},
		{"only the files beside an archive: none", []string{"dev-20250101T000000Z.tar.container", "dev-20250101T000000Z.tar.json"}, "dev", ""},
		{"a prefix of the name is another container", []string{"de-20250101T000000Z.tar"}, "dev", ""},
		{"no files", nil, "dev", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := NewestArchive(tc.files, tc.of)
			if got != tc.want || ok != (tc.want != "") {
				t.Errorf("NewestArchive(%q) = %q, %v; want %q", tc.of, got, ok, tc.want)
			}
		})
	}
}

func TestArchiveRecordAdvance(t *testing.T) {
	step := 2 * time.Hour // twice an hourly sweep
	for _, tc := range []struct {
		name    string
		rec     ArchiveRecord
		now     time.Time
		wantAge time.Duration
	}{
		{"an hour between sweeps: an hour older", ArchiveRecord{Age: 5 * time.Hour, LastSeen: t0}, t0.Add(time.Hour), 6 * time.Hour},
		{"a clock a year ahead: at most one step older", ArchiveRecord{Age: 5 * time.Hour, LastSeen: t0}, t0.Add(365 * day), 7 * time.Hour},
		{"a host off for a month: at most one step older", ArchiveRecord{LastSeen: t0}, t0.Add(30 * day), 2 * time.Hour},
		{"a clock that went back: no younger, no older", ArchiveRecord{Age: 5 * time.Hour, LastSeen: t0}, t0.Add(-day), 5 * time.Hour},
		{"a record with no last sweep: no older", ArchiveRecord{Age: 5 * time.Hour}, t0, 5 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.rec.Advance(tc.now, step)
			if got.Age != tc.wantAge || !got.LastSeen.Equal(tc.now) {
				t.Errorf("Advance = age %s, last seen %s; want %s, %s", got.Age, got.LastSeen, tc.wantAge, tc.now)
			}
		})
	}
}

// TestArchiveRecordSequence: hourly sweeps with a 30-day keep prune after
// 30 days of sweeps, and a clock that jumps a year ahead and back in between
// moves that by one step at most.
func TestArchiveRecordSequence(t *testing.T) {
	keep := 30 * day
	r := NewArchiveRecord(t0)
	if r.Age != 0 || r.Expired(keep) {
		t.Fatalf("new record: %+v", r)
	}
	now := t0
	sweeps := 0
	for !r.Expired(keep) {
		now = now.Add(time.Hour)
		sweeps++
		if sweeps == 100 { // a wrong RTC for one sweep, then corrected
			r = r.Advance(now.Add(365*day), 2*time.Hour)
		}
		r = r.Advance(now, 2*time.Hour)
		if sweeps > 1000 {
			t.Fatal("never expired")
		}
	}
	// 30 days is 720 hourly steps; the jump added at most one extra step
	// (2 h) and the correction nothing, so the 719th sweep expires it.
	if sweeps < 719 || sweeps > 721 {
		t.Errorf("expired after %d hourly sweeps; want about 720", sweeps)
	}
}

func FuzzParseArchiveName(f *testing.F) {
	for _, s := range []string{"dev-20250101T000000Z.tar", "dev-api-20250101T000000Z.tar", "-20250101T000000Z.tar", "x.tar", "dev-20250101T000000Z.tar.json"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, file string) {
		name, at, ok := ParseArchiveName(file)
		if !ok {
			return
		}
		if name == "" {
			t.Fatalf("%q parsed with an empty name", file)
		}
		if back := ArchiveName(name, at); back != file {
			t.Fatalf("%q parsed as %q at %s, which names %q", file, name, at, back)
		}
	})
}
