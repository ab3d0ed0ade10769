package agent

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/devbox-quadlet/devbox-quadlet/internal/policy"
)

// Observe reports which ledger entries are running, from the cgroup tree:
// a container runs while its unit's cgroup under the owner's user manager
// (user@UID.service/app.slice/devbox-NAME.service) is populated. The cgroup
// tree is kept by the kernel and systemd, so this is the truth whatever the
// user did: `systemctl --user stop`, `podman kill`, a crash or a reboot. The
// subtree is delegated to the user, who could move processes out of it and
// so hide a running container; that only evades the cap with effort, and is
// written down in docs/agent.md.
func Observe(cgroupRoot string, ledger map[string]policy.Entry) map[string]bool {
	running := map[string]bool{}
	for name, e := range ledger {
		uid := strconv.FormatUint(uint64(e.UID), 10)
		p := filepath.Join(cgroupRoot, "user.slice", "user-"+uid+".slice", "user@"+uid+".service", "app.slice",
			"devbox-"+name+".service", "cgroup.events")
		data, err := os.ReadFile(p)
		running[name] = err == nil && strings.Contains(string(data), "populated 1")
	}
	return running
}
