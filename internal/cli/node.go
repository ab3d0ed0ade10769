package cli

import (
	"github.com/devbox-quadlet/devbox-quadlet/internal/lifecycle"
	"github.com/devbox-quadlet/devbox-quadlet/internal/nodestatus"
)

// What the container's init reports back through its activity directory
// (internal/nodestatus, docs/image-contract.md): the tailnet address list and
// status show, and why a start failed.

// tailnetView is the tailnet part of list --json and status --json.
type tailnetView struct {
	// State is the init's last report: starting, up, failed, stopped or off.
	State   string   `json:"state"`
	Reason  string   `json:"reason,omitempty"`
	Address string   `json:"address,omitempty"`
	DNSName string   `json:"dns_name,omitempty"`
	IPs     []string `json:"ips,omitempty"`
}

// tailnetViewOf is name's tailnet view, nil when there is no report or the
// container is not running (a stopped container's last report is stale).
func tailnetViewOf(m *lifecycle.Manager, name string, running bool) *tailnetView {
	if !running {
		return nil
	}
	s, ok := m.NodeStatus(name)
	if !ok {
		return nil
	}
	return &tailnetView{State: s.State, Reason: s.Reason, Address: s.Address(), DNSName: s.DNSName, IPs: s.IPs}
}

// brief is the table's ADDRESS column.
func (v *tailnetView) brief() string {
	switch {
	case v == nil:
		return "-"
	case v.State == nodestatus.StateUp && v.Address != "":
		return v.Address
	default:
		return v.State
	}
}
