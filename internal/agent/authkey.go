package agent

import (
	"context"
	"io"
	"os"
	"time"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"

	"github.com/devbox-quadlet/devbox-quadlet/internal/agentproto"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/policy"
)

// AuthKey resolves the caller's own Tailscale auth key and writes it into
// the pipe the caller passed (out), then closes the agent's copy. The key
// never travels inside a D-Bus message: a bus monitor sees a file descriptor,
// not the bytes. The user is the caller's login name from the bus; name is
// the container the key is for, only for the log.
func (s *Server) AuthKey(sender dbus.Sender, name string, out dbus.UnixFD) *dbus.Error {
	pipe := os.NewFile(uintptr(out), "authkey-pipe")
	if pipe == nil {
		return toDBus(errdefs.Errorf(errdefs.Usage, "auth key: no pipe passed"))
	}
	defer pipe.Close()
	uid, login, derr := s.caller(sender)
	if derr != nil {
		return derr
	}
	if err := policy.ValidateName(name); err != nil {
		return toDBus(err)
	}
	if err := checkPipe(int(out)); err != nil {
		return toDBus(err)
	}
	if s.Secrets == nil {
		s.logf("refused auth key for %q to %s (uid %d): this host has no secrets backend", name, login, uid)
		return toDBus(errdefs.Errorf(errdefs.Secret, "this host hands out no auth keys (secrets.backend = \"none\" in the agent's config)"))
	}
	if err := s.allow(s.AuthKeyLimit, uid, "auth-key lookups"); err != nil {
		s.logf("refused auth key for %q to %s (uid %d): %v", name, login, uid, err)
		return toDBus(err)
	}
	// Not under s.mu: a slow 1Password must not hold up admissions. The
	// 1Password backend runs one SDK call at a time (it reuses one client).
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	key, err := s.Secrets.Resolve(ctx, login)
	if err != nil {
		s.logf("auth key for %q of %s (uid %d) from %s failed: %v", name, login, uid, s.Secrets.Describe(login), err)
		return toDBus(err)
	}
	if err := writeAll(pipe, key); err != nil {
		s.logf("auth key for %q of %s (uid %d): cannot write the pipe: %v", name, login, uid, err)
		return toDBus(errdefs.Errorf(errdefs.Secret, "auth key: cannot write the pipe: %v", err))
	}
	s.logf("auth key for %q of %s (uid %d) handed over from %s", name, login, uid, s.Secrets.Describe(login))
	return nil
}

// allow takes one call of uid's from l (nil: no limit). A refusal is an
// agentproto.RateLimited error (exit 7, its own D-Bus error name, so the CLI
// can hint at waiting rather than at the admin) that says when to try again.
func (s *Server) allow(l *Limiter, uid uint32, what string) error {
	if l == nil {
		return nil
	}
	now := s.Now()
	ok, next := l.Allow(uid, now)
	if ok {
		return nil
	}
	return agentproto.RateLimitedf("too many %s: each user may make %d, then one every %s, because they spend the host's one shared credential; try again in %s (at %s)",
		what, l.Burst, l.Interval, next.Sub(now).Round(time.Second), next.UTC().Format(time.RFC3339))
}

// checkPipe refuses anything but a pipe (a caller could pass a file or a
// socket of someone else's) and makes writes non-blocking, so a full pipe
// fails the call instead of hanging the agent.
func checkPipe(fd int) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return errdefs.Errorf(errdefs.Usage, "auth key: bad file descriptor: %v", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFIFO {
		return errdefs.Errorf(errdefs.Usage, "auth key: the file descriptor passed is not a pipe")
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return errdefs.Errorf(errdefs.System, "auth key: %v", err)
	}
	return nil
}

func writeAll(w io.Writer, b []byte) error {
	n, err := w.Write(b)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	return err
}

// Forgetter deletes a container's devices from the tailnet (tailnet.API)
// and says how many it deleted: none when the tailnet has no such device.
type Forgetter interface {
	Forget(ctx context.Context, name, owner string) (int, error)
}

// ForgetDevice deletes the caller's devices for container name through the
// Tailscale API, where the agent holds the OAuth client. Only devices with
// the caller's own container tag are touched (see tailnet.Match).
func (s *Server) ForgetDevice(sender dbus.Sender, name string) (string, *dbus.Error) {
	uid, login, derr := s.caller(sender)
	if derr != nil {
		return "", derr
	}
	if err := policy.ValidateName(name); err != nil {
		return "", toDBus(err)
	}
	if s.Tailnet == nil {
		return agentproto.ForgetOutcome{Result: agentproto.ForgetNotConfigured}.String(), nil
	}
	if err := s.allow(s.ForgetLimit, uid, "Tailscale device deletions"); err != nil {
		s.logf("refused forget device %q to %s (uid %d): %v", name, login, uid, err)
		return "", toDBus(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := s.Tailnet.Forget(ctx, name, login)
	if err != nil {
		s.logf("forget device %q of %s (uid %d) failed: %v", name, login, uid, err)
		return "", toDBus(err)
	}
	out := agentproto.ForgetOutcome{Result: agentproto.ForgetNotFound}
	if n > 0 {
		out = agentproto.ForgetOutcome{Result: agentproto.ForgetDeleted, Devices: n}
	}
	s.logf("forget device %q of %s (uid %d): %s", name, login, uid, out)
	return out.String(), nil
}
