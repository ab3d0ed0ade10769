package reaper

import (
	"fmt"
	"strings"
	"time"
)

// Unit names of the reaper's user timer and the service it runs.
const (
	TimerUnit   = "devbox-quadlet-reap.timer"
	ServiceUnit = "devbox-quadlet-reap.service"
)

// UnitFile is one rendered systemd unit file.
type UnitFile struct {
	Name    string
	Content []byte
}

// RenderTimer returns the reaper's service and timer for a user manager.
// exe is the devbox-quadlet binary; configPath, if set, is passed on so the
// sweep reads the same config as the create that installed it.
//
// The timer uses OnStartupSec= and OnUnitActiveSec= rather than
// OnCalendar=+Persistent=: the interval may be seconds (tests) or hours,
// and a sweep shortly after the user manager starts catches up after a
// reboot, which is what Persistent= would give. The clocks themselves live
// in the state files, so a missed sweep loses nothing.
func RenderTimer(exe, configPath string, interval time.Duration) ([]UnitFile, error) {
	for _, v := range []string{exe, configPath} {
		if strings.ContainsAny(v, " \t\r\n\x00\\\"'%") {
			return nil, fmt.Errorf("reaper timer: %q cannot be written into a unit file", v)
		}
	}
	if !strings.HasPrefix(exe, "/") {
		return nil, fmt.Errorf("reaper timer: the binary path %q is not absolute", exe)
	}
	if interval < time.Second {
		return nil, fmt.Errorf("reaper timer: sweep interval %s is below one second", interval)
	}
	secs := int64(interval / time.Second)
	accuracy := "1min"
	if interval < 10*time.Minute {
		accuracy = "1s"
	}
	env := ""
	if configPath != "" {
		env = "Environment=DEVBOX_QUADLET_CONFIG=" + configPath + "\n"
	}
	service := "# Installed by devbox-quadlet create. See docs/reaper.md.\n" +
		"[Unit]\n" +
		"Description=devbox-quadlet reaper: stop and destroy idle dev containers\n" +
		"Documentation=https://github.com/devbox-quadlet/devbox-quadlet/blob/main/docs/reaper.md\n\n" +
		"[Service]\n" +
		"Type=oneshot\n" +
		env +
		"ExecStart=" + exe + " reap\n"
	timer := "# Installed by devbox-quadlet create. See docs/reaper.md.\n" +
		"[Unit]\n" +
		"Description=devbox-quadlet reaper sweep\n\n" +
		"[Timer]\n" +
		"OnStartupSec=" + fmt.Sprint(min(secs, 60)) + "s\n" +
		"OnUnitActiveSec=" + fmt.Sprint(secs) + "s\n" +
		"AccuracySec=" + accuracy + "\n\n" +
		"[Install]\n" +
		"WantedBy=timers.target\n"
	return []UnitFile{{ServiceUnit, []byte(service)}, {TimerUnit, []byte(timer)}}, nil
}
