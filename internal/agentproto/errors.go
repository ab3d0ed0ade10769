package agentproto

import (
	"errors"
	"fmt"
	"strings"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
)

// The D-Bus error names the agent answers with: one per error class that
// crosses the bus, plus access denied and rate limited.
const (
	ErrorUsage       = Interface + ".Error.Usage"
	ErrorNotFound    = Interface + ".Error.NotFound"
	ErrorExists      = Interface + ".Error.Exists"
	ErrorUserCap     = Interface + ".Error.UserCap"
	ErrorHostCap     = Interface + ".Error.HostCap"
	ErrorSecret      = Interface + ".Error.Secret"
	ErrorFailed      = Interface + ".Error.Failed"
	ErrorDenied      = Interface + ".Error.AccessDenied"
	ErrorRateLimited = Interface + ".Error.RateLimited"
)

// classNames pairs the classes with their error names, in the order
// ErrorName tries them (errdefs.Classes order), so an error marked with two
// classes always gets the same name.
var classNames = []struct {
	class *errdefs.Class
	name  string
}{
	{errdefs.Usage, ErrorUsage},
	{errdefs.NotFound, ErrorNotFound},
	{errdefs.Exists, ErrorExists},
	{errdefs.UserCap, ErrorUserCap},
	{errdefs.HostCap, ErrorHostCap},
	{errdefs.Secret, ErrorSecret},
	{errdefs.System, ErrorFailed},
}

// ErrorName is the D-Bus error name that carries err's class to the client:
// ErrorRateLimited for a RateLimited error, the class's name otherwise, and
// ErrorFailed for an error of no class that crosses the bus.
func ErrorName(err error) string {
	if errors.Is(err, ErrRateLimited) {
		return ErrorRateLimited
	}
	for _, c := range classNames {
		if errdefs.Is(err, c.class) {
			return c.name
		}
	}
	return ErrorFailed
}

// DecodeError turns a D-Bus error that a call of op received (its name and
// its first string, msg) back into a classed error: the agent's own names
// into their class with the agent's text unchanged, access denied into a
// usage error, and the bus's own "no such service" errors into
// errdefs.AgentMissing.
func DecodeError(op, name, msg string) error {
	switch name {
	case ErrorDenied:
		return errdefs.Errorf(errdefs.Usage, "%s: the host agent refused: %s", op, msg)
	case ErrorRateLimited:
		return RateLimited(msg)
	}
	for _, c := range classNames {
		if c.name == name {
			return errdefs.Errorf(c.class, "%s", msg)
		}
	}
	if name == "org.freedesktop.DBus.Error.ServiceUnknown" || name == "org.freedesktop.DBus.Error.NameHasNoOwner" ||
		name == "org.freedesktop.DBus.Error.NoReply" || strings.HasPrefix(name, "org.freedesktop.DBus.Error.Spawn.") ||
		strings.HasPrefix(name, "org.freedesktop.systemd1.") {
		return errdefs.Errorf(errdefs.AgentMissing, "%s: the host agent is not running: %s", op, msg)
	}
	return errdefs.Errorf(errdefs.System, "%s: host agent: %s", op, msg)
}

// ErrRateLimited matches (errors.Is) a call the agent refused because the
// caller made too many of them (AuthKey, ForgetDevice): the CLI then says
// to wait, not to ask the admin. Such an error is also errdefs.Secret (exit 7).
var ErrRateLimited = errors.New("rate limited by the host agent")

// rateLimited is a RateLimited error: its text is the agent's, unchanged.
type rateLimited struct{ msg string }

func (e *rateLimited) Error() string        { return e.msg }
func (e *rateLimited) Is(target error) bool { return target == ErrRateLimited }

// RateLimited is the error of a rate-limited call whose message is msg: it
// matches ErrRateLimited and errdefs.Secret, and crosses the bus as
// ErrorRateLimited.
func RateLimited(msg string) error {
	return errdefs.Mark(errdefs.Secret, &rateLimited{msg: msg})
}

// RateLimitedf is RateLimited with a formatted message.
func RateLimitedf(format string, args ...any) error {
	return RateLimited(fmt.Sprintf(format, args...))
}
