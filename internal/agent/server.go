package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os/user"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"

	"github.com/devbox-quadlet/devbox-quadlet/internal/agentproto"
	"github.com/devbox-quadlet/devbox-quadlet/internal/config"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/policy"
	"github.com/devbox-quadlet/devbox-quadlet/internal/secrets"
)

// Server is the agent. Every exported method takes the bus's sender first;
// godbus fills it in, and the caller's uid is asked of the bus daemon.
type Server struct {
	mu         sync.Mutex // serialises every admission and ledger change
	conn       *dbus.Conn
	Store      Store
	Config     config.Config
	Limits     policy.Limits
	CgroupRoot string
	// Secrets resolves auth keys; nil when the host hands out none.
	Secrets secrets.Resolver
	// Tailnet deletes devices through the Tailscale API; nil when no
	// OAuth client is configured.
	Tailnet Forgetter
	// AuthKeyLimit and ForgetLimit rate-limit each uid's AuthKey and
	// ForgetDevice calls ([agent] auth_key_burst, auth_key_interval);
	// nil: no limit.
	AuthKeyLimit, ForgetLimit *Limiter
	Now                       func() time.Time
	Log                       io.Writer
	// BusAddress is the bus to serve on ($DBUS_SYSTEM_BUS_ADDRESS); empty
	// means the system bus's usual socket. Tests use a private bus daemon.
	BusAddress string
	// BlockWait is the longest duty-cycle wait (policy.Blocked) the agent
	// sits out before answering, instead of refusing: a create right after
	// a `create --no-start` (which held its reservation a few seconds)
	// just takes a little longer. Zero: never wait.
	BlockWait time.Duration
	// ObserveEvery is how often the agent looks at the cgroups between
	// calls, so a container that runs for a while is seen running even if
	// nobody calls the agent meanwhile. Zero: DefaultObserveEvery;
	// negative: only at calls.
	ObserveEvery time.Duration

	waitMu  sync.Mutex
	waiting map[uint32]bool // uids with a Reserve sitting out a wait
}

// DefaultObserveEvery is how often the agent looks at the cgroups on its own.
const DefaultObserveEvery = 15 * time.Second

// listingEntry is e as List reports it, running or not.
func listingEntry(e policy.Entry, running bool) agentproto.ListingEntry {
	return agentproto.ListingEntry{
		Name: e.Name, UID: e.UID, User: e.User, CPUs: e.CPUs, Memory: e.Memory, Created: e.Created,
		Reserved: e.Reserved, SeenRunning: e.SeenRunning, Confirmed: e.Confirmed, Running: running,
	}
}

// caller returns the unix uid and login name of the method's sender, and
// refuses a caller outside [agent] allowed_group. Every method starts here.
func (s *Server) caller(sender dbus.Sender) (uint32, string, *dbus.Error) {
	var uid uint32
	if err := s.conn.BusObject().Call("org.freedesktop.DBus.GetConnectionUnixUser", 0, string(sender)).Store(&uid); err != nil {
		return 0, "", denied("cannot tell who is calling: " + err.Error())
	}
	name := strconv.FormatUint(uint64(uid), 10)
	u, uerr := user.LookupId(name)
	if uerr == nil {
		name = u.Username
	}
	if group := string(s.Config.Agent.AllowedGroup); group != "" && uid != 0 {
		if err := member(u, uerr, group); err != nil {
			s.logf("denied %s (uid %d): %v", name, uid, err)
			return 0, "", denied(fmt.Sprintf("%s may not use the devbox-quadlet agent on this host: only members of the group %q may ([agent] allowed_group): %v; ask an admin to add you", name, group, err))
		}
	}
	return uid, name, nil
}

// member checks that u (looked up with error uerr) is in group, by its
// primary group or the group file. It fails closed: an unknown user or
// group is no member.
func member(u *user.User, uerr error, group string) error {
	if uerr != nil {
		return fmt.Errorf("the user is unknown to this host (%v)", uerr)
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return fmt.Errorf("the group does not exist (%v)", err)
	}
	gids, err := u.GroupIds()
	if err != nil {
		return fmt.Errorf("cannot list the user's groups (%v)", err)
	}
	if u.Gid == g.Gid || slices.Contains(gids, g.Gid) {
		return nil
	}
	return errors.New("not a member")
}

