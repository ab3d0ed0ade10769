// Package agent is the host agent on the system D-Bus and its client. The
// agent holds the host-wide ledger (unique names, per-user and global caps,
// resource admission) and decides every admission in one serialised path,
// with the caller's identity taken from the bus, never from an argument.
package agent

import (
	"strings"

	"github.com/godbus/dbus/v5"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
)

// The agent's well-known bus name, object path and interface.
const (
	BusName    = "io.github.DevboxQuadlet.Agent1"
	ObjectPath = dbus.ObjectPath("/io/github/DevboxQuadlet/Agent1")
	Interface  = "io.github.DevboxQuadlet.Agent1"
)

// D-Bus error names, one per error class that crosses the bus.
var errorNames = map[*errdefs.Class]string{
	errdefs.Usage:    Interface + ".Error.Usage",
	errdefs.NotFound: Interface + ".Error.NotFound",
	errdefs.Exists:   Interface + ".Error.Exists",
	errdefs.UserCap:  Interface + ".Error.UserCap",
	errdefs.HostCap:  Interface + ".Error.HostCap",
	errdefs.Secret:   Interface + ".Error.Secret",
	errdefs.System:   Interface + ".Error.Failed",
}

// Denied is the error name for callers that may not do what they asked.
const Denied = Interface + ".Error.AccessDenied"

// toDBus turns an error into a D-Bus error whose name carries its class.
func toDBus(err error) *dbus.Error {
	if err == nil {
		return nil
	}
	name := Interface + ".Error.Failed"
	for c, n := range errorNames {
		if errdefs.Is(err, c) {
			name = n
		}
	}
	return dbus.NewError(name, []any{err.Error()})
}

// fromDBus turns a D-Bus error from the agent back into a classed error.
func fromDBus(op string, err error) error {
	var de dbus.Error
	switch e := err.(type) {
	case dbus.Error:
		de = e
	case *dbus.Error:
		de = *e
	default:
		return errdefs.Errorf(errdefs.AgentMissing, "%s: host agent: %w", op, err)
	}
	msg := de.Error()
	if len(de.Body) > 0 {
		if s, ok := de.Body[0].(string); ok {
			msg = s
		}
	}
	if de.Name == Denied {
		return errdefs.Errorf(errdefs.Usage, "%s: the host agent refused: %s", op, msg)
	}
	for c, n := range errorNames {
		if n == de.Name {
			return errdefs.Errorf(c, "%s", msg)
		}
	}
	if de.Name == "org.freedesktop.DBus.Error.ServiceUnknown" || de.Name == "org.freedesktop.DBus.Error.NameHasNoOwner" ||
		de.Name == "org.freedesktop.DBus.Error.NoReply" || strings.HasPrefix(de.Name, "org.freedesktop.DBus.Error.Spawn.") ||
		strings.HasPrefix(de.Name, "org.freedesktop.systemd1.") {
		return errdefs.Errorf(errdefs.AgentMissing, "%s: the host agent is not running: %s", op, msg)
	}
	return errdefs.Errorf(errdefs.System, "%s: host agent: %s", op, msg)
}
