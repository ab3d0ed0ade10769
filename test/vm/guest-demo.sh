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
# A busybox image whose entrypoint traps SIGTERM, imported without a registry.
mkdir -p /tmp/img/root/bin /tmp/img/root/home/dev /tmp/img/root/tmp
cp /bin/busybox /tmp/img/root/bin/
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "/tmp/img/root/bin/$a"; done
printf '#!/bin/sh\necho "demo payload up on $(hostname)"\ntrap "exit 0" TERM\nwhile :; do sleep 1 & wait $!; done\n' >/tmp/img/root/entrypoint
chmod 755 /tmp/img/root/entrypoint
# The tailnet cannot be reached from the VM: a stand-in tailscale, so destroy's
# logout has something to run.
printf '#!/bin/sh\necho "tailscale (stand-in): $*"\n' >/tmp/img/root/bin/tailscale
chmod 755 /tmp/img/root/bin/tailscale
tar -C /tmp/img/root -cf /tmp/img/root.tar .
chmod 644 /tmp/img/root.tar
as alice podman import --change 'CMD ["/entrypoint"]' /tmp/img/root.tar localhost/devbox:latest >/dev/null
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
show $dq stop demo
show $dq list
show $dq start demo
show $dq list --json
show $dq destroy demo
show podman ps -a --format '{{.Names}}'
show podman volume ls --format '{{.Name}}'
show podman secret ls --format '{{.Name}}'
show systemctl --user list-units --all --no-legend 'devbox-*'
echo
echo "demo finished"
