# guest-demo.sh runs inside the VM as root: with a real tailnet (headscale as
# the control server, a second tailscaled as alice's laptop) and the real
# devbox image loaded for alice, it walks through create, list, a Tailscale
# SSH login from the laptop, stop, start and destroy, showing what systemd,
# podman and the control server say after each step.
. /share/guest-common.sh
set -u
wait_user_manager alice
install_host
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
show() { step "$*"; as alice "$@" 2>&1; echo "(exit $?)"; }
showroot() { step "$*"; NO_COLOR=1 "$@" 2>&1; echo "(exit $?)"; }

echo "guest: $(systemctl --version | head -n1), $(podman --version), user alice (uid 1000)"
setup_tailnet || { echo "demo: the tailnet did not come up"; exit 1; }
load_devbox_image alice || { echo "demo: the devbox image could not be loaded"; exit 1; }
# The host config: the built-in default image, the test bed's control server.
cat >>/etc/devbox-quadlet/config.toml <<'CONF'

[container]
cpus = 1
memory = "1G"

[tailnet]
login_server = "http://10.99.0.1:8080"
CONF
systemctl try-restart devbox-quadlet-agent.service
dq=/share/bin/devbox-quadlet

show $dq create demo
show systemctl --user status --no-pager --lines 5 devbox-demo.service
show podman ps --format '{{.Names}}  {{.Status}}  {{.Image}}'
showroot headscale nodes list
show $dq list
step "tailscale ssh dev@demo -- 'id; uname -n; ls -A ~'   (from alice's laptop, over the tailnet)"
laptop_ts ssh dev@demo -- 'id; uname -n; ls -A ~' 2>&1
echo "(exit $?)"
step "tailscale nc demo 8080   (code-server's login page, over the tailnet)"
{ printf 'GET /login HTTP/1.0\r\nHost: demo\r\n\r\n'; sleep 10; } | laptop_ts nc demo 8080 2>&1 | grep -o '<title>[^<]*</title>' | head -n1
show $dq reap --dry-run
show $dq stop demo
show $dq list
show $dq start demo
show $dq status demo
show $dq destroy --yes demo
show podman ps -a --format '{{.Names}}'
show podman volume ls --format '{{.Name}}'
show podman secret ls --format '{{.Name}}'
showroot headscale nodes list
echo
echo "demo finished"