func (s *Server) logf(format string, args ...any) {
	fmt.Fprintf(s.Log, format+"\n", args...)
}

// load reads the ledger and tidies it at now against the cgroups
// (policy.Tidy), logging what that changed. The caller holds s.mu, and
// saves the ledger if dirty even when it changes nothing itself.
func (s *Server) load(now time.Time) (l policy.Ledger, observed map[string]bool, dirty bool, err error) {
	l, err = s.Store.Load()
	if err != nil {
		return l, nil, false, errdefs.Mark(errdefs.System, err)
	}
	observed = Observe(s.CgroupRoot, l.Entries)
	changes := policy.Tidy(now, l, observed, s.Limits)
	for _, c := range changes {
		s.logf("%q of %s (uid %d): %s", c.Entry.Name, c.Entry.User, c.Entry.UID, c.What)
	}
	return l, observed, len(changes) > 0, nil
}

func (s *Server) save(l policy.Ledger) error {
	if err := s.Store.Save(l); err != nil {
		return errdefs.Mark(errdefs.System, err)
	}
	return nil
}

// Reserve admits a create (create=true) or a start of the caller's container
// name, reserving cpus (thousandths of a CPU) and memory (bytes).
func (s *Server) Reserve(sender dbus.Sender, name string, create bool, milliCPUs uint32, memory uint64) *dbus.Error {
	uid, login, derr := s.caller(sender)
	if derr != nil {
		return derr
	}
	if err := policy.ValidateName(name); err != nil {
		return toDBus(err)
	}
	if memory > math.MaxInt64 {
		return toDBus(errdefs.Errorf(errdefs.Usage, "memory %d out of range", memory))
	}
	req := policy.Request{Create: create, Name: name, UID: uid, User: login, CPUs: float64(milliCPUs) / 1000, Memory: int64(memory)}
	wait, err := s.reserve(req)
	if wait > 0 && s.startWait(uid) {
		time.Sleep(wait)
		s.endWait(uid)
		_, err = s.reserve(req)
	}
	return toDBus(err)
}

// reserve decides req once. A refusal by a duty cycle that ends within
// BlockWait comes with the time to wait.
func (s *Server) reserve(req policy.Request) (time.Duration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.Now()
	ledger, observed, dirty, err := s.load(now)
	if err != nil {
		return 0, err
	}
	e, err := policy.Admit(now, ledger, observed, req, s.Limits)
	if err != nil {
		s.logf("refused %s of %q for %s (uid %d): %v", verb(req.Create), req.Name, req.User, req.UID, err)
		if dirty {
			_ = s.save(ledger)
		}
		var b *policy.Blocked
		if errors.As(err, &b) && b.Until.Sub(now) <= s.BlockWait {
			return b.Until.Sub(now) + 10*time.Millisecond, err
		}
		return 0, err
	}
	ledger.Entries[req.Name] = e
	if err := s.save(ledger); err != nil {
		return 0, err
	}
	s.logf("admitted %s of %q for %s (uid %d), reserved until it runs or until %s", verb(req.Create), req.Name, req.User, req.UID,
		e.Reserved.Add(s.Limits.InFlightOrDefault()).UTC().Format(time.RFC3339))
	return 0, nil
}

// startWait lets one Reserve per uid sit out a wait at a time, so a caller
// cannot park any number of them in the agent.
func (s *Server) startWait(uid uint32) bool {
	s.waitMu.Lock()
	defer s.waitMu.Unlock()
	if s.waiting == nil {
		s.waiting = map[uint32]bool{}
	}
	if s.waiting[uid] {
		return false
	}
	s.waiting[uid] = true
	return true
}

func (s *Server) endWait(uid uint32) {
	s.waitMu.Lock()
	defer s.waitMu.Unlock()
	delete(s.waiting, uid)
}

func verb(create bool) string {
	if create {
		return "create"
	}
	return "start"
}

