package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

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
// stop, reap) with an flock. The kernel drops the lock if the process dies,
// so a crash never leaves it held.
//
// The lock lives at a path that depends on the uid alone, never on the
// environment (/run/user/UID/devbox-quadlet/lock): a shell that sets
// XDG_STATE_HOME and a timer-run reaper whose user manager does not must
// still take the same lock. Waiting is bounded (Env.LockTimeout), and the
// holder writes who it is into the file, so a refusal can name it.
type userLock struct{ f *os.File }

// lockHolder is what the holder of the lock writes into it.
type lockHolder struct {
	PID     int       `json:"pid"`
	Command string    `json:"command"`
	Since   time.Time `json:"since"`
}

func (h lockHolder) String() string {
	return fmt.Sprintf("pid %d (`%s`, since %s)", h.PID, h.Command, h.Since.UTC().Format(time.RFC3339))
}

// lockDir is where the user's lock lives.
func (e *Env) lockDir() string {
	if e.LockDir != "" {
		return e.LockDir
	}
	return filepath.Join("/run/user", strconv.Itoa(e.UID), "devbox-quadlet")
}

func lockUser(env *Env, command string) (*userLock, error) {
	dir := env.lockDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, withHint(errdefs.Errorf(errdefs.System, "create the lock directory %s: %w", dir, err),
			"is your user manager running? `loginctl enable-linger %s` keeps /run/user/%d for you", env.UserName, env.UID)
	}
	path := filepath.Join(dir, "lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, errdefs.Errorf(errdefs.System, "open lock %s: %w", path, err)
	}
	timeout := env.LockTimeout
	if timeout <= 0 {
		timeout = DefaultLockTimeout
	}
	deadline := time.Now().Add(timeout)
	told := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, errdefs.Errorf(errdefs.System, "lock %s: %w", path, err)
		}
		holder := readHolder(path)
		if time.Now().After(deadline) {
			f.Close()
			return nil, withHint(errdefs.Errorf(errdefs.System, "another devbox-quadlet command of yours holds the lock %s: %s; gave up after %s", path, holder, timeout),
				"wait for it to finish and try again; if it hangs, `kill %d` ends it (the lock goes with the process)", holder.PID)
		}
		if !told {
			warnf(env, "waiting for %s to finish (it holds %s)", holder, path)
			told = true
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Who holds it, for the next one who waits. Best effort: the lock is
	// the flock, not the text.
	data, _ := json.Marshal(lockHolder{PID: os.Getpid(), Command: command, Since: time.Now()})
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt(data, 0)
	}
	return &userLock{f: f}, nil
}

func readHolder(path string) lockHolder {
	var h lockHolder
	data, err := os.ReadFile(path)
	if err == nil {
		_ = json.Unmarshal(data, &h)
	}
	if h.Command == "" {
		h.Command = "devbox-quadlet"
	}
	return h
}

// Unlock releases the lock. The holder text is left: it names the last
// holder, and a waiter reads it only while the flock is held.
func (l *userLock) Unlock() {
	if l == nil || l.f == nil {
		return
	}
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
	l.f = nil
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
