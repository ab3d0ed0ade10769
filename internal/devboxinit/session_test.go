package devboxinit

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
)

// The fixtures under testdata/proc are /proc trees as a container shows
// them. The Tailscale SSH one mirrors what a real tailscaled showed for a
// session (its child exec'd into su); the net/tcp lines are real lines
// from a loopback connection with the port changed to 8080.
func TestOpenSessionFixtures(t *testing.T) {
	for _, tc := range []struct {
		dir  string
		port int
		want string // substring; "" means no session
	}{
		{dir: "idle", port: CodeServerPort},
		{dir: "ssh-su", port: CodeServerPort, want: "Tailscale SSH session (pid 41, su)"},
		{dir: "ssh-be-child", port: CodeServerPort, want: "Tailscale SSH session (pid 41"},
		{dir: "zed", port: CodeServerPort, want: "Zed remote server (pid 70)"},
		{dir: "code-server-v4", port: CodeServerPort, want: "code-server connection from 127.0.0.1:45880"},
		{dir: "code-server-v6", port: CodeServerPort, want: "code-server connection from [::1]:36068"},
		{dir: "code-server-v4", port: 0}, // code-server not run by devbox-init
		{dir: "code-server-closing", port: CodeServerPort},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			snap, err := ReadSnapshot(filepath.Join("testdata", "proc", tc.dir))
			if err != nil {
				t.Fatal(err)
			}
			if len(snap.Procs) < 5 || len(snap.TCP) == 0 {
				t.Fatalf("fixture read incompletely: %+v", snap)
			}
			got := OpenSession(snap, tc.port)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("OpenSession = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestOpenSession(t *testing.T) {
	ap := netip.MustParseAddrPort
	tailscaled := Proc{PID: 20, PPID: 1, Comm: "tailscaled", Argv: []string{"tailscaled", "--tun=userspace-networking"}}
	for _, tc := range []struct {
		name string
		snap Snapshot
		want string
	}{
		{name: "nothing at all", snap: Snapshot{}},
		{name: "tailscaled alone is no session", snap: Snapshot{Procs: []Proc{tailscaled}}},
		{
			name: "a login shell under tailscaled",
			snap: Snapshot{Procs: []Proc{tailscaled, {PID: 41, PPID: 20, Comm: "login", Argv: []string{"/bin/login", "-f", "dev"}}}},
			want: "Tailscale SSH session (pid 41, login)",
		},
		{
			name: "a zombie under tailscaled still counts, by its comm",
			snap: Snapshot{Procs: []Proc{tailscaled, {PID: 41, PPID: 20, Comm: "bash"}}},
			want: "Tailscale SSH session (pid 41, bash)",
		},
		{
			name: "a daemon the session left behind, now init's, is not a session",
			snap: Snapshot{Procs: []Proc{tailscaled, {PID: 60, PPID: 1, Comm: "tmux: server", Argv: []string{"tmux"}}}},
		},
		{
			name: "be-child sftp found by argv",
			snap: Snapshot{Procs: []Proc{{PID: 41, PPID: 1, Comm: "tailscaled", Argv: []string{"/usr/sbin/tailscaled", "be-child", "sftp"}}}},
			want: "tailscaled be-child",
		},
		{
			name: "a comm with spaces and parentheses that mentions tailscaled",
			snap: Snapshot{Procs: []Proc{{PID: 5, PPID: 1, Comm: "x (tailscaled)"}, {PID: 6, PPID: 5, Comm: "y"}}},
		},
		{
			name: "Zed by argv0 only",
			snap: Snapshot{Procs: []Proc{{PID: 7, PPID: 1, Comm: "zed-server", Argv: []string{"/home/dev/.zed_server/zed-remote-server-preview-0.171.0", "proxy"}}}},
			want: "Zed remote server (pid 7)",
		},
		{
			name: "a connection to another port",
			snap: Snapshot{TCP: []TCPConn{{Local: ap("127.0.0.1:8081"), Remote: ap("127.0.0.1:40000"), State: tcpEstablished}}},
		},
		{
			name: "code-server listening only",
			snap: Snapshot{TCP: []TCPConn{{Local: ap("127.0.0.1:8080"), Remote: ap("0.0.0.0:0"), State: 10}}},
		},
		{
			name: "a connection to 8080 on a non-loopback address",
			snap: Snapshot{TCP: []TCPConn{{Local: ap("10.0.2.100:8080"), Remote: ap("10.0.2.2:40000"), State: tcpEstablished}}},
		},
		{
			name: "a v4-mapped loopback connection",
			snap: Snapshot{TCP: []TCPConn{{Local: ap("[::ffff:127.0.0.1]:8080"), Remote: ap("[::ffff:127.0.0.1]:40000"), State: tcpEstablished}}},
			want: "code-server connection",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := OpenSession(tc.snap, CodeServerPort)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("OpenSession = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseProcStat(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     Proc
		wantErr  bool
	}{
		{name: "plain", in: "41 (su) S 20 41 41 0 -1", want: Proc{PID: 41, PPID: 20, Comm: "su"}},
		{name: "a name with spaces and a parenthesis", in: "7 (a) b) (c) R 3 7", want: Proc{PID: 7, PPID: 3, Comm: "a) b) (c"}},
		{name: "truncated", in: "7 (x) R", wantErr: true},
		{name: "no name", in: "7 x R 3", wantErr: true},
		{name: "empty", in: "", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseProcStat([]byte(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if !tc.wantErr && (got.PID != tc.want.PID || got.PPID != tc.want.PPID || got.Comm != tc.want.Comm) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseNetTCP(t *testing.T) {
	in := "  sl  local_address rem_address   st tx_queue\n" +
		"   3: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000 0 1\n" +
		"  24: 0100007F:1F90 0100007F:B338 01 00000000:00000000 00:00000000 00000000  1000 0 1\n" +
		"   1: 00000000000000000000000001000000:1F90 0000000000000000FFFF00000100007F:8CE4 01 0\n" +
		"garbage line\n" +
		"   9: 0100007F:ZZZZ 0100007F:B338 01 0\n"
	got := ParseNetTCP([]byte(in))
	want := []TCPConn{
		{Local: netip.MustParseAddrPort("127.0.0.1:8080"), Remote: netip.MustParseAddrPort("0.0.0.0:0"), State: 10},
		{Local: netip.MustParseAddrPort("127.0.0.1:8080"), Remote: netip.MustParseAddrPort("127.0.0.1:45880"), State: 1},
		{Local: netip.MustParseAddrPort("[::1]:8080"), Remote: netip.MustParseAddrPort("[::ffff:127.0.0.1]:36068"), State: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d: got %v, want %v", i, got[i], want[i])
		}
	}
}

func FuzzParseNetTCP(f *testing.F) {
	f.Add([]byte("  sl  local_address\n   3: 0100007F:1F90 00000000:0000 0A 0\n"))
	f.Add([]byte("x\n 1: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, c := range ParseNetTCP(data) {
			if !c.Local.IsValid() || !c.Remote.IsValid() {
				t.Errorf("invalid address in %+v", c)
			}
		}
	})
}

func FuzzParseProcStat(f *testing.F) {
	f.Add([]byte("41 (su) S 20 41 41 0 -1"))
	f.Add([]byte("7 (a) b) R 3 7"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseProcStat(data)
		if err == nil && strings.Contains(string(data), "(") && !strings.Contains(string(data), p.Comm) {
			t.Errorf("comm %q not in input", p.Comm)
		}
	})
}
