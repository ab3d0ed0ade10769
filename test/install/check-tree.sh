#!/usr/bin/env bash
# check-tree.sh runs `make install DESTDIR=…` for the default PREFIX and for
# PREFIX=/usr (a distribution package) and compares the trees with the lists
# next to it: the files README.md "Install on a host" describes, with their
# modes. It also checks that every unit names the installed binaries, that
# the reaper's enablement link points at the timer beside it, and that the
# installed completion scripts are what the installed binary prints.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
for prefix in /usr/local /usr; do
	name=${prefix//\//-}
	dest="$work/root$name"
	make -C "$repo" -s --no-print-directory install DESTDIR="$dest" PREFIX="$prefix" >/dev/null
	# The docs change often; that they are installed is enough.
	got=$(cd "$dest" && find . \( -type f -o -type l \) -not -path "./${prefix#/}/share/doc/*" -printf '%m %p\n' | sort)
	if ! diff -u "$here/tree$name.txt" <(echo "$got") >"$work/diff"; then
		echo "install tree for PREFIX=$prefix differs from test/install/tree$name.txt:"
		cat "$work/diff"
		fail=1
	fi
	[ -f "$dest$prefix/share/doc/devbox-quadlet/README.md" ] || { echo "PREFIX=$prefix: no docs"; fail=1; }
	for unit in "$dest$prefix"/lib/systemd/system/*.service "$dest$prefix"/lib/systemd/user/*.service; do
		exec_line=$(grep '^ExecStart=' "$unit")
		case $exec_line in
		"ExecStart=$prefix/bin/devbox-quadlet"*) ;;
		*) echo "$unit: $exec_line does not name $prefix/bin"; fail=1 ;;
		esac
	done
	link=$(readlink "$dest$prefix/lib/systemd/user/timers.target.wants/devbox-quadlet-reap.timer")
	[ "$link" = ../devbox-quadlet-reap.timer ] || { echo "PREFIX=$prefix: the timer's link points at $link"; fail=1; }
	"$dest$prefix/bin/devbox-quadlet" --version >/dev/null || fail=1
	for pair in bash:bash-completion/completions/devbox-quadlet zsh:zsh/site-functions/_devbox-quadlet \
		fish:fish/vendor_completions.d/devbox-quadlet.fish; do
		shell=${pair%%:*} file=$dest$prefix/share/${pair#*:}
		cmp -s "$file" <("$dest$prefix/bin/devbox-quadlet" completion "$shell") ||
			{ echo "PREFIX=$prefix: $file differs from \`devbox-quadlet completion $shell\`"; fail=1; }
	done
done
[ $fail -eq 0 ] && echo "install trees: as documented for PREFIX=/usr/local and PREFIX=/usr"
exit $fail
