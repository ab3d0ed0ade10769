package agent

import (
	"context"
	"encoding/json"
	"math"
	"slices"

	"github.com/godbus/dbus/v5"

	"github.com/devbox-quadlet/devbox-quadlet/internal/errdefs"
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
	if err == nil {
		if err = conn.Auth(nil); err == nil {
			err = conn.Hello()
		}
		if err != nil {
			conn.Close()
		}
	}
	if err != nil {
		return nil, errdefs.Errorf(errdefs.AgentMissing, "connect to the system bus: %w", err)
	}
	return &Client{conn: conn, obj: conn.Object(BusName, ObjectPath)}, nil
}

// Close closes the connection.
func (c *Client) Close() { c.conn.Close() }

// Available reports whether the agent runs or can be started by D-Bus activation.
func (c *Client) Available(ctx context.Context) bool {
	var has bool
	if c.conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", 0, BusName).Store(&has) == nil && has {
		return true
	}
	var names []string
	if c.conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.ListActivatableNames", 0).Store(&names) == nil {
		return slices.Contains(names, BusName)
	}
	return false
}

// Reserve asks for admission of a create or a start.
func (c *Client) Reserve(ctx context.Context, name string, create bool, cpus float64, memory int64) error {
	milli := uint32(math.Round(cpus * 1000))
	if err := c.obj.CallWithContext(ctx, Interface+".Reserve", 0, name, create, milli, uint64(memory)).Err; err != nil {
		return fromDBus("reserve "+name, err)
	}
	return nil
}

// Stop ends a running reservation.
func (c *Client) Stop(ctx context.Context, name string) error {
	if err := c.obj.CallWithContext(ctx, Interface+".Stop", 0, name).Err; err != nil {
		return fromDBus("stop "+name, err)
	}
	return nil
}

// Release forgets a container.
func (c *Client) Release(ctx context.Context, name string) error {
	if err := c.obj.CallWithContext(ctx, Interface+".Release", 0, name).Err; err != nil {
		return fromDBus("release "+name, err)
	}
	return nil
}

// Confirm tells the agent that the quadlet files of name now exist, so its
// entry outlives its reservation (create --no-start). A name the agent no
// longer holds is errdefs.NotFound.
func (c *Client) Confirm(ctx context.Context, name string) error {
	if err := c.obj.CallWithContext(ctx, Interface+".Confirm", 0, name).Err; err != nil {
		return fromDBus("confirm "+name, err)
	}
	return nil
}

// List returns the ledger as the caller may see it.
func (c *Client) List(ctx context.Context, all bool) (Listing, error) {
	var data string
	if err := c.obj.CallWithContext(ctx, Interface+".List", 0, all).Store(&data); err != nil {
		return Listing{}, fromDBus("list", err)
	}
	var l Listing
	if err := json.Unmarshal([]byte(data), &l); err != nil {
		return Listing{}, errdefs.Errorf(errdefs.System, "list: bad reply from the host agent: %w", err)
	}
	return l, nil
}
