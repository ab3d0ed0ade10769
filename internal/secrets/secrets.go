// Package secrets resolves a user's Tailscale auth key from the configured
// backend: 1Password (through the service-account token), a per-user file,
// or the user's own environment. A resolved key is never formatted, logged or
// put in an error: Key prints as "[redacted]".
package secrets

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
)

// MaxKeySize bounds what a backend may hand back. Tailscale auth keys are
// about 60 bytes; anything near this is a wrong file, not a key.
const MaxKeySize = 4096

// Key is a resolved auth key. Its String and GoString hide the bytes, so a
// stray %v in a log line or error prints "[redacted]".
type Key []byte

func (Key) String() string   { return "[redacted]" }
func (Key) GoString() string { return "[redacted]" }

// Resolver returns the auth key of one user.
type Resolver interface {
	// Resolve returns user's key. Errors are errdefs.Secret (or Usage for a
	// bad user name) and never contain the key or a token.
	Resolve(ctx context.Context, user string) (Key, error)
	// Describe says where the key of user comes from, for messages.
	Describe(user string) string
}

// Reference is the 1Password secret reference of user's auth key (SPEC §6).
func Reference(vault, user string) string {
	return "op://" + vault + "/" + user + "-tailscale-authkey/password"
}

// Clean checks and normalises a key: trailing whitespace (the newline an
// editor or `echo` adds) is cut, and an empty, oversized or multi-line key is
// an error. from names the source for the message.
func Clean(raw []byte, from string) (Key, error) {
	k := bytes.TrimRight(raw, " \t\r\n")
	switch {
	case len(k) == 0:
		return nil, errdefs.Errorf(errdefs.Secret, "the auth key from %s is empty", from)
	case len(k) > MaxKeySize:
		return nil, errdefs.Errorf(errdefs.Secret, "the auth key from %s is %d bytes; an auth key is one short line", from, len(k))
	case bytes.ContainsAny(k, "\n\r\x00"):
		return nil, errdefs.Errorf(errdefs.Secret, "the auth key from %s has more than one line; an auth key is one short line", from)
	}
	return Key(k), nil
}

// CheckUser refuses user names that could change a path or a reference. Login
// names come from the bus or the OS, so this is defence in depth.
func CheckUser(user string) error {
	if user == "" || user == "." || user == ".." || strings.ContainsAny(user, "/\\\x00\n{}") {
		return errdefs.Errorf(errdefs.Usage, "cannot resolve an auth key for user %q", user)
	}
	return nil
}

// File reads each user's key from a path made from Template, where {user}
// stands for the login name (e.g. /run/agenix/{user}-tailscale-authkey).
type File struct {
	Template string
	// Private, when set, refuses a file that its group or others can read
	// (the standalone key file, which the user owns).
	Private bool
}

// Path is the file that holds user's key.
func (f File) Path(user string) string { return strings.ReplaceAll(f.Template, "{user}", user) }

// Describe implements Resolver.
func (f File) Describe(user string) string { return "file " + f.Path(user) }

// Resolve implements Resolver.
func (f File) Resolve(_ context.Context, user string) (Key, error) {
	if err := CheckUser(user); err != nil {
		return nil, err
	}
	path := f.Path(user)
	file, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, errdefs.Errorf(errdefs.Secret, "no auth key for %s: %s does not exist", user, path)
		}
		return nil, errdefs.Errorf(errdefs.Secret, "cannot read the auth key of %s: %v", user, scrubPathError(err))
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		return nil, errdefs.Errorf(errdefs.Secret, "cannot read the auth key of %s: %v", user, scrubPathError(err))
	}
	if !st.Mode().IsRegular() {
		return nil, errdefs.Errorf(errdefs.Secret, "the auth key of %s: %s is not a regular file", user, path)
	}
	if f.Private && st.Mode().Perm()&0o077 != 0 {
		return nil, errdefs.Errorf(errdefs.Secret, "the auth key file %s is readable by others (mode %04o); chmod 600 it", path, st.Mode().Perm())
	}
	buf := make([]byte, MaxKeySize+2)
	n, _ := file.Read(buf)
	return Clean(buf[:n], path)
}

// scrubPathError keeps an *os.PathError's message but never a read's data
// (there is none in a PathError; this only fixes the type for %v).
func scrubPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return fmt.Errorf("%s %s: %v", pe.Op, pe.Path, pe.Err)
	}
	return err
}

// Env reads the key from the calling user's own environment (standalone
// mode only: the key is then in that user's process environment, which only
// that user and root can read).
type Env struct {
	Var    string
	Getenv func(string) string
}

// Describe implements Resolver.
func (e Env) Describe(string) string { return "$" + e.Var }

// Resolve implements Resolver.
func (e Env) Resolve(_ context.Context, user string) (Key, error) {
	v := e.Getenv(e.Var)
	if v == "" {
		return nil, errdefs.Errorf(errdefs.Secret, "no auth key for %s: $%s is not set", user, e.Var)
	}
	return Clean([]byte(v), "$"+e.Var)
}
