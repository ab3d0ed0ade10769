package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/atomicfile"
	"github.com/devbox-quadlet/devbox-quadlet/internal/policy"
)

// ledgerFile is the on-disk ledger: a versioned JSON document, replaced
// atomically (temp file, fsync, rename, fsync dir) on every change. Schema
// 1 only ever gains fields.
type ledgerFile struct {
	Schema int `json:"schema"`
	// Revision 2 added seen_running and confirmed to entries, and users.
	Revision int                         `json:"revision,omitempty"`
	Entries  map[string]policy.Entry     `json:"entries"`
	Users    map[uint32]policy.UserState `json:"users,omitempty"`
}

// ledgerRevision is the revision this agent writes.
const ledgerRevision = 2

// Store persists the ledger under the agent's state directory, which only
// the agent's user can write (StateDirectory=, mode 0700).
type Store struct {
	Path string
}

// Load reads the ledger; a missing file is an empty ledger. A file that
// does not parse is an error, and every caller fails closed on it until an
// admin repairs it (Repair).
func (s Store) Load() (policy.Ledger, error) {
	data, err := os.ReadFile(s.Path)
	if errors.Is(err, os.ErrNotExist) {
		return policy.NewLedger(), nil
	}
	if err != nil {
		return policy.Ledger{}, fmt.Errorf("read ledger %s: %w", s.Path, err)
	}
	var f ledgerFile
	if err := json.Unmarshal(data, &f); err != nil {
		return policy.Ledger{}, fmt.Errorf("parse ledger %s: %w (an admin can rebuild it with `devbox-quadlet ledger repair`)", s.Path, err)
	}
	l := policy.Ledger{Entries: f.Entries, Users: f.Users}
	if l.Entries == nil {
		l.Entries = map[string]policy.Entry{}
	}
	if l.Users == nil {
		l.Users = map[uint32]policy.UserState{}
	}
	if f.Revision < 2 {
		// Entries from before confirmations were made by the CLI and may
		// be stopped containers that were never seen running by an agent
		// that did not look: count them as confirmed at their creation,
		// so an upgrade drops none. `ledger check` finds stale ones.
		for name, e := range l.Entries {
			if e.Confirmed.IsZero() && !e.SeenRunning {
				e.Confirmed = e.Created
				if e.Confirmed.IsZero() {
					e.Confirmed = time.Unix(0, 0).UTC() // a hand-made entry: keep it too
				}
				l.Entries[name] = e
			}
		}
	}
	return l, nil
}

// Save replaces the ledger atomically.
func (s Store) Save(l policy.Ledger) error {
	data, err := json.MarshalIndent(ledgerFile{Schema: 1, Revision: ledgerRevision, Entries: l.Entries, Users: l.Users}, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Replace(s.Path, data); err != nil {
		return fmt.Errorf("save ledger: %w", err)
	}
	return nil
}
