# test/nix/golden/users-only.nix: users and extra admins without settings,
# the smallest file a host gets: every other key keeps Go's default.
(import ../../../nix/lib { }).renderConfig {
  users = import ../../../examples/users.nix;
  admins = [ "carol" ];
}
