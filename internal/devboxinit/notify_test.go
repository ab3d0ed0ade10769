package devboxinit

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

func TestNotifyMessage(t *testing.T) {
	for _, tc := range []struct {
		name string
		kv   []string
		want string
	}{
		{"ready", []string{"READY", "1", "STATUS", "ready: demo.example.net 100.64.0.1"}, "READY=1\nSTATUS=ready: demo.example.net 100.64.0.1"},
		{"a value with a line break stays one assignment", []string{"STATUS", "failed: a\nREADY=1"}, "STATUS=failed: a READY=1"},
		{"stopping", []string{"STOPPING", "1", "STATUS", "stopping"}, "STOPPING=1\nSTATUS=stopping"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := NotifyMessage(tc.kv...); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNotify(t *testing.T) {
	for _, tc := range []struct{ name, addr string }{
		{"a path", filepath.Join(t.TempDir(), "notify.sock")},
		{"an abstract socket", "@devbox-init-test-" + time.Now().Format("150405.000000000")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: tc.addr, Net: "unixgram"})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if err := notify(tc.addr, "READY=1"); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 64)
			_ = l.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := l.Read(buf)
			if err != nil || string(buf[:n]) != "READY=1" {
				t.Errorf("read %q, %v", buf[:n], err)
			}
		})
	}
	if err := notify("", "READY=1"); err != nil {
		t.Errorf("no socket: %v", err)
	}
	if err := notify(filepath.Join(t.TempDir(), "nobody"), "READY=1"); err == nil {
		t.Error("a socket nobody listens on: no error")
	}
}
