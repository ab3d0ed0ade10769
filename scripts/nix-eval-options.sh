#!/usr/bin/env bash
# nix-eval-options.sh evaluates the NixOS module nix/modules/orchestrator.nix
# with lib.evalModules from a nixpkgs.lib checkout, against small stubs of
# the NixOS options it sets (users.users, systemd.*, environment.etc, …) and
# a stub pkgs, and prints what it found: the option declarations, the
# rendered config.toml for examples/users.nix (then validated by the Go
# parser, when Go is there), the users, slices, credentials and units the
# module defines, and the assertions it raises on broken input.
#
#   scripts/nix-eval-options.sh NIXPKGS_LIB_DIR
#
# NIXPKGS_LIB_DIR is a checkout of github.com/nix-community/nixpkgs.lib (its
# root or its lib/ directory). That code is not part of this repository and
# CI cannot obtain it, so this is a local check: without an argument (or
# $NIXPKGS_LIB_DIR) it says so and exits 0. It checks what the module does
# with its options, not what NixOS does with the result (no nixpkgs here).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
libdir=${1:-${NIXPKGS_LIB_DIR:-}}
if [ -z "$libdir" ]; then
	echo "nix-eval-options: skipped: no nixpkgs.lib checkout given (scripts/nix-eval-options.sh NIXPKGS_LIB_DIR)" >&2
	exit 0
fi
if [ -f "$libdir/lib/default.nix" ]; then libdir=$libdir/lib; fi
if [ ! -f "$libdir/default.nix" ] || [ ! -f "$libdir/modules.nix" ]; then
	echo "nix-eval-options: $libdir is not a nixpkgs lib directory (no default.nix and modules.nix)" >&2
	exit 2
