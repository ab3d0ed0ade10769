# test/nix/golden/config.nix: the golden render of config.toml, from
# examples/users.nix and test/nix/settings.nix. Compared byte for byte with
# config.toml beside it, and validated by the Go CLI.
(import ../../../nix/lib { }).renderConfig {
  users = import ../../../examples/users.nix;
  settings = import ../settings.nix;
}
