# debian-mirror.sh is sourced by the scripts that debootstrap Debian trixie
# (test/vm/build-image.sh, containers/build.sh). It reads the mirrors from
# this host's apt configuration, never a hard-coded host.

# debian_mirror prints the Debian mirror URL. DEVBOX_DEBIAN_MIRROR overrides
# it (e.g. on Ubuntu hosts, whose mirror has no trixie). Returns 1 if none.
debian_mirror() {
	if [ -n "${DEVBOX_DEBIAN_MIRROR:-}" ]; then
		echo "$DEVBOX_DEBIAN_MIRROR"
		return
	fi
	local f u
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -e "$f" ] || continue
		u=$(awk '/^URIs:/ {print $2}' "$f" | grep -v -- '-security' | head -n1 || true)
		if [ -n "$u" ]; then echo "$u"; return; fi
	done
	if [ -e /etc/apt/sources.list ]; then
		u=$(awk '$1 == "deb" && $2 !~ /^\[/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list)
		if [ -n "$u" ]; then echo "$u"; return; fi
	fi
	echo "cannot find a Debian mirror in apt's sources; set DEVBOX_DEBIAN_MIRROR" >&2
	return 1
}

# debian_security_mirror prints the Debian security mirror, or nothing.
# DEVBOX_DEBIAN_SECURITY_MIRROR overrides it; "none" disables it.
debian_security_mirror() {
	if [ -n "${DEVBOX_DEBIAN_SECURITY_MIRROR:-}" ]; then
		[ "$DEVBOX_DEBIAN_SECURITY_MIRROR" = none ] || echo "$DEVBOX_DEBIAN_SECURITY_MIRROR"
		return
	fi
	local f u
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -e "$f" ] || continue
		u=$(awk '/^URIs:/ {print $2}' "$f" | grep -- '-security' | head -n1 || true)
		if [ -n "$u" ]; then echo "$u"; return; fi
	done
	if [ -e /etc/apt/sources.list ]; then
		awk '$1 == "deb" && $2 !~ /^\[/ && $2 ~ /debian-security/ {print $2; exit}' /etc/apt/sources.list
	fi
}
