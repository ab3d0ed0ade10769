#!/usr/bin/env bash
# nix-check.sh runs the Nix checks that need no nixpkgs, so they run in CI on
# a plain Debian host with Debian's Nix 2.8 (scripts/deps.sh installs
# nix-bin): a parse gate over every *.nix file, the pure-eval tests of
# nix/lib, golden renders of config.toml, a cross-check of those renders with
# the Go validator, the broken users.nix/settings cases, and a formatter check
# when a Nix formatter is installed. The NixOS module, the flake's packages
# and the VM test need nixpkgs and are not checked here (see README.md).
#
# Usage: bash scripts/nix-check.sh [--update]
#   --update       rewrite test/nix/golden/*.toml from the current renders
#   DEVBOX_BIN     a devbox-quadlet binary to validate with; without it the
#                  script builds one into build/bin
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

update=0
case "${1:-}" in
--update) update=1 ;;
"") ;;
*)
	echo "usage: bash scripts/nix-check.sh [--update]" >&2
	exit 2
	;;
esac

if ! command -v nix-instantiate >/dev/null; then
	echo "nix-check: nix-instantiate not found: install nix-bin (bash scripts/deps.sh)" >&2
	exit 1
fi

# substituters '': otherwise every step spends seconds on DNS retries for the
# binary cache. build-users-group '': silences Debian's warning that the
# nixbld group is missing, so stderr holds only what the checks say.
# dummy:// store: evaluation here never builds or reads a store path, so it
# needs no store, no daemon and no root.
nix_opts=(--option substituters '' --option build-users-group '' --store dummy://)
nix_eval() { nix-instantiate "${nix_opts[@]}" --eval --strict "$@"; }
# Nix 2.8's nix-instantiate has no --raw, and decoding its JSON would need jq
# or python3, which a fresh Debian lacks. `nix eval --raw` prints a string as
# it is; it is behind the nix-command feature flag in 2.8.
nix_raw() { nix --extra-experimental-features nix-command "${nix_opts[@]}" eval --raw --file "$1"; }
nix_raw_expr() { nix --extra-experimental-features nix-command "${nix_opts[@]}" eval --impure --raw --expr "$1"; }

# Not "tmp": scripts/go.sh uses that name.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/render"

passed=0
failed=0
pass() { passed=$((passed + 1)); }
fail() {
	failed=$((failed + 1))
	echo "FAIL: $*" >&2
}
step() { printf '%-28s' "$1"; }

# 1. Parse gate: every *.nix in the tree, tracked or not, outside build/.
step "nix parse"
mapfile -d '' nix_files < <(find . \( -path ./build -o -path ./.git \) -prune -o -name '*.nix' -print0 | sort -z)
if nix-instantiate "${nix_opts[@]}" --parse "${nix_files[@]}" >/dev/null; then
	echo "${#nix_files[@]} files ok"
	pass
else
	echo "failed"
	fail "a *.nix file does not parse (see above)"
	# Nothing below can evaluate a file that does not parse.
	echo "nix-check: $passed passed, $failed failed"
	exit 1
fi

# 2. Pure-eval table tests of nix/lib. lib-test.nix evaluates to the failing
# cases of lib-cases.nix, so the result must be exactly [].
step "nix/lib tests"
cases=$(nix_eval --expr "builtins.length (import $root/test/nix/lib-cases.nix)") || cases=0
failures=$(nix_eval --json test/nix/lib-test.nix) || failures="(evaluation failed, see above)"
if [ "$failures" = "[]" ] && [ "$cases" -gt 0 ]; then
	echo "$cases cases ok"
	passed=$((passed + cases))
else
	echo "failed"
	if command -v jq >/dev/null && [ "${failures#[}" != "$failures" ]; then
		printf '%s\n' "$failures" | jq . >&2
	else
		printf '%s\n' "$failures" >&2
	fi
	fail "test/nix/lib-test.nix: failing cases above"
fi

# 3. Goldens: each test/nix/golden/NAME.nix renders NAME.toml byte for byte.
step "golden renders"
golden_ok=0
for expr in test/nix/golden/*.nix; do
	name=$(basename "$expr" .nix)
	want=test/nix/golden/$name.toml
	if ! nix_raw "$expr" >"$work/render/$name.toml"; then
		rm -f "$work/render/$name.toml"
		fail "$expr does not evaluate"
		continue
	fi
	if [ "$update" = 1 ]; then
		cp "$work/render/$name.toml" "$want"
	fi
	if cmp -s "$work/render/$name.toml" "$want"; then
		golden_ok=$((golden_ok + 1))
		pass
	else
		diff -u "$want" "$work/render/$name.toml" >&2 || true
		fail "$want differs from the render of $expr (bash scripts/nix-check.sh --update rewrites it)"
	fi
done
echo "$golden_ok ok$([ "$update" = 1 ] && echo ', updated')"

# 4. Cross-check with the Go validator: every render must be a valid config.
step "go config validate"
bin=${DEVBOX_BIN:-}
if [ -z "$bin" ]; then
	(
		. scripts/go.sh
		CGO_ENABLED=0 go build -o build/bin/ ./cmd/devbox-quadlet
	)
	bin=$root/build/bin/devbox-quadlet
fi
validated=0
for toml in "$work"/render/*.toml; do
	if "$bin" config validate "$toml" >"$work/validate.out" 2>&1; then
		validated=$((validated + 1))
		pass
	else
		cat "$work/validate.out" >&2
		fail "devbox-quadlet config validate refused the render of test/nix/golden/$(basename "$toml" .toml).nix"
	fi
done
echo "$validated renders valid"

# 5. Broken inputs: each must fail with the message in its "# expect:" line.
# The directory names renderConfig's argument the file is passed as. A file
# marked "# go: invalid" breaks a rule the Go side has too: written out
# without nix/lib's checks, devbox-quadlet config validate must refuse it
# (exit 2), so the two validators are shown to agree there.
step "broken inputs refused"
refused=0
agreed=0
for f in test/nix/broken/*/*.nix; do
	kind=$(basename "$(dirname "$f")")
	expect=$(sed -n 's/^# expect: //p' "$f" | head -n1)
	if [ -z "$expect" ]; then
		fail "$f has no '# expect: MESSAGE' line"
		continue
	fi
	if nix_eval test/nix/render.nix --argstr "$kind" "$root/$f" >/dev/null 2>"$work/err"; then
		fail "$f was accepted; want an error containing: $expect"
	elif ! grep -qF -- "$expect" "$work/err"; then
		cat "$work/err" >&2
		fail "$f failed without the expected message: $expect"
	else
		refused=$((refused + 1))
		pass
	fi
	if grep -q '^# go: invalid$' "$f"; then
		rc=0
		# nix eval in 2.8 does not pass --argstr to a --file function, so
		# the arguments travel in the environment (hence --impure).
		# shellcheck disable=SC2016 # the ${...} is Nix's, not the shell's.
		if NIX_CHECK_KIND=$kind NIX_CHECK_FILE=$root/$f nix_raw_expr \
			'import ./test/nix/render.nix { ${builtins.getEnv "NIX_CHECK_KIND"} = builtins.getEnv "NIX_CHECK_FILE"; unchecked = true; }' \
			>"$work/raw.toml"; then
			"$bin" config validate "$work/raw.toml" >"$work/validate.out" 2>&1 || rc=$?
		else
			rc=eval-failed
		fi
		if [ "$rc" = 2 ]; then
			agreed=$((agreed + 1))
			pass
		else
			cat "$work/raw.toml" "$work/validate.out" >&2
			fail "$f: devbox-quadlet config validate exited $rc on it unchecked, want 2 (the Go side should refuse it too)"
		fi
	fi
done
echo "$refused ok, Go agrees on $agreed"

# 6. Formatting. Debian 12 and 13 package no Nix formatter (nixfmt,
# alejandra and nixpkgs-fmt are absent from bookworm, trixie and sid), so
# this runs only where someone installed nixfmt; the files are kept in its
# RFC 166 style by hand.
step "nixfmt"
if command -v nixfmt >/dev/null; then
	if nixfmt --check "${nix_files[@]}"; then
		echo "ok ($(nixfmt --version 2>&1 | head -n1))"
		pass
	else
		fail "nixfmt --check: files above are not formatted"
	fi
else
	echo "skipped: no nixfmt on this host (Debian packages none)"
fi

echo "nix-check: $passed passed, $failed failed"
[ "$failed" = 0 ]