fi
libdir=$(cd "$libdir" && pwd)
command -v nix-instantiate >/dev/null || { echo "nix-eval-options: nix-instantiate is not installed" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/eval.nix" <<'EOF'
# The harness: the module under test, stub option declarations for what it
# sets, a stub pkgs whose derivations are plain attribute sets that keep
# their arguments (so the rendered text can be read back).
{ libdir, repo, case }:
let
  lib = import libdir;
  inherit (lib) mkOption types;

  storeDir = builtins.storeDir;
  stubDrv = name: extra: {
    type = "derivation";
    inherit name;
    outPath = "${storeDir}/00000000000000000000000000000000-${name}";
  } // extra;

  pkgs = {
    inherit lib;
    callPackage =
      fn: args:
      let
        base = baseNameOf (toString fn);
      in
      stubDrv "stub-${base}" {
        version = "0.0.0-stub";
        imageName = "localhost/devbox";
        imageTag = "0.0.0-stub";
        init = stubDrv "stub-init" { };
        inherit args;
      };
    runCommand = name: env: script: stubDrv name { inherit env script; };
    writeText = name: text: stubDrv name { inherit text; };
  };

  anyAttrs = mkOption { type = types.attrsOf types.anything; default = { }; };
  anyList = mkOption { type = types.listOf types.anything; default = [ ]; };

  # Just enough of NixOS's option tree for the module's config to merge.
  nixosStubs = {
    options = {
      assertions = mkOption { type = types.listOf types.unspecified; default = [ ]; };
      warnings = mkOption { type = types.listOf types.str; default = [ ]; };
      environment.etc = anyAttrs;
      environment.systemPackages = anyList;
      services.dbus.packages = anyList;
      systemd.package = mkOption { type = types.unspecified; default = stubDrv "systemd" { }; };
      systemd.packages = anyList;
      systemd.services = anyAttrs;
      systemd.slices = anyAttrs;
      systemd.user.services = anyAttrs;
      systemd.user.timers = anyAttrs;
      system.userActivationScripts = anyAttrs;
      users.users = anyAttrs;
      users.groups = anyAttrs;
      users.manageLingering = mkOption { type = types.bool; default = true; };
      virtualisation.podman.enable = mkOption { type = types.bool; default = false; };
      virtualisation.podman.package = mkOption { type = types.unspecified; default = stubDrv "podman" { }; };
      # What examples/hosts/orchestrator.nix sets besides the module.
      services.openssh = anyAttrs;
      networking = anyAttrs;
      nixpkgs = anyAttrs;
      boot = anyAttrs;
      fileSystems = anyAttrs;
      system.stateVersion = mkOption { type = types.str; };
    };
  };

  cases = {
    example = {
      services.devbox-quadlet = {
        enable = true;
        users = import (repo + "/examples/users.nix");
        admins = [ "bob" ];
        settings = {
          caps.max_global = 7;
          agent.mode = "required";
          secrets.backend = "onepassword";
        };
        agent.credentials.opTokenFile = "/run/agenix/devbox-quadlet-op-token";
      };
    };
    # The example host of the flake (nixosConfigurations.example-orchestrator).
    host = import (repo + "/examples/hosts/orchestrator.nix");
    # Every kind of mistake at once: NixOS shows all assertions together.
    broken = {
      services.devbox-quadlet = {
        enable = true;
        users = {
          alice.uid = 1001;
          bob.uid = 1001;
          root.uid = 1005;
        };
        admins = [ "mallory" ];
        settings.caps.max_global = 0;
        agent.credentials.opTokenFile = "${storeDir}/abc-op-token";
        agent.credentials.tailscaleOAuthSecretFile = /tmp/ts-secret;
      };
    };
  };

  eval = lib.evalModules {
    modules = [
      nixosStubs
      (repo + "/nix/modules/orchestrator.nix")
      cases.${case}
      { _module.args.pkgs = pkgs; }
    ];
  };
  inherit (eval) config options;
  cfg = config.services.devbox-quadlet;

  optionDocs = map (o: {
    inherit (o) name type;
    default = o.default.text or null;
  }) (builtins.filter (o: o.visible && !o.internal) (lib.optionAttrSetToDocList options.services.devbox-quadlet));

  failed = map (a: a.message) (builtins.filter (a: !a.assertion) config.assertions);
  etc = config.environment.etc."devbox-quadlet/config.toml" or null;
in
if case == "broken" then
  { assertions = failed; }
else if case == "host" then
  {
    assertions = failed;
    inherit (config) warnings;
    configToml = etc.source.env.text;
  }
else
  {
    options = optionDocs;
    assertions = failed;
    inherit (config) warnings;
    configToml = etc.source.env.text;
    validateScript = etc.source.script;
    users = lib.mapAttrs (_: u: {
      inherit (u) uid linger extraGroups subUidRanges subGidRanges;
      description = u.description or null;
      keys = builtins.length u.openssh.authorizedKeys.keys;
    }) (lib.filterAttrs (_: u: u ? uid) config.users.users);
    systemUser = config.users.users.devbox-quadlet;
    groups = builtins.attrNames config.users.groups;
    slices = config.systemd.slices;
    agent = config.systemd.services.devbox-quadlet-agent;
    timers = config.systemd.user.timers;
    reaperPath = map toString config.systemd.user.services.devbox-quadlet-reap.path;
    imageLoader = {
      inherit (config.systemd.user.services.devbox-image-load) unitConfig serviceConfig wantedBy script;
      path = map toString config.systemd.user.services.devbox-image-load.path;
    };
    activation = config.system.userActivationScripts;
    podman = config.virtualisation.podman.enable;
    systemdPackages = map (p: p.name) config.systemd.packages;
    dbusPackages = map (p: p.name) config.services.dbus.packages;
  }
EOF

run() {
	nix-instantiate --option build-users-group '' --eval --strict --json "$tmp/eval.nix" \
		--arg libdir "$libdir" --arg repo "$here" --argstr case "$1" 2>"$tmp/err" || {
		cat "$tmp/err" >&2
		return 1
	}
}

start=$(date +%s%N)
run example >"$tmp/example.json"
run host >"$tmp/host.json"
run broken >"$tmp/broken.json"
ms=$((($(date +%s%N) - start) / 1000000))

python3 - "$tmp" "$ms" <<'EOF'
import json, sys
tmp, ms = sys.argv[1], sys.argv[2]
ex = json.load(open(f"{tmp}/example.json"))
br = json.load(open(f"{tmp}/broken.json"))
print(f"# nix-eval-options: three evaluations in {ms} ms")
print(f"\n## {len(ex['options'])} options of services.devbox-quadlet")
for o in ex["options"]:
    d = f" (default: {o['default']})" if o["default"] is not None else ""
    print(f"- {o['name']}: {o['type']}{d}")
print("\n## examples/users.nix: assertions failing:", ex["assertions"] or "none")
print("warnings:", ex["warnings"] or "none")
print("\n## users")
for n, u in sorted(ex["users"].items()):
    print(f"- {n}: {json.dumps(u, sort_keys=True)}")
print("- devbox-quadlet (system user):", json.dumps(ex["systemUser"], sort_keys=True))
print("groups:", ", ".join(ex["groups"]))
print("\n## units")
print("systemd.packages:", ex["systemdPackages"], " dbus packages:", ex["dbusPackages"], " podman:", ex["podman"])
print("agent drop-in:", json.dumps(ex["agent"], sort_keys=True))
print("timers:", json.dumps(ex["timers"], sort_keys=True), " reaper PATH:", ex["reaperPath"])
print("slices:", json.dumps(ex["slices"], sort_keys=True))
il = ex["imageLoader"]
print("image loader:", json.dumps({k: il[k] for k in ("unitConfig", "serviceConfig", "wantedBy", "path")}, sort_keys=True))
print(il["script"].rstrip())
print("activation hook:", ex["activation"]["devbox-image-load"].strip().replace("\n", " / "))
print("\n## config.toml (rendered for examples/users.nix)")
print(ex["configToml"].rstrip())
open(f"{tmp}/config.toml", "w").write(ex["configToml"])
print("\n## the build-time check the module runs on it")
print(ex["validateScript"].strip())
ho = json.load(open(f"{tmp}/host.json"))
print("\n## examples/hosts/orchestrator.nix: assertions failing:", ho["assertions"] or "none", "; warnings:", ho["warnings"] or "none")
print(ho["configToml"].rstrip())
open(f"{tmp}/host.toml", "w").write(ho["configToml"])
print("\n## a broken configuration: the assertions NixOS would print")
for m in br["assertions"]:
    print("-", m)
EOF

if command -v go >/dev/null 2>&1 || [ -f "$here/scripts/go.sh" ]; then
	echo
	echo "## devbox-quadlet config validate on the rendered files"
	(
		cd "$here"
		if ! command -v go >/dev/null 2>&1; then
			# shellcheck source=scripts/go.sh
			. scripts/go.sh
		fi
		go build -o "$tmp/devbox-quadlet" ./cmd/devbox-quadlet
		"$tmp/devbox-quadlet" config validate "$tmp/config.toml"
		"$tmp/devbox-quadlet" config validate "$tmp/host.toml"
	)
fi
