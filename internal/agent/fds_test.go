package agent

import (
	"bytes"
	"encoding/binary"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// TestReceivedFDsAreClosed: calls that carry file descriptors no handler
// takes (a wrong signature, descriptors nested in a struct or a variant, a
// wrong object, descriptors the body never mentions) leave the agent's
// open-descriptor count where it was, and a well-formed AuthKey still gets
// its key through its pipe.
func TestReceivedFDsAreClosed(t *testing.T) {
	bus := startBus(t, "")
	s, _ := testServer(t)
	bus.serve(t, s)
	attacker := bus.startPeer(t, attackerUID)
	if r := attacker.do(peerCmd{Op: "authkey", Name: "warmup"}); r.Out != testKey {
		t.Fatalf("AuthKey before the flood: %+v", r)
	}
	before := openFDs(t)
	sixteen := []arg{sArg("x")}
	for range 16 {
		sixteen = append(sixteen, hArg())
	}
	r := attacker.do(peerCmd{Op: "call", Method: "Stop", Args: sixteen, N: 1000, Keep: true})
	if r.Failed != 1000 {
		t.Fatalf("Stop with s and 16 h: %d of 1000 failed, last %s: %s", r.Failed, r.Err, r.Msg)
	}
	t.Logf("Stop(s, 16 h) answered %s: %s", r.Err, r.Msg)
	for _, tc := range []struct {
		what string
		cmd  peerCmd
	}{
		{"fds in a struct", peerCmd{Op: "call", Method: "Stop", Args: []arg{{SH: true}}, N: 100, Keep: true}},
		{"fds in a variant", peerCmd{Op: "call", Method: "List", Args: []arg{{VH: true}}, N: 100, Keep: true}},
		{"AuthKey on another object", peerCmd{Op: "call", Method: "AuthKey", Path: "/elsewhere", Args: []arg{sArg("x"), hArg()}, N: 100, Keep: true}},
		{"AuthKey with two pipes", peerCmd{Op: "call", Method: "AuthKey", Args: []arg{sArg("x"), hArg(), hArg()}, N: 100, Keep: true}},
		{"an unknown method", peerCmd{Op: "call", Method: "Nope", Args: []arg{hArg()}, N: 100, Keep: true}},
		{"unreferenced fds", peerCmd{Op: "raw", Method: "Stop", FDs: 16, N: 200}},
		{"an fd index past the fds sent", peerCmd{Op: "raw", Method: "Stop", FDs: 16, N: 10, BadIndex: true}},
	} {
		r := attacker.do(tc.cmd)
		if r.Err == "raw" || r.Err == "transport" {
			t.Fatalf("%s: %s", tc.what, r.Msg)
		}
		t.Logf("%s: %s %s %s", tc.what, r.Err, r.Msg, r.Out)
	}
	after := openFDs(t)
	for deadline := time.Now().Add(2 * time.Second); after != before && time.Now().Before(deadline); after = openFDs(t) {
		time.Sleep(20 * time.Millisecond)
	}
	if after != before {
		t.Errorf("the agent's process had %d open file descriptors before the calls and %d after", before, after)
	}
	if r := attacker.do(peerCmd{Op: "authkey", Name: "after"}); r.Out != testKey {
		t.Errorf("AuthKey after the flood: %+v", r)
	}
}

// TestServeEndsWithItsBus: when the bus connection goes, Serve returns an
// error (and the process exits non-zero, so systemd restarts it) instead of
// serving nothing.
func TestServeEndsWithItsBus(t *testing.T) {
	bus := startBus(t, "")
	s, _ := testServer(t)
	done := bus.serve(t, s)
	bus.kill()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "bus") {
			t.Errorf("Serve returned %v, want an error about the bus", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve still runs 5 s after its bus daemon died")
	}
}

// TestAuthKeyTakesOnlyAPassedPipe: AuthKey called with a number where the
// pipe goes (signature "si") must not take that number as one of the
// agent's own descriptors: godbus converts the number, and the agent would
// write the caller's key into whatever pipe it holds under that number (an
// in-flight AuthKey of another user) and then close it.
func TestAuthKeyTakesOnlyAPassedPipe(t *testing.T) {
	bus := startBus(t, "")
	s, _ := testServer(t)
	bus.serve(t, s)
	attacker := bus.startPeer(t, attackerUID)
	// A pipe the agent's process holds, as it holds a victim's during an
	// AuthKey call.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	reply := attacker.call("AuthKey", sArg("grab"), iArg(int32(w.Fd())))
	if reply.Err == "" {
		t.Errorf("AuthKey with a number for the pipe succeeded")
	}
	t.Logf("AuthKey(s, i): %s: %s", reply.Err, reply.Msg)
	rfd := int(r.Fd()) // Fd makes the file blocking: take it once
	if err := syscall.SetNonblock(rfd, true); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	if n, _ := syscall.Read(rfd, buf); n > 0 {
		t.Errorf("the agent wrote the caller's key into a pipe it held: %q", buf[:n])
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(w.Fd()), &st); err != nil {
		t.Errorf("the agent closed a descriptor of its own that the caller named: %v", err)
	}
}

// TestBusConnDropsWhatGodbusCannotDecode: a message that godbus cannot
// decode is dropped with its descriptors, and the next one is delivered,
// so no message the bus lets through can take the agent off the bus
// (godbus closes its connection on most decoding errors).
func TestBusConnDropsWhatGodbusCannotDecode(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	theirs := os.NewFile(uintptr(fds[1]), "bus")
	defer theirs.Close()
	f := os.NewFile(uintptr(fds[0]), "agent")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	bc := &busConn{c: c.(*net.UnixConn), oob: make([]byte, syscall.CmsgSpace(253*4))}
	defer bc.Close()
	call := func(member string) []byte {
		var buf bytes.Buffer
		msg := &dbus.Message{Type: dbus.TypeMethodCall, Headers: map[dbus.HeaderField]dbus.Variant{
			dbus.FieldPath:      dbus.MakeVariant(objectPath),
			dbus.FieldMember:    dbus.MakeVariant(member),
			dbus.FieldSignature: dbus.MakeVariant(dbus.SignatureOf("x")),
		}, Body: []any{"x"}}
		if err := msg.EncodeTo(&buf, binary.LittleEndian); err != nil {
			t.Fatal(err)
		}
		b := buf.Bytes()
		binary.LittleEndian.PutUint32(b[8:12], 1)
		return b
	}
	bad := call("Bad")
	// The string's length now runs past the end of the body.
	binary.LittleEndian.PutUint32(bad[len(bad)-6:], 1000)
	before := openFDs(t)
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	uc, err := net.FileConn(theirs)
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	if _, _, err := uc.(*net.UnixConn).WriteMsgUnix(bad, syscall.UnixRights(int(devnull.Fd()), int(devnull.Fd())), nil); err != nil {
		t.Fatal(err)
	}
	devnull.Close()
	if _, err := uc.Write(call("Good")); err != nil {
		t.Fatal(err)
	}
	msg, err := dbus.DecodeMessage(bc)
	if err != nil {
		t.Fatalf("the message after the bad one: %v", err)
	}
	if m, _ := msg.Headers[dbus.FieldMember].Value().(string); m != "Good" {
		t.Errorf("delivered %q, want Good", m)
	}
	bc.intercept(msg)
	if after := openFDs(t); after != before+1 { // uc's duplicate of theirs
		t.Errorf("open descriptors: %d before, %d after; the bad message's two were not closed", before, after)
	}
}
