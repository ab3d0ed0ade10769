# test/nix/lib-cases.nix: the table tests of nix/lib, as a list of
# { name; got; want; }. test/nix/lib-test.nix runs them.
#
# A case whose `got` should fail uses `throws`, which sees only whether it
# threw (tryEval hides the message); exact messages are tested here through
# validateUsers and validateSettings, which return them as data, and the
# messages of whole files by the broken/ cases of scripts/nix-check.sh.
let
  inherit (builtins)
    deepSeq
    elemAt
    filter
    fromJSON
    genList
    substring
    tryEval
    ;

  lib = import ../../nix/lib { };
  toml = import ../../nix/lib/toml.nix;
  example = import ../../examples/users.nix;

  throws = v: !(tryEval (deepSeq v v)).success;

  # validateUsers on a user "bob" with uid 1002 and the given fields.
  bobWith =
    fields:
    lib.validateUsers {
      bob = {
        uid = 1002;
      }
      // fields;
    };

  p = "devbox-quadlet users.nix: ";
  s = "devbox-quadlet settings: ";
  key = "ssh-ed25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA test@example";
  allowed = "allowed fields are admin, description, maxContainers, sshKeys, uid";

  # The character with code i (1 to 127), and how a TOML basic string must
  # write it. Nix's toJSON picks \u00XX over \b and \f, which TOML reads too.
  hex = "0123456789abcdef";
  hex2 = i: substring (i / 16) 1 hex + substring (i - i / 16 * 16) 1 hex;
  char = i: fromJSON ''"\u00${hex2 i}"'';
  wantEscaped =
    i:
    if i == 9 then
      "\\t"
    else if i == 10 then
      "\\n"
    else if i == 13 then
      "\\r"
    else if i == 34 then
      "\\\""
    else if i == 92 then
      "\\\\"
    else if i < 32 || i == 127 then
      "\\u00${hex2 i}"
    else
      char i;
  asciiCodes = genList (i: i + 1) 127;

  cases = [
    # toTOML: strings and keys.
    {
      name = "every ASCII character is written as TOML allows in a basic string";
      got = filter (i: toml.escapeString (char i) != "\"${wantEscaped i}\"") asciiCodes;
      want = [ ];
    }
    {
      name = "quotes, backslashes and line breaks are escaped";
      got = lib.toTOML { s = "a\"b\\c\nd\te"; };
      want = ''
        s = "a\"b\\c\nd\te"
      '';
    }
    {
      name = "UTF-8 passes through unescaped";
      got = lib.toTOML { s = "héllo ✓"; };
      want = ''
        s = "héllo ✓"
      '';
    }
    {
      name = "keys outside A-Za-z0-9_- are quoted, so they cannot split a table path";
      got = lib.toTOML {
        "a.b" = 1;
        "" = 2;
        "x y" = {
          k = 3;
        };
      };
      want = ''
        "" = 2
        "a.b" = 1

        ["x y"]
        k = 3
      '';
    }

    # toTOML: values.
    {
      name = "integers, booleans and arrays";
      got = lib.toTOML {
        i = -42;
        t = true;
        f = false;
        l = [
          1
          "a"
          true
          [ 2 ]
        ];
        e = [ ];
      };
      want = ''
        e = []
        f = false
        i = -42
        l = [1, "a", true, [2]]
        t = true
      '';
    }
    {
      name = "floats are written exactly, always with a point or an exponent";
      got = map (f: lib.toTOML { inherit f; }) [
        1.0
        2.5
        0.1
        (-2.0)
        123456789.0
        1.0e-7
        1.0e20
      ];
      want = [
        "f = 1.0\n"
        "f = 2.5\n"
        "f = 0.1\n"
        "f = -2.0\n"
        "f = 123456789.0\n"
        "f = 1e-07\n"
        "f = 1e+20\n"
      ];
    }
    {
      name = "a float with no exact short form is refused, not rounded";
      got = throws (lib.toTOML { f = 1.0 / 3; });
      want = true;
    }
    {
      name = "null keys are left out";
      got = lib.toTOML {
        a = null;
        b = 1;
      };
      want = "b = 1\n";
    }
    {
      name = "values that TOML cannot hold are refused";
      got = map throws [
        (lib.toTOML { f = x: x; })
        (lib.toTOML { l = [ { } ]; })
        (lib.toTOML { l = [ null ]; })
        (lib.toTOML { p = ./.; })
        (lib.toTOML "x")
      ];
      want = [
        true
        true
        true
        true
        true
      ];
    }

    # toTOML: tables.
    {
      name = "leaves first, then sub-tables in sorted order; empty tables keep a header";
      got = lib.toTOML {
        z = 1;
        a = {
          b = {
            c = 1;
          };
          d = 2;
        };
        e = { };
      };
      want = ''
        z = 1

        [a]
        d = 2

        [a.b]
        c = 1

        [e]
      '';
    }
    {
      name = "a table with only sub-tables is implicit";
      got = lib.toTOML { users.alice.admin = true; };
      want = ''
        [users.alice]
        admin = true
      '';
    }
    {
      name = "an empty document is empty";
      got = lib.toTOML { };
      want = "";
    }

    # checkUsers: the happy path.
    {
      name = "the example normalises with every default filled in";
      got = lib.checkUsers example;
      want = {
        alice = {
          uid = 1001;
          admin = true;
          sshKeys = example.alice.sshKeys;
          maxContainers = 5;
          description = "Alice Example";
        };
        bob = {
          uid = 1002;
          admin = false;
          sshKeys = example.bob.sshKeys;
          maxContainers = null;
          description = "";
        };
        carol = {
          uid = 1003;
          admin = false;
          sshKeys = example.carol.sshKeys;
          maxContainers = null;
          description = "Carol Example";
        };
      };
    }
    {
      name = "checking normalised users again changes nothing";
      got = lib.checkUsers (lib.checkUsers example);
      want = lib.checkUsers example;
    }
    {
      name = "the edges of the ranges are accepted";
      got = lib.validateUsers {
        _a = {
          uid = 1000;
          maxContainers = 1;
        };
        b-2 = {
          uid = 59999;
          maxContainers = 100000;
          maxContainers_ = null;
        };
        abcdefghijklmnopqrstuvwxyz012345 = {
          uid = 1500;
        };
      };
      want = [
        ''${p}user "b-2": unknown field "maxContainers_": ${allowed}''
      ];
    }
    {
      name = "every supported key type is accepted";
      got = lib.validateUsers {
        alice = {
          uid = 1001;
          sshKeys = map (t: "${t} AAAA+/09== c") lib.sshKeyTypes ++ [
            "ssh-rsa AAAAB3NzaC1yc2E"
          ];
        };
      };
      want = [ ];
    }

    # checkUsers: the messages.
    {
      name = "an empty users.nix is refused";
      got = lib.validateUsers { };
      want = [ "${p}no users: add at least one, e.g. { alice = { uid = 1001; }; }" ];
    }
    {
      name = "a users.nix that is not an attribute set is refused";
      got = lib.validateUsers [ "alice" ];
      want = [
        "${p}want an attribute set of users keyed by login name, e.g. { alice = { uid = 1001; }; }, got a list"
      ];
    }
    {
      name = "a duplicate uid names the user who has it first";
      got = lib.validateUsers {
        bob = {
          uid = 1001;
        };
        alice = {
          uid = 1001;
        };
        carol = {
          uid = 1001;
        };
      };
      want = [
        ''${p}user "bob": uid 1001 is also used by "alice"''
        ''${p}user "carol": uid 1001 is also used by "alice"''
      ];
    }
    {
      name = "a field that differs only in case gets a did-you-mean";
      got = lib.validateUsers {
        bob = {
          uid = 1002;
          sshkeys = [ ];
          shell = "bash";
        };
      };
      want = [
        ''${p}user "bob": unknown field "shell": ${allowed}''
        ''${p}user "bob": unknown field "sshkeys" (did you mean "sshKeys"?): ${allowed}''
      ];
    }
    {
      name = "bad login names are refused";
      got = map (n: lib.validateUsers { ${n} = { uid = 1001; }; }) [
        "Bob"
        "../root"
        "1abc"
        "-x"
        "a.b"
        "abcdefghijklmnopqrstuvwxyz0123456"
        ""
      ];
      want =
        map
          (n: [
            "${p}user ${builtins.toJSON n}: invalid login name: want a lowercase letter or _ followed by up to 31 lowercase letters, digits, _ or -"
          ])
          [
            "Bob"
            "../root"
            "1abc"
            "-x"
            "a.b"
            "abcdefghijklmnopqrstuvwxyz0123456"
            ""
          ];
    }
    {
      name = "uid must be an integer in range, and present";
      got = map (u: lib.validateUsers { bob = u; }) [
        { uid = 999; }
        { uid = 60000; }
        { uid = "1002"; }
        { admin = true; }
      ];
      want = [
        [
          ''${p}user "bob": uid 999 is out of range: want 1000 to 59999 (below are system accounts, above are reserved)''
        ]
        [
          ''${p}user "bob": uid 60000 is out of range: want 1000 to 59999 (below are system accounts, above are reserved)''
        ]
        [ ''${p}user "bob": uid: want an integer from 1000 to 59999, got the string "1002"'' ]
        [ ''${p}user "bob": uid is missing: every user needs a fixed uid from 1000 to 59999'' ]
      ];
    }
    {
      name = "a user that is not an attribute set is refused";
      got = lib.validateUsers { bob = 1002; };
      want = [ ''${p}user "bob": want an attribute set such as { uid = 1001; }, got the number 1002'' ];
    }
    {
      name = "admin must be a bool";
      got = lib.validateUsers {
        bob = {
          uid = 1002;
          admin = "yes";
        };
      };
      want = [ ''${p}user "bob": admin: want true or false, got the string "yes"'' ];
    }
    {
      name = "ssh keys: a list of one-line public keys of a known type";
      got = map (k: bobWith { sshKeys = k; }) [
        key
        [ 7 ]
        [ "ssh-dss AAAAB3NzaC1kc3M bob@old" ]
        [ "${key}\n${key}" ]
        [ "-----BEGIN OPENSSH PRIVATE KEY-----" ]
        [ "ssh-ed25519" ]
        [ "ssh-ed25519 not*base64" ]
        [ "from=\"10.0.0.1\" ${key}" ]
      ];
      want = [
        [ ''${p}user "bob": sshKeys: want a list of public key strings, got the string "${key}"'' ]
        [ ''${p}user "bob": sshKeys[0]: want a public key string, got the number 7'' ]
        [
          ''${p}user "bob": sshKeys[0]: unknown key type "ssh-dss": want one of ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256, ecdsa-sha2-nistp384, ecdsa-sha2-nistp521, sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com''
        ]
        [
          ''${p}user "bob": sshKeys[0]: contains a line break: want one key per list item, each on one line''
        ]
        [ ''${p}user "bob": sshKeys[0]: this is a private key: use the public key (the .pub file)'' ]
        [
          ''${p}user "bob": sshKeys[0]: want "TYPE BASE64 [COMMENT]" as in a .pub file, e.g. "ssh-ed25519 AAAAC3Nza... alice@laptop"''
        ]
        [
          ''${p}user "bob": sshKeys[0]: want "TYPE BASE64 [COMMENT]" as in a .pub file, e.g. "ssh-ed25519 AAAAC3Nza... alice@laptop"''
        ]
        [
          ''${p}user "bob": sshKeys[0]: unknown key type "from=\"10.0.0.1\"": want one of ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256, ecdsa-sha2-nistp384, ecdsa-sha2-nistp521, sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com''
        ]
      ];
    }
    {
      name = "maxContainers: null or an integer from 1 to 100000";
      got = map (m: bobWith { maxContainers = m; }) [
        null
        0
        100001
        "5"
      ];
      want = [
        [ ]
        [
          ''${p}user "bob": maxContainers 0 is out of range: want 1 to 100000 (leave it out for the host's caps.max_per_user)''
        ]
        [
          ''${p}user "bob": maxContainers 100001 is out of range: want 1 to 100000 (leave it out for the host's caps.max_per_user)''
        ]
        [ ''${p}user "bob": maxContainers: want an integer from 1 to 100000, got the string "5"'' ]
      ];
    }
    {
      name = "description: a string without ':' or a line break";
      got = map (d: bobWith { description = d; }) [
        "Bob B."
        "Bob:x"
        "Bob\nroot::0:0::/:/bin/sh"
        42
      ];
      want = [
        [ ]
        [ ''${p}user "bob": description: must not contain ':' or a line break (it goes into /etc/passwd)'' ]
        [ ''${p}user "bob": description: must not contain ':' or a line break (it goes into /etc/passwd)'' ]
        [ ''${p}user "bob": description: want a string, got the number 42'' ]
      ];
    }
    {
      name = "every problem is reported, users in sorted order";
      got = lib.validateUsers {
        zed = {
          uid = 5;
          admin = 1;
        };
        Amy = {
          uid = 1001;
        };
      };
      want = [
        ''${p}user "Amy": invalid login name: want a lowercase letter or _ followed by up to 31 lowercase letters, digits, _ or -''
        ''${p}user "zed": uid 5 is out of range: want 1000 to 59999 (below are system accounts, above are reserved)''
        ''${p}user "zed": admin: want true or false, got the number 1''
      ];
    }
    {
      name = "checkUsers throws when validateUsers has anything to say";
      got = map throws [
        (lib.checkUsers { })
        (lib.checkUsers { bob.uid = 1; })
        (lib.checkUsers example)
      ];
      want = [
        true
        true
        false
      ];
    }

    # checkAdmins.
    {
      name = "checkAdmins returns known names unchanged";
      got = lib.checkAdmins example [
        "carol"
        "bob"
      ];
      want = [
        "carol"
        "bob"
      ];
    }
    {
      name = "checkAdmins refuses unknown names and non-lists";
      got = map throws [
        (lib.checkAdmins example [ "dave" ])
        (lib.checkAdmins example "bob")
        (lib.checkAdmins example [ 1 ])
        (lib.checkAdmins { } [ "bob" ])
      ];
      want = [
        true
        true
        true
        true
      ];
    }

    # subIdRange.
    {
      name = "subIdRange follows start = 100000 + (uid - 1000) * 65536";
      got = map lib.subIdRange [
        1000
        1001
        59999
      ];
      want = [
        {
          start = 100000;
          count = 65536;
        }
        {
          start = 165536;
          count = 65536;
        }
        {
          start = 3866658464;
          count = 65536;
        }
      ];
    }
    {
      name = "subIdRange: neighbouring uids touch without overlap, and the last ends below 2^32";
      got =
        let
          r = lib.subIdRange;
        in
        [
          ((r 1234).start + (r 1234).count == (r 1235).start)
          ((r 59999).start + (r 59999).count <= 4294967296)
        ];
      want = [
        true
        true
      ];
    }
    {
      name = "subIdRange refuses uids outside 1000 to 59999";
      got = map (u: throws (lib.subIdRange u)) [
        999
        60000
        "1000"
      ];
      want = [
        true
        true
        true
      ];
    }

    # renderConfig.
    {
      name = "users alone render the header and one table per user";
      got = lib.renderConfig {
        users = {
          bob = {
            uid = 1002;
          };
        };
      };
      want = ''
        # /etc/devbox-quadlet/config.toml: generated from users.nix and the
        # module's settings by devbox-quadlet's Nix library (nix/lib). Edits here
        # are lost on the next rebuild: change users.nix or the settings instead.

        [users.bob]
      '';
    }
    {
      name = "names in admins become admin = true";
      got =
        let
          out = lib.renderConfig {
            users = {
              bob = {
                uid = 1002;
              };
            };
            admins = [ "bob" ];
          };
        in
        builtins.match ".*\n\\[users[.]bob]\nadmin = true\n" out != null;
      want = true;
    }
    {
      name = "renderConfig refuses broken or missing users, unknown admins and bad settings";
      got = map throws [
        (lib.renderConfig { users.bob.uid = 1; })
        (lib.renderConfig { })
        (lib.renderConfig {
          users.bob.uid = 1002;
          admins = [
            "bob"
            "dave"
          ];
        })
        (lib.renderConfig {
          users = example;
          admins = [ "dave" ];
        })
        (lib.renderConfig {
          users = example;
          settings.caps.max_global = 0;
        })
        (lib.renderConfig {
          users = example;
          settings.container.cpus = 1.0 / 3;
        })
      ];
      want = [
        true
        true
        true
        true
        true
        true
      ];
    }
    {
      name = "settings: caps below one, unknown sections and users are refused with a message";
      got = lib.validateSettings {
        caps = {
          max_per_user = 0;
          max_global = -1;
          max_cpus_per_container = 8;
        };
        users.alice.admin = true;
        reaper = "7d";
        reapr.idle_stop = "7d";
        agent = null;
      };
      want = [
        "${s}caps.max_per_user: 0 is below one: want an integer from 1 to 100000"
        "${s}caps.max_global: -1 is below one: want an integer from 1 to 100000"
        "${s}reaper: want a section (an attribute set of keys), got a string"
        "${s}unknown section \"reapr\": allowed sections are agent, caps, container, host, reaper, secrets, tailnet"
        "${s}users: per-user settings come from users.nix (admin, maxContainers), not from settings"
      ];
    }
    {
      name = "settings: caps must be integers up to 100000";
      got = lib.validateSettings {
        caps = {
          max_per_user = "5";
          max_global = 100001;
        };
      };
      want = [
        "${s}caps.max_per_user: want an integer from 1 to 100000, got a string"
        "${s}caps.max_global: 100001 is above 100000"
      ];
    }
  ];
in
cases
