# nix/modules/desktop.nix: devbox.desktop, a headful NixOS workstation for a
# developer whose dev containers live on the orchestrator (SPEC R-22):
# Hyprland (with XWayland), Tailscale to reach the containers, fonts and a
# terminal, and the same CLI profile as the dev image through home-manager
# (programs.devbox-cli). No remote-access parts: nothing here listens.
#
# The flake's nixosModules.desktop imports home-manager's NixOS module with
# this one; without the flake, import both.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib)
    genAttrs
    mkDefault
    mkEnableOption
    mkIf
    mkOption
    types
    ;

  cfg = config.devbox.desktop;
in
{
  options.devbox.desktop = {
    enable = mkEnableOption "the devbox desktop: Hyprland, Tailscale and the devbox CLI profile";

    users = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "alice" ];
      description = "Users who get the CLI profile (programs.devbox-cli) through home-manager.";
    };
  };

  config = mkIf cfg.enable {
    programs.hyprland = {
      enable = true;
      xwayland.enable = true;
    };
    # A graphical login that starts the Hyprland session.
    services.displayManager.sddm = {
      enable = mkDefault true;
      wayland.enable = mkDefault true;
    };

    # The way to the dev containers: `tailscale ssh dev@NAME`, code-server
    # at http://NAME:8080, Zed over SSH.
    services.tailscale.enable = true;
    networking.networkmanager.enable = mkDefault true;

    # Hyprland's default config opens kitty (SUPER+Q); foot is the small
    # Wayland-native alternative.
    environment.systemPackages = [
      pkgs.kitty
      pkgs.foot
    ];
    fonts.packages = [
      pkgs.noto-fonts
      pkgs.noto-fonts-color-emoji
      pkgs.jetbrains-mono
    ];

    security.rtkit.enable = mkDefault true;
    services.pipewire = {
      enable = mkDefault true;
      pulse.enable = mkDefault true;
    };

    home-manager = {
      useGlobalPkgs = mkDefault true;
      useUserPackages = mkDefault true;
      users = genAttrs cfg.users (_: {
        imports = [ ./cli-home.nix ];
        programs.devbox-cli.enable = true;
        home.stateVersion = mkDefault config.system.stateVersion;
      });
    };
  };
}