// Stop ends the caller's reservation of name (stop, a failed start, the
// end of create --no-start). An entry never confirmed and never seen
// running is dropped with it.
func (s *Server) Stop(sender dbus.Sender, name string) *dbus.Error {
	return s.change(sender, name, "stop", false, func(now time.Time, l policy.Ledger) string {
		if policy.Stop(now, l, name) {
			return " (dropped: never confirmed and never seen running)"
		}
		return ""
	})
}

// Release forgets the caller's container name (destroy, or a failed create).
func (s *Server) Release(sender dbus.Sender, name string) *dbus.Error {
	return s.change(sender, name, "release", false, func(now time.Time, l policy.Ledger) string {
		policy.Release(now, l, name)
		return ""
	})
}

// Confirm records that the caller's CLI has written the quadlet files of
// name: the entry then outlives its reservation (create --no-start).
func (s *Server) Confirm(sender dbus.Sender, name string) *dbus.Error {
	return s.change(sender, name, "confirm", true, func(now time.Time, l policy.Ledger) string {
		policy.Confirm(now, l, name)
		return ""
	})
}

// change applies one of the owner's changes to name. mustExist makes a
// name not in the ledger an error (not found) rather than a no-op.
func (s *Server) change(sender dbus.Sender, name, what string, mustExist bool, apply func(time.Time, policy.Ledger) string) *dbus.Error {
	uid, login, derr := s.caller(sender)
	if derr != nil {
		return derr
	}
	if err := policy.ValidateName(name); err != nil {
		return toDBus(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.Now()
	ledger, _, dirty, err := s.load(now)
	if err != nil {
		return toDBus(err)
	}
	e, ok := ledger.Entries[name]
	switch {
	case !ok && mustExist:
		if dirty {
			_ = s.save(ledger)
		}
		return toDBus(errdefs.Errorf(errdefs.NotFound, "no container %q of yours in the host ledger (a reservation nobody confirmed ends after %s)", name, s.Limits.InFlightOrDefault()))
	case !ok:
		if dirty {
			_ = s.save(ledger)
		}
		return nil // already gone: releasing twice is not an error
	case e.UID != uid:
		s.logf("denied %s of %q to %s (uid %d): owned by uid %d", what, name, login, uid, e.UID)
		return denied(fmt.Sprintf("container %q is not yours", name))
	}
	note := apply(now, ledger)
	if err := s.save(ledger); err != nil {
		return toDBus(err)
	}
	s.logf("%s of %q for %s (uid %d)%s", what, name, login, uid, note)
	return nil
}

// List returns the ledger as JSON: every entry for root and admins, only the
// caller's own otherwise. all=true from a non-admin is refused.
func (s *Server) List(sender dbus.Sender, all bool) (string, *dbus.Error) {
	uid, login, derr := s.caller(sender)
	if derr != nil {
		return "", derr
	}
	if all && !s.admin(uid, login) {
		s.logf("denied list --all to %s (uid %d): not an admin", login, uid)
		return "", denied(login + " is not an admin of this host; admins are marked admin = true under [users." + login + "] in the config")
	}
	s.mu.Lock()
	ledger, running, dirty, err := s.load(s.Now())
	if err == nil && dirty {
		err = s.save(ledger)
	}
	s.mu.Unlock()
	if err != nil {
		return "", toDBus(err)
	}
	out := agentproto.Listing{Schema: 1, All: all, Entries: []agentproto.ListingEntry{}}
	for _, e := range ledger.Entries {
		if all || e.UID == uid {
			out.Entries = append(out.Entries, listingEntry(e, running[e.Name]))
		}
	}
	sort.Slice(out.Entries, func(i, j int) bool { return out.Entries[i].Name < out.Entries[j].Name })
	data, _ := json.Marshal(out)
	return string(data), nil
}

// admin reports whether the caller may use the admin methods: root, or a
// user marked admin = true in the config.
func (s *Server) admin(uid uint32, login string) bool {
	return uid == 0 || s.Config.Users[login].Admin
}

// observe tidies the ledger every ObserveEvery until ctx ends, so a
// container that runs for a while between calls is seen running, and
// lapsed reservations end on time. A ledger that cannot be read is logged
// once per distinct error.
func (s *Server) observe(ctx context.Context) {
	every := s.ObserveEvery
	if every == 0 {
		every = DefaultObserveEvery
	}
	if every < 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	last := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		ledger, _, dirty, err := s.load(s.Now())
		if err == nil && dirty {
			err = s.save(ledger)
		}
		s.mu.Unlock()
		if msg := fmt.Sprint(err); err != nil && msg != last {
			s.logf("observe: %v", err)
			last = msg
		} else if err == nil {
			last = ""
		}
	}
}

const introspection = `<node>
  <interface name="` + agentproto.Interface + `">
    <method name="Reserve">
      <arg name="name" type="s" direction="in"/>
      <arg name="create" type="b" direction="in"/>
      <arg name="milli_cpus" type="u" direction="in"/>
      <arg name="memory" type="t" direction="in"/>
    </method>
    <method name="Stop"><arg name="name" type="s" direction="in"/></method>
    <method name="Release"><arg name="name" type="s" direction="in"/></method>
    <method name="Confirm"><arg name="name" type="s" direction="in"/></method>
    <method name="AuthKey">
      <arg name="name" type="s" direction="in"/>
      <arg name="pipe" type="h" direction="in"/>
    </method>
    <method name="ForgetDevice">
      <arg name="name" type="s" direction="in"/>
      <arg name="outcome" type="s" direction="out"/>
    </method>
    <method name="List">
      <arg name="all" type="b" direction="in"/>
      <arg name="ledger_json" type="s" direction="out"/>
    </method>
    <method name="Repair">
      <arg name="observed_json" type="s" direction="in"/>
      <arg name="dry_run" type="b" direction="in"/>
      <arg name="report_json" type="s" direction="out"/>
    </method>
  </interface>` + introspect.IntrospectDeclarationString + `</node>`

// Serve connects to the system bus, exports the agent, takes the well-known
// name and serves until ctx ends (nil) or the bus connection is lost (an
// error, so the process exits non-zero and systemd restarts it). The bus
// policy decides who may own the name.
func (s *Server) Serve(ctx context.Context) error {
	bc, err := dialBus(busAddress(s.BusAddress))
	if err != nil {
		return errdefs.Errorf(errdefs.System, "agent: connect to the system bus: %w", err)
	}
	conn, err := dbus.NewConn(bc, dbus.WithIncomingInterceptor(bc.intercept))
	if err == nil {
		if err = conn.Auth(nil); err == nil {
			err = conn.Hello()
		}
	}
	if err != nil {
		bc.Close()
		return errdefs.Errorf(errdefs.System, "agent: connect to the system bus: %w", err)
	}
	defer conn.Close()
	s.conn = conn
	if err := conn.Export(s, objectPath, agentproto.Interface); err != nil {
		return errdefs.Errorf(errdefs.System, "agent: export: %w", err)
	}
	if err := conn.Export(introspect.Introspectable(introspection), objectPath, "org.freedesktop.DBus.Introspectable"); err != nil {
		return errdefs.Errorf(errdefs.System, "agent: export: %w", err)
	}
	reply, err := conn.RequestName(agentproto.BusName, dbus.NameFlagDoNotQueue)
	if err != nil {
		return errdefs.Errorf(errdefs.System, "agent: own %s: %w", agentproto.BusName, err)
	}
	if reply != dbus.RequestNameReplyPrimaryOwner {
		return errdefs.Errorf(errdefs.System, "agent: %s is already owned", agentproto.BusName)
	}
	s.logf("serving %s at %s (ledger %s, global cap %d, %.2f CPUs, %d MiB)", agentproto.BusName, agentproto.ObjectPath, s.Store.Path, s.Limits.MaxGlobal, s.Limits.CPUs, s.Limits.Memory>>20)
	octx, stop := context.WithCancel(ctx)
	defer stop()
	go s.observe(octx)
	select {
	case <-ctx.Done():
		return nil
	case <-conn.Context().Done():
		return errdefs.Errorf(errdefs.System, "agent: lost the connection to the system bus")
	}
}
