// Package errdefs defines the small, fixed set of error classes that every verb
// returns, and maps them to the process exit codes of SPEC R-09.
package errdefs

import (
	"errors"
	"fmt"
)

// Class is one kind of failure. A Class is an error, so callers wrap it with
// errdefs.Errorf(errdefs.NotFound, "...") and test it with errors.Is.
type Class struct {
	name string
	code int
}

func (c *Class) Error() string { return c.name }

// ExitCode is the process exit status that R-09 assigns to this class.
func (c *Class) ExitCode() int { return c.code }

// The classes, one per row of the R-09 exit-code table.
var (
	Usage        = &Class{"usage", 2}     // bad flags, arguments, names or config
	NotFound     = &Class{"not found", 3} // no such container
	Exists       = &Class{"exists", 4}    // already exists, or already in that state
	UserCap      = &Class{"user cap", 5}  // per-user container cap reached
	HostCap      = &Class{"host cap", 6}  // host cap or host resources exhausted
	Secret       = &Class{"secret", 7}    // auth-key retrieval failed
	System       = &Class{"system", 8}    // systemd or podman failed
	AgentMissing = &Class{"agent", 9}     // the host agent is required but unreachable
)

// Classes lists every class in exit-code order, for help text and docs.
var Classes = []*Class{Usage, NotFound, Exists, UserCap, HostCap, Secret, System, AgentMissing}

// Description says in a few words when each class is used.
func (c *Class) Description() string {
	switch c {
	case Usage:
		return "usage error or invalid name"
	case NotFound:
		return "container not found"
	case Exists:
		return "already exists, or already in that state"
	case UserCap:
		return "per-user container cap reached"
	case HostCap:
		return "host cap reached or host resources insufficient"
	case Secret:
		return "secret retrieval failed"
	case System:
		return "systemd or podman failure"
	case AgentMissing:
		return "host agent unavailable"
	}
	return c.name
}

// ExitCode returns the exit status for err: 0 for nil, the code of the first
// class found in err's chain, and 1 for anything unclassified.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	for _, c := range Classes {
		if errors.Is(err, c) {
			return c.code
		}
	}
	return 1
}

// Is reports whether err belongs to class c.
func Is(err error, c *Class) bool { return errors.Is(err, c) }

// classified attaches a class to an error without changing its text.
type classified struct {
	err   error
	class *Class
}

func (e *classified) Error() string   { return e.err.Error() }
func (e *classified) Unwrap() []error { return []error{e.err, e.class} }

// Errorf formats an error, as fmt.Errorf does (%w included), and marks it
// with class c. The class does not appear in the text.
func Errorf(c *Class, format string, args ...any) error {
	return &classified{err: fmt.Errorf(format, args...), class: c}
}

// Mark returns err marked with class c; nil stays nil.
func Mark(c *Class, err error) error {
	if err == nil {
		return nil
	}
	return &classified{err: err, class: c}
}
