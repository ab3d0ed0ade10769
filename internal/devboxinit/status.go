package devboxinit

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/atomicfile"
	"github.com/devbox-quadlet/devbox-quadlet/internal/nodestatus"
)

// StatusFile is the status file's name in the activity directory.
const StatusFile = nodestatus.FileName

// SessionFile is the file whose mtime tells the reaper a session is open.
const SessionFile = "session"

// States of the status file (internal/nodestatus, shared with the host).
const (
	StateStarting = nodestatus.StateStarting // joining the tailnet or starting services
	StateUp       = nodestatus.StateUp       // READY=1 sent
	StateFailed   = nodestatus.StateFailed   // see Reason; devbox-init exited 1
	StateStopped  = nodestatus.StateStopped  // stopped on SIGTERM
	StateOff      = nodestatus.StateOff      // no auth key: no tailnet by design
)

// Status is the status file, $DEVBOX_ACTIVITY_DIR/tailnet.json, which the
// host reads to show a container's tailnet state and, after a failed
// start, why. Its type lives in internal/nodestatus, which the host reads
// it with, so writer and reader cannot drift.
type Status = nodestatus.Status

// RenderStatus is the file's content: indented JSON with a final newline.
// Maps marshal with sorted keys, so equal states render equal bytes.
func RenderStatus(s Status, now time.Time) []byte {
	s.Updated = now.UTC().Truncate(time.Second)
	s.Message = OneLine(s.Message)
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		panic(err) // strings, ints and a time: cannot fail
	}
	return append(data, '\n')
}

// writeStatus replaces the status file atomically. It is readable by all
// (0644) because the host's user reads it through the bind mount; the
// file belongs to container root, which is that user on the host anyway.
func writeStatus(dir string, s Status, now time.Time) error {
	if dir == "" {
		return nil
	}
	p := filepath.Join(dir, StatusFile)
	if err := atomicfile.Replace(p, RenderStatus(s, now)); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	// atomicfile creates 0600; the short window before this is harmless
	// for the same reason as above.
	return os.Chmod(p, 0o644)
}

// touchSession sets the session file's mtime to now, creating it if it
// is missing.
func touchSession(dir string, now time.Time) error {
	p := filepath.Join(dir, SessionFile)
	err := os.Chtimes(p, now, now)
	if os.IsNotExist(err) {
		var f *os.File
		f, err = os.OpenFile(p, os.O_WRONLY|os.O_CREATE, 0o644)
		if err == nil {
			err = f.Close()
		}
		if err == nil {
			err = os.Chtimes(p, now, now)
		}
	}
	if err != nil {
		return fmt.Errorf("touch %s: %w", p, err)
	}
	return nil
}
