# nix/lib/default.nix: devbox-quadlet's data logic in builtins only, so that
# CI (a bare nix-instantiate, no nixpkgs) evaluates exactly what the NixOS
# module uses: the users.nix schema check, subuid ranges, and the
# users.nix -> config.toml rendering.
#
# Usage: (import ./nix/lib { }).renderConfig { users = import ./users.nix; }
# The argument is reserved for later use (a nixpkgs lib, say) and ignored.
{ ... }:
let
  toml = import ./toml.nix;
  userLib = import ./users.nix;
  config = import ./config.nix { inherit toml userLib; };
in
{
  # checkUsers :: attrs -> attrs: normalised users, or a throw.
  # checkAdmins :: users -> [string] -> [string]: extra admins, or a throw.
  # subIdRange :: int -> { start; count; }: the uid's subuid/subgid range.
  # validateUsers :: attrs -> [string]: every problem as a message ([] if none).
  inherit (userLib)
    checkUsers
    checkAdmins
    subIdRange
    validateUsers
    sshKeyTypes
    uidRange
    ;

  # renderConfig :: { users ? {}; admins ? []; settings ? {}; } -> string.
  # validateSettings :: attrs -> [string].
  inherit (config) renderConfig validateSettings;

  # toTOML :: attrs -> string.
  inherit (toml) toTOML;
}
