#!/usr/bin/env bash
# e2e.sh builds the static devbox-quadlet binary and the e2e test binary,
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

echo "== building static binaries" >&2
(cd "$repo" && CGO_ENABLED=0 go build -trimpath -o "$run/share/bin/devbox-quadlet" ./cmd/devbox-quadlet)
if [ "$mode" = test ]; then
	(cd "$repo" && CGO_ENABLED=0 go test -c -tags e2e -o "$run/share/bin/e2e.test" ./test/e2e)
fi
chmod -R a+rX "$run/share"

echo "== building or reusing the trixie VM image" >&2
img=$("$here/build-image.sh")
cp "$here/guest-common.sh" "$run/share/"
cp -r "$repo/contrib" "$run/share/contrib"
cp "$here/guest-$mode.sh" "$run/share/run.sh"
echo "DEVBOX_BENCH_N=${DEVBOX_BENCH_N:-5}" >"$run/share/bench.env"

# The suite boots twice on the same disk (the reboot test); the demo once.
boots=1
[ "$mode" = test ] && boots=2
final=0
for boot in $(seq 1 $boots); do
	echo "== booting the VM, boot $boot of $boots (TCG; about 30 s to boot)" >&2
	start=$(date +%s)
	rc=0
	"$here/boot.sh" "$img" "$run/share" "$run/disk.qcow2" 1500 || rc=$?
	echo "== boot $boot finished in $(($(date +%s) - start)) s with exit $rc" >&2
	cat "$run/share/out/run-$boot.log" 2>/dev/null || true
	if [ "$rc" -ne 0 ]; then
		final=$rc
		echo "== last 80 lines of the guest journal ($run/share/out/journal-$boot.txt)" >&2
		tail -n 80 "$run/share/out/journal-$boot.txt" >&2 2>/dev/null || true
	fi
done
exit "$final"
