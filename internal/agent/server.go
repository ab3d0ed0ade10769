package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os/user"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"

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
	Now     func() time.Time
	Log     io.Writer
	// BusAddress is the bus to serve on ($DBUS_SYSTEM_BUS_ADDRESS); empty
	// means the system bus's usual socket. Tests use a private bus daemon.
	BusAddress string
}

// Listing is the List reply: the ledger as the caller may see it, with
// what is observed running. Fields may be added, never renamed.
type Listing struct {
	Schema  int            `json:"schema"`
	All     bool           `json:"all"`
	Entries []ListingEntry `json:"entries"`
}

// ListingEntry is one ledger entry in a Listing.
type ListingEntry struct {
	policy.Entry
	Running bool `json:"running"`
}

// caller returns the unix uid and login name of the method's sender.
func (s *Server) caller(sender dbus.Sender) (uint32, string, *dbus.Error) {
	var uid uint32
	if err := s.conn.BusObject().Call("org.freedesktop.DBus.GetConnectionUnixUser", 0, string(sender)).Store(&uid); err != nil {
		return 0, "", dbus.NewError(Denied, []any{"cannot tell who is calling: " + err.Error()})
	}
	name := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	return uid, name, nil
}

func (s *Server) logf(format string, args ...any) {
	fmt.Fprintf(s.Log, format+"\n", args...)
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
	s.mu.Lock()
	defer s.mu.Unlock()
	ledger, err := s.Store.Load()
	if err != nil {
		return toDBus(errdefs.Mark(errdefs.System, err))
	}
	req := policy.Request{Create: create, Name: name, UID: uid, User: login, CPUs: float64(milliCPUs) / 1000, Memory: int64(memory)}
	observed := Observe(s.CgroupRoot, ledger)
	settled := policy.Settle(ledger, observed)
	e, err := policy.Admit(s.Now(), ledger, observed, req, s.Limits)
	if err != nil {
		s.logf("refused %s of %q for %s (uid %d): %v", verb(create), name, login, uid, err)
		if settled {
			_ = s.Store.Save(ledger)
		}
		return toDBus(err)
	}
	ledger[name] = e
	if err := s.Store.Save(ledger); err != nil {
		return toDBus(errdefs.Mark(errdefs.System, err))
	}
	s.logf("admitted %s of %q for %s (uid %d)", verb(create), name, login, uid)
	return nil
}

func verb(create bool) string {
	if create {
		return "create"
	}
	return "start"
}

// Stop ends the caller's running reservation of name (stop, or a failed start).
func (s *Server) Stop(sender dbus.Sender, name string) *dbus.Error {
	return s.change(sender, name, "stop", func(ledger map[string]policy.Entry, e policy.Entry) {
		e.Reserved = time.Time{}
		ledger[name] = e
	})
}

// Release forgets the caller's container name (destroy, or a failed create).
func (s *Server) Release(sender dbus.Sender, name string) *dbus.Error {
	return s.change(sender, name, "release", func(ledger map[string]policy.Entry, _ policy.Entry) {
		delete(ledger, name)
	})
}

func (s *Server) change(sender dbus.Sender, name, what string, apply func(map[string]policy.Entry, policy.Entry)) *dbus.Error {
	uid, login, derr := s.caller(sender)
	if derr != nil {
		return derr
	}
	if err := policy.ValidateName(name); err != nil {
		return toDBus(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ledger, err := s.Store.Load()
	if err != nil {
		return toDBus(errdefs.Mark(errdefs.System, err))
	}
	e, ok := ledger[name]
	if !ok {
		return nil // already gone: releasing twice is not an error
	}
	if e.UID != uid {
		s.logf("denied %s of %q to %s (uid %d): owned by uid %d", what, name, login, uid, e.UID)
		return dbus.NewError(Denied, []any{fmt.Sprintf("container %q is not yours", name)})
	}
	apply(ledger, e)
	if err := s.Store.Save(ledger); err != nil {
		return toDBus(errdefs.Mark(errdefs.System, err))
	}
	s.logf("%s of %q for %s (uid %d)", what, name, login, uid)
	return nil
}

// List returns the ledger as JSON: every entry for root and admins, only the
// caller's own otherwise. all=true from a non-admin is refused.
func (s *Server) List(sender dbus.Sender, all bool) (string, *dbus.Error) {
	uid, login, derr := s.caller(sender)
	if derr != nil {
		return "", derr
	}
	admin := uid == 0 || s.Config.Users[login].Admin
	if all && !admin {
		s.logf("denied list --all to %s (uid %d): not an admin", login, uid)
		return "", dbus.NewError(Denied, []any{login + " is not an admin of this host; admins are marked admin = true under [users." + login + "] in the config"})
	}
	s.mu.Lock()
	ledger, err := s.Store.Load()
	s.mu.Unlock()
	if err != nil {
		return "", toDBus(errdefs.Mark(errdefs.System, err))
	}
	running := Observe(s.CgroupRoot, ledger)
	out := Listing{Schema: 1, All: all, Entries: []ListingEntry{}}
	for _, e := range ledger {
		if all || e.UID == uid {
			out.Entries = append(out.Entries, ListingEntry{Entry: e, Running: running[e.Name]})
		}
	}
	sort.Slice(out.Entries, func(i, j int) bool { return out.Entries[i].Name < out.Entries[j].Name })
	data, _ := json.Marshal(out)
	return string(data), nil
}

const introspection = `<node>
  <interface name="` + Interface + `">
    <method name="Reserve">
      <arg name="name" type="s" direction="in"/>
      <arg name="create" type="b" direction="in"/>
      <arg name="milli_cpus" type="u" direction="in"/>
      <arg name="memory" type="t" direction="in"/>
    </method>
    <method name="Stop"><arg name="name" type="s" direction="in"/></method>
    <method name="Release"><arg name="name" type="s" direction="in"/></method>
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
	if err := conn.Export(s, ObjectPath, Interface); err != nil {
		return errdefs.Errorf(errdefs.System, "agent: export: %w", err)
	}
	if err := conn.Export(introspect.Introspectable(introspection), ObjectPath, "org.freedesktop.DBus.Introspectable"); err != nil {
		return errdefs.Errorf(errdefs.System, "agent: export: %w", err)
	}
	reply, err := conn.RequestName(BusName, dbus.NameFlagDoNotQueue)
	if err != nil {
		return errdefs.Errorf(errdefs.System, "agent: own %s: %w", BusName, err)
	}
	if reply != dbus.RequestNameReplyPrimaryOwner {
		return errdefs.Errorf(errdefs.System, "agent: %s is already owned", BusName)
	}
	s.logf("serving %s at %s (ledger %s, global cap %d, %.2f CPUs, %d MiB)", BusName, ObjectPath, s.Store.Path, s.Limits.MaxGlobal, s.Limits.CPUs, s.Limits.Memory>>20)
	select {
	case <-ctx.Done():
		return nil
	case <-conn.Context().Done():
		return errdefs.Errorf(errdefs.System, "agent: lost the connection to the system bus")
	}
}
