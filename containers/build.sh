#!/usr/bin/env bash
# build.sh builds the devbox dev-container image (localhost/devbox:latest) as
# a rootfs tarball for `podman import`, offline apart from the Debian mirror
# this host's apt uses and the npm registry. Run it as root on a Debian or
# Ubuntu host:
#
#   containers/build.sh --tailnet DIR --init PATH [--out DIR] [--rebuild]
#
#   --tailnet DIR  a directory with static tailscale and tailscaled binaries
#                  (what test/tailnet/build.sh prints)
#   --init PATH    the static devbox-init binary (go build ./cmd/devbox-init)
#   --out DIR      where to put devbox.tar and import-changes; without it the
#                  cache directory of the final stage is the output
#   --rebuild      rebuild the base stage even when its cache is valid (e.g.
#                  to pick up Debian security updates)
#
# It prints the output directory on stdout; containers/load.sh imports it.
#
# Two cached stages under $DEVBOX_IMAGE_CACHE (/var/cache/devbox-quadlet/image):
#   base-HASH/base.tar    debootstrap of Debian trixie, the CLI profile
#                         (profile/packages.txt), code-server, the dev user and
#                         the profile files. Minutes; keyed by the hash of this
#                         script, the package lists, profile/, code-server.version
#                         and the mirror.
#   final-HASH/devbox.tar the base tar with tailscale, tailscaled and
#                         devbox-init appended, plus import-changes. Seconds;
#                         keyed by the base hash and the binaries' sha256.
#
# Environment: DEVBOX_DEBIAN_MIRROR overrides the mirror read from apt's
# sources; DEVBOX_DEBIAN_SECURITY_MIRROR the security mirror ("none" to skip
# it); DEVBOX_NPM_REGISTRY the npm registry (https://registry.npmjs.org/);
# DEVBOX_BUILD_CA_FILE the CA bundle npm trusts during the build (default: the
# host's, $NODE_EXTRA_CA_CERTS, $SSL_CERT_FILE or
# /etc/ssl/certs/ca-certificates.crt; it is not copied into the image).
# DEVBOX_IMAGE_KEEP_FAILED=1 keeps a failed build's tree (unmounted) to debug.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
self="$here/$(basename "$0")"
cache=${DEVBOX_IMAGE_CACHE:-/var/cache/devbox-quadlet/image}
suite=trixie

log() { echo "build: $*" >&2; }
die() { echo "build: $*" >&2; exit 1; }

usage() {
	sed -n '2,/^set -euo/p' "$self" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
	exit 2
}

tailnet="" init="" out="" rebuild=0
while [ $# -gt 0 ]; do
	case $1 in
	--tailnet) tailnet=${2:?--tailnet needs a directory}; shift 2 ;;
	--tailnet=*) tailnet=${1#*=}; shift ;;
	--init) init=${2:?--init needs a path}; shift 2 ;;
	--init=*) init=${1#*=}; shift ;;
	--out) out=${2:?--out needs a directory}; shift 2 ;;
	--out=*) out=${1#*=}; shift ;;
	--rebuild) rebuild=1; shift ;;
	-h | --help) usage ;;
	*) echo "build: unknown argument $1" >&2; usage ;;
	esac
done
[ -n "$tailnet" ] && [ -n "$init" ] || usage
[ "$(id -u)" = 0 ] || die "run me as root (debootstrap and chroot need it)"
for b in "$tailnet/tailscale" "$tailnet/tailscaled" "$init"; do
	[ -f "$b" ] && [ -x "$b" ] || die "$b is not an executable file"
done

# The mirrors come from this host's apt configuration (shared with the VM
# image's build).
. "$here/../scripts/debian-mirror.sh"

# pkglist prints the package names of a list file: comments and blanks dropped.
pkglist() { sed -e 's/#.*//' -e 's/[[:space:]]\+/\n/g' "$1" | grep -v '^$' || true; }

if ! command -v debootstrap >/dev/null 2>&1; then
	log "installing debootstrap on the host"
	apt-get install -y debootstrap >&2
fi

