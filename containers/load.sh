#!/usr/bin/env bash
# load.sh imports the devbox image that containers/build.sh built as
# localhost/devbox:latest into the rootless podman store of each given user.
# Run it as root:
#
#   containers/load.sh [--dir OUT_DIR] USER...
#
# OUT_DIR holds devbox.tar and import-changes (what build.sh printed); without
# --dir it is $DEVBOX_IMAGE_DIR, else the newest build under
# /var/cache/devbox-quadlet/image. Each line of import-changes becomes one
# `podman import --change`. Re-importing moves the tag; containers keep the
# image they were created from until they are recreated.
set -euo pipefail

dir=${DEVBOX_IMAGE_DIR:-}
if [ "${1:-}" = --dir ]; then
	dir=${2:?--dir needs a directory}
	shift 2
fi
[ $# -gt 0 ] || { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "load: run me as root" >&2; exit 1; }
if [ -z "$dir" ]; then
	dir=$(ls -1dt "${DEVBOX_IMAGE_CACHE:-/var/cache/devbox-quadlet/image}"/final-* 2>/dev/null | grep -v '\.new$' | head -n1 || true)
fi
[ -n "$dir" ] && [ -s "$dir/devbox.tar" ] && [ -s "$dir/import-changes" ] ||
	{ echo "load: no devbox.tar and import-changes in '${dir}'; run containers/build.sh first" >&2; exit 1; }

changes=()
while IFS= read -r line; do
	[ -n "$line" ] && changes+=(--change "$line")
done <"$dir/import-changes"

for user in "$@"; do
	uid=$(id -u "$user")
	home=$(getent passwd "$user" | cut -d: -f6)
	start=$(date +%s)
	# Root opens the tar and hands it over on stdin, so the user needs no
	# access to the build directory.
	(cd / && runuser -u "$user" -- env HOME="$home" USER="$user" LOGNAME="$user" XDG_RUNTIME_DIR="/run/user/$uid" \
		podman import "${changes[@]}" - localhost/devbox:latest <"$dir/devbox.tar" >/dev/null)
	echo "load: $user: localhost/devbox:latest imported in $(($(date +%s) - start)) s" >&2
done
