package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
)

// writeNew writes data to dir/name atomically and refuses to replace an
// existing file: the data goes to a temporary file, is synced, and is then
// hard-linked into place, which fails with EEXIST instead of overwriting.
func writeNew(dir, name string, data []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return errdefs.Errorf(errdefs.System, "create %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, ".devbox-quadlet-*.tmp")
	if err != nil {
		return errdefs.Errorf(errdefs.System, "write %s: %w", name, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return errdefs.Errorf(errdefs.System, "write %s: %w", name, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return errdefs.Errorf(errdefs.System, "write %s: %w", name, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return errdefs.Errorf(errdefs.System, "write %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return errdefs.Errorf(errdefs.System, "write %s: %w", name, err)
	}
	final := filepath.Join(dir, name)
	if err := os.Link(tmp.Name(), final); err != nil {
		if errors.Is(err, os.ErrExist) {
			return errdefs.Errorf(errdefs.Exists, "write %s: it already exists", final)
		}
		return errdefs.Errorf(errdefs.System, "write %s: %w", final, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return errdefs.Errorf(errdefs.System, "sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return errdefs.Errorf(errdefs.System, "sync %s: %w", dir, err)
	}
	return nil
}

// removeIfExists removes path; a missing file is not an error.
func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return errdefs.Errorf(errdefs.System, "remove %s: %w", path, err)
	}
	return nil
}

// userLock serialises this user's mutating verbs (create, destroy, start,
// stop) with an flock on a file in the state directory. The kernel drops the
// lock if the process dies, so a crash never leaves it held.
type userLock struct{ f *os.File }

func lockUser(env *Env) (*userLock, error) {
	dir := env.StateDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, errdefs.Errorf(errdefs.System, "create state directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, "lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, errdefs.Errorf(errdefs.System, "open lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, errdefs.Errorf(errdefs.System, "lock %s: %w", path, err)
	}
	return &userLock{f: f}, nil
}

func (l *userLock) Unlock() {
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
}

func fileExists(path string) (bool, error) {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("stat %s: %w", path, err)
	}
}
