// Package agent is the host agent's server on the system D-Bus. It holds the
// host-wide ledger (unique names, per-user and global caps, resource
// admission) and decides every admission in one serialised path, with the
// caller's identity taken from the bus, never from an argument. The protocol
// is internal/agentproto; the client is internal/agentclient.
package agent

import (
	"github.com/godbus/dbus/v5"

	"github.com/devbox-quadlet/devbox-quadlet/internal/agentproto"
)

// objectPath is the agent's object, typed for godbus.
const objectPath = dbus.ObjectPath(agentproto.ObjectPath)

// toDBus turns an error into a D-Bus error whose name carries its class
// (agentproto.ErrorName) and whose body is its text.
func toDBus(err error) *dbus.Error {
	if err == nil {
		return nil
	}
	return dbus.NewError(agentproto.ErrorName(err), []any{err.Error()})
}

// denied is the error for callers that may not do what they asked.
func denied(msg string) *dbus.Error {
	return dbus.NewError(agentproto.ErrorDenied, []any{msg})
}
