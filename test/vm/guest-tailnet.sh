# guest-tailnet.sh is sourced by the guest-side scripts (as root, after
# guest-common.sh): helpers that run a real tailnet inside the VM. headscale
# is the control server, a root tailscaled in userspace-networking mode is the
# developer's laptop (a node of user alice), and the dev containers join with
# headscale pre-auth keys. See test/tailnet/README.md.
#
# POSIX sh (the runner starts run.sh with sh, which is dash), `set -u` safe.
# Long-running programs run as transient systemd units (systemd-run), so they
# outlive the script and log to the journal; without systemd as PID 1 (a
# developer's host) they run in the background with logs in $TAILNET_LOG.
# Functions print only what their comment says, on stdout; progress and
# errors go to stderr.
#
# The share provides $TAILNET_SHARE/{headscale,tailscaled,tailscale} (from
# test/tailnet/build.sh) and $TAILNET_SHARE/{headscale.yaml,policy.hujson}
# (from test/tailnet/). Every path below may be overridden before sourcing.

: "${TAILNET_SHARE:=/share/tailnet}"
: "${TAILNET_BIN:=/usr/local/bin}"
# The control server's address. It lives on a dummy interface, because pasta
# gives the containers a copy of the VM's main address (10.0.2.15), so that
# one cannot reach the VM from inside a container. TAILNET_IFACE=lo puts the
# address on loopback (kernels without the dummy driver); empty: use an
# address that already exists.
: "${TAILNET_ADDR:=10.99.0.1}"
: "${TAILNET_IFACE:=devbox0}"
: "${TAILNET_PORT:=8080}"
: "${TAILNET_LOGIN_SERVER:=http://$TAILNET_ADDR:$TAILNET_PORT}"
: "${HEADSCALE_ETC:=/etc/headscale}"
: "${HEADSCALE_STATE:=/var/lib/headscale}"
: "${HEADSCALE_RUN:=/run/headscale}"
: "${LAPTOP_STATE:=/var/lib/laptop-ts}"
: "${LAPTOP_RUN:=/run/laptop-ts}"
: "${LAPTOP_USER:=alice}"
: "${TAILNET_LOG:=/var/log/devbox-tailnet}"
# Bounds for the waits, in seconds (TCG is slow).
: "${TAILNET_WAIT:=120}"

# install_tailnet_bins copies headscale, tailscaled and tailscale from the
# share to $TAILNET_BIN. Prints nothing.
install_tailnet_bins() {
	install -d "$TAILNET_BIN"
	install -m 0755 "$TAILNET_SHARE/headscale" "$TAILNET_SHARE/tailscaled" "$TAILNET_SHARE/tailscale" "$TAILNET_BIN/"
}

# tailnet_spawn UNIT CMD...: run CMD in the background as the transient
# service UNIT (or, without systemd, as a background process whose pid goes
# to $TAILNET_LOG/UNIT.pid and output to $TAILNET_LOG/UNIT.log). A unit of
# that name that already runs is left alone. Prints nothing.
tailnet_spawn() {
	_u=$1
	shift
	if [ -d /run/systemd/system ]; then
		systemctl is-active --quiet "$_u" && return 0
		systemctl reset-failed "$_u" >/dev/null 2>&1 || true
		systemd-run --quiet --unit="$_u" --property=KillMode=mixed "$@"
	else
		mkdir -p "$TAILNET_LOG"
		if [ -f "$TAILNET_LOG/$_u.pid" ] && kill -0 "$(cat "$TAILNET_LOG/$_u.pid")" 2>/dev/null; then
			return 0
		fi
		nohup "$@" >>"$TAILNET_LOG/$_u.log" 2>&1 </dev/null &
		echo $! >"$TAILNET_LOG/$_u.pid"
	fi
}

# tailnet_logs UNIT: print the last lines UNIT logged (for failure reports).
tailnet_logs() {
	if [ -d /run/systemd/system ]; then
		journalctl -u "$1" -n 40 --no-pager 2>&1
	else
		tail -n 40 "$TAILNET_LOG/$1.log" 2>&1
	fi
}

# hs ARGS...: the headscale CLI against the running server (its unix socket).
hs() {
	"$TAILNET_BIN/headscale" -c "$HEADSCALE_ETC/config.yaml" "$@"
}

