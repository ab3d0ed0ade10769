package lifecycle

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/atomicfile"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/nodestatus"
	"github.com/devbox-quadlet/devbox-quadlet/internal/policy"
	"github.com/devbox-quadlet/devbox-quadlet/internal/quadlet"
)

// Autostart: a quadlet unit is "generated", so `systemctl --user enable`
// refuses it, and an [Install] section in the .container file would be
// re-linked at every daemon-reload, bringing back containers the user stopped.
// So devbox-quadlet does what enable does, by hand: a symlink named after the
// unit in default.target.wants. create and start add it, stop removes it; a
// plain `systemctl --user stop` leaves it, exactly as for any enabled unit.

// AutostartLink is the link that makes name start at boot.
func (l *Layout) AutostartLink(name string) string {
	return filepath.Join(l.WantsDir(), quadlet.ServiceUnit(name))
}

// EnableAutostart links name into default.target.wants.
func (l *Layout) EnableAutostart(name string) error {
	dir := l.WantsDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return errdefs.Errorf(errdefs.System, "enable autostart of %s: %w", name, err)
	}
	link := l.AutostartLink(name)
	target := filepath.Join(l.RuntimeDir, "systemd", "generator", quadlet.ServiceUnit(name))
	if cur, err := os.Readlink(link); err == nil && cur == target {
		return nil
	}
	_ = os.Remove(link)
	if err := os.Symlink(target, link); err != nil {
		return errdefs.Errorf(errdefs.System, "enable autostart of %s: %w", name, err)
	}
	return nil
}

// DisableAutostart removes name's link.
func (l *Layout) DisableAutostart(name string) error {
	if err := removeIfExists(l.AutostartLink(name)); err != nil {
		return fmt.Errorf("disable autostart of %s: %w", name, err)
	}
	return nil
}

// AutostartEnabled says whether name starts at boot.
func (l *Layout) AutostartEnabled(name string) bool {
	_, err := os.Lstat(l.AutostartLink(name))
	return err == nil
}

// Intent is written before create touches anything and removed when it has
// finished, one way or the other. Finding one means a create was killed
// part-way, and tells the next create or destroy what to clean up.
type Intent struct {
	Name          string    `json:"name"`
	Started       time.Time `json:"started"`
	PID           int       `json:"pid"`
	VolumeExisted bool      `json:"volume_existed"` // a kept home volume is reused, never removed on rollback
}

// WriteIntent records in durably: the file and its directory are fsynced
// (atomicfile.Replace) before create makes anything, so a power cut cannot
// lose the record of what it was making.
func (l *Layout) WriteIntent(in Intent) error {
	data, _ := json.Marshal(in)
	if err := atomicfile.Replace(l.IntentPath(in.Name), data); err != nil {
		return errdefs.Errorf(errdefs.System, "record create of %s: %w", in.Name, err)
	}
	return nil
}

// ReadIntent returns the intent record of name, if there is one.
func (l *Layout) ReadIntent(name string) (Intent, bool) {
	data, err := os.ReadFile(l.IntentPath(name))
	if err != nil {
		return Intent{}, false
	}
	var in Intent
	if json.Unmarshal(data, &in) != nil {
		// A torn record still means a create was interrupted; assume the
		// volume was there before, so cleanup never deletes a home.
		return Intent{Name: name, VolumeExisted: true}, true
	}
	return in, true
}

// ClearIntent removes name's intent record.
func (l *Layout) ClearIntent(name string) error { return removeIfExists(l.IntentPath(name)) }

// replaceFile writes dir/name atomically.
func replaceFile(dir, name string, data []byte) error {
	if err := atomicfile.Replace(filepath.Join(dir, name), data); err != nil {
		return errdefs.Errorf(errdefs.System, "write %s: %w", filepath.Join(dir, name), err)
	}
	return nil
}

// SessionTime is the newest mtime in the container's activity directory,
// leaving out the init's status file and hidden files (its temporary
// files): those change at every start, not at every session.
func (l *Layout) SessionTime(name string) time.Time {
	var newest time.Time
	entries, _ := os.ReadDir(l.ActivityDir(name))
	for _, ent := range entries {
		if ent.Name() == nodestatus.FileName || strings.HasPrefix(ent.Name(), ".") {
			continue
		}
		if info, err := ent.Info(); err == nil && info.ModTime().After(newest) {
			newest = info.ModTime()
		}
	}
	return newest
}

// NodeStatus reads container name's status file; ok is false when the
// image wrote none (or wrote garbage, which is only worth a warning).
func (m *Manager) NodeStatus(name string) (nodestatus.Status, bool) {
	s, ok, err := nodestatus.Read(m.Layout.ActivityDir(name))
	if err != nil {
		m.warnf("ignoring %s's status file: %v", name, err)
	}
	return s, ok
}

// clearNodeStatus removes name's last report before a start, so a failure
// is explained by this start's report, never by an old one.
func (m *Manager) clearNodeStatus(name string) {
	if err := os.Remove(filepath.Join(m.Layout.ActivityDir(name), nodestatus.FileName)); err != nil && !os.IsNotExist(err) {
		m.warnf("%v", err)
	}
}

// Pending releases. A destroy (the user's or the reaper's) in agent mode
// "auto" while the host agent cannot be reached removes the container but
// cannot free its name and cap slot in the host ledger. It leaves a marker,
// STATE/pending-release/NAME, and the next mutating command that reaches the
// agent, under the user's lock, releases the name, unless a container of
// that name exists again by then (its entry is then the new one's).

// notePendingRelease records that name's ledger entry must still be released.
func (m *Manager) notePendingRelease(name string) {
	if err := atomicfile.Replace(filepath.Join(m.Layout.PendingReleaseDir(), name), nil); err != nil {
		m.warnf("could not note that %s must still be released from the host ledger: %v", name, err)
	}
}

// replayPendingReleases releases what notePendingRelease noted. The caller
// holds the user's lock.
func (m *Manager) replayPendingReleases(ctx context.Context, ag Agent) {
	if ag == nil {
		return
	}
	dir := m.Layout.PendingReleaseDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, ent := range entries {
		name := ent.Name()
		marker := filepath.Join(dir, name)
		if policy.ValidateName(name) != nil {
			os.Remove(marker)
			continue
		}
		if _, err := m.Layout.Existing(name); err == nil {
			os.Remove(marker) // made again since: the entry is the new container's
			continue
		}
		if err := ag.Release(ctx, name); err != nil {
			m.warnf("release of %s in the host ledger: %v", name, err)
			continue
		}
		os.Remove(marker)
	}
}
