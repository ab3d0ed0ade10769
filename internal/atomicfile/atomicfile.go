// Package atomicfile replaces a file so that a reader, or the next run after
// a crash, sees either the old content or the new, never a mix: temporary
// file in the same directory, fsync, rename, fsync of the directory.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// SyncedHook, when set, is called with each path whose data and directory
// Replace has fsynced. It exists for tests elsewhere that must prove a
// record is durable, which no file-system read can show.
var SyncedHook func(path string)

// Replace writes data to path atomically, creating the directory (mode
// 0700) if needed. The file gets the process umask's view of mode 0600.
func Replace(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if err := write(path, data, 0, os.Rename); err != nil {
		return err
	}
	if SyncedHook != nil {
		SyncedHook(path)
	}
	return nil
}

// CreateNew writes data to path atomically and never replaces an existing
// file: temporary file (mode perm), fsync, hard link into place, which
// fails with an error satisfying errors.Is(err, os.ErrExist) instead of
// overwriting, then fsync of the directory. The directory must exist.
func CreateNew(path string, data []byte, perm os.FileMode) error {
	return write(path, data, perm, os.Link)
}

// write puts data in a temporary file next to path (with mode perm unless
// it is 0), fsyncs it, moves it into place with place (rename replaces, a
// hard link refuses to), and fsyncs the directory.
func write(path string, data []byte, perm os.FileMode, place func(from, to string) error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil && perm != 0 {
		err = tmp.Chmod(perm)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = place(tmp.Name(), path)
	}
	if err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
