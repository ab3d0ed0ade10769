package devboxinit

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The fixtures are real `tailscale status --json` output of tailscale
// 1.83.0-pre against headscale v0.26.1: a node that is up, and one whose
// control server refused connections.
func TestParseNodeStatus(t *testing.T) {
	for _, tc := range []struct {
		file                  string
		wantState, wantDNS    string
		wantIPs               []string
		wantReady             string
		wantHealthWithLoginEr bool
	}{
		{
			file: "status-up.json", wantState: "Running", wantDNS: "demo.example.net.",
			wantIPs: []string{"100.64.0.3", "fd7a:115c:a1e0::3"}, wantReady: "ready: demo.example.net 100.64.0.3",
		},
		{file: "status-logged-out.json", wantState: "NeedsLogin", wantReady: "ready:", wantHealthWithLoginEr: true},
	} {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "tailscale", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			ns, err := ParseNodeStatus(data)
			if err != nil {
				t.Fatal(err)
			}
			if ns.BackendState != tc.wantState || ns.DNSName != tc.wantDNS || !slices.Equal(ns.IPs, tc.wantIPs) {
				t.Errorf("got %+v", ns)
			}
			if got := ns.ReadyStatus(); got != tc.wantReady {
				t.Errorf("ReadyStatus = %q, want %q", got, tc.wantReady)
			}
			if tc.wantHealthWithLoginEr {
				if f := ClassifyUp("", ns.Health); f.Reason != ReasonControlUnreachable {
					t.Errorf("health %q classified %+v", ns.Health, f)
				}
			}
		})
	}
	if _, err := ParseNodeStatus([]byte("not json")); err == nil {
		t.Error("no error for garbage")
	}
}
