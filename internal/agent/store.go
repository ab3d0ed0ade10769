package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/devbox-quadlet/devbox-quadlet/internal/policy"
)

// ledgerFile is the on-disk ledger: a versioned JSON document, replaced
// atomically (temp file, fsync, rename, fsync dir) on every change.
type ledgerFile struct {
	Schema  int                     `json:"schema"`
	Entries map[string]policy.Entry `json:"entries"`
}

// Store persists the ledger under the agent's state directory, which only
// the agent's user can write (StateDirectory=, mode 0700).
type Store struct {
	Path string
}

// Load reads the ledger; a missing file is an empty ledger.
func (s Store) Load() (map[string]policy.Entry, error) {
	data, err := os.ReadFile(s.Path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]policy.Entry{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read ledger %s: %w", s.Path, err)
	}
	var f ledgerFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("parse ledger %s: %w", s.Path, err)
	}
	if f.Entries == nil {
		f.Entries = map[string]policy.Entry{}
	}
	return f.Entries, nil
}

// Save replaces the ledger atomically.
func (s Store) Save(entries map[string]policy.Entry) error {
	data, err := json.MarshalIndent(ledgerFile{Schema: 1, Entries: entries}, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(s.Path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save ledger: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".ledger-*.tmp")
	if err != nil {
		return fmt.Errorf("save ledger: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("save ledger: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.Path); err != nil {
		return fmt.Errorf("save ledger: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("save ledger: %w", err)
	}
	defer d.Close()
	return d.Sync()
}
