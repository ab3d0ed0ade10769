package cli

import (
	"os"
	"path/filepath"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/config"
	"github.com/devbox-quadlet/devbox-quadlet/internal/lifecycle"
)

// writeNew puts a file into dir for a test, as a create would have.
func writeNew(dir, name string, data []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name), data, 0o644)
}

func (e *Env) sessionTime(name string) time.Time { return e.layout().SessionTime(name) }

// lockUser takes the user's lock as a verb would.
func lockUser(env *Env, command string) (*lifecycle.UserLock, error) {
	m := &lifecycle.Manager{Layout: env.layout(), Config: config.Default(), UserName: env.UserName, UID: env.UID,
		LockTimeout: env.LockTimeout, Warn: func(f string, a ...any) { warnf(env, f, a...) }}
	return m.Lock(command)
}
