package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/devbox-quadlet/devbox-quadlet/internal/atomicfile"
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
	if err := atomicfile.Replace(s.Path, data); err != nil {
		return fmt.Errorf("save ledger: %w", err)
	}
	return nil
}
