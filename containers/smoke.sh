#!/usr/bin/env bash
# smoke.sh checks a built devbox image without podman: it unpacks devbox.tar
# into a scratch directory and, in private mount, network and PID namespaces
# (so nothing can leak onto the host: no mounts, no listeners, no processes),
# runs the tools in it with chroot, starts code-server as the dev user on
# 127.0.0.1:18081 and fetches its login page. Run it as root:
#
#   containers/smoke.sh OUT_DIR_OR_TAR
set -euo pipefail

[ $# = 1 ] || { echo "usage: $0 OUT_DIR_OR_TAR" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "smoke: run me as root" >&2; exit 1; }
tarball=$1
[ -d "$tarball" ] && tarball="$tarball/devbox.tar"
[ -s "$tarball" ] || { echo "smoke: no $tarball" >&2; exit 1; }

scratch=$(mktemp -d "${TMPDIR:-/var/tmp}/devbox-smoke.XXXXXX")
root="$scratch/rootfs"
cleanup() {
	# The mounts live in a private mount namespace and die with it; this is
	# the belt to those braces.
	local m
	for m in "$root/dev/pts" "$root/dev" "$root/sys" "$root/proc"; do
		if grep -q " $m " /proc/self/mounts 2>/dev/null; then umount "$m" || umount -l "$m" || true; fi
	done
	grep -q " $scratch/" /proc/self/mounts || rm -rf "$scratch"
}
trap cleanup EXIT

mkdir -p "$root"
t=$(date +%s)
tar --numeric-owner -xf "$tarball" -C "$root"
echo "smoke: unpacked $(du -sh "$root" | cut -f1) in $(($(date +%s) - t)) s" >&2

export ROOT=$root
unshare --mount --net --pid --fork --propagation private bash -euo pipefail -c '
	mount -t proc proc "$ROOT/proc"
	mount -t sysfs sysfs "$ROOT/sys"
	mount --bind /dev "$ROOT/dev"
	mount --bind /dev/pts "$ROOT/dev/pts"
	trap "umount \"\$ROOT/dev/pts\" \"\$ROOT/dev\" \"\$ROOT/sys\" \"\$ROOT/proc\" 2>/dev/null || true" EXIT
	P=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
	as_root() { chroot "$ROOT" /usr/bin/env -i HOME=/root LANG=C.UTF-8 PATH=$P "$@"; }
	as_dev() { chroot --userspec=1000:1000 "$ROOT" /usr/bin/env -i HOME=/home/dev USER=dev LANG=C.UTF-8 PATH=$P "$@"; }
	fail=0
	check() { local what=$1; shift; if out=$("$@" 2>&1); then echo "ok   $what: $(echo "$out" | tail -n1)"; else echo "FAIL $what: $out"; fail=1; fi; }

	check "tailscale on PATH" as_root sh -c "command -v tailscale && tailscale version | head -n1"
	check "tailscaled" as_root tailscaled --version
	check "devbox-init" as_root test -x /usr/local/bin/devbox-init
	check "code-server" as_root code-server --version
	check "node" as_root node --version
	check "dev user" as_root id dev
	check "passwordless sudo" as_dev sudo -n true
	check "CLI profile" as_dev bash -lc "for c in git curl ssh rg fd fdfind jq tmux nvim make gcc less ps ip syncthing node sudo; do command -v \$c >/dev/null || { echo missing \$c; exit 1; }; done; echo all there"
	check "login shell profile" as_dev bash -lc "echo EDITOR=\$EDITOR DEVBOX_NAME=\$DEVBOX_NAME PATH=\$PATH"
	check "interactive prompt" as_dev bash -ic "echo \"\$PS1\" | grep -q DEVBOX_NAME && echo prompt has the container name"
	check "tmux.conf" as_dev sh -c "cd /tmp && tmux -S /tmp/smoke.tmux -f /etc/tmux.conf new-session -d true && tmux -S /tmp/smoke.tmux kill-server 2>/dev/null; echo parsed"
	check "git defaults" as_dev git config --system init.defaultBranch
	check "locale" as_root sh -c "locale -a | grep -i en_US.utf8"

	ip link set lo up
	as_dev env PASSWORD=devbox-smoke code-server --bind-addr 127.0.0.1:18081 --auth password \
		--disable-telemetry --disable-update-check /home/dev >"$ROOT/tmp/code-server.log" 2>&1 &
	cs=$!
	t0=$(date +%s%N)
	up=0
	for _ in $(seq 1 60); do
		if as_root curl -fsS -o /dev/null http://127.0.0.1:18081/login 2>/dev/null; then up=1; break; fi
		sleep 0.5
	done
	if [ $up = 1 ]; then
		echo "ok   code-server answered /login after $(( ($(date +%s%N) - t0) / 1000000 )) ms:"
		as_root curl -s http://127.0.0.1:18081/login | head -n 12 | sed "s/^/     | /"
		as_root curl -s http://127.0.0.1:18081/login | grep -qi "password" || { echo "FAIL login page has no password form"; fail=1; }
	else
		echo "FAIL code-server did not answer; its log:"
		sed "s/^/     | /" "$ROOT/tmp/code-server.log"
		fail=1
	fi
	kill -TERM $cs 2>/dev/null || true
	wait $cs 2>/dev/null || true
	exit $fail
'
