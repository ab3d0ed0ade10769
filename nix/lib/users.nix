# nix/lib/users.nix: the users.nix schema. It checks a team's users.nix,
# fills in defaults, and derives each user's subordinate id range.
#
# A users.nix is an attribute set keyed by login name:
#   alice = { uid = 1001; admin = true; sshKeys = [ "ssh-ed25519 AAAA... alice@laptop" ]; maxContainers = 5; description = "Alice"; };
# Only uid is required. The same file feeds users.users on NixOS and the
# [users.NAME] tables of config.toml, so a mistake here is caught once, at
# evaluation, with a message naming the user and the field.
let
  inherit (builtins)
    attrNames
    concatMap
    concatStringsSep
    elem
    elemAt
    filter
    genList
    head
    isAttrs
    isBool
    isInt
    isList
    isString
    length
    match
    replaceStrings
    stringLength
    substring
    toJSON
    typeOf
    ;

  prefix = "devbox-quadlet users.nix: ";
  quote = toJSON;

  # Below 1000 are system accounts on NixOS and Debian. 60000 and up are
  # reserved (login.defs' UID_MAX is 60000; systemd's dynamic users start
  # at 61184; nobody is 65534), and the cap keeps subIdRange below 2^32.
  uidMin = 1000;
  uidMax = 59999;

  # The Go side's Count type takes 1 to 100000 (internal/config/units.go).
  countMax = 100000;

  # The key types OpenSSH writes to a .pub file that are still worth
  # accepting: no ssh-dss (removed from OpenSSH 9.8).
  sshKeyTypes = [
    "ssh-ed25519"
    "ssh-rsa"
    "ecdsa-sha2-nistp256"
    "ecdsa-sha2-nistp384"
    "ecdsa-sha2-nistp521"
    "sk-ssh-ed25519@openssh.com"
    "sk-ecdsa-sha2-nistp256@openssh.com"
  ];

  # Optional fields and their defaults. The normalised user has exactly
  # these fields plus uid, so checkUsers (checkUsers x) == checkUsers x.
  defaults = {
    admin = false;
    sshKeys = [ ];
    # null: the host's caps.max_per_user applies.
    maxContainers = null;
    # "" is what users.users.<name>.description defaults to on NixOS.
    description = "";
  };
  allowedFields = attrNames (defaults // { uid = null; });

  chars = s: genList (i: substring i 1 s) (stringLength s);
  toLower = replaceStrings (chars "ABCDEFGHIJKLMNOPQRSTUVWXYZ") (chars "abcdefghijklmnopqrstuvwxyz");

  # Plain substring search: no regex, so ':' or '.' mean themselves.
  contains = needle: s: replaceStrings [ needle ] [ "" ] s != s;
  hasLineBreak = s: contains "\n" s || contains "\r" s;

  # What a wrong value was, for "got ..." in messages.
  describe =
    v:
    let
      t = typeOf v;
    in
    if t == "string" then
      "the string ${quote v}"
    else if t == "int" || t == "float" then
      "the number ${toString v}"
    else if t == "bool" then
      (if v then "true" else "false")
    else if t == "null" then
      "null"
    else if t == "set" then
      "an attribute set"
    else if t == "lambda" then
      "a function"
    else
      "a ${t}";

  # shadow's useradd default name rule (less the trailing $ of machine
  # accounts), limited to 32 characters (utmp's limit). It is stricter than
  # the Go side, which also takes '.' and a leading digit, so whatever passes
  # here passes there.
  validLogin = name: match "[a-z_][a-z0-9_-]{0,31}" name != null;

  checkName =
    name:
    if validLogin name then
      [ ]
    else
      [
        "invalid login name: want a lowercase letter or _ followed by up to 31 lowercase letters, digits, _ or -"
      ];

  checkUnknown =
    user:
    let
      unknown = filter (f: !(elem f allowedFields)) (attrNames user);
      # A field that differs only in case is the usual typo (sshkeys).
      hint =
        f:
        let
          same = filter (a: toLower a == toLower f) allowedFields;
        in
        if same == [ ] then "" else " (did you mean ${quote (head same)}?)";
    in
    map (
      f:
      "unknown field ${quote f}${hint f}: allowed fields are ${concatStringsSep ", " allowedFields}"
    ) unknown;

  checkUid =
    user:
    if !(user ? uid) then
      [ "uid is missing: every user needs a fixed uid from ${toString uidMin} to ${toString uidMax}" ]
    else if !(isInt user.uid) then
      [ "uid: want an integer from ${toString uidMin} to ${toString uidMax}, got ${describe user.uid}" ]
    else if user.uid < uidMin || user.uid > uidMax then
      [
        "uid ${toString user.uid} is out of range: want ${toString uidMin} to ${toString uidMax} (below are system accounts, above are reserved)"
      ]
    else
      [ ];

  checkAdmin =
    user:
    if user ? admin && !(isBool user.admin) then
      [ "admin: want true or false, got ${describe user.admin}" ]
    else
      [ ];

  keyRegex = "(${
    concatStringsSep "|" (map (t: replaceStrings [ "." ] [ "[.]" ] t) sshKeyTypes)
  }) [A-Za-z0-9+/]+={0,2}( .*)?";

  checkKey =
    i: key:
    let
      where = "sshKeys[${toString i}]";
      type = head (match "([^ ]*).*" key);
    in
    if !(isString key) then
      [ "${where}: want a public key string, got ${describe key}" ]
    # Checked before anything else: a private key is the mistake that matters.
    else if contains "PRIVATE KEY" key then
      [ "${where}: this is a private key: use the public key (the .pub file)" ]
    else if hasLineBreak key then
      [ "${where}: contains a line break: want one key per list item, each on one line" ]
    else if !(elem type sshKeyTypes) then
      [ "${where}: unknown key type ${quote type}: want one of ${concatStringsSep ", " sshKeyTypes}" ]
    else if match keyRegex key == null then
      [ "${where}: want \"TYPE BASE64 [COMMENT]\" as in a .pub file, e.g. \"ssh-ed25519 AAAAC3Nza... alice@laptop\"" ]
    else
      [ ];

  checkSshKeys =
    user:
    if !(user ? sshKeys) then
      [ ]
    else if !(isList user.sshKeys) then
      [ "sshKeys: want a list of public key strings, got ${describe user.sshKeys}" ]
    else
      concatMap (i: checkKey i (elemAt user.sshKeys i)) (genList (i: i) (length user.sshKeys));

  checkMaxContainers =
    user:
    let
      v = user.maxContainers;
    in
    if !(user ? maxContainers) || v == null then
      [ ]
    else if !(isInt v) then
      [ "maxContainers: want an integer from 1 to ${toString countMax}, got ${describe v}" ]
    else if v < 1 || v > countMax then
      [
        "maxContainers ${toString v} is out of range: want 1 to ${toString countMax} (leave it out for the host's caps.max_per_user)"
      ]
    else
      [ ];

  # The description becomes the GECOS field of /etc/passwd, where ':' and a
  # line break would start a new field or a new entry.
  checkDescription =
    user:
    let
      v = user.description;
    in
    if !(user ? description) then
      [ ]
    else if !(isString v) then
      [ "description: want a string, got ${describe v}" ]
    else if contains ":" v || hasLineBreak v then
      [ "description: must not contain ':' or a line break (it goes into /etc/passwd)" ]
    else
      [ ];

  # Duplicate uids are reported on the later name (in sorted order), naming
  # the first user that has it.
  checkDuplicateUid =
    users: names: name:
    let
      hasUid = n: isAttrs users.${n} && users.${n} ? uid && isInt users.${n}.uid;
      uid = users.${name}.uid;
      earlier = filter (n: n < name && hasUid n && users.${n}.uid == uid) names;
    in
    if !(hasUid name) || earlier == [ ] then
      [ ]
    else
      [ "uid ${toString uid} is also used by ${quote (head earlier)}" ];

  userErrors =
    users: names: name:
    let
      user = users.${name};
    in
    checkName name
    ++ (
      if !(isAttrs user) then
        [ "want an attribute set such as { uid = 1001; }, got ${describe user}" ]
      else
        checkUnknown user
        ++ checkUid user
        ++ checkAdmin user
        ++ checkSshKeys user
        ++ checkMaxContainers user
        ++ checkDescription user
        ++ checkDuplicateUid users names name
    );

  # validateUsers :: attrs -> [string]. Every problem in a users.nix, each
  # a full message; [] when it is fine. For NixOS assertions, which show
  # them all at once.
  validateUsers =
    users:
    if !(isAttrs users) then
      [
        "${prefix}want an attribute set of users keyed by login name, e.g. { alice = { uid = 1001; }; }, got ${describe users}"
      ]
    else if users == { } then
      [ "${prefix}no users: add at least one, e.g. { alice = { uid = 1001; }; }" ]
    else
      let
        names = attrNames users;
      in
      concatMap (
        name: map (e: "${prefix}user ${quote name}: ${e}") (userErrors users names name)
      ) names;

  # checkUsers :: attrs -> attrs. The users with every optional field
  # filled in, or a throw listing every problem, one per line.
  checkUsers =
    users:
    let
      errors = validateUsers users;
    in
    if errors != [ ] then
      throw (concatStringsSep "\n" errors)
    else
      builtins.mapAttrs (_: user: defaults // user) users;

  # checkAdmins :: users -> [string] -> [string]. Extra admin names (from a
  # module option) must be users in users.nix; returns them unchanged.
  checkAdmins =
    users: admins:
    let
      known = if isAttrs users then attrNames users else [ ];
      errors =
        if !(isList admins) then
          [ "${prefix}admins: want a list of login names, got ${describe admins}" ]
        else
          concatMap (
            a:
            if !(isString a) then
              [ "${prefix}admins: want login names, got ${describe a}" ]
            else if !(elem a known) then
              [ "${prefix}admin ${quote a} is not in users.nix: add the user there first" ]
            else
              [ ]
          ) admins;
    in
    if errors != [ ] then throw (concatStringsSep "\n" errors) else admins;

  # subIdRange :: int -> { start; count; }. The user's /etc/subuid and
  # /etc/subgid range:
  #   start = 100000 + (uid - 1000) * 65536, count = 65536
  # A function of the uid alone, so the range survives a rebuild, a reorder
  # of users.nix and a reinstall, and the files in a user's volumes keep
  # their owners. Distinct uids get disjoint ranges, all at or above 100000
  # (login.defs' SUB_UID_MIN), and uid 59999's ends at 3866724000, below
  # 2^32. NixOS's autoSubUidGidRange uses the same 65536-wide blocks from
  # 100000 but hands them out in order of allocation, not by uid, so the
  # two must not be mixed on one host: set subUidRanges/subGidRanges from
  # this and leave autoSubUidGidRange off.
  subIdRange =
    uid:
    if !(isInt uid) || uid < uidMin || uid > uidMax then
      throw "devbox-quadlet subIdRange: uid: want an integer from ${toString uidMin} to ${toString uidMax}, got ${describe uid}"
    else
      {
        start = 100000 + (uid - uidMin) * 65536;
        count = 65536;
      };
in
{
  inherit
    checkUsers
    checkAdmins
    subIdRange
    validateUsers
    sshKeyTypes
    defaults
    ;
  uidRange = {
    min = uidMin;
    max = uidMax;
  };
}
