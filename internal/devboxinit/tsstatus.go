package devboxinit

import (
	"encoding/json"
	"fmt"
	"strings"
)

// NodeStatus is the part of `tailscale status --json` devbox-init uses.
type NodeStatus struct {
	BackendState string
	DNSName      string   // with the trailing dot, as tailscale reports it
	IPs          []string // IPv4 first, as tailscale lists them
	Health       []string
}

// ParseNodeStatus reads `tailscale status --json` (ipnstate.Status).
func ParseNodeStatus(data []byte) (NodeStatus, error) {
	var st struct {
		BackendState string
		Self         *struct {
			DNSName      string
			TailscaleIPs []string
		}
		TailscaleIPs []string
		Health       []string
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return NodeStatus{}, fmt.Errorf("tailscale status --json: %w", err)
	}
	ns := NodeStatus{BackendState: st.BackendState, IPs: st.TailscaleIPs, Health: st.Health}
	if st.Self != nil {
		ns.DNSName = st.Self.DNSName
		if len(st.Self.TailscaleIPs) > 0 {
			ns.IPs = st.Self.TailscaleIPs
		}
	}
	return ns, nil
}

// IPv4 is the node's first IPv4 address, or "".
func (n NodeStatus) IPv4() string {
	for _, ip := range n.IPs {
		if !strings.Contains(ip, ":") {
			return ip
		}
	}
	return ""
}

// ReadyStatus is the STATUS= text once the node is up.
func (n NodeStatus) ReadyStatus() string {
	name := strings.TrimSuffix(n.DNSName, ".")
	return strings.TrimSpace("ready: " + name + " " + n.IPv4())
}
