# nix/modules/orchestrator.nix: services.devbox-quadlet, a NixOS host that
# runs developers' dev containers (SPEC R-20). From a users.nix it makes:
#
# - /etc/devbox-quadlet/config.toml, rendered by nix/lib (the same code CI
#   evaluates) and checked at build time by `devbox-quadlet config validate`,
#   so a bad setting fails nixos-rebuild, not the agent;
# - a login user per entry: uid, SSH keys, its subuid/subgid range,
#   lingering (the user manager runs with nobody logged in), and membership
#   of a group (`devbox`) that marks who gets the dev image;
# - podman, the host agent (unit and D-Bus policy from the package, its
#   credentials from paths an agenix or sops-nix secret provides), the
#   reaper's user timer for every user, slice limits as a backstop;
# - the dev image, loaded into each listed user's rootless store.
#
# The units, bus policy and sysusers file come from the package
# (`make install-data`), as on Debian: this module only adds what NixOS
# needs on top (timers.target.wants, credentials, the system user).
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib)
    concatMap
    filterAttrs
    literalExpression
    mapAttrs
    mapAttrs'
    mkEnableOption
    mkIf
    mkMerge
    mkOption
    nameValuePair
    optional
    optionalAttrs
    types
    ;

  cfg = config.services.devbox-quadlet;
  devboxLib = import ../lib { };

  # Every problem in users.nix, settings and admins, as messages. The
  # checks run here as data (validate*) rather than as the throws of
  # checkUsers/renderConfig, so NixOS shows them all at once, as assertions.
  userErrors = devboxLib.validateUsers cfg.users;
  settingsErrors = devboxLib.validateSettings cfg.settings;
  unknownAdmins = builtins.filter (a: !(cfg.users ? ${a})) cfg.admins;
  reservedNames = builtins.filter (n: cfg.users ? ${n}) [
    "root"
    "devbox-quadlet"
  ];
  valid = userErrors == [ ] && settingsErrors == [ ] && unknownAdmins == [ ] && reservedNames == [ ];

  # Normalised users (every optional field filled in); {} while invalid, so
  # evaluation reaches the assertions instead of stopping at a throw.
  users = if valid then devboxLib.checkUsers cfg.users else { };

  configText = devboxLib.renderConfig {
    inherit (cfg) users admins settings;
  };

  # The text, validated by the real parser. The build fails with its
  # message ("config …/config.toml line 4: caps.max_global: …").
  configFile =
    pkgs.runCommand "devbox-quadlet-config.toml"
      {
        nativeBuildInputs = [ cfg.package ];
        text = configText;
        passAsFile = [ "text" ];
        preferLocalBuild = true;
        allowSubstitutes = false;
      }
      ''
        mkdir -p etc/devbox-quadlet
        cp "$textPath" etc/devbox-quadlet/config.toml
        devbox-quadlet config validate "$PWD/etc/devbox-quadlet/config.toml"
        cp etc/devbox-quadlet/config.toml $out
      '';

  # Credentials: path strings, read by systemd when the agent starts. A Nix
  # path literal would put the secret into the world-readable store, so only
  # strings outside it get through (and the assertions below say why).
  credentialFiles = {
    "devbox-quadlet.op-token" = cfg.agent.credentials.opTokenFile;
    "devbox-quadlet.ts-oauth-secret" = cfg.agent.credentials.tailscaleOAuthSecretFile;
  };
  isStorePath = p: lib.hasPrefix "${builtins.storeDir}/" p || p == builtins.storeDir;
  credentialOk = p: builtins.isString p && lib.hasPrefix "/" p && !(isStorePath p);
  setCredentials = filterAttrs (_: p: p != null) credentialFiles;
  loadCredential = lib.mapAttrsToList (name: p: "${name}:${p}") (
    filterAttrs (_: credentialOk) setCredentials
  );
  credentialOption =
    what:
    mkOption {
      type = types.nullOr (types.either types.str types.path);
      default = null;
      example = "/run/agenix/devbox-quadlet-op-token";
      description = ''
        File holding ${what}, passed to the agent as a systemd credential
        (`LoadCredential=`). Give the path as a string, such as
        `config.age.secrets.<name>.path` (agenix) or
        `config.sops.secrets.<name>.path` (sops-nix): the file is read
        when the agent starts and never enters the Nix store. `null`: the
        agent imports the credential from `/etc/credstore` if it is there
        (its unit has `ImportCredential=devbox-quadlet.*`).
      '';
    };

  backend = cfg.settings.secrets.backend or "onepassword";

  # A slice's limits: the three the module documents, plus any other
  # [Slice] setting (CPUWeight, MemoryHigh, …). null means: not set.
  sliceLimitsType =
    defaults:
    types.submodule {
      freeformType = types.attrsOf (
        types.nullOr (
          types.oneOf [
            types.str
            types.int
            types.bool
          ]
        )
      );
      options = {
        MemoryMax = mkOption {
          type = types.nullOr (types.either types.str types.int);
          default = defaults.MemoryMax or null;
          example = "75%";
          description = "`MemoryMax=`: bytes (`64G`) or a share of RAM (`75%`). Past it the kernel reclaims, then OOM-kills inside the slice.";
        };
        CPUQuota = mkOption {
          type = types.nullOr types.str;
          default = defaults.CPUQuota or null;
          example = "800%";
          description = "`CPUQuota=`: CPU time per wall time, `100%` being one CPU.";
        };
        TasksMax = mkOption {
          type = types.nullOr (types.either types.str types.int);
          default = defaults.TasksMax or null;
          example = 16384;
          description = "`TasksMax=`: processes and threads, a fork-bomb backstop.";
        };
      };
    };
  sliceSettings = limits: filterAttrs (_: v: v != null) limits;

  loaderScript =
    let
      image = cfg.image.package;
      ref = "${image.imageName}:${image.imageTag}";
    in
    ''
      set -o pipefail
      state=''${XDG_STATE_HOME:-$HOME/.local/state}/devbox-quadlet
      stamp=$state/image-loaded
      if [ "$(cat "$stamp" 2>/dev/null)" = ${image} ] && podman image exists localhost/devbox:latest; then
        echo "devbox image ${ref} is loaded"
        exit 0
      fi
      echo "loading devbox image ${ref}"
      ${image} | podman load
      # :latest is the image devbox-quadlet's default config names.
      podman tag ${ref} localhost/devbox:latest
      mkdir -p "$state"
      printf '%s\n' ${image} > "$stamp.tmp"
      mv "$stamp.tmp" "$stamp"
    '';
