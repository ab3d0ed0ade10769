package lifecycle

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/devbox-quadlet/devbox-quadlet/internal/config"
	"github.com/devbox-quadlet/devbox-quadlet/internal/reaper"
)

// Record is the reaper's persisted view of one container:
// STATE/reaper/NAME.json. It survives reboots and user-manager restarts,
// unlike systemd's unit timestamps.
type Record struct {
	reaper.State
	Next        string    `json:"next,omitempty"`
	Due         time.Time `json:"due,omitempty"`
	LeaseUntil  time.Time `json:"lease_until,omitempty"`
	ExportError string    `json:"export_error,omitempty"`
	Swept       time.Time `json:"swept,omitempty"`
}

// LoadRecord returns the record of name; a missing or unreadable one is the
// zero record (the clock starts again, never an early action).
func (l *Layout) LoadRecord(name string) (Record, bool) {
	var r Record
	data, err := os.ReadFile(l.RecordPath(name))
	if err != nil || json.Unmarshal(data, &r) != nil {
		return Record{}, false
	}
	return r, true
}

// SaveRecord replaces the record atomically (temp file, fsync, rename).
func (l *Layout) SaveRecord(name string, r Record) error {
	data, _ := json.MarshalIndent(r, "", "  ")
	p := l.RecordPath(name)
	return replaceFile(filepath.Dir(p), filepath.Base(p), data)
}

// ReaperPolicy is the reaper's windows from the config.
func ReaperPolicy(cfg config.Config) reaper.Policy {
	r := cfg.Reaper
	return reaper.Policy{IdleStop: time.Duration(r.IdleStop), StoppedDestroy: time.Duration(r.StoppedDestroy),
		WarnBefore: time.Duration(r.WarnBefore), CPUActive: time.Duration(r.CPUActiveThreshold)}
}

// noteRunning records, through reaper.Update (the sweep's own decision
// without its actions), that a verb left container name running or not, so
// the reaper's view is true before the next sweep. A failure is a warning:
// the sweep writes the record anyway.
func (m *Manager) noteRunning(name string, running bool) {
	r, _ := m.Layout.LoadRecord(name)
	now := m.Now()
	o := reaper.Observation{Name: name, Running: running, Session: m.Layout.SessionTime(name), LeaseUntil: r.LeaseUntil}
	d := reaper.Update(now, o, r.State, ReaperPolicy(m.Config))
	r.State, r.Next, r.Due = d.State, d.Next, d.Due
	if err := m.Layout.SaveRecord(name, r); err != nil {
		m.warnf("the reaper's record of %s: %v", name, err)
	}
}

// SetLease holds name active until until (zero: clear the lease), for
// `keepalive`. It takes the user's lock.
func (m *Manager) SetLease(name string, until time.Time) error {
	lock, err := m.Lock("keepalive " + name)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	if _, err := m.Layout.Existing(name); err != nil {
		return err
	}
	r, _ := m.Layout.LoadRecord(name)
	r.LeaseUntil = until
	return m.Layout.SaveRecord(name, r)
}

// View is what list and status show of the reaper's clock: the last
// activity and its signal, the next action and when, and whether that
// action is close enough to have been warned about. Fields may be added,
// never renamed.
type View struct {
	LastActive  *time.Time `json:"last_active"`
	Signal      string     `json:"signal,omitempty"`
	Next        string     `json:"next,omitempty"`
	Due         *time.Time `json:"due"`
	Pending     bool       `json:"pending"`
	LeaseUntil  *time.Time `json:"lease_until"`
	ExportError string     `json:"export_error,omitempty"`
}

// ViewOf reads the record the last verb or sweep left; it never sweeps.
func (m *Manager) ViewOf(name string) View {
	r, ok := m.Layout.LoadRecord(name)
	v := View{Signal: r.Signal, Next: r.Next, ExportError: r.ExportError}
	if !ok {
		return v
	}
	t := func(x time.Time) *time.Time {
		if x.IsZero() {
			return nil
		}
		u := x.UTC()
		return &u
	}
	now := m.Now()
	v.LastActive, v.Due = t(r.LastActive), t(r.Due)
	if r.LeaseUntil.After(now) {
		v.LeaseUntil = t(r.LeaseUntil)
	}
	v.Pending = !r.Due.IsZero() && !now.Before(r.Due.Add(-time.Duration(m.Config.Reaper.WarnBefore)))
	return v
}

// Brief is the one-word REAPER column of list.
func (v View) Brief() string {
	switch {
	case v.ExportError != "":
		return "export-failed"
	case v.LeaseUntil != nil:
		return "lease"
	case v.Pending && v.Due != nil:
		return v.Next + "@" + v.Due.Format("01-02T15:04Z")
	}
	return "-"
}

// Line is the reaper sentence of status.
func (v View) Line() string {
	if v.LastActive == nil {
		return "no sweep yet (the reaper's timer runs `devbox-quadlet reap`)"
	}
	s := fmt.Sprintf("last active %s (%s); next: %s at %s", v.LastActive.Format(time.RFC3339), v.Signal, v.Next, v.Due.Format(time.RFC3339))
	if v.Pending {
		s += " (pending: warned)"
	}
	if v.LeaseUntil != nil {
		s += "; lease until " + v.LeaseUntil.Format(time.RFC3339)
	}
	if v.ExportError != "" {
		s += "; NOT destroyed: " + v.ExportError
	}
	return s
}
