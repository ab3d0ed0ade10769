package agentclient

import (
	"context"
	"fmt"
	"slices"

	"github.com/godbus/dbus/v5"

	"github.com/devbox-quadlet/devbox-quadlet/internal/agentproto"
)

// busView reads the agent's state from the system bus: the bus daemon for
// its name, the system manager for its unit. Any user may read a unit's
// properties (systemd's bus policy allows Properties.Get to everyone), and
// reading a unit by its object path loads it if need be, so a unit that
// is not installed reads as LoadState "not-found".
type busView struct {
	conn *dbus.Conn
}

func (v busView) HasOwner(ctx context.Context) (bool, error) {
	var has bool
	err := v.conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", 0, agentproto.BusName).Store(&has)
	return has, err
}

func (v busView) Activatable(ctx context.Context) (bool, error) {
	var names []string
	if err := v.conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.ListActivatableNames", 0).Store(&names); err != nil {
		return false, err
	}
	return slices.Contains(names, agentproto.BusName), nil
}

func (v busView) Activate(ctx context.Context) error {
	var reply uint32
	return v.conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.StartServiceByName", 0, agentproto.BusName, uint32(0)).Store(&reply)
}

// Unit reads five properties, one call each: GetAll of the Service
// interface would carry some two hundred.
func (v busView) Unit(ctx context.Context) (UnitState, error) {
	obj := v.conn.Object("org.freedesktop.systemd1", unitPath(UnitName))
	var u UnitState
	for _, p := range []struct {
		iface, name string
		out         any
	}{
		{"org.freedesktop.systemd1.Unit", "LoadState", &u.LoadState},
		{"org.freedesktop.systemd1.Unit", "ActiveState", &u.ActiveState},
		{"org.freedesktop.systemd1.Unit", "SubState", &u.SubState},
		{"org.freedesktop.systemd1.Service", "Result", &u.Result},
		{"org.freedesktop.systemd1.Service", "NRestarts", &u.NRestarts},
	} {
		var val dbus.Variant
		err := obj.CallWithContext(ctx, "org.freedesktop.DBus.Properties.Get", 0, p.iface, p.name).Store(&val)
		if err == nil {
			err = val.Store(p.out)
		}
		if err != nil {
			if p.iface == "org.freedesktop.systemd1.Service" && u.LoadState != "loaded" {
				// A unit that is not loaded may have no service part.
				break
			}
			return UnitState{}, fmt.Errorf("read %s of %s: %w", p.name, UnitName, err)
		}
	}
	return u, nil
}

// unitPath is the unit's object path: systemd escapes every byte of the
// name that is not a letter or digit as _XX (go-systemd's PathBusEscape).
func unitPath(name string) dbus.ObjectPath {
	b := []byte("/org/freedesktop/systemd1/unit/")
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b = append(b, c)
		} else {
			b = append(b, fmt.Sprintf("_%02x", c)...)
		}
	}
	return dbus.ObjectPath(b)
}
