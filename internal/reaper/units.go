package reaper

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/unit"
)

// Unit names of the reaper's user timer and the service it runs.
const (
	TimerUnit   = "devbox-quadlet-reap.timer"
	ServiceUnit = "devbox-quadlet-reap.service"
)

// PackagedInterval is the sweep interval of the timer `make install` ships
// (contrib/systemd/user, rendered by RenderTimer): the default of
// [reaper] sweep_interval. A config that differs gets a drop-in.
const PackagedInterval = time.Hour

// DropInName is the one drop-in file create owns in each of the reaper
// units' .d directories, next to a packaged timer and service.
const DropInName = "50-devbox-quadlet.conf"

// UnitFile is one rendered systemd unit file. Name is relative to the unit
// directory, and may name a drop-in ("X.timer.d/50-….conf"); a nil Content
// means the file must not exist.
type UnitFile struct {
	Name    string
	Content []byte
}

// RenderTimer returns the reaper's service and timer for a user manager.
// exe is the devbox-quadlet binary; configPath, if set, is passed on so the
// sweep reads the same config as the create that installed it.
//
// The same function renders the units `make install` ships (with
// exe "@BINDIR@/devbox-quadlet", no config path and PackagedInterval; a
// test keeps contrib/ equal to it) and the per-user fallback that create
// writes when no packaged timer is installed.
//
// The timer uses OnStartupSec= and OnUnitActiveSec= rather than
// OnCalendar=+Persistent=: the interval may be seconds (tests) or hours,
// and a sweep shortly after the user manager starts catches up after a
// reboot, which is what Persistent= would give. The clocks themselves live
// in the state files, so a missed sweep loses nothing.
func RenderTimer(exe, configPath string, interval time.Duration) ([]UnitFile, error) {
	if err := checkUnitValues(exe, configPath); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(exe, "/") && !strings.HasPrefix(exe, "@BINDIR@/") {
		return nil, fmt.Errorf("reaper timer: the binary path %q is not absolute", exe)
	}
	if err := checkInterval(interval); err != nil {
		return nil, err
	}
	service := []*unit.UnitOption{
		unit.NewUnitOption("Unit", "Description", "devbox-quadlet reaper: stop and destroy idle dev containers"),
		unit.NewUnitOption("Unit", "Documentation", "https://github.com/devbox-quadlet/devbox-quadlet/blob/main/docs/reaper.md"),
		unit.NewUnitOption("Service", "Type", "oneshot"),
	}
	service = append(service, configEnv(configPath)...)
	service = append(service, unit.NewUnitOption("Service", "ExecStart", exe+" reap"))
	timer := []*unit.UnitOption{unit.NewUnitOption("Unit", "Description", "devbox-quadlet reaper sweep")}
	timer = append(timer, timerOptions(interval)...)
	timer = append(timer, unit.NewUnitOption("Install", "WantedBy", "timers.target"))
	return []UnitFile{
		{ServiceUnit, serialize("# The devbox-quadlet reaper, one sweep of the user's containers. See docs/reaper.md.", service)},
		{TimerUnit, serialize("# The devbox-quadlet reaper's timer, for every user. See docs/reaper.md.", timer)},
	}, nil
}

// RenderDropIns returns the drop-ins that adapt the packaged units to a
// config: the sweep interval, if it is not PackagedInterval, and the config
// file, if create was given one. A drop-in that is not needed comes back
// with nil Content, so a stale one is removed.
func RenderDropIns(configPath string, interval time.Duration) ([]UnitFile, error) {
	if err := checkUnitValues(configPath); err != nil {
		return nil, err
	}
	if err := checkInterval(interval); err != nil {
		return nil, err
	}
	const header = "# Written by devbox-quadlet create from the config it used; rewritten by\n# the next create. See docs/reaper.md."
	service := UnitFile{Name: ServiceUnit + ".d/" + DropInName}
	if configPath != "" {
		service.Content = serialize(header, configEnv(configPath))
	}
	timer := UnitFile{Name: TimerUnit + ".d/" + DropInName}
	if interval != PackagedInterval {
		// An empty assignment clears the packaged value: timers add up
		// their triggers otherwise.
		opts := []*unit.UnitOption{unit.NewUnitOption("Timer", "OnStartupSec", ""), unit.NewUnitOption("Timer", "OnUnitActiveSec", "")}
		timer.Content = serialize(header, append(opts, timerOptions(interval)...))
	}
	return []UnitFile{service, timer}, nil
}

// serialize writes options with go-systemd's serialiser, as the quadlet
// files are, under a comment header. Every value was checked by
// checkUnitValues first: the serialiser does not escape.
func serialize(header string, opts []*unit.UnitOption) []byte {
	body, _ := io.ReadAll(unit.Serialize(opts))
	return append([]byte(header+"\n"), body...)
}

func checkUnitValues(values ...string) error {
	for _, v := range values {
		if strings.ContainsAny(v, " \t\r\n\x00\\\"'%") {
			return fmt.Errorf("reaper timer: %q cannot be written into a unit file", v)
		}
	}
	return nil
}

func checkInterval(interval time.Duration) error {
	if interval < time.Second {
		return fmt.Errorf("reaper timer: sweep interval %s is below one second", interval)
	}
	return nil
}

func configEnv(configPath string) []*unit.UnitOption {
	if configPath == "" {
		return nil
	}
	return []*unit.UnitOption{unit.NewUnitOption("Service", "Environment", "DEVBOX_QUADLET_CONFIG="+configPath)}
}

func timerOptions(interval time.Duration) []*unit.UnitOption {
	secs := int64(interval / time.Second)
	accuracy := "1min"
	if interval < 10*time.Minute {
		accuracy = "1s"
	}
	return []*unit.UnitOption{
		unit.NewUnitOption("Timer", "OnStartupSec", fmt.Sprint(min(secs, 60))+"s"),
		unit.NewUnitOption("Timer", "OnUnitActiveSec", fmt.Sprint(secs)+"s"),
		unit.NewUnitOption("Timer", "AccuracySec", accuracy),
	}
}
