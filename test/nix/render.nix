# test/nix/render.nix: renderConfig on files named on the command line, for
# scripts/nix-check.sh's broken/ cases. Each argument is an absolute path
# (--argstr) to a file holding that argument; left out, the example users,
# the test settings and no extra admins are used.
#
# With --arg unchecked true it skips nix/lib's checks and writes the same
# tables straight through toTOML, so the script can ask the Go validator
# whether it refuses the same input: the two sides must agree where both
# have a rule.
{
  users ? null,
  settings ? null,
  admins ? null,
  unchecked ? false,
}:
let
  lib = import ../../nix/lib { };
  load = file: default: if file == null then default else import file;
  args = {
    users = load users (import ../../examples/users.nix);
    settings = load settings (import ./settings.nix);
    admins = load admins [ ];
  };
  # The [users.NAME] tables renderConfig would write, without its checks.
  rawUser =
    user:
    (if user ? admin then { inherit (user) admin; } else { })
    // (if user ? maxContainers then { max_per_user = user.maxContainers; } else { });
in
if unchecked then
  lib.toTOML (args.settings // { users = builtins.mapAttrs (_: rawUser) args.users; })
else
  lib.renderConfig args
