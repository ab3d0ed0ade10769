// Package nodestatus is the status file a dev container's init writes into
// its activity directory and the host tool reads: whether the container is
// on the tailnet, under which name and addresses, and why not if it failed.
// It is the container-to-host half of docs/image-contract.md, shared by
// devbox-init (the writer) and the CLI (the reader), so the two cannot drift.
package nodestatus

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// FileName is the status file's name inside the activity directory.
const FileName = "tailnet.json"

// MaxSize bounds what the host reads: the file comes from inside the
// container, which the host does not trust.
const MaxSize = 64 << 10

// States a node can be in.
const (
	StateStarting = "starting" // tailscaled runs, tailscale up has not returned yet
	StateUp       = "up"       // on the tailnet, services listen
	StateFailed   = "failed"   // could not join or serve; Reason says why
	StateStopped  = "stopped"  // the init stopped on SIGTERM
	StateOff      = "off"      // no tailnet configured for this container
)

// Reasons for StateFailed.
const (
	ReasonKeyRefused         = "key-refused"         // the control server refused the auth key
	ReasonControlUnreachable = "control-unreachable" // the control server could not be reached
	ReasonTailscaleFailed    = "tailscale-failed"    // tailscaled or tailscale up failed otherwise
	ReasonServiceFailed      = "service-failed"      // a published service did not come up
)

// Status is the file's content. Fields are only ever added.
type Status struct {
	State    string         `json:"state"`
	Reason   string         `json:"reason,omitempty"`
	Message  string         `json:"message,omitempty"`
	Hostname string         `json:"hostname,omitempty"`
	DNSName  string         `json:"dns_name,omitempty"`
	IPs      []string       `json:"ips,omitempty"`
	Services map[string]int `json:"services,omitempty"`
	Updated  time.Time      `json:"updated"`
}

// Parse decodes a status file's bytes.
func Parse(b []byte) (Status, error) {
	var s Status
	if len(b) > MaxSize {
		return s, fmt.Errorf("status file is %d bytes, more than %d", len(b), MaxSize)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("status file: %w", err)
	}
	return s, nil
}

// Read reads the status file of the activity directory dir. A missing file
// is (zero Status, false, nil): the image may not write one.
func Read(dir string) (Status, bool, error) {
	f, err := os.Open(filepath.Join(dir, FileName))
	if os.IsNotExist(err) {
		return Status{}, false, nil
	}
	if err != nil {
		return Status{}, false, err
	}
	defer f.Close()
	b := make([]byte, MaxSize+1)
	n, err := f.Read(b)
	if err != nil && n == 0 {
		return Status{}, false, err
	}
	s, err := Parse(b[:n])
	return s, err == nil, err
}

// Write replaces the status file in dir atomically (a reader never sees
// half a file), mode 0644 so the host user can read it.
func Write(dir string, s Status) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+FileName+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, FileName))
}

// Address is the short form list and status show: the DNS name without the
// trailing dot, else the first IP, else "".
func (s Status) Address() string {
	if s.DNSName != "" {
		n := s.DNSName
		if n[len(n)-1] == '.' {
			n = n[:len(n)-1]
		}
		return n
	}
	if len(s.IPs) > 0 {
		return s.IPs[0]
	}
	return ""
}
