# guest-bench.sh runs inside the VM as root: it times devbox-quadlet's verbs
# and the bare systemd/podman operations they stand on, side by side in the
# same boot, and prints medians and the ratios of SPEC §5. Nothing here
# asserts a time; the numbers are for people to read.
. /share/guest-common.sh
set -u
wait_user_manager alice
install_host
. /share/bench.env
N=${DEVBOX_BENCH_N:-5}
dq=/share/bin/devbox-quadlet

# DEVBOX_BENCH_PART: "all" (default), "verbs" or "tailnet".
PART=${DEVBOX_BENCH_PART:-all}
failed=0
median() { sort -n "/tmp/$1" | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
r() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
if [ "$PART" != tailnet ]; then
import_payload_image alice localhost/devbox:latest
printf '[container]\nimage = "localhost/devbox:latest"\n\n[caps]\nmax_per_user = 60\n' >/tmp/bench.toml
chmod 644 /tmp/bench.toml
# The list timing needs 50 containers of one user: lift the agent's per-user
# cap too (the global cap of running containers stays 7).
sed -i 's/^max_per_user = .*/max_per_user = 60/' /etc/devbox-quadlet/config.toml
systemctl try-restart devbox-quadlet-agent.service

# A hand-written quadlet for the bare baseline: same image, same payload.
q=/home/alice/.config/containers/systemd
as alice mkdir -p "$q"
printf '[Container]\nImage=localhost/devbox:latest\nContainerName=bare\n' >"$q/bare.container"
chown alice: "$q/bare.container"

# t VAR CMD...: run CMD as alice and append its wall time in ms to /tmp/VAR.
t() {
	var=$1
	shift
	rc=0
	s=$(date +%s%N)
	as alice env DEVBOX_QUADLET_CONFIG=/tmp/bench.toml "$@" >/tmp/bench.out 2>&1 || rc=$?
	e=$(date +%s%N)
	if [ "$rc" -ne 0 ]; then
		echo "bench: $* failed (exit $rc):" >&2
		cat /tmp/bench.out >&2
		failed=1
	fi
	echo $(((e - s) / 1000000)) >>"/tmp/$var"
}

for i in $(seq 1 "$N"); do
	t reload systemctl --user daemon-reload
	t bare_start systemctl --user start bare.service
	t bare_stop systemctl --user stop bare.service
	t podman_run podman run -d --rm --name prun localhost/devbox:latest
	as alice podman rm -f -t 0 prun >/dev/null 2>&1
	t create $dq create "bench$i"
	t stop $dq stop "bench$i"
	t start $dq start "bench$i"
	t destroy $dq destroy --yes "bench$i"
done

# list with 50 containers, created without starting them.
for i in $(seq 1 50); do
	as alice env DEVBOX_QUADLET_CONFIG=/tmp/bench.toml $dq create --no-start "list$i" >/dev/null 2>&1 || { echo "bench: create list$i failed" >&2; failed=1; }
done
echo "bench: $(as alice env DEVBOX_QUADLET_CONFIG=/tmp/bench.toml $dq list 2>/dev/null | grep -c '^list') containers for the list timing"
for i in $(seq 1 "$N"); do
	t list_units systemctl --user list-units --all 'devbox-*'
	t list $dq list
	t podman_ps podman ps -a --format json
	# A real sweep over the same 50 (all stopped and fresh, so it records
	# their clocks and acts on none); SPEC §5 wants it under a second.
	t reap $dq reap
	# Process start-up of the 32 MB binary alone, for context.
	t version $dq --version
done

echo "== where the time goes: one run of each verb with DEVBOX_QUADLET_TRACE=1 (ms since exec)"
for verb in "create traced" "stop traced" "start traced" "list" "destroy --yes traced"; do
	echo "-- devbox-quadlet $verb"
	# shellcheck disable=SC2086 # $verb is the verb and its argument
	as alice env DEVBOX_QUADLET_CONFIG=/tmp/bench.toml DEVBOX_QUADLET_TRACE=1 $dq $verb 2>&1 >/dev/null | sed -n 's/^devbox-quadlet: trace //p'
done

echo "== medians of $N runs, milliseconds (TCG; ratios are what SPEC §5 sets targets for)"
for v in reload bare_start bare_stop podman_run create stop start destroy list_units list podman_ps reap version; do
	printf '%-12s %6s ms\n' "$v" "$(median $v)"
done
echo "== ratios"
echo "create / (daemon-reload + start):  $(r "$(median create)" "$(($(median reload) + $(median bare_start)))")   target <= 1.15"
echo "stop / systemctl --user stop:        $(r "$(median stop)" "$(median bare_stop)")   target <= 1.10"
echo "start / systemctl --user start:      $(r "$(median start)" "$(median bare_start)")   target <= 1.10"
echo "list (50) / list-units:              $(r "$(median list)" "$(median list_units)")   target <= 1.20"
echo "create / podman run -d:              $(r "$(median create)" "$(median podman_run)")   (context)"
echo "reap sweep (50 containers):          $(median reap) ms   target < 1000 ms"

fi
[ "$PART" = verbs ] && exit $failed

# The tailnet: the real image on the test bed's real tailnet (headscale,
# tailscaled). Create to Tailscale SSH answering, and one `tailscale ssh`
# from invocation to output, against the same for a bare tailscaled node
# in the same boot (root's, joined with one of alice's tagged keys).
echo "== the real dev image on a real tailnet"
if ! setup_tailnet || ! load_devbox_image alice; then
	echo "bench: the tailnet or the image could not be set up" >&2
	exit 1
fi
echo "bench: image $(as alice podman image inspect --format '{{.Size}}' localhost/devbox:latest) bytes in alice's store"
printf '[container]\ncpus = 1\nmemory = "1G"\n\n[caps]\nmax_per_user = 60\n\n[tailnet]\nlogin_server = "http://10.99.0.1:8080"\n' >/tmp/bench-ts.toml
chmod 644 /tmp/bench-ts.toml
id dev >/dev/null 2>&1 || useradd -m -s /bin/sh dev
ms() { echo $((($(date +%s%N) - $1) / 1000000)); }
# troot VAR CMD...: like t, as root.
troot() {
	var=$1
	shift
	s=$(date +%s%N)
	"$@" >/tmp/bench.out 2>&1 || { echo "bench: $* failed:" >&2; cat /tmp/bench.out >&2; failed=1; }
	ms "$s" >>"/tmp/$var"
}
until_ssh() { _n=0; until laptop_ts ssh "dev@$1" -- true >/dev/null 2>&1; do _n=$((_n + 1)); [ $_n -gt 120 ] && return 1; sleep 0.5; done; }
for i in $(seq 1 "$N"); do
	s=$(date +%s%N)
	as alice env DEVBOX_QUADLET_CONFIG=/tmp/bench-ts.toml $dq create "tsb$i" >/tmp/bench.out 2>&1 || { cat /tmp/bench.out >&2; failed=1; }
	ms "$s" >>/tmp/ts_create
	until_ssh "tsb$i" || failed=1
	ms "$s" >>/tmp/ts_create_ssh
	if [ "$i" = 1 ]; then
		# What an idle dev container costs in CPU, against the reaper's
		# cpu_active_threshold (default 2 min per hour): 60 s, no session.
		sleep 20
		c0=$(as alice systemctl --user show -P CPUUsageNSec devbox-tsb1.service)
		sleep 60
		c1=$(as alice systemctl --user show -P CPUUsageNSec devbox-tsb1.service)
		echo "bench: idle real dev container: $(((c1 - c0) / 1000000)) ms CPU in 60 s, i.e. $(((c1 - c0) * 60 / 1000000000)) s per hour (TCG); the reaper counts more than 120 s per hour as activity"
	fi
	for j in 1 2 3; do troot ts_ssh laptop_ts ssh "dev@tsb$i" -- true; done
	as alice env DEVBOX_QUADLET_CONFIG=/tmp/bench-ts.toml $dq destroy --yes --no-archive "tsb$i" >/dev/null 2>&1
	# The bare node: a tailscaled joined with a tagged key of alice's, so
	# the same SSH rule lets the laptop in as dev.
	rm -rf /var/lib/bare-ts && mkdir -p /var/lib/bare-ts /run/bare-ts
	s=$(date +%s%N)
	systemd-run --quiet --unit="bare-ts-$i" --property=KillMode=mixed /usr/bin/env TS_DEBUG_USE_DERP_HTTP=1 \
		tailscaled --tun=userspace-networking --statedir=/var/lib/bare-ts --socket=/run/bare-ts/tailscaled.sock --port=0 --no-logs-no-support
	k=0
	until tailscale --socket=/run/bare-ts/tailscaled.sock status >/dev/null 2>&1 || [ $k -gt 120 ]; do k=$((k + 1)); sleep 0.25; done
	tailscale --socket=/run/bare-ts/tailscaled.sock up --auth-key="$(preauth_key alice)" --hostname="bare$i" --ssh \
		--login-server=http://10.99.0.1:8080 --timeout=90s >/dev/null 2>&1 || failed=1
	until_ssh "bare$i" || failed=1
	ms "$s" >>/tmp/bare_up_ssh
	for j in 1 2 3; do troot bare_ssh laptop_ts ssh "dev@bare$i" -- true; done
	tailscale --socket=/run/bare-ts/tailscaled.sock logout >/dev/null 2>&1
	systemctl stop "bare-ts-$i" >/dev/null 2>&1
done
echo "== tailnet medians of $N runs, milliseconds"
for v in ts_create ts_create_ssh bare_up_ssh ts_ssh bare_ssh; do
	printf '%-14s %6s ms\n' "$v" "$(median $v)"
done
echo "create to Tailscale SSH answering / bare tailscaled start to SSH: $(r "$(median ts_create_ssh)" "$(median bare_up_ssh)")"
echo "tailscale ssh -- true, container / bare node:                   $(r "$(median ts_ssh)" "$(median bare_ssh)")   (seed target: connection < 5 s)"
exit $failed
