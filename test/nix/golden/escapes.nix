# test/nix/golden/escapes.nix: every ASCII character from 1 to 127 in one
# string, so the Go parser reads each escape the TOML writer makes.
# secrets.vault is a free-form word that refuses only '/' and line breaks, so
# those three are left out here; lib-test.nix covers their escapes.
let
  hex = "0123456789abcdef";
  char = i: builtins.fromJSON ''"\u00${builtins.substring (i / 16) 1 hex}${builtins.substring (i - i / 16 * 16) 1 hex}"'';
  codes = builtins.filter (i: i != 10 && i != 13 && i != 47) (builtins.genList (i: i + 1) 127);
in
(import ../../../nix/lib { }).renderConfig {
  users = import ../../../examples/users.nix;
  settings.secrets.vault = builtins.concatStringsSep "" (map char codes);
}
