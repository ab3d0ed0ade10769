package lifecycle

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/quadlet"
	"github.com/devbox-quadlet/devbox-quadlet/internal/reaper"
)

// DestroyOptions is a destroy.
type DestroyOptions struct {
	Name       string
	NoArchive  bool // do not archive the home first
	KeepVolume bool // keep the home volume (no archive needed)
	// Confirm, if set, is asked once the container is known to exist and
	// before anything changes; archive says whether the home will be
	// archived. An error ends the destroy.
	Confirm func(archive bool) error
}

// DestroyResult is what a destroy did.
type DestroyResult struct {
	VolumeKept bool
	Tailnet    TailnetCleanup
	// Archive is the export of the home that restore brings back; empty
	// with NoArchive, KeepVolume, or when there was no volume.
	Archive string
	// Released is true when only a host-ledger entry was left, and freed.
	Released bool
}

// Destroy leaves the tailnet, stops the container, exports its home to an
// archive (a failed export removes nothing), then removes everything. The
// leftovers of an interrupted create count as a container to destroy, and
// a name the host agent still holds with no files left is released.
func (m *Manager) Destroy(ctx context.Context, o DestroyOptions) (DestroyResult, error) {
	name := o.Name
	s, err := m.open(ctx, "destroy", name, sessionOpts{agent: true, frees: true})
	if err != nil {
		return DestroyResult{}, err
	}
	defer s.close()
	left, interrupted := m.Layout.ReadIntent(name)
	if _, err := m.Layout.Existing(name); err != nil && !interrupted {
		if released, rerr := m.releaseOrphan(ctx, s.ag, name); rerr != nil || !released {
			if rerr != nil {
				m.warnf("%v", rerr)
			}
			return DestroyResult{}, err
		}
		return DestroyResult{Released: true, Tailnet: TailnetCleanup{Logout: "not needed", API: "not needed", OK: true}}, nil
	}
	keep := o.KeepVolume || (interrupted && left.VolumeExisted)
	archive := !keep && !o.NoArchive
	if o.Confirm != nil {
		if err := o.Confirm(archive); err != nil {
			return DestroyResult{}, err
		}
	}
	if s.sys, err = m.DialSystemd(ctx); err != nil {
		return DestroyResult{}, err
	}
	res := DestroyResult{VolumeKept: keep}
	// Leave the tailnet first, while the container still runs. A
	// failure here is reported, never fatal: the node is ephemeral.
	onTailnet, running := false, false
	if spec, err := m.Layout.ReadSpec(name); err == nil {
		onTailnet = spec.Tailnet
	}
	if states, err := s.sys.Units(ctx, []string{quadlet.ServiceUnit(name)}); err == nil && len(states) == 1 {
		running = Running(states[0].ActiveState)
	}
	res.Tailnet = m.leaveTailnet(ctx, s.ag, name, running, onTailnet)
	if !res.Tailnet.OK {
		m.warnf("%s may still be on the tailnet: logout %s; API %s", name, res.Tailnet.Logout, res.Tailnet.API)
	}
	// Archive the home before anything is removed, from a stopped
	// container so the copy is consistent. If the export fails, nothing is
	// removed.
	if archive {
		if res.Archive, err = m.archiveHome(ctx, s.sys, name); err != nil {
			return res, errdefs.WithHint(fmt.Errorf("destroy %s: nothing was removed: %w", name, err),
				"the container is stopped; `devbox-quadlet start %s` brings it back. Free space in %s, or pass --no-archive to destroy without a way back", name, m.Layout.ArchiveDir())
		}
	}
	if err := m.teardown(ctx, s.sys, name, keep); err != nil {
		return res, errdefs.WithHint(fmt.Errorf("destroy %s: %w", name, err), "run `devbox-quadlet destroy %s` again; each step skips what is already gone", name)
	}
	if err := m.Layout.ClearIntent(name); err != nil {
		return res, err
	}
	m.releaseName(ctx, s.ag, name)
	return res, nil
}

// archiveHome stops the container and exports its home volume into the
// archive directory. It returns the archive's path; no volume means
// nothing to archive ("").
func (m *Manager) archiveHome(ctx context.Context, sys Systemd, name string) (string, error) {
	exists, err := m.Podman.VolumeExists(ctx, quadlet.VolumeName(name))
	if err != nil || !exists {
		return "", err
	}
	if err := m.Layout.DisableAutostart(name); err != nil {
		return "", err
	}
	if err := sys.Stop(ctx, quadlet.ServiceUnit(name)); err != nil {
		return "", err
	}
	return m.exportHome(ctx, name, m.Layout.ArchiveDir())
}