MIRROR=$(debian_mirror) || exit 1
SECURITY=$(debian_security_mirror)
CODE_SERVER=$(tr -d '[:space:]' <"$here/code-server.version")
NPM_REGISTRY=${DEVBOX_NPM_REGISTRY:-https://registry.npmjs.org/}
[ -n "$CODE_SERVER" ] || die "containers/code-server.version is empty"

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9 || die "cannot lock $cache/.lock"

base_hash=$( {
	cat "$self" "$here/profile/packages.txt" "$here/build-packages.txt" "$here/code-server.version"
	find "$here/profile" -type f | LC_ALL=C sort | xargs cat
	echo "$suite $MIRROR $SECURITY $NPM_REGISTRY"
} | sha256sum | cut -c1-16)
base_dir="$cache/base-$base_hash"

# ---------------------------------------------------------------------------
# Mounts for the chroot. Every mount is recorded and undone, newest first, by
# the EXIT trap: a failed build never leaves a mount behind.
mounts=()
work=""
mount_in() { # mount_in TARGET mount-args...
	local target=$1
	shift
	mkdir -p "$target"
	mount "$@" "$target"
	mounts+=("$target")
}
umount_all() {
	local i
	for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
		umount "${mounts[i]}" 2>/dev/null || umount -l "${mounts[i]}" 2>/dev/null || true
	done
	mounts=()
}
cleanup() {
	local rc=$?
	umount_all
	if [ "$rc" != 0 ] && [ -n "$work" ] && [ -d "$work" ]; then
		rm -rf "$cache/failed-logs"
		mkdir -p "$cache/failed-logs"
		cp "$work"/*.log "$cache/failed-logs/" 2>/dev/null || true
		echo "build: failed; logs in $cache/failed-logs" >&2
	fi
	if [ "$rc" != 0 ] && [ -n "$work" ] && [ "${DEVBOX_IMAGE_KEEP_FAILED:-0}" = 1 ]; then
		echo "build: keeping $work (DEVBOX_IMAGE_KEEP_FAILED=1)" >&2
	elif [ -n "$work" ] && [ -d "$work" ]; then
		# Only remove the tree when nothing is mounted under it any more.
		if ! grep -q " $work/" /proc/self/mounts; then
			rm -rf "$work"
		else
			echo "build: mounts left under $work; not removing it" >&2
		fi
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_root() { chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 \
	PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	DEBIAN_FRONTEND=noninteractive "$@"; }

# ---------------------------------------------------------------------------
# Stage (a): the base.
build_base() {
	local t0 t packages build_packages missing p have c
	t0=$(date +%s)
	work=$(mktemp -d "$cache/build.XXXXXX")
	root="$work/rootfs"

	log "stage a: debootstrap $suite from $MIRROR (about 70 s)"
	t=$(date +%s)
	debootstrap --variant=minbase --components=main "$suite" "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 || {
		tail -n 40 "$work/debootstrap.log" >&2
		die "debootstrap failed"
	}
	log "stage a: debootstrap took $(($(date +%s) - t)) s"

	# apt sources: the same mirror, plus updates and security.
	rm -f "$root/etc/apt/sources.list"
	{
		printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$MIRROR" "$suite" "$suite"
		if [ -n "$SECURITY" ]; then
			printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$SECURITY" "$suite"
		fi
	} >"$root/etc/apt/sources.list.d/debian.sources"

	# No services start in the chroot; no docs or man pages are unpacked
	# (copyright files stay). The dpkg excludes stay in the image so later
	# `apt-get install`s stay small too.
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
	chmod 0755 "$root/usr/sbin/policy-rc.d"
	cat >"$root/etc/dpkg/dpkg.cfg.d/01-devbox-nodoc" <<-'EOF'
		# devbox image: keep docs, man and info pages out; copyright files stay.
		path-exclude /usr/share/doc/*
		path-include /usr/share/doc/*/copyright
		path-exclude /usr/share/man/*
		path-exclude /usr/share/info/*
		path-exclude /usr/share/lintian/*
		path-exclude /usr/share/locale/*
		path-include /usr/share/locale/locale.alias
	EOF
	printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$root/etc/apt/apt.conf.d/01-devbox-norecommends"

	cp -L /etc/resolv.conf "$root/etc/resolv.conf"
	mount_in "$root/proc" -t proc proc
	mount_in "$root/sys" -t sysfs sysfs
	mount_in "$root/dev" --bind /dev
	mount_in "$root/dev/pts" --bind /dev/pts

	log "stage a: installing the profile and build packages"
	t=$(date +%s)
	in_root apt-get update >"$work/apt-update.log" 2>&1 || { cat "$work/apt-update.log" >&2; die "apt-get update failed"; }
	mapfile -t packages < <(pkglist "$here/profile/packages.txt")
	mapfile -t build_packages < <(pkglist "$here/build-packages.txt")
	missing=()
	have=()
	for p in "${packages[@]}" "${build_packages[@]}"; do
		# (No `| grep -q` here: with pipefail its early exit fails the pipe.)
		c=$(in_root apt-cache policy "$p" 2>/dev/null | sed -n 's/^ *Candidate: //p')
		if [ -n "$c" ] && [ "$c" != "(none)" ]; then
			have+=("$p")
		else
			missing+=("$p")
		fi
	done
	if [ ${#missing[@]} -gt 0 ]; then
		log "WARNING: not in Debian $suite, skipped: ${missing[*]}"
	fi
	in_root apt-get install -y --no-install-recommends "${have[@]}" >"$work/apt-install.log" 2>&1 || {
		tail -n 60 "$work/apt-install.log" >&2
		die "apt-get install failed"
	}
	log "stage a: packages took $(($(date +%s) - t)) s"

	# Locales: C.UTF-8 is built in; en_US.UTF-8 is generated.
	if [ -e "$root/etc/locale.gen" ]; then
		sed -i 's/^# *\(en_US.UTF-8 UTF-8\)/\1/' "$root/etc/locale.gen"
		in_root locale-gen >/dev/null
	fi
	printf 'LANG=C.UTF-8\n' >"$root/etc/default/locale"
	ln -sf /usr/share/zoneinfo/Etc/UTC "$root/etc/localtime"
	echo Etc/UTC >"$root/etc/timezone"
	[ -e "$root/usr/bin/fdfind" ] && ln -sf /usr/bin/fdfind "$root/usr/local/bin/fd"

	# The profile files.
	install -m 0644 "$here/profile/devbox.sh" "$root/etc/profile.d/devbox.sh"
	install -m 0644 "$here/profile/tmux.conf" "$root/etc/tmux.conf"
	install -m 0644 "$here/profile/gitconfig" "$root/etc/gitconfig"
	local hook='
# devbox: PATH, EDITOR and the prompt with the container name.
[ -r /etc/profile.d/devbox.sh ] && . /etc/profile.d/devbox.sh'
	printf '%s\n' "$hook" >>"$root/etc/bash.bashrc"
	# ~/.bashrc sets its own PS1 after /etc/bash.bashrc; re-apply ours last.
	printf '%s\n' "$hook" >>"$root/etc/skel/.bashrc"

	# The dev user: uid/gid 1000, passwordless sudo. /home/dev is seeded from
	# /etc/skel; at run time a volume is mounted over it, and podman copies
	# this content into a fresh volume.
	in_root groupadd -g 1000 dev
	in_root useradd -m -u 1000 -g 1000 -G sudo -s /bin/bash -c "devbox developer" dev
	printf 'dev ALL=(ALL:ALL) NOPASSWD: ALL\n' >"$root/etc/sudoers.d/dev"
	chmod 0440 "$root/etc/sudoers.d/dev"
	in_root visudo -cf /etc/sudoers.d/dev >/dev/null

	install_code_server

	# Build-only packages leave unless the profile names them.
	local auto=() prof
	prof=" ${packages[*]} "
	for p in "${build_packages[@]}"; do
		case $prof in *" $p "*) ;; *) auto+=("$p") ;; esac
	done
	if [ ${#auto[@]} -gt 0 ]; then
		log "stage a: removing build-only packages: ${auto[*]}"
		in_root apt-mark auto "${auto[@]}" >/dev/null
		# nodejs Suggests npm, and apt's autoremove keeps suggested and
		# recommended packages by default.
		in_root apt-get autoremove --purge -y -o APT::AutoRemove::SuggestsImportant=false \
			-o APT::AutoRemove::RecommendsImportant=false >"$work/apt-autoremove.log" 2>&1 || {
			tail -n 40 "$work/apt-autoremove.log" >&2
			die "apt-get autoremove failed"
		}
	fi
	for p in "${have[@]}"; do
		case " ${auto[*]} " in *" $p "*) continue ;; esac
		[ "$(in_root dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] ||
			die "profile package $p is no longer installed after removing the build packages"
	done
	# code-server must still run after the build packages are gone.
	in_root code-server --version >/dev/null || die "code-server no longer runs after removing the build packages"
	check_native_modules

	info_file "$root" "${missing[@]}" >"$work/base.info"

	# Slim down: apt lists and caches, npm caches, docs, logs, temp files.
	in_root apt-get clean
	rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
		"$root"/root/.npm "$root"/root/.cache "$root"/root/.config "$root"/root/.local \
		"$root"/home/dev/.npm "$root"/home/dev/.cache \
		"$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old \
		"$root"/var/log/apt/* "$root"/var/log/*.log "$root"/var/cache/ldconfig/aux-cache \
		"$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/lintian \
		"$root"/usr/local/lib/node_modules/code-server/lib/vscode/node_modules/@parcel/watcher-linux-*-musl \
		"$root"/tmp/* "$root"/tmp/.[!.]* "$root"/var/tmp/*
	find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete 2>/dev/null || true
	find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
	find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} + 2>/dev/null || true
	rm -f "$root/usr/sbin/policy-rc.d" "$root/etc/resolv.conf" "$root/etc/hostname"
	printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
	: >"$root/etc/machine-id"

	umount_all

	log "stage a: writing base.tar"
	t=$(date +%s)
	tar --numeric-owner --sort=name -C "$root" -cf "$work/base.tar" \
		--exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
		--exclude='./run/*' --exclude='./tmp/*' .
	log "stage a: rootfs $(du -sh --apparent-size "$root" | cut -f1), tar $(du -h --apparent-size "$work/base.tar" | cut -f1), tar took $(($(date +%s) - t)) s"

	rm -rf "$base_dir.new" "$base_dir"
	mkdir -p "$base_dir.new"
	mv "$work/base.tar" "$work/base.info" "$base_dir.new/"
	cp "$work"/*.log "$base_dir.new/" 2>/dev/null || true
	mv "$base_dir.new" "$base_dir"
	rm -rf "$work"
	work=""
	log "stage a: built $base_dir in $(($(date +%s) - t0)) s"
}

# install_code_server installs code-server from the npm registry with
# Debian's node and npm inside the chroot. Its postinstall builds native
# modules (argon2, node-pty, spdlog, kerberos, ...) with node-gyp against
# Debian's Node headers (libnode-dev, npm's nodedir=/usr): nothing may be
# downloaded from nodejs.org or GitHub, which this build cannot reach. The one
# download it would make, @vscode/ripgrep's rg from GitHub, is served from its
# cache directory, seeded with Debian's rg.
install_code_server() {
	local t
	t=$(date +%s)
	log "stage a: installing code-server $CODE_SERVER from $NPM_REGISTRY"
	cat >"$root/tmp/install-code-server.sh" <<-'EOF'
		set -eu
		V=$1
		export npm_config_registry=$2
		export npm_config_nodedir=/usr npm_config_update_notifier=false
		export npm_config_fund=false npm_config_audit=false npm_config_loglevel=warn
		export npm_config_unsafe_perm=true npm_config_jobs=max
		# The build host's CA bundle, for registries behind a TLS proxy; it is
		# removed again and never part of the image.
		if [ -s /tmp/build-ca.crt ]; then
			export npm_config_cafile=/tmp/build-ca.crt NODE_EXTRA_CA_CERTS=/tmp/build-ca.crt
		fi
		export JOBS=max
		mkdir -p /tmp/cs && cd /tmp/cs
		node -v
		npm -v
		npm pack "code-server@$V" >/dev/null
		tar xzf "code-server-$V.tgz" package/lib/vscode/npm-shrinkwrap.json
		# Seed @vscode/ripgrep's download cache with Debian's rg.
		rgv=$(node -p 'require("/tmp/cs/package/lib/vscode/npm-shrinkwrap.json").packages["node_modules/@vscode/ripgrep"].version')
		npm pack "@vscode/ripgrep@$rgv" >/dev/null
		tar xzf "vscode-ripgrep-$rgv.tgz" package/lib/postinstall.js
		tag=$(sed -n "s/^const VERSION = '\(.*\)';.*/\1/p" package/lib/postinstall.js)
		case $(node -p process.arch) in
		x64) target=x86_64-unknown-linux-musl ;;
		arm64) target=aarch64-unknown-linux-musl ;;
		*) echo "no ripgrep target for $(node -p process.arch)" >&2; exit 1 ;;
		esac
		mkdir -p "/tmp/vscode-ripgrep-cache-$rgv" /tmp/rg
		cp /usr/bin/rg /tmp/rg/rg
		tar czf "/tmp/vscode-ripgrep-cache-$rgv/ripgrep-$tag-$target.tar.gz" -C /tmp/rg rg
		echo "seeded @vscode/ripgrep $rgv ($tag, $target) with /usr/bin/rg"
		# Not a plain `npm install -g`: Debian's npm 9 exports
		# npm_config_global and npm_config_local_prefix to lifecycle scripts,
		# and the `npm install` that code-server's postinstall.sh runs in
		# lib/vscode then reinstalls code-server itself globally and fails
		# (ENOENT lib/vscode/package.json). So: install without scripts, build
		# the dependencies that have install scripts (argon2), and run
		# postinstall.sh ourselves with a clean npm environment.
		npm install -g --unsafe-perm --ignore-scripts "/tmp/cs/code-server-$V.tgz"
		cd "$(npm root -g)/code-server"
		deps=$(node -p 'const p = require("./npm-shrinkwrap.json").packages; [...new Set(Object.keys(p).filter(k => k && p[k].hasInstallScript).map(k => k.replace(/^.*node_modules\//, "")))].join(" ")')
		echo "rebuilding code-server dependencies: $deps"
		[ -z "$deps" ] || npm rebuild --foreground-scripts $deps
		export npm_config_user_agent="npm/$(npm -v) node/$(node -v) linux $(node -p process.arch)"
		sh ./postinstall.sh
	EOF
	local ca=${DEVBOX_BUILD_CA_FILE:-${NODE_EXTRA_CA_CERTS:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}}
	if [ -s "$ca" ]; then cp -L "$ca" "$root/tmp/build-ca.crt"; fi
	in_root sh /tmp/install-code-server.sh "$CODE_SERVER" "$NPM_REGISTRY" >"$work/code-server.log" 2>&1 || {
		tail -n 80 "$work/code-server.log" >&2
		die "installing code-server $CODE_SERVER failed"
	}
	local prefix cs
	prefix=$(in_root npm prefix -g)
	cs="$root$prefix/lib/node_modules/code-server"
	[ -d "$cs" ] || die "code-server is not in $prefix/lib/node_modules"
	# Build intermediates of the native modules are not needed at run time.
	find "$cs" -depth -type d \( -name obj.target -o -name 'build-tmp-*' -o -name .deps \) -exec rm -rf {} +
	# Source maps (about 160 MB) only serve a debugger; nothing loads them.
	find "$cs" -type f -name '*.js.map' -delete
	# Use Debian's rg instead of the copy inside code-server.
	local rgbin="$cs/lib/vscode/node_modules/@vscode/ripgrep/bin/rg"
	if [ -e "$rgbin" ]; then ln -sf /usr/bin/rg "$rgbin"; fi
	[ -e "$root/usr/local/bin/code-server" ] || ln -sf "$prefix/lib/node_modules/code-server/out/node/entry.js" "$root/usr/local/bin/code-server"
	local v
	v=$(in_root code-server --version) || die "code-server --version fails in the chroot"
	log "stage a: code-server --version: $(echo "$v" | tail -n1); install took $(($(date +%s) - t)) s"
	rm -rf "$root/tmp/cs" "$root/tmp/rg" "$root"/tmp/vscode-ripgrep-cache-* "$root/tmp/install-code-server.sh" "$root/tmp/build-ca.crt"
}

