package devboxinit

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Proc is one process of a Snapshot.
type Proc struct {
	PID  int
	PPID int
	Comm string   // /proc/PID/stat's name, at most 15 bytes
	Argv []string // /proc/PID/cmdline; empty for zombies
}

// TCPConn is one line of /proc/net/tcp or /proc/net/tcp6.
type TCPConn struct {
	Local, Remote netip.AddrPort
	State         int // 1 is ESTABLISHED, 10 is LISTEN
}

// tcpEstablished is TCP_ESTABLISHED in include/net/tcp_states.h.
const tcpEstablished = 1

// Snapshot is what session detection looks at, read from /proc in one go.
type Snapshot struct {
	Procs []Proc
	TCP   []TCPConn
}

// OpenSession decides whether an interactive session is open: it returns
// the first one found, described for the log, or "" when there is none.
// codeServerPort is 0 when code-server does not run.
//
//   - Tailscale SSH: tailscaled runs every session as its own child,
//     "tailscaled be-child ssh --uid=... ", which then execs login or su
//     (tailscale.com ssh/tailssh/incubator.go, newIncubatorCommand and
//     tryExecLogin/trySU). Seen against a real node: the child is
//     "/usr/bin/su -w SSH_AUTH_SOCK -l root -c ..." with tailscaled as its
//     parent and no trace of be-child left. So any child of tailscaled is
//     a session, and so is a be-child process wherever it is.
//   - Zed: its remote server binary is ~/.zed_server/zed-remote-server-
//     CHANNEL-VERSION. It exits by itself 10 minutes after its last
//     client (IDLE_TIMEOUT in zed's crates/remote_server), so counting it
//     keeps a container alive at most that much longer.
//   - code-server: an ESTABLISHED connection to its loopback port, whose
//     local end is the port (tailscale serve dials 127.0.0.1:8080 for each
//     tailnet connection; the browser's websocket lives as long as the tab).
func OpenSession(s Snapshot, codeServerPort int) string {
	comm := make(map[int]string, len(s.Procs))
	for _, p := range s.Procs {
		comm[p.PID] = p.Comm
	}
	for _, p := range s.Procs {
		if comm[p.PPID] == "tailscaled" {
			return fmt.Sprintf("Tailscale SSH session (pid %d, %s)", p.PID, procName(p))
		}
		if len(p.Argv) >= 2 && filepath.Base(p.Argv[0]) == "tailscaled" && p.Argv[1] == "be-child" {
			return fmt.Sprintf("Tailscale SSH session (pid %d, tailscaled be-child)", p.PID)
		}
		if isZed(p) {
			return fmt.Sprintf("Zed remote server (pid %d)", p.PID)
		}
	}
	if codeServerPort > 0 {
		for _, c := range s.TCP {
			if c.State == tcpEstablished && int(c.Local.Port()) == codeServerPort && c.Local.Addr().Unmap().IsLoopback() {
				return fmt.Sprintf("code-server connection from %s", c.Remote)
			}
		}
	}
	return ""
}

func procName(p Proc) string {
	if len(p.Argv) > 0 && p.Argv[0] != "" {
		return filepath.Base(p.Argv[0])
	}
	return p.Comm
}

func isZed(p Proc) bool {
	// The kernel cuts comm to 15 bytes: "zed-remote-serv".
	if strings.HasPrefix(p.Comm, "zed-remote-serv") {
		return true
	}
	if len(p.Argv) == 0 {
		return false
	}
	return strings.HasPrefix(filepath.Base(p.Argv[0]), "zed-remote-server") ||
		strings.Contains(p.Argv[0], "/.zed_server/")
}

// ParseProcStat reads the pid, name and parent of /proc/PID/stat. The name
// is in parentheses and may itself contain spaces and ')', so it ends at
// the last ')'.
func ParseProcStat(data []byte) (Proc, error) {
	s := string(data)
	open := strings.IndexByte(s, '(')
	closing := strings.LastIndexByte(s, ')')
	if open < 1 || closing < open {
		return Proc{}, fmt.Errorf("stat: no (comm)")
	}
	pid, err := strconv.Atoi(strings.TrimSpace(s[:open]))
	if err != nil {
		return Proc{}, fmt.Errorf("stat: pid: %w", err)
	}
	rest := strings.Fields(s[closing+1:])
	if len(rest) < 2 {
		return Proc{}, fmt.Errorf("stat: too short")
	}
	ppid, err := strconv.Atoi(rest[1])
	if err != nil {
		return Proc{}, fmt.Errorf("stat: ppid: %w", err)
	}
	return Proc{PID: pid, PPID: ppid, Comm: s[open+1 : closing]}, nil
}

// ParseCmdline splits /proc/PID/cmdline at its NUL bytes.
func ParseCmdline(data []byte) []string {
	data = bytes.TrimRight(data, "\x00")
	if len(data) == 0 {
		return nil
	}
	return strings.Split(string(data), "\x00")
}

// ParseNetTCP parses /proc/net/tcp or /proc/net/tcp6. The kernel prints
// each address as 32-bit words in host byte order ("%08X" of the raw
// word), and the port in network order as a plain number. Lines that do
// not parse are skipped.
func ParseNetTCP(data []byte) []TCPConn {
	var out []TCPConn
	for i, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if i == 0 || len(f) < 4 {
			continue // the header, or a blank line
		}
		local, err1 := parseHexAddrPort(f[1])
		remote, err2 := parseHexAddrPort(f[2])
		state, err3 := strconv.ParseUint(f[3], 16, 8)
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		out = append(out, TCPConn{Local: local, Remote: remote, State: int(state)})
	}
	return out
}

func parseHexAddrPort(s string) (netip.AddrPort, error) {
	a, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("no port in %q", s)
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, err
	}
	raw, err := hex.DecodeString(a)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, fmt.Errorf("bad address %q", a)
	}
	// Each 32-bit word was printed as a number in host order: read it back
	// as big-endian text and store it in host order again.
	for w := 0; w < len(raw); w += 4 {
		binary.NativeEndian.PutUint32(raw[w:], binary.BigEndian.Uint32(raw[w:]))
	}
	addr, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(addr, uint16(port)), nil
}

// ReadSnapshot reads the processes and TCP connections under procRoot.
// Processes that exit while it reads are skipped.
func ReadSnapshot(procRoot string) (Snapshot, error) {
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return Snapshot{}, err
	}
	var s Snapshot
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		dir := filepath.Join(procRoot, e.Name())
		stat, err := os.ReadFile(filepath.Join(dir, "stat"))
		if err != nil {
			continue
		}
		p, err := ParseProcStat(stat)
		if err != nil {
			continue
		}
		if cmd, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil {
			p.Argv = ParseCmdline(cmd)
		}
		s.Procs = append(s.Procs, p)
	}
	for _, f := range []string{"net/tcp", "net/tcp6"} {
		if data, err := os.ReadFile(filepath.Join(procRoot, f)); err == nil {
			s.TCP = append(s.TCP, ParseNetTCP(data)...)
		}
	}
	return s, nil
}
