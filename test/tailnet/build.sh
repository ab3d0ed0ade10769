#!/usr/bin/env bash
# build.sh builds the real tailnet programs the test bed runs (headscale,
# tailscaled, tailscale) as static binaries from the Go module proxy, and
# caches them under $DEVBOX_TAILNET_CACHE keyed by the hash of this module's
# go.mod and go.sum. It prints the directory that holds the three binaries.
# About 3 minutes on 2 cores the first time; instant after.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${DEVBOX_TAILNET_CACHE:-/var/cache/devbox-quadlet/tailnet}
hash=$(cat "$0" "$here/go.mod" "$here/go.sum" "$here/tools.go" | sha256sum | cut -c1-16)
out="$cache/$hash"
if [ -x "$out/headscale" ] && [ -x "$out/tailscaled" ] && [ -x "$out/tailscale" ]; then
	echo "$out"
	exit 0
fi
mkdir -p "$cache"
work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "tailnet: building headscale, tailscaled and tailscale (about 3 minutes)" >&2
start=$(date +%s)
(cd "$here" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$work/" \
	github.com/juanfont/headscale/cmd/headscale tailscale.com/cmd/tailscaled tailscale.com/cmd/tailscale)
rm -rf "$out"
mv "$work" "$out"
trap - EXIT
chmod 0755 "$out" "$out"/*
echo "tailnet: built $out in $(($(date +%s) - start)) s" >&2
echo "$out"
