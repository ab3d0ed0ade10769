# guest-demo.sh runs inside the VM as root: it builds a tiny local image for
# alice and walks through create, list, stop, start and destroy, showing what
# systemd and podman say after each step.
. /share/guest-common.sh
set -u
wait_user_manager alice
install_agent
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
show() { step "$*"; as alice "$@" 2>&1; echo "(exit $?)"; }

echo "guest: $(systemctl --version | head -n1), $(podman --version), user alice (uid 1000)"
import_payload_image alice localhost/devbox:latest
printf '[container]\nimage = "localhost/devbox:latest"\n' >/tmp/demo.toml
chmod 644 /tmp/demo.toml
export DEVBOX_QUADLET_CONFIG=/tmp/demo.toml
dq=/share/bin/devbox-quadlet

show $dq create demo --cpus 1 --memory 1G
show systemctl --user status --no-pager --lines 3 devbox-demo.service
show podman ps --format '{{.Names}}  {{.Status}}  {{.Image}}'
show podman secret ls --format '{{.Name}}'
show podman exec devbox-demo ls -l /run/secrets/tailscale-authkey
show $dq list
show systemctl --user list-timers --all --no-pager devbox-quadlet-reap.timer
show $dq reap --dry-run
show $dq stop demo
show $dq list
show $dq start demo
show $dq list --json
show $dq destroy --yes demo
show podman ps -a --format '{{.Names}}'
show podman volume ls --format '{{.Name}}'
show podman secret ls --format '{{.Name}}'
show systemctl --user list-units --all --no-legend 'devbox-*'
echo
echo "demo finished"
