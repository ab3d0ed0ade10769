# test/nix/lib-test.nix: runs the table tests of nix/lib (lib-cases.nix) and
# evaluates to the failing cases, each as { name; got; want; }, so [] means
# all passed. scripts/nix-check.sh runs it with
# `nix-instantiate --eval --strict --json`.
builtins.filter (c: c.got != c.want) (import ./lib-cases.nix)
