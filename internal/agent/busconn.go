package agent

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/godbus/dbus/v5"

	"github.com/devbox-quadlet/devbox-quadlet/internal/agentproto"
)

// SystemBusAddress is where the system bus listens when
// $DBUS_SYSTEM_BUS_ADDRESS does not say.
const SystemBusAddress = "unix:path=/run/dbus/system_bus_socket"

// signature is the argument signature of member, one of the agent's
// methods (agentproto.Signature) or Introspect. A call of one of them with
// any other signature is refused before it reaches a handler: godbus
// converts between numeric types when it stores arguments, so AuthKey called
// with "si" would otherwise take any number as a file descriptor of the
// agent's own.
func signature(member string) (string, bool) {
	if member == "Introspect" {
		return "", true
	}
	return agentproto.Signature(member)
}

// busConn is the agent's end of its bus socket, read by the agent itself
// rather than by godbus's unix transport. godbus (v5.2.4) puts the file
// descriptors that come with a message into its body and closes none of
// them: not those of a call no handler takes (a wrong signature, a wrong
// object), not those the body never mentions, not those of a message it
// drops. Any local user could so fill the agent's descriptor table in
// seconds. Here every descriptor that arrives is recorded, and intercept,
// which godbus runs before it dispatches each message, gives the one pipe
// of a well-formed AuthKey call to its handler and closes all the others.
//
// godbus is handed this connection as a plain stream (dbus.NewConn), so it
// neither negotiates descriptor passing nor decodes descriptors: busConn
// asks the bus for descriptor passing itself, at the end of godbus's
// authentication.
type busConn struct {
	c *net.UnixConn

	mu      sync.Mutex
	pending []int       // received, neither handed over nor closed yet
	sasl    atomic.Bool // still authenticating: reads are lines, not messages

	msg []byte // the message being read by godbus, and how far
	off int
	oob []byte
}

// dialBus connects to a unix-socket bus address (unix:path= or
// unix:abstract=), the only kind the system bus has.
func dialBus(address string) (*busConn, error) {
	var name string
	for _, a := range strings.Split(address, ";") {
		kind, keys, ok := strings.Cut(a, ":")
		if !ok || kind != "unix" {
			continue
		}
		for _, kv := range strings.Split(keys, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "path":
				name = v
			case "abstract":
				name = "@" + v
			}
		}
		if name != "" {
			break
		}
	}
	if name == "" {
		return nil, fmt.Errorf("bus address %q: no unix:path= or unix:abstract=", address)
	}
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: name, Net: "unix"})
	if err != nil {
		return nil, err
	}
	b := &busConn{c: c, oob: make([]byte, syscall.CmsgSpace(253*4))}
	b.sasl.Store(true)
	return b, nil
}

// Write passes godbus's writes through. At the end of authentication (its
// BEGIN line) it first negotiates descriptor passing with the bus, which
// godbus does not do for a plain stream.
func (b *busConn) Write(p []byte) (int, error) {
	if b.sasl.Load() && string(p) == "BEGIN\r\n" {
		if _, err := b.c.Write([]byte("NEGOTIATE_UNIX_FD\r\n")); err != nil {
			return 0, err
		}
		line, err := b.readLine()
		if err != nil {
			return 0, err
		}
		if !strings.HasPrefix(line, "AGREE_UNIX_FD") {
			return 0, fmt.Errorf("the bus refused file-descriptor passing: %q", line)
		}
		b.sasl.Store(false)
	}
	return b.c.Write(p)
}

// readLine reads one authentication line, a byte at a time so nothing
// after it is consumed.
func (b *busConn) readLine() (string, error) {
	var line []byte
	one := make([]byte, 1)
	for len(line) < 4096 {
		if err := b.readFull(one); err != nil {
			return "", err
		}
		line = append(line, one[0])
		if one[0] == '\n' {
			return string(line), nil
		}
	}
	return "", errors.New("the bus sent an over-long authentication line")
}

// Read gives godbus the bytes of one message at a time: the descriptors
// that come with a message are then all recorded by the time godbus has
// decoded it and calls intercept.
func (b *busConn) Read(p []byte) (int, error) {
	if b.sasl.Load() {
		n, err := b.read(p)
		if n == 0 && err == nil {
			err = io.EOF
		}
		return n, err
	}
	if b.off == len(b.msg) {
		if err := b.readMessage(); err != nil {
			return 0, err
		}
	}
	n := copy(p, b.msg[b.off:])
	b.off += n
	return n, nil
}

// maxMessage is the D-Bus protocol's bound on a message (128 MiB); the bus
// daemon's own is lower.
const maxMessage = 1 << 27

