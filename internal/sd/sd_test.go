package sd

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestUserBusAddress(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"explicit", map[string]string{"DBUS_SESSION_BUS_ADDRESS": "unix:path=/x/bus", "XDG_RUNTIME_DIR": "/y"}, "unix:path=/x/bus"},
		{"runtime dir", map[string]string{"XDG_RUNTIME_DIR": "/run/user/1000"}, "unix:path=/run/user/1000/bus"},
		{"nothing set, as under runuser", nil, "unix:path=/run/user/1001/bus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := UserBusAddress(func(k string) string { return tt.env[k] }, 1001); got != tt.want {
				t.Errorf("UserBusAddress = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPayloadAlive(t *testing.T) {
	root := t.TempDir()
	unit := "/user.slice/user@1000.service/app.slice/devbox-x.service"
	mk := func(sub, events string) {
		d := filepath.Join(root, unit, sub)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "cgroup.events"), []byte(events), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if alive, err := PayloadAlive(root, unit); err != nil || alive {
		t.Errorf("missing cgroup: alive=%v err=%v", alive, err)
	}
	mk("runtime", "populated 1\nfrozen 0\n")
	mk("libpod-payload-abc", "populated 0\nfrozen 0\n")
	if alive, _ := PayloadAlive(root, unit); alive {
		t.Error("an empty payload cgroup (and a busy runtime cgroup) counted as alive")
	}
	mk("libpod-payload-def", "populated 1\nfrozen 0\n")
	if alive, _ := PayloadAlive(root, unit); !alive {
		t.Error("a populated payload cgroup did not count as alive")
	}
	if alive, _ := PayloadAlive(root, ""); alive {
		t.Error("no control group counted as alive")
	}
}

func TestUnitsInOrderFillsTheUnloaded(t *testing.T) {
	loaded := map[string]UnitState{
		"devbox-b.service": {Name: "devbox-b.service", LoadState: "loaded", ActiveState: "active", SubState: "running"},
		"devbox-c.service": {Name: "devbox-c.service", LoadState: "loaded", ActiveState: "failed", SubState: "failed"},
	}
	got := unitsInOrder([]string{"devbox-a.service", "devbox-b.service", "devbox-c.service"}, loaded)
	want := []UnitState{
		{Name: "devbox-a.service", ActiveState: "inactive", SubState: "dead"},
		loaded["devbox-b.service"],
		loaded["devbox-c.service"],
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("unitsInOrder = %+v\nwant %+v", got, want)
	}
}