# check_native_modules fails when a native module of code-server is missing a
# shared library (e.g. after removing the build packages).
check_native_modules() {
	local f bad=0 n=0
	while IFS= read -r f; do
		n=$((n + 1))
		if in_root ldd "${f#"$root"}" 2>&1 | grep 'not found' >/dev/null; then
			log "native module ${f#"$root"} misses libraries:"
			in_root ldd "${f#"$root"}" | grep 'not found' >&2
			bad=1
		fi
	done < <(find "$root/usr/local/lib/node_modules/code-server" -name '*.node' -type f ! -path '*musl*' ! -path '*win32*')
	[ "$bad" = 0 ] || die "native modules are missing libraries"
	log "stage a: $n native modules link"
}

info_file() {
	local r=$1
	shift
	echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "suite: $suite"
	echo "mirror: $MIRROR"
	echo "security: ${SECURITY:-none}"
	echo "code-server: $CODE_SERVER"
	echo "node: $(in_root node -v)"
	echo "missing-packages: $*"
	echo "packages:"
	in_root dpkg-query -W -f='  ${Package} ${Version}\n'
}

if [ "$rebuild" = 1 ] || [ ! -s "$base_dir/base.tar" ]; then
	build_base
else
	log "stage a: cached $base_dir"
fi

