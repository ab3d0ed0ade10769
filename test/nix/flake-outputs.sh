#!/usr/bin/env bash
# flake-outputs.sh lists the flake's outputs offline and compares them with
# the expected list in test/nix/flake-outputs.nix: no nixpkgs, no network,
# no flake.lock needed (the inputs are stubs that throw when forced). It
# also fails when containers/profile/packages.txt names a Debian package
# that nix/profile.nix does not map. Exits 1 and prints what differed.
# Needs only nix-instantiate (Debian's nix-bin 2.8 will do).
#
#   bash test/nix/flake-outputs.sh
set -euo pipefail

cd "$(dirname "$0")/../.."
command -v nix-instantiate >/dev/null || { echo "flake-outputs: nix-instantiate is not installed (apt-get install nix-bin)" >&2; exit 2; }

err=$(mktemp)
trap 'rm -f "$err"' EXIT
nixeval() {
	# The build-users-group warning of a daemon-less Debian nix is noise.
	nix-instantiate --eval --strict -E "$1" 2>"$err" || {
		grep -v "build-users-group" "$err" >&2 || true
		echo "flake-outputs: FAIL: test/nix/flake-outputs.nix did not evaluate" >&2
		exit 1
	}
}

# The report is a Nix string: print it through printf %b with its escapes,
# so this needs no JSON tool.
report=$(nixeval '(import ./test/nix/flake-outputs.nix).report')
report=${report#\"}
report=${report%\"}
report=${report//\\\"/\"}
report=${report//\\$/$}
ok=$(nixeval '(import ./test/nix/flake-outputs.nix).ok')
printf '%b' "$report" | sed 's/^/flake-outputs: /' >&2
[ "$ok" = true ]