# start_headscale puts the control address on the dummy interface, renders
# $HEADSCALE_ETC/config.yaml from headscale.yaml, installs policy.hujson
# next to it, starts headscale (unit tailnet-headscale) and waits until its
# CLI answers. Idempotent: on a second boot the state in $HEADSCALE_STATE
# (users, nodes, keys) is kept. Prints nothing; returns 1 if headscale does
# not answer within $TAILNET_WAIT seconds.
start_headscale() {
	if [ -n "$TAILNET_IFACE" ]; then
		if ! ip link show "$TAILNET_IFACE" >/dev/null 2>&1; then
			modprobe dummy 2>/dev/null || true
			ip link add "$TAILNET_IFACE" type dummy || return 1
		fi
		ip addr replace "$TAILNET_ADDR/32" dev "$TAILNET_IFACE" || return 1
		ip link set "$TAILNET_IFACE" up || return 1
	fi
	install -d -m 0755 "$HEADSCALE_ETC"
	install -d -m 0700 "$HEADSCALE_STATE"
	install -d -m 0750 "$HEADSCALE_RUN"
	install -m 0644 "$TAILNET_SHARE/policy.hujson" "$HEADSCALE_ETC/policy.hujson"
	sed -e "s|@ADDR@|$TAILNET_ADDR|g" -e "s|@PORT@|$TAILNET_PORT|g" \
		-e "s|@STATE@|$HEADSCALE_STATE|g" -e "s|@RUN@|$HEADSCALE_RUN|g" \
		-e "s|@POLICY@|$HEADSCALE_ETC/policy.hujson|g" \
		"$TAILNET_SHARE/headscale.yaml" >"$HEADSCALE_ETC/config.yaml.new" || return 1
	mv "$HEADSCALE_ETC/config.yaml.new" "$HEADSCALE_ETC/config.yaml"
	tailnet_spawn tailnet-headscale "$TAILNET_BIN/headscale" -c "$HEADSCALE_ETC/config.yaml" serve || return 1
	_i=0
	until hs users list >/dev/null 2>&1; do
		_i=$((_i + 1))
		if [ "$_i" -gt $((TAILNET_WAIT * 2)) ]; then
			echo "start_headscale: headscale does not answer after ${TAILNET_WAIT}s" >&2
			tailnet_logs tailnet-headscale >&2
			return 1
		fi
		sleep 0.5
	done
}

# tailnet_user NAME creates the headscale user NAME unless it exists and
# prints its numeric id (what `headscale preauthkeys --user` wants).
tailnet_user() {
	_id=$(hs users list --name "$1" -o json 2>/dev/null | sed -n 's/^[[:space:]]*"id": *\([0-9][0-9]*\).*/\1/p' | head -n 1)
	if [ -z "$_id" ]; then
		hs users create "$1" >/dev/null || return 1
		_id=$(hs users list --name "$1" -o json | sed -n 's/^[[:space:]]*"id": *\([0-9][0-9]*\).*/\1/p' | head -n 1)
	fi
	[ -n "$_id" ] || {
		echo "tailnet_user: no id for user $1" >&2
		return 1
	}
	echo "$_id"
}

# preauth_key USER [EXPIRATION] prints a new reusable, ephemeral pre-auth
# key (default expiration 24h) for USER, tagged tag:devcontainer and
# tag:USER-container. headscale copies a key's tags to the node's forced
# tags, so a node that joins with it belongs to USER and carries exactly
# those two tags (a container's `tailscale up --advertise-tags=` with the
# same two changes nothing).
preauth_key() {
	_id=$(tailnet_user "$1") || return 1
	_k=$(hs preauthkeys create --user "$_id" --reusable --ephemeral \
		--expiration "${2:-24h}" --tags "tag:devcontainer,tag:$1-container") || return 1
	tailnet_check_key "$_k"
}

# tailnet_check_key KEY prints KEY if it looks like a headscale v0.26 key
# (48 hex digits; no "tskey-" prefix), else complains and returns 1.
tailnet_check_key() {
	case "$1" in
	*[!0-9a-f]* | "")
		echo "tailnet: headscale printed no key: $1" >&2
		return 1
		;;
	esac
	echo "$1"
}

# expired_key USER prints a tagged pre-auth key of USER that headscale has
# already expired (revoked): `tailscale up` with it fails.
expired_key() {
	_k=$(preauth_key "$1" 1h) || return 1
	hs preauthkeys expire --user "$(tailnet_user "$1")" "$_k" >/dev/null || return 1
	echo "$_k"
}

# laptop_ts ARGS...: the tailscale CLI against the laptop's tailscaled.
laptop_ts() {
	HOME=${HOME:-/root} \
	"$TAILNET_BIN/tailscale" --socket="$LAPTOP_RUN/tailscaled.sock" "$@"
}