// readMessage reads the next message godbus can decode. One it cannot is
// dropped here, with its descriptors, rather than handed on: godbus closes
// its connection on most decoding errors, and a message the bus passed
// but godbus refuses (their limits differ at the edges) must not be a way
// to take the agent off the bus.
func (b *busConn) readMessage() error {
	for {
		msg, err := b.readFramed()
		if err != nil {
			return err
		}
		if _, err := dbus.DecodeMessage(bytes.NewReader(msg)); err != nil {
			b.closePending()
			continue
		}
		b.msg, b.off = msg, 0
		return nil
	}
}

// readFramed reads one message's bytes, as its fixed header sizes them.
func (b *busConn) readFramed() ([]byte, error) {
	head := make([]byte, 16)
	if err := b.readFull(head); err != nil {
		return nil, err
	}
	var order binary.ByteOrder
	switch head[0] {
	case 'l':
		order = binary.LittleEndian
	case 'B':
		order = binary.BigEndian
	default:
		return nil, fmt.Errorf("the bus sent a message with byte order %q", head[0])
	}
	body, fields := uint64(order.Uint32(head[4:8])), uint64(order.Uint32(head[12:16]))
	total := (16+fields+7)&^7 + body
	if total > maxMessage {
		return nil, fmt.Errorf("the bus sent a message of %d bytes", total)
	}
	msg := make([]byte, total)
	copy(msg, head)
	if err := b.readFull(msg[16:]); err != nil {
		return nil, err
	}
	return msg, nil
}

func (b *busConn) readFull(p []byte) error {
	for n := 0; n < len(p); {
		k, err := b.read(p[n:])
		if err != nil {
			return err
		}
		if k == 0 {
			return io.ErrUnexpectedEOF
		}
		n += k
	}
	return nil
}

// read is one recvmsg: whatever descriptors come with it are recorded.
func (b *busConn) read(p []byte) (int, error) {
	n, oobn, _, _, err := b.c.ReadMsgUnix(p, b.oob)
	if oobn > 0 {
		b.record(b.oob[:oobn])
	}
	return n, err
}

func (b *busConn) record(oob []byte) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return
	}
	for i := range msgs {
		fds, err := syscall.ParseUnixRights(&msgs[i])
		if err != nil {
			continue
		}
		b.mu.Lock()
		b.pending = append(b.pending, fds...)
		b.mu.Unlock()
	}
}

// intercept runs in godbus's reading goroutine after each message is
// decoded and before it is dispatched. Every descriptor received since the
// last message (its own, and those of any message godbus dropped) is
// closed, except the pipe of a well-formed AuthKey call, which is put into
// the call's arguments for the handler (which closes it). A call of one of
// the agent's methods with the wrong signature gets its arguments taken
// away, so godbus answers it "invalid args" and no handler runs.
func (b *busConn) intercept(msg *dbus.Message) {
	b.mu.Lock()
	fds := b.pending
	b.pending = nil
	b.mu.Unlock()
	keep := -1
	if member, ok := ours(msg); ok {
		sig, _ := msg.Headers[dbus.FieldSignature].Value().(dbus.Signature)
		want, _ := signature(member)
		switch {
		case sig.String() != want:
			msg.Body = nil
		case member == agentproto.MethodAuthKey:
			i, ok := msg.Body[1].(dbus.UnixFDIndex)
			if !ok || int(i) >= len(fds) {
				msg.Body = nil
				break
			}
			msg.Body[1] = dbus.UnixFD(fds[i])
			keep = int(i)
		}
	}
	for i, fd := range fds {
		if i != keep {
			_ = syscall.Close(fd)
		}
	}
}

// ours reports whether msg calls a method of the agent's object, and which:
// godbus dispatches calls without an interface too.
func ours(msg *dbus.Message) (string, bool) {
	if msg.Type != dbus.TypeMethodCall {
		return "", false
	}
	path, _ := msg.Headers[dbus.FieldPath].Value().(dbus.ObjectPath)
	iface, _ := msg.Headers[dbus.FieldInterface].Value().(string)
	member, _ := msg.Headers[dbus.FieldMember].Value().(string)
	want := agentproto.Interface
	if member == "Introspect" {
		want = "org.freedesktop.DBus.Introspectable"
	}
	if _, known := signature(member); !known || path != objectPath || (iface != "" && iface != want) {
		return "", false
	}
	return member, true
}

// Close closes the socket and every descriptor not yet handed over.
func (b *busConn) Close() error {
	b.closePending()
	return b.c.Close()
}

func (b *busConn) closePending() {
	b.mu.Lock()
	fds := b.pending
	b.pending = nil
	b.mu.Unlock()
	for _, fd := range fds {
		_ = syscall.Close(fd)
	}
}

// busAddress is the bus the agent serves on: address if set, else the
// system bus.
func busAddress(address string) string {
	if address != "" {
		return address
	}
	return SystemBusAddress
}

var _ io.ReadWriteCloser = (*busConn)(nil)
