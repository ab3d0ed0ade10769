package devboxinit

import (
	"fmt"
	"net"
	"strings"
)

// NotifyMessage formats an sd_notify datagram from KEY, VALUE pairs, one
// "KEY=VALUE" line each (sd_notify(3)). A value is one line: OneLine
// flattens it, since a newline would start a new, unintended assignment.
func NotifyMessage(kv ...string) string {
	if len(kv)%2 != 0 {
		panic("NotifyMessage: odd number of arguments")
	}
	var b strings.Builder
	for i := 0; i < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(kv[i])
		b.WriteByte('=')
		b.WriteString(OneLine(kv[i+1]))
	}
	return b.String()
}

// notify sends msg to the NOTIFY_SOCKET at addr, a path or, with a leading
// '@', an abstract socket (Go's net package maps '@' to the leading NUL).
// An empty addr means nobody listens: nothing is sent.
func notify(addr, msg string) error {
	if addr == "" {
		return nil
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("notify %s: %w", addr, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(msg)); err != nil {
		return fmt.Errorf("notify %s: %w", addr, err)
	}
	return nil
}
