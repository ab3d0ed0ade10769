// Package agentclient calls the host agent over the system bus for the CLI.
// It links the protocol (internal/agentproto) and godbus, not the agent's
// server, so the CLI carries none of the agent's backends.
package agentclient

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"slices"

	"github.com/godbus/dbus/v5"

	"github.com/devbox-quadlet/devbox-quadlet/internal/agentproto"
	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
	"github.com/devbox-quadlet/devbox-quadlet/internal/secrets"
)

// Client calls the agent over the system bus.
type Client struct {
	conn *dbus.Conn
	obj  dbus.BusObject
}

// Dial connects to the system bus ($DBUS_SYSTEM_BUS_ADDRESS or the default
// socket). It does not check that the agent is there; see Available.
func Dial(ctx context.Context) (*Client, error) {
	conn, err := dbus.SystemBusPrivate(dbus.WithContext(ctx))
	if err != nil {
		return nil, errdefs.Errorf(errdefs.AgentMissing, "connect to the system bus: %w", err)
	}
	return start(conn)
}

// DialAddress connects to the bus at address, as Dial does to the system
// bus: for tests and tools that run their own bus.
func DialAddress(ctx context.Context, address string) (*Client, error) {
	conn, err := dbus.Dial(address, dbus.WithContext(ctx))
	if err != nil {
		return nil, errdefs.Errorf(errdefs.AgentMissing, "connect to the bus %s: %w", address, err)
	}
	return start(conn)
}

// start authenticates a new connection and says hello to the bus.
func start(conn *dbus.Conn) (*Client, error) {
	err := conn.Auth(nil)
	if err == nil {
		err = conn.Hello()
	}
	if err != nil {
		conn.Close()
		return nil, errdefs.Errorf(errdefs.AgentMissing, "connect to the system bus: %w", err)
	}
	return &Client{conn: conn, obj: conn.Object(agentproto.BusName, agentproto.ObjectPath)}, nil
}

// Close closes the connection.
func (c *Client) Close() { c.conn.Close() }

// Available reports whether the agent runs or can be started by D-Bus activation.
func (c *Client) Available(ctx context.Context) bool {
	var has bool
	if c.conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", 0, agentproto.BusName).Store(&has) == nil && has {
		return true
	}
	var names []string
	if c.conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.ListActivatableNames", 0).Store(&names) == nil {
		return slices.Contains(names, agentproto.BusName)
	}
	return false
}

// call calls method with args and stores its reply values in out; op names
// the call in errors.
func (c *Client) call(ctx context.Context, op, method string, out []any, args ...any) error {
	call := c.obj.CallWithContext(ctx, agentproto.Member(method), 0, args...)
	if call.Err == nil && len(out) > 0 {
		call.Err = call.Store(out...)
	}
	if call.Err != nil {
		return decode(op, call.Err)
	}
	return nil
}

// decode turns the error of a call into a classed error: the agent's D-Bus
// errors by agentproto.DecodeError, anything that is no D-Bus error (the
// connection broke) into errdefs.AgentMissing.
func decode(op string, err error) error {
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
	return agentproto.DecodeError(op, de.Name, msg)
}

// Reserve asks for admission of a create or a start.
func (c *Client) Reserve(ctx context.Context, name string, create bool, cpus float64, memory int64) error {
	milli := uint32(math.Round(cpus * 1000))
	return c.call(ctx, "reserve "+name, agentproto.MethodReserve, nil, name, create, milli, uint64(memory))
}

// Stop ends a running reservation.
func (c *Client) Stop(ctx context.Context, name string) error {
	return c.call(ctx, "stop "+name, agentproto.MethodStop, nil, name)
}

// Release forgets a container.
func (c *Client) Release(ctx context.Context, name string) error {
	return c.call(ctx, "release "+name, agentproto.MethodRelease, nil, name)
}

// Confirm tells the agent that the quadlet files of name now exist, so its
// entry outlives its reservation (create --no-start). A name the agent no
// longer holds is errdefs.NotFound.
func (c *Client) Confirm(ctx context.Context, name string) error {
	return c.call(ctx, "confirm "+name, agentproto.MethodConfirm, nil, name)
}

// List returns the ledger as the caller may see it.
func (c *Client) List(ctx context.Context, all bool) (agentproto.Listing, error) {
	var data string
	if err := c.call(ctx, "list", agentproto.MethodList, []any{&data}, all); err != nil {
		return agentproto.Listing{}, err
	}
	var l agentproto.Listing
	if err := json.Unmarshal([]byte(data), &l); err != nil {
		return agentproto.Listing{}, errdefs.Errorf(errdefs.System, "list: bad reply from the host agent: %w", err)
	}
	return l, nil
}

// Repair asks the agent to check (dryRun) or repair its ledger against obs.
func (c *Client) Repair(ctx context.Context, obs agentproto.Observed, dryRun bool) (agentproto.RepairReport, error) {
	data, err := json.Marshal(obs)
	if err != nil {
		return agentproto.RepairReport{}, errdefs.Errorf(errdefs.System, "repair: %w", err)
	}
	var out string
	if err := c.call(ctx, "repair the ledger", agentproto.MethodRepair, []any{&out}, string(data), dryRun); err != nil {
		return agentproto.RepairReport{}, err
	}
	var r agentproto.RepairReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		return agentproto.RepairReport{}, errdefs.Errorf(errdefs.System, "repair: bad reply from the host agent: %w", err)
	}
	return r, nil
}

// AuthKey asks the agent for the caller's auth key. The agent writes it into
// a pipe made here; this end reads it after the call returns, so the key
// never travels inside a D-Bus message. A refusal for calling too often
// matches agentproto.ErrRateLimited.
func (c *Client) AuthKey(ctx context.Context, name string) (secrets.Key, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, errdefs.Errorf(errdefs.System, "auth key: %w", err)
	}
	defer r.Close()
	call := c.obj.CallWithContext(ctx, agentproto.Member(agentproto.MethodAuthKey), 0, name, dbus.UnixFD(w.Fd()))
	// Our write end must be closed before reading, or the read never sees EOF.
	w.Close()
	if call.Err != nil {
		return nil, decode("auth key for "+name, call.Err)
	}
	buf, err := io.ReadAll(io.LimitReader(r, secrets.MaxKeySize+2))
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, errdefs.Errorf(errdefs.Secret, "auth key: read the pipe: %v", err)
	}
	return secrets.Clean(buf, "the host agent")
}

// ForgetDevice asks the agent to delete name's device from the tailnet. A
// refusal for calling too often matches agentproto.ErrRateLimited.
func (c *Client) ForgetDevice(ctx context.Context, name string) (agentproto.ForgetOutcome, error) {
	var out string
	if err := c.call(ctx, "forget device "+name, agentproto.MethodForgetDevice, []any{&out}, name); err != nil {
		return agentproto.ForgetOutcome{}, err
	}
	return agentproto.ParseForgetOutcome(out)
}