in
{
  options.services.devbox-quadlet = {
    enable = mkEnableOption "devbox-quadlet: rootless podman quadlet dev containers for the users in `users`";

    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ../package.nix { };
      defaultText = literalExpression "pkgs.callPackage \"\${devbox-quadlet}/nix/package.nix\" { }";
      description = "The devbox-quadlet package: the CLI, the agent, and their units.";
    };

    users = mkOption {
      type = types.attrsOf (types.attrsOf types.anything);
      default = { };
      example = literalExpression "import ./users.nix";
      description = ''
        The developers, keyed by login name, as in `examples/users.nix`:
        `uid` (required), `admin`, `sshKeys`, `maxContainers`,
        `description`. Each becomes a normal user with that uid, its SSH
        keys, a subuid/subgid range derived from the uid, lingering, and a
        `[users.NAME]` table in config.toml. Checked by nix/lib: a mistake
        fails evaluation with a message naming the user and the field.
      '';
    };

    admins = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "alice" ];
      description = "More admins (besides `admin = true` in users.nix). Each must be in `users`.";
    };

    group = mkOption {
      type = types.str;
      default = "devbox";
      description = ''
        A group the module creates, with every user in `users` as a member.
        It marks who gets the dev image, and is what
        `settings.agent.allowed_group` would name to let only these users
        call the agent.
      '';
    };

    settings = mkOption {
      type = types.attrsOf types.anything;
      default = { };
      example = literalExpression ''
        {
          caps.max_global = 7;
          agent.mode = "required";
          secrets = { backend = "onepassword"; vault = "DevBox"; };
        }
      '';
      description = ''
        The rest of /etc/devbox-quadlet/config.toml, section by section
        (`container`, `caps`, `reaper`, `secrets`, `tailnet`, `host`,
        `agent`; README.md, "Configuration", has every key). Per-user
        tables come from `users`. Checked at build time by
        `devbox-quadlet config validate`.
      '';
    };

    configFile = mkOption {
      type = types.package;
      readOnly = true;
      default = configFile;
      defaultText = literalExpression "the rendered and validated config.toml";
      description = "The validated config.toml that /etc/devbox-quadlet/config.toml links to.";
    };

    agent.credentials = {
      opTokenFile = credentialOption "the 1Password service-account token (credential `devbox-quadlet.op-token`)";
      tailscaleOAuthSecretFile = credentialOption "the Tailscale OAuth client secret for the device-deletion fallback (credential `devbox-quadlet.ts-oauth-secret`)";
    };

    image = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = ''
          Load the dev image into the podman store of every user in `users`
          (a user service, `devbox-image-load`, at each start of their user
          manager and after a rebuild that changes the image).
        '';
      };
      package = mkOption {
        type = types.package;
        default = pkgs.callPackage ../image.nix { devbox-quadlet = cfg.package; };
        defaultText = literalExpression "pkgs.callPackage \"\${devbox-quadlet}/nix/image.nix\" { devbox-quadlet = cfg.package; }";
        description = ''
          The image, as a `dockerTools.streamLayeredImage` (its
          `imageName` and `imageTag` are loaded and tagged
          `localhost/devbox:latest`).
        '';
      };
    };

    sliceLimits = {
      allUsers = mkOption {
        type = sliceLimitsType { MemoryMax = "90%"; };
        default = { };
        description = ''
          Limits on `user.slice`, all users together: a backstop that
          keeps memory for the system whatever the agent's admission
          allowed. Default: `MemoryMax = "90%"`.
        '';
      };
      perUser = mkOption {
        type = sliceLimitsType { MemoryMax = "75%"; };
        default = { };
        description = ''
          Limits on each listed user's `user-UID.slice` (their logins and
          their user manager, so all their containers): a backstop so one
          user's runaway cannot take the host. Default: `MemoryMax = "75%"`.
        '';
      };
    };
  };

  config = mkIf cfg.enable (mkMerge [
    {
      assertions =
        map (message: {
          assertion = false;
          inherit message;
        }) (userErrors ++ settingsErrors)
        ++ map (a: {
          assertion = false;
          message = "services.devbox-quadlet.admins: \"${a}\" is not in services.devbox-quadlet.users: add the user there first";
        }) unknownAdmins
        ++ map (n: {
          assertion = false;
          message = "services.devbox-quadlet.users: \"${n}\" is a reserved account name (root, and the agent's own user)";
        }) reservedNames
        ++ concatMap (name: [
          {
            assertion = builtins.isString setCredentials.${name};
            message = "services.devbox-quadlet.agent.credentials (${name}): give the file as a string, e.g. config.age.secrets.<name>.path; a Nix path literal is copied into the world-readable store";
          }
          {
            assertion = builtins.isString setCredentials.${name} -> credentialOk setCredentials.${name};
            message = "services.devbox-quadlet.agent.credentials (${name}): \"${toString setCredentials.${name}}\" must be an absolute path outside ${builtins.storeDir}: the store is world-readable";
          }
        ]) (builtins.attrNames setCredentials)
        ++ [
          {
            # Current nixpkgs applies users.users.<name>.linger only with
            # this switch on (older ones, without it, apply it always).
            assertion = config.users.manageLingering or true;
            message = "services.devbox-quadlet: the users' containers run in user managers that must start at boot without a login (lingering): set users.manageLingering = true";
          }
        ];

      warnings =
        optional
          (
            backend == "onepassword"
            && cfg.agent.credentials.opTokenFile == null
            && !(cfg.settings ? secrets && cfg.settings.secrets ? token_file)
          )
          "services.devbox-quadlet: secrets.backend is onepassword, but agent.credentials.opTokenFile is not set: the agent will look for /etc/credstore/devbox-quadlet.op-token, and creates fail with exit 7 without it.";

      environment.etc."devbox-quadlet/config.toml" = mkIf valid { source = configFile; };
      environment.systemPackages = [ cfg.package ];

      # Units and bus files from the package (make install-data).
      systemd.packages = [ cfg.package ];
      services.dbus.packages = [ cfg.package ];

      # The agent's system user: the bus policy lets only it (and root) own
      # the name. NixOS does not read the package's sysusers.d file unless
      # systemd-sysusers manages users, so it is declared here.
      users.users.devbox-quadlet = {
        isSystemUser = true;
        group = "devbox-quadlet";
        description = "devbox-quadlet host agent";
      };
      users.groups.devbox-quadlet = { };
      users.groups.${cfg.group} = { };

      # Only what the packaged unit cannot know: the credentials' paths, and
      # a restart when the config it read at start changed.
      systemd.services.devbox-quadlet-agent = {
        restartTriggers = optional valid configFile;
        serviceConfig = mkIf (loadCredential != [ ]) { LoadCredential = loadCredential; };
      };

      # NixOS ignores the package's timers.target.wants link: enable the
      # reaper's timer for every user, as `make install` does.
      systemd.user.timers.devbox-quadlet-reap.wantedBy = [ "timers.target" ];
      # The reaper runs podman (stop, volume export) by name: give its unit
      # the wrapped podman and newuidmap whatever the user manager's PATH.
      systemd.user.services.devbox-quadlet-reap.path = [
        config.virtualisation.podman.package
        "/run/wrappers"
      ];

      virtualisation.podman.enable = true;

      # asDropin: user.slice and user-UID.slice are systemd's (the latter
      # from the user-.slice template); this only adds limits to them.
      systemd.slices =
        optionalAttrs (sliceSettings cfg.sliceLimits.allUsers != { }) {
          user = {
            overrideStrategy = "asDropin";
            sliceConfig = sliceSettings cfg.sliceLimits.allUsers;
          };
        }
        // optionalAttrs (sliceSettings cfg.sliceLimits.perUser != { }) (
          mapAttrs' (
            _: u:
            nameValuePair "user-${toString u.uid}" {
              overrideStrategy = "asDropin";
              sliceConfig = sliceSettings cfg.sliceLimits.perUser;
            }
          ) users
        );
    }

    {
      users.users = mapAttrs (
        _: u:
        let
          range = devboxLib.subIdRange u.uid;
        in
        {
          isNormalUser = true;
          inherit (u) uid;
          # Containers run in the user's own manager, with nobody logged in.
          linger = true;
          openssh.authorizedKeys.keys = u.sshKeys;
          # Explicit ranges (the same formula as autoSubUidGidRange), so the
          # files in home volumes keep their owners whatever else changes.
          subUidRanges = [
            {
              startUid = range.start;
              inherit (range) count;
            }
          ];
          subGidRanges = [
            {
              startGid = range.start;
              inherit (range) count;
            }
          ];
          extraGroups = [ cfg.group ];
        }
        // optionalAttrs (u.description != "") { inherit (u) description; }
      ) users;
    }

    (mkIf cfg.image.enable {
      # A user service, so the image lands in the user's own rootless store
      # with their own uid mapping. Every user manager has it; the condition
      # skips users outside the group at no cost.
      systemd.user.services.devbox-image-load = {
        description = "Load the devbox dev image into this user's podman store";
        wantedBy = [ "default.target" ];
        unitConfig.ConditionGroup = cfg.group;
        # The wrapped podman; /run/wrappers for newuidmap and newgidmap.
        path = [
          config.virtualisation.podman.package
          "/run/wrappers"
        ];
        serviceConfig = {
          Type = "oneshot";
          # Active after a load: `systemctl --user status` shows it, and the
          # rebuild hook below can tell a finished load from one under way.
          RemainAfterExit = true;
          # A first load copies about a gigabyte into the user's store.
          TimeoutStartSec = "30min";
        };
        script = loaderScript;
      };

      # nixos-rebuild switch starts nixos-activation in every running user
      # manager, but restarts no user service: a changed image would wait for
      # the next boot. Restart the loader when its stamp is stale and it is
      # not already loading (at boot its own start does the work).
      system.userActivationScripts.devbox-image-load = ''
        stamp=''${XDG_STATE_HOME:-$HOME/.local/state}/devbox-quadlet/image-loaded
        if [ "$(cat "$stamp" 2>/dev/null)" != ${cfg.image.package} ] \
          && ${config.systemd.package}/bin/systemctl --user is-active --quiet devbox-image-load.service; then
          ${config.systemd.package}/bin/systemctl --user --no-block restart devbox-image-load.service || true
        fi
      '';
    })
  ]);
}
