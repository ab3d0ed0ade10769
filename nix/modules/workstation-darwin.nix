# nix/modules/workstation-darwin.nix: devbox.workstation, a nix-darwin Mac
# for a developer whose dev containers live on the orchestrator (SPEC R-22):
# the dev image's CLI profile (programs.devbox-cli through home-manager),
# AeroSpace as the tiling window manager, Tailscale to reach the
# containers, and room for GUI apps as Homebrew casks. No remote-access
# parts: nothing here listens.
#
# The flake's darwinModules.workstation imports home-manager's nix-darwin
# module with this one; without the flake, import both.
{
  config,
  lib,
  ...
}:
let
  inherit (lib)
    mkDefault
    mkEnableOption
    mkIf
    mkOption
    types
    ;

  cfg = config.devbox.workstation;
in
{
  options.devbox.workstation = {
    enable = mkEnableOption "the devbox workstation: the CLI profile, AeroSpace, Tailscale";

    user = mkOption {
      type = types.str;
      example = "alice";
      description = ''
        The Mac's user: system.primaryUser (which AeroSpace's launchd agent
        and Homebrew need) and the home-manager user with the CLI profile.
      '';
    };

    guiApps = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [
        "zed"
        "ghostty"
        "firefox"
      ];
      description = ''
        GUI applications, as Homebrew cask names (homebrew.casks). Homebrew
        itself must be installed (https://brew.sh); nix-darwin only drives
        it, and only when this list is not empty.
      '';
    };
  };

  config = mkIf cfg.enable {
    system.primaryUser = mkDefault cfg.user;
    users.users.${cfg.user}.home = mkDefault "/Users/${cfg.user}";

    # AeroSpace under launchd. nix-darwin's module asserts that AeroSpace
    # neither starts itself at login nor runs after-login commands (launchd
    # does both), which are its defaults; only key bindings are set here,
    # each overridable.
    services.aerospace = {
      enable = true;
      settings = {
        gaps = {
          inner.horizontal = mkDefault 8;
          inner.vertical = mkDefault 8;
          outer.left = mkDefault 8;
          outer.right = mkDefault 8;
          outer.top = mkDefault 8;
          outer.bottom = mkDefault 8;
        };
        mode.main.binding = {
          alt-h = mkDefault "focus left";
          alt-j = mkDefault "focus down";
          alt-k = mkDefault "focus up";
          alt-l = mkDefault "focus right";
          alt-shift-h = mkDefault "move left";
          alt-shift-j = mkDefault "move down";
          alt-shift-k = mkDefault "move up";
          alt-shift-l = mkDefault "move right";
          alt-slash = mkDefault "layout tiles horizontal vertical";
          alt-comma = mkDefault "layout accordion horizontal vertical";
          alt-1 = mkDefault "workspace 1";
          alt-2 = mkDefault "workspace 2";
          alt-3 = mkDefault "workspace 3";
          alt-4 = mkDefault "workspace 4";
          alt-shift-1 = mkDefault "move-node-to-workspace 1";
          alt-shift-2 = mkDefault "move-node-to-workspace 2";
          alt-shift-3 = mkDefault "move-node-to-workspace 3";
          alt-shift-4 = mkDefault "move-node-to-workspace 4";
        };
      };
    };

    # The way to the dev containers: `tailscale ssh dev@NAME`, code-server
    # at http://NAME:8080, Zed over SSH.
    services.tailscale.enable = true;

    homebrew = mkIf (cfg.guiApps != [ ]) {
      enable = true;
      casks = cfg.guiApps;
    };

    home-manager = {
      useGlobalPkgs = mkDefault true;
      useUserPackages = mkDefault true;
      users.${cfg.user} = {
        imports = [ ./cli-home.nix ];
        programs.devbox-cli.enable = true;
        home.stateVersion = mkDefault "25.05";
      };
    };
  };
}