# start_laptop starts the laptop: a root tailscaled in userspace-networking
# mode (unit tailnet-laptop, state in $LAPTOP_STATE) and joins it to the
# tailnet as an untagged, non-ephemeral node of user $LAPTOP_USER (alice)
# named `laptop`, with alice as its operator (she may use its socket too).
# Waits until it is Running. Idempotent: on a second boot the node comes back
# from its state. Prints nothing; returns 1 on failure.
start_laptop() {
	install -d -m 0700 "$LAPTOP_STATE"
	install -d -m 0755 "$LAPTOP_RUN"
	tailnet_spawn tailnet-laptop /usr/bin/env TS_DEBUG_USE_DERP_HTTP=1 \
		"$TAILNET_BIN/tailscaled" --tun=userspace-networking --no-logs-no-support \
		--statedir="$LAPTOP_STATE" --socket="$LAPTOP_RUN/tailscaled.sock" || return 1
	_i=0
	until laptop_ts status --json >/dev/null 2>&1; do
		_i=$((_i + 1))
		if [ "$_i" -gt $((TAILNET_WAIT * 2)) ]; then
			echo "start_laptop: tailscaled does not answer after ${TAILNET_WAIT}s" >&2
			tailnet_logs tailnet-laptop >&2
			return 1
		fi
		sleep 0.5
	done
	if laptop_ts status --json 2>/dev/null | grep -q '"BackendState": *"Running"'; then
		return 0
	fi
	_id=$(tailnet_user "$LAPTOP_USER") || return 1
	_k=$(hs preauthkeys create --user "$_id" --expiration 1h) || return 1
	_k=$(tailnet_check_key "$_k") || return 1
	laptop_ts up --login-server="$TAILNET_LOGIN_SERVER" --auth-key="$_k" \
		--hostname=laptop --operator="$LAPTOP_USER" --accept-dns=false \
		--timeout="${TAILNET_WAIT}s" || {
		echo "start_laptop: tailscale up failed" >&2
		tailnet_logs tailnet-laptop >&2
		return 1
	}
}

# nodes_json prints headscale's JSON array of all nodes (`headscale nodes
# list -o json`). Each node has, among others: id, name (the hostname the
# node sent), given_name (its MagicDNS name), user {id, name, ...},
# ip_addresses, forced_tags, valid_tags, invalid_tags, online, expiry,
# last_seen, pre_auth_key {ephemeral, reusable, acl_tags, ...}. It is
# encoding/json of the protobuf types: false and empty fields are left out
# (an offline node has no "online"), timestamps are {"seconds", "nanos"},
# and the order of the tags is not stable.
nodes_json() {
	hs nodes list -o json
}

# node_json NAME prints the JSON object (from nodes_json) of the node whose
# given_name (its MagicDNS name) is NAME; returns 1 if there is none. A node
# whose hostname is taken by another node (an offline ephemeral node is kept
# for ephemeral_node_inactivity_timeout) gets a given_name with a random
# suffix ("demo-rj82mn4h"); nodes_json lists it under its hostname ("name").
# It relies on the CLI's indented output (encoding/json with a tab indent): a
# node's object starts with a line "<tab>{" and ends with "<tab>}" or
# "<tab>},".
node_json() {
	nodes_json | awk -v want="$1" '
		/^(\t|  )\{$/ { buf = ""; hit = 0; inobj = 1 }
		inobj { buf = buf $0 "\n" }
		inobj && $0 ~ "^(\t\t|    )\"given_name\": \"" want "\",?$" { hit = 1 }
		/^(\t|  )\},?$/ && inobj { inobj = 0; if (hit) { sub(/,\n$/, "\n", buf); printf "%s", buf; found = 1; exit } }
		END { exit !found }'
}

# stop_laptop and stop_headscale stop what the start functions started; the
# state stays. Print nothing.
stop_laptop() { tailnet_stop tailnet-laptop; }
stop_headscale() { tailnet_stop tailnet-headscale; }
tailnet_stop() {
	if [ -d /run/systemd/system ]; then
		systemctl stop "$1" >/dev/null 2>&1 || true
	elif [ -f "$TAILNET_LOG/$1.pid" ]; then
		kill "$(cat "$TAILNET_LOG/$1.pid")" 2>/dev/null || true
		rm -f "$TAILNET_LOG/$1.pid"
	fi
}
