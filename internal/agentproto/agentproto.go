// Package agentproto is the host agent's D-Bus protocol, shared by the agent
// (internal/agent) and its client (internal/agentclient): the names, the
// methods and their signatures, the error names and their errdefs classes,
// and the typed replies. It imports only the standard library and errdefs, so
// either side can link it without linking the other.
package agentproto

// The agent's well-known bus name, object path and interface.
const (
	BusName    = "io.github.DevboxQuadlet.Agent1"
	ObjectPath = "/io/github/DevboxQuadlet/Agent1"
	Interface  = "io.github.DevboxQuadlet.Agent1"
)

// The agent's methods, as docs/agent.md lists them.
const (
	MethodReserve      = "Reserve"
	MethodConfirm      = "Confirm"
	MethodStop         = "Stop"
	MethodRelease      = "Release"
	MethodList         = "List"
	MethodAuthKey      = "AuthKey"
	MethodForgetDevice = "ForgetDevice"
	MethodRepair       = "Repair"
)

// Member is the interface-qualified name of method, as a client calls it.
func Member(method string) string { return Interface + "." + method }

// signatures are the argument signatures of the methods. The agent refuses a
// call with any other signature before a handler runs (godbus converts
// between numeric types, so AuthKey called with "si" would otherwise take
// any number for a file descriptor of the agent's own).
var signatures = map[string]string{
	MethodReserve:      "sbut",
	MethodStop:         "s",
	MethodRelease:      "s",
	MethodConfirm:      "s",
	MethodAuthKey:      "sh",
	MethodForgetDevice: "s",
	MethodList:         "b",
	MethodRepair:       "sb",
}

// Signature returns the argument signature of method, and whether the
// interface has such a method.
func Signature(method string) (string, bool) {
	s, ok := signatures[method]
	return s, ok
}