# ---------------------------------------------------------------------------
# Stage (b): the final tar = the base tar plus the binaries.
import_changes() {
	cat <<-EOF
		ENTRYPOINT ["/usr/local/bin/devbox-init"]
		LABEL io.github.devbox-quadlet.notify=true
		LABEL io.github.devbox-quadlet.code-server=$CODE_SERVER
		LABEL org.opencontainers.image.title=devbox
		LABEL org.opencontainers.image.base.name=debian:$suite
		WORKDIR /home/dev
		ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
		ENV LANG=C.UTF-8
		STOPSIGNAL SIGTERM
	EOF
}

final_hash=$( {
	echo "$base_hash"
	sha256sum <"$tailnet/tailscale"
	sha256sum <"$tailnet/tailscaled"
	sha256sum <"$init"
	import_changes
} | sha256sum | cut -c1-16)
final_dir="$cache/final-$final_hash"

if [ ! -s "$final_dir/devbox.tar" ] || [ ! -s "$final_dir/import-changes" ] || [ "$rebuild" = 1 ]; then
	t=$(date +%s)
	log "stage b: appending tailscale, tailscaled and devbox-init"
	work=$(mktemp -d "$cache/build.XXXXXX")
	cp --reflink=auto "$base_dir/base.tar" "$work/devbox.tar"
	s="$work/stage"
	install -d -m 0755 "$s/usr/local/bin" "$s/usr/local/sbin"
	install -m 0755 "$tailnet/tailscale" "$s/usr/local/bin/tailscale"
	install -m 0755 "$tailnet/tailscaled" "$s/usr/local/sbin/tailscaled"
	ln -s ../sbin/tailscaled "$s/usr/local/bin/tailscaled"
	install -m 0755 "$init" "$s/usr/local/bin/devbox-init"
	tar --numeric-owner --owner=0 --group=0 --no-recursion -C "$s" -rf "$work/devbox.tar" \
		./usr/local/bin/tailscale ./usr/local/sbin/tailscaled ./usr/local/bin/tailscaled ./usr/local/bin/devbox-init
	import_changes >"$work/import-changes"
	{
		cat "$base_dir/base.info"
		echo "tailscale: $(sha256sum <"$tailnet/tailscale" | cut -d' ' -f1)"
		echo "tailscaled: $(sha256sum <"$tailnet/tailscaled" | cut -d' ' -f1)"
		echo "devbox-init: $(sha256sum <"$init" | cut -d' ' -f1)"
	} >"$work/image.info"
	rm -rf "$final_dir.new" "$final_dir"
	mkdir -p "$final_dir.new"
	mv "$work/devbox.tar" "$work/import-changes" "$work/image.info" "$final_dir.new/"
	mv "$final_dir.new" "$final_dir"
	rm -rf "$work"
	work=""
	log "stage b: built $final_dir in $(($(date +%s) - t)) s"
else
	log "stage b: cached $final_dir"
fi

# Keep the two newest bases and the three newest finals (the ones in use
# now count as newest).
touch "$base_dir" "$final_dir"
prune() { ls -1dt "$cache"/"$1"-* 2>/dev/null | grep -v '\.new$' | tail -n +"$(($2 + 1))" | while IFS= read -r d; do rm -rf "$d"; done; }
prune base 2
prune final 3

result=$final_dir
if [ -n "$out" ]; then
	mkdir -p "$out"
	out=$(cd "$out" && pwd)
	if [ "$out" != "$final_dir" ]; then
		for f in devbox.tar import-changes image.info; do
			rm -f "$out/$f"
			ln "$final_dir/$f" "$out/$f" 2>/dev/null || cp "$final_dir/$f" "$out/$f"
		done
	fi
	result=$out
fi
log "image: $result/devbox.tar $(du -h --apparent-size "$result/devbox.tar" | cut -f1) (code-server $CODE_SERVER, $suite)"
echo "$result"
