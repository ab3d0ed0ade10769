# nix/lib/config.nix: users.nix plus the module's settings -> the text of
# /etc/devbox-quadlet/config.toml.
#
# It checks only what the Go side cannot tell apart once the file is
# written (where per-user settings come from) and what is cheap to say
# early (unknown sections, caps below one). Every key and value is checked
# again by `devbox-quadlet config validate`, the one full schema, which the
# module runs on the result and CI runs on the goldens.
{ toml, userLib }:
let
  inherit (builtins)
    attrNames
    concatMap
    concatStringsSep
    elem
    isAttrs
    isInt
    mapAttrs
    seq
    toJSON
    typeOf
    ;

  prefix = "devbox-quadlet settings: ";
  quote = toJSON;

  # The sections of internal/config/config.go's Config, less users, which
  # comes from users.nix. Keys inside a section are left to the Go validator,
  # so there is one list of them.
  sections = [
    "agent"
    "caps"
    "container"
    "host"
    "reaper"
    "secrets"
    "tailnet"
  ];

  # Caps are Go Counts (1 to 100000). A cap of 0 would read as "no
  # containers at all", which is never what a host wants.
  checkCap =
    caps: key:
    let
      v = caps.${key};
    in
    if !(caps ? ${key}) || v == null then
      [ ]
    else if !(isInt v) then
      [ "${prefix}caps.${key}: want an integer from 1 to 100000, got a ${typeOf v}" ]
    else if v < 1 then
      [ "${prefix}caps.${key}: ${toString v} is below one: want an integer from 1 to 100000" ]
    else if v > 100000 then
      [ "${prefix}caps.${key}: ${toString v} is above 100000" ]
    else
      [ ];

  checkSection =
    settings: name:
    let
      v = settings.${name};
    in
    if name == "users" then
      [ "${prefix}users: per-user settings come from users.nix (admin, maxContainers), not from settings" ]
    else if !(elem name sections) then
      [ "${prefix}unknown section ${quote name}: allowed sections are ${concatStringsSep ", " sections}" ]
    else if v == null then
      [ ]
    else if !(isAttrs v) then
      [ "${prefix}${name}: want a section (an attribute set of keys), got a ${typeOf v}" ]
    else if name == "caps" then
      checkCap v "max_per_user" ++ checkCap v "max_global"
    else
      [ ];

  # validateSettings :: attrs -> [string]. [] when the settings are fine.
  validateSettings =
    settings:
    if !(isAttrs settings) then
      [ "${prefix}want an attribute set of sections, got a ${typeOf settings}" ]
    else
      concatMap (checkSection settings) (attrNames settings);

  header = ''
    # /etc/devbox-quadlet/config.toml: generated from users.nix and the
    # module's settings by devbox-quadlet's Nix library (nix/lib). Edits here
    # are lost on the next rebuild: change users.nix or the settings instead.
  '';

  # renderConfig :: { users ? {}; admins ? []; settings ? {}; } -> string.
  # users may be raw or already checked; it is checked here either way, so
  # leaving it out (or an empty users.nix) is the "no users" error: a host
  # with nobody on it is a mistake in the file. Admins are the users with
  # admin = true plus the names in admins.
  renderConfig =
    {
      users ? { },
      admins ? [ ],
      settings ? { },
    }:
    let
      checked = userLib.checkUsers users;
      extraAdmins = userLib.checkAdmins checked admins;
      settingsErrors = validateSettings settings;
      userTable =
        name: user:
        (if user.admin || elem name extraAdmins then { admin = true; } else { })
        // (if user.maxContainers != null then { max_per_user = user.maxContainers; } else { });
      doc = settings // { users = mapAttrs userTable checked; };
    in
    if settingsErrors != [ ] then
      throw (concatStringsSep "\n" settingsErrors)
    else
      # seq: unknown admins are refused up front, not when a table reads the list.
      seq extraAdmins (header + "\n" + toml.toTOML doc);
in
{
  inherit renderConfig validateSettings sections;
}
