package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
)

// UserLock serialises this user's mutating verbs (create, destroy, start,
// stop, reap) with an flock. The kernel drops the lock if the process dies,
// so a crash never leaves it held.
//
// The lock lives at a path that depends on the uid alone, never on the
// environment (/run/user/UID/devbox-quadlet/lock): a shell that sets
// XDG_STATE_HOME and a timer-run reaper whose user manager does not must
// still take the same lock. Waiting is bounded (Manager.LockTimeout), and the
// holder writes who it is into the file, so a refusal can name it.
type UserLock struct{ f *os.File }

// lockHolder is what the holder of the lock writes into it.
type lockHolder struct {
	PID     int       `json:"pid"`
	Command string    `json:"command"`
	Since   time.Time `json:"since"`
}

func (h lockHolder) String() string {
	return fmt.Sprintf("pid %d (`%s`, since %s)", h.PID, h.Command, h.Since.UTC().Format(time.RFC3339))
}

// Lock takes the user's lock for command, waiting a bounded time.
func (m *Manager) Lock(command string) (*UserLock, error) {
	dir := m.Layout.LockDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, errdefs.WithHint(errdefs.Errorf(errdefs.System, "create the lock directory %s: %w", dir, err),
			"is your user manager running? `loginctl enable-linger %s` keeps /run/user/%d for you", m.UserName, m.UID)
	}
	path := m.Layout.LockPath()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, errdefs.Errorf(errdefs.System, "open lock %s: %w", path, err)
	}
	timeout := m.lockTimeout()
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
			return nil, errdefs.WithHint(errdefs.Errorf(errdefs.System, "another devbox-quadlet command of yours holds the lock %s: %s; gave up after %s", path, holder, timeout),
				"wait for it to finish and try again; if it hangs, `kill %d` ends it (the lock goes with the process)", holder.PID)
		}
		if !told {
			m.warnf("waiting for %s to finish (it holds %s)", holder, path)
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
	return &UserLock{f: f}, nil
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
func (l *UserLock) Unlock() {
	if l == nil || l.f == nil {
		return
	}
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
	l.f = nil
}
