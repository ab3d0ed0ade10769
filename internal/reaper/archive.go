package reaper

import (
	"strings"
	"time"
)

// An archive of a container's home is NAME-STAMP.tar in the archive
// directory, STAMP being the UTC time it was written (ArchiveStamp). Beside
// it: NAME-STAMP.tar.container, the unit file restore recreates the
// container from, and NAME-STAMP.tar.json, its ArchiveRecord.
const (
	ArchiveStamp        = "20060102T150405Z"
	ArchiveSuffix       = ".tar"
	ArchiveSpecSuffix   = ".container" // appended to the archive's name
	ArchiveRecordSuffix = ".json"      // appended to the archive's name
)

// ArchiveName is the file name of an archive of name's home written at t.
func ArchiveName(name string, t time.Time) string {
	return name + "-" + t.UTC().Format(ArchiveStamp) + ArchiveSuffix
}

// ParseArchiveName splits an archive's file name into the container's name
// and the time in its stamp. It reports false for anything else: the files
// beside an archive, a temporary file, a name without a valid stamp.
//
// Container names may contain dashes (dev-api), so the name is everything
// before the fixed-length stamp, never what a NAME-* pattern would match.
func ParseArchiveName(file string) (name string, t time.Time, ok bool) {
	rest, found := strings.CutSuffix(file, ArchiveSuffix)
	if !found || len(rest) < len(ArchiveStamp)+2 {
		return "", time.Time{}, false
	}
	cut := len(rest) - len(ArchiveStamp)
	if rest[cut-1] != '-' {
		return "", time.Time{}, false
	}
	t, err := time.Parse(ArchiveStamp, rest[cut:])
	if err != nil {
		return "", time.Time{}, false
	}
	return rest[:cut-1], t, true
}

// NewestArchive returns, of the file names given, the archive of exactly
// name with the newest stamp, and false if there is none.
func NewestArchive(files []string, name string) (string, bool) {
	var best string
	var bestT time.Time
	for _, f := range files {
		n, t, ok := ParseArchiveName(f)
		if !ok || n != name {
			continue
		}
		if best == "" || t.After(bestT) {
			best, bestT = f, t
		}
	}
	return best, best != ""
}

// ArchiveRecord is what the reaper keeps about one archive, in
// NAME-STAMP.tar.json beside it. Archives are pruned by the Age recorded
// here, never by the file's mtime against the wall clock, so a clock that
// jumps forward (a wrong RTC at boot) cannot delete them.
type ArchiveRecord struct {
	// Created is when the archive was written (or first seen without a
	// record). It is for people; Age alone decides.
	Created time.Time `json:"created"`
	// Age is how long the archive has been kept, summed sweep by sweep.
	Age time.Duration `json:"age_nsec"`
	// LastSeen is when Age was last brought up to date.
	LastSeen time.Time `json:"last_seen"`
}

// NewArchiveRecord is the record of an archive written (or first seen) at t:
// aged zero.
func NewArchiveRecord(t time.Time) ArchiveRecord {
	return ArchiveRecord{Created: t.UTC(), LastSeen: t.UTC()}
}

// Advance ages the record by the time since LastSeen, counted as no less
// than zero (a clock that went back) and no more than maxStep (a clock that
// jumped ahead, or a host that was off: time nobody swept does not count),
// and moves LastSeen to now. The sweep passes twice its interval as maxStep.
func (r ArchiveRecord) Advance(now time.Time, maxStep time.Duration) ArchiveRecord {
	if !r.LastSeen.IsZero() {
		step := now.Sub(r.LastSeen)
		r.Age += max(0, min(step, maxStep))
	}
	r.LastSeen = now.UTC()
	return r
}

// Expired reports whether the archive has been kept longer than keep.
func (r ArchiveRecord) Expired(keep time.Duration) bool { return r.Age > keep }