// exportHome writes the archive of name's home volume into dir, with the
// unit file beside it, so restore recreates the same container (image,
// limits, options), and its record, aged zero. A failed export leaves no
// partial archive. The export is bounded (exportTimeout).
func (m *Manager) exportHome(ctx context.Context, name, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", errdefs.Errorf(errdefs.System, "export %s: %w", name, err)
	}
	archive := filepath.Join(dir, reaper.ArchiveName(name, m.Now()))
	timeout := m.exportTimeout()
	ectx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := m.Podman.ExportVolume(ectx, quadlet.VolumeName(name), archive); err != nil {
		os.Remove(archive)
		if ectx.Err() != nil && ctx.Err() == nil {
			return "", errdefs.Errorf(errdefs.System, "export the home of %s: podman did not finish within %s", name, timeout)
		}
		return "", errdefs.Errorf(errdefs.System, "export the home of %s: %w", name, err)
	}
	if unitData, err := os.ReadFile(filepath.Join(m.Layout.QuadletDir(), quadlet.ContainerFile(name))); err == nil {
		_ = replaceFile(dir, filepath.Base(archive)+reaper.ArchiveSpecSuffix, unitData)
	}
	// Its age starts now; if this fails, the next sweep starts it.
	_ = writeArchiveRecord(archive, reaper.NewArchiveRecord(m.Now()))
	return archive, nil
}

// releaseOrphan frees a name the host agent holds for this user although no
// file of it is left (a create killed after its reservation, a destroy
// while the agent was down). It reports whether it released anything.
func (m *Manager) releaseOrphan(ctx context.Context, ag Agent, name string) (bool, error) {
	if ag == nil {
		return false, nil
	}
	l, err := ag.List(ctx, false)
	if err != nil {
		return false, err
	}
	for _, e := range l.Entries {
		if e.Name == name && int(e.UID) == m.UID {
			if err := ag.Release(ctx, name); err != nil {
				return false, err
			}
			return true, nil
		}
	}
	return false, nil
}

// releaseName frees name in the host ledger after a destroy. Without an
// agent (in mode "auto" it may be installed but down, in mode "required" it
// is down) it leaves a marker for a later command (replayPendingReleases);
// mode "off" has no ledger.
func (m *Manager) releaseName(ctx context.Context, ag Agent, name string) {
	if ag == nil {
		if m.Config.Agent.Mode != "off" {
			m.notePendingRelease(name)
		}
		return
	}
	if err := ag.Release(ctx, name); err != nil {
		m.warnf("%v; the next command that reaches the host agent releases it", err)
		m.notePendingRelease(name)
	}
}

// recoverInterrupted deals with the intent record of a create that was
// killed part-way (SIGKILL, a power cut, an OOM kill). It never removes
// anything that runs or may hold data written after that create: a
// container that runs, or whose files and home volume are both there (so
// its start was at least attempted and the home may be in use), is left
// as it is and reported as existing (exit 4). Otherwise the leftovers are
// torn down, always keeping a home volume, which the create that follows
// reuses.
func (m *Manager) recoverInterrupted(ctx context.Context, sys Systemd, name string, left Intent) error {
	states, err := sys.Units(ctx, []string{quadlet.ServiceUnit(name)})
	if err != nil {
		return err
	}
	active := len(states) == 1 && isUp(states[0].ActiveState)
	filesThere, err := fileExists(filepath.Join(m.Layout.QuadletDir(), quadlet.ContainerFile(name)))
	if err != nil {
		return errdefs.Mark(errdefs.System, err)
	}
	volumeThere := false
	if !active && filesThere {
		if volumeThere, err = m.Podman.VolumeExists(ctx, quadlet.VolumeName(name)); err != nil {
			return err
		}
	}
	started := left.Started.UTC().Format(time.RFC3339)
	if active || (filesThere && volumeThere) {
		why := "its home volume exists, so it may hold your work"
		if active {
			why = "it is " + states[0].ActiveState
		}
		// The container is complete as far as anyone can tell: from now on
		// it is an ordinary container, and the record has done its job.
		if err := m.Layout.ClearIntent(name); err != nil {
			return err
		}
		return errdefs.WithHint(errdefs.Errorf(errdefs.Exists, "container %q already exists: an interrupted create of it (started %s) got as far as starting it and %s; nothing was removed", name, started, why),
			"it is yours: `devbox-quadlet status %s` shows it; to start over, `devbox-quadlet destroy %s` (the home is archived first)", name, name)
	}
	m.warnf("found the leftovers of an interrupted create of %q (started %s); cleaning them up first (a home volume is kept)", name, started)
	if err := m.teardown(ctx, sys, name, true); err != nil {
		return errdefs.WithHint(fmt.Errorf("clean up interrupted create of %s: %w", name, err), "run `devbox-quadlet destroy %s`, then create again", name)
	}
	return m.Layout.ClearIntent(name)
}
