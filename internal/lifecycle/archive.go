package lifecycle

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/config"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/policy"
	"github.com/devbox-quadlet/devbox-quadlet/internal/quadlet"
	"github.com/devbox-quadlet/devbox-quadlet/internal/reaper"
)

// removeArchive removes an archive and what lies beside it.
func removeArchive(archive string) {
	for _, p := range []string{archive, archive + reaper.ArchiveSpecSuffix, archive + reaper.ArchiveRecordSuffix} {
		os.Remove(p)
	}
}

// pruneArchives ages every archive by its record (NAME-STAMP.tar.json,
// reaper.ArchiveRecord) and removes those kept longer than archive_keep,
// with the files beside them. Never by mtime against the wall clock: an
// archive ages by the time between sweeps, at most twice sweep_interval per
// sweep, so a clock that jumps ahead (or a host that was off) removes
// nothing. An archive without a readable record gets one, aged zero.
// Only files named like archives, and their own side files, are touched.
func pruneArchives(dir string, now time.Time, cfg config.Reaper) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if _, _, ok := reaper.ParseArchiveName(e.Name()); !ok || !e.Type().IsRegular() {
			continue
		}
		archive := filepath.Join(dir, e.Name())
		rec, ok := loadArchiveRecord(archive)
		if ok {
			rec = rec.Advance(now, 2*time.Duration(cfg.SweepInterval))
		} else {
			rec = reaper.NewArchiveRecord(now)
		}
		if !rec.Expired(time.Duration(cfg.ArchiveKeep)) {
			_ = writeArchiveRecord(archive, rec)
			continue
		}
		// The archive first: a sweep that dies half-way leaves side files
		// without an archive, which the loop below removes next time, never
		// an archive without its record (its age would start again at zero).
		if os.Remove(archive) == nil {
			os.Remove(archive + reaper.ArchiveSpecSuffix)
			os.Remove(archive + reaper.ArchiveRecordSuffix)
		}
	}
	// Side files whose archive is gone.
	for _, e := range entries {
		for _, sfx := range []string{reaper.ArchiveSpecSuffix, reaper.ArchiveRecordSuffix} {
			base, found := strings.CutSuffix(e.Name(), sfx)
			if _, _, ok := reaper.ParseArchiveName(base); !found || !ok {
				continue
			}
			if _, err := os.Lstat(filepath.Join(dir, base)); os.IsNotExist(err) {
				os.Remove(filepath.Join(dir, e.Name()))
			}
		}
	}
}

func writeArchiveRecord(archive string, rec reaper.ArchiveRecord) error {
	data, _ := json.MarshalIndent(rec, "", "  ")
	return replaceFile(filepath.Dir(archive), filepath.Base(archive)+reaper.ArchiveRecordSuffix, data)
}

// loadArchiveRecord reads the record beside archive; false if it is missing
// or unreadable (the caller starts a new one, aged zero).
func loadArchiveRecord(archive string) (reaper.ArchiveRecord, bool) {
	var rec reaper.ArchiveRecord
	data, err := os.ReadFile(archive + reaper.ArchiveRecordSuffix)
	if err != nil || json.Unmarshal(data, &rec) != nil || rec.Age < 0 {
		return reaper.ArchiveRecord{}, false
	}
	return rec, true
}

// LatestArchive is the newest archive of exactly name, by the stamp in its
// file name: `restore dev` never picks dev-api's, which dev-*.tar matches.
// It looks in every directory that may hold this user's archives
// (Layout.ArchiveDirs): this shell's state directory and the default one.
func (l *Layout) LatestArchive(name string) (string, error) {
	var best string
	var bestT time.Time
	dirs := l.ArchiveDirs(nil)
	for _, dir := range dirs {
		entries, _ := os.ReadDir(dir)
		files := make([]string, 0, len(entries))
		for _, e := range entries {
			files = append(files, e.Name())
		}
		if newest, ok := reaper.NewestArchive(files, name); ok {
			_, t, _ := reaper.ParseArchiveName(newest)
			if best == "" || t.After(bestT) {
				best, bestT = filepath.Join(dir, newest), t
			}
		}
	}
	if best == "" {
		return "", errdefs.WithHint(errdefs.Errorf(errdefs.NotFound, "no archive of %q in %s", name, strings.Join(dirs, " or ")),
			"destroy and the reaper keep archives for [reaper] archive_keep; name one with --from")
	}
	return best, nil
}

// ArchivedNames returns, sorted and once each, the names that have an
// archive in the directories LatestArchive searches: what `restore` can
// bring back. Like ContainerNames it reads directory listings only, and a
// directory that cannot be read holds none.
func (l *Layout) ArchivedNames() []string {
	var names []string
	for _, dir := range l.ArchiveDirs(nil) {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if name, _, ok := reaper.ParseArchiveName(e.Name()); ok && policy.ValidateName(name) == nil {
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// RestoreOptions is a restore.
type RestoreOptions struct {
	Name string
	// From is the archive; "" means the newest of Name.
	From string
}

// RestoreResult is what a restore did.
type RestoreResult struct {
	Archive string
	Create  CreateResult
}

// Restore imports an archive of a destroyed container's home into a new
// home volume and creates the container again with every option it was
// created with (image, limits, Syncthing), read from the unit file kept
// beside the archive.
func (m *Manager) Restore(ctx context.Context, o RestoreOptions) (RestoreResult, error) {
	name, archive := o.Name, o.From
	var err error
	if archive == "" {
		if archive, err = m.Layout.LatestArchive(name); err != nil {
			return RestoreResult{}, err
		}
	}
	if _, err := os.Stat(archive); err != nil {
		return RestoreResult{}, errdefs.Errorf(errdefs.NotFound, "restore %s: %v", name, err)
	}
	if _, err := m.Layout.Existing(name); err == nil {
		return RestoreResult{}, errdefs.WithHint(errdefs.Errorf(errdefs.Exists, "container %q exists", name), "restore recreates a destroyed container; pick the name of one that is gone")
	}
	req := CreateRequest{Name: name}
	if data, err := os.ReadFile(archive + reaper.ArchiveSpecSuffix); err == nil {
		if spec, err := quadlet.Parse(data); err == nil {
			req = CreateRequest{Name: name, CPUs: spec.CPUs, Memory: spec.Memory, Image: spec.Image, Syncthing: spec.Syncthing}
		}
	}
	exists, err := m.Podman.VolumeExists(ctx, quadlet.VolumeName(name))
	if err != nil {
		return RestoreResult{}, err
	}
	if exists {
		return RestoreResult{}, errdefs.WithHint(errdefs.Errorf(errdefs.Exists, "restore %s: the volume %s exists", name, quadlet.VolumeName(name)),
			"`devbox-quadlet create %s` reuses it as it is", name)
	}
	if err := m.Podman.ImportVolume(ctx, quadlet.VolumeName(name), archive); err != nil {
		return RestoreResult{}, fmt.Errorf("restore %s: %w", name, err)
	}
	// Create reuses the volume it finds, and never removes a volume that
	// was there before it.
	res, err := m.Create(ctx, CreateOptions{CreateRequest: req})
	if err != nil {
		return RestoreResult{}, errdefs.WithHint(fmt.Errorf("restore %s: the home is back in volume %s, but create failed: %w", name, quadlet.VolumeName(name), err),
			"fix the cause and run `devbox-quadlet create %s`; it reuses the volume", name)
	}
	return RestoreResult{Archive: archive, Create: res}, nil
}
