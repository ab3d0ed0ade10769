#!/usr/bin/env bash
# deps.sh installs what the demo and the test suite need on a Debian/Ubuntu host,
# as root, through the distribution's package manager. It is idempotent and quick
# when everything is already present.
set -euo pipefail

need_pkgs=()
command -v debootstrap >/dev/null || need_pkgs+=(debootstrap)
command -v qemu-system-x86_64 >/dev/null || need_pkgs+=(qemu-system-x86)
command -v qemu-img >/dev/null || need_pkgs+=(qemu-utils)
command -v mke2fs >/dev/null || need_pkgs+=(e2fsprogs)
command -v zstd >/dev/null || need_pkgs+=(zstd)
command -v nix-instantiate >/dev/null || need_pkgs+=(nix-bin)
[ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || need_pkgs+=(debian-archive-keyring)
command -v git >/dev/null || need_pkgs+=(git)
command -v make >/dev/null || need_pkgs+=(make)
command -v curl >/dev/null || need_pkgs+=(curl ca-certificates)
# The agent's tests run the real server on a private bus daemon.
command -v dbus-daemon >/dev/null || need_pkgs+=(dbus-daemon)
# The man pages are formatted with every warning on (internal/manpage).
command -v groff >/dev/null || need_pkgs+=(groff-base)
# The completion scripts run in the real shells (internal/cli).
command -v zsh >/dev/null || need_pkgs+=(zsh)
command -v fish >/dev/null || need_pkgs+=(fish)

if [ ${#need_pkgs[@]} -gt 0 ]; then
	echo "deps: installing ${need_pkgs[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi
