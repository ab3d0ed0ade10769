#!/usr/bin/env bash
# e2e.sh builds the static devbox-quadlet and devbox-quadlet-agent binaries
# and the e2e test binary, installs the host with `make install DESTDIR=`,
# builds (or reuses) the VM image, boots it once, runs a guest script in it,
# and prints the guest's output. MODE is "test" (the e2e suite) or "demo".
#
#   test/vm/e2e.sh [test|demo]
set -euo pipefail

mode=${1:-test}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
run="$repo/build/vm-$mode"
rm -rf "$run"
mkdir -p "$run/share/bin"

# The host is installed from what `make install` puts in DESTDIR, the same
# tree a Debian/Ubuntu admin gets and the Nix package ships (the guest
# copies it into / and runs systemd-sysusers; guest-common.sh install_host).
echo "== building the static binaries and installing the host into the share (make install DESTDIR=...)" >&2
make -C "$repo" --no-print-directory install DESTDIR="$run/share/root" >"$run/make-install.log"
cp "$repo"/build/bin/devbox-quadlet "$repo"/build/bin/devbox-quadlet-agent "$repo"/build/bin/devbox-init "$run/share/bin/"
if [ "$mode" = test ]; then
	(cd "$repo" && CGO_ENABLED=0 go test -c -tags e2e -o "$run/share/bin/e2e.test" ./test/e2e)
	# The D-Bus edge's own tests against the real user manager, with
	# coverage (scripts/coverage.sh merges it with the unit tests').
	(cd "$repo" && CGO_ENABLED=0 go test -c -tags e2e -cover -coverpkg=./internal/sd -o "$run/share/bin/sd.test" ./internal/sd)
fi
chmod -R a+rX "$run/share"

echo "== building or reusing the trixie VM image" >&2
img=$("$here/build-image.sh")

# The real tailnet and the real dev image (both cached by their inputs'
# hash): headscale, tailscaled and tailscale from the Go module proxy, and
# the devbox image from Debian trixie, npm and those binaries. Hard links
# put them in the share without copying a gigabyte.
echo "== building or reusing the tailnet programs (headscale, tailscaled, tailscale)" >&2
tailnet=$(bash "$repo/test/tailnet/build.sh")
echo "== building or reusing the devbox image (containers/)" >&2
image=$(bash "$repo/containers/build.sh" --tailnet "$tailnet" --init "$run/share/bin/devbox-init")
mkdir -p "$run/share/tailnet" "$run/share/image"
for f in "$tailnet"/headscale "$tailnet"/tailscaled "$tailnet"/tailscale "$image"/devbox.tar; do
	case $f in *.tar) to="$run/share/image/" ;; *) to="$run/share/tailnet/" ;; esac
	ln -f "$f" "$to" 2>/dev/null || cp "$f" "$to"
done
cp "$image/import-changes" "$run/share/image/"
cp "$repo/test/tailnet/headscale.yaml" "$repo/test/tailnet/policy.hujson" "$run/share/tailnet/"
cp "$here/guest-tailnet.sh" "$run/share/"
cp -r "$repo/containers" "$run/share/containers"
chmod -R a+rX "$run/share"
cp "$here/guest-common.sh" "$run/share/"
cp "$here/guest-$mode.sh" "$run/share/run.sh"
printf "DEVBOX_BENCH_N=%s\nDEVBOX_BENCH_PART=%s\n" "${DEVBOX_BENCH_N:-5}" "${DEVBOX_BENCH_PART:-all}" >"$run/share/bench.env"
# For working on a few tests: DEVBOX_E2E_FOCUS_USER and DEVBOX_E2E_FOCUS_ROOT
# are -test.run patterns for the alice and the root pass; with either set,
# only those run, in one boot. CI sets neither.
focus="${DEVBOX_E2E_FOCUS_USER:-}${DEVBOX_E2E_FOCUS_ROOT:-}"
printf "FOCUS_USER='%s'\nFOCUS_ROOT='%s'\n" "${DEVBOX_E2E_FOCUS_USER:-}" "${DEVBOX_E2E_FOCUS_ROOT:-}" >"$run/share/focus.env"

# The suite boots twice on the same disk (the reboot test); the demo once.
# Each boot gets its own overlay on the previous boot's disk, so a boot can be
# retried from exactly the state the previous boot left.
boots=1
[ "$mode" = test ] && [ -z "$focus" ] && boots=2
# How long one boot may run before qemu is killed. TCG's speed varies from
# host to host: the suite's first boot took 22-23 min on earlier hosts (before
# the install, broken-agent and sd edge tests were added) and 3303 s (55 min)
# on a slower one. The bound only has to catch a hung guest, inside CI's hard
# limit of 90 min.
boot_timeout=${DEVBOX_E2E_BOOT_TIMEOUT:-3900}
final=0
backing="$img/base.img" backing_fmt=raw
for boot in $(seq 1 $boots); do
	disk="$run/disk-$boot.qcow2"
	for attempt in 1 2; do
		rm -f "$disk"
		qemu-img create -q -f qcow2 -b "$backing" -F "$backing_fmt" "$disk"
		echo "== booting the VM, boot $boot of $boots (TCG; about 30 s to boot)" >&2
		start=$(date +%s)
		rc=0
		"$here/boot.sh" "$img" "$run/share" "$disk" "$boot" "$boot_timeout" || rc=$?
		echo "== boot $boot finished in $(($(date +%s) - start)) s with exit $rc" >&2
		cat "$run/share/out/run-$boot.log" 2>/dev/null || true
		if [ "$rc" -eq 75 ] && [ "$attempt" -eq 1 ]; then
			echo "== the guest kernel panicked (an emulator fault, see boot.sh); retrying boot $boot once from the same starting disk" >&2
			continue
		fi
		break
	done
	if [ "$rc" -ne 0 ]; then
		final=$rc
		echo "== last 80 lines of the guest journal ($run/share/out/journal-$boot.txt)" >&2
		tail -n 80 "$run/share/out/journal-$boot.txt" >&2 2>/dev/null || true
	fi
	backing=$disk backing_fmt=qcow2
done
exit "$final"
