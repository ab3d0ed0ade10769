# examples/hosts/desktop.nix: a developer's NixOS desktop (the flake's
# nixosConfigurations.example-desktop): Hyprland, Tailscale, and the dev
# image's CLI profile for its user. The login user comes from ../users.nix
# so uid and keys match the orchestrator. The hardware lines (hardware.nix)
# are placeholders for your own hardware-configuration.nix.
{ ... }:
let
  alice = (import ../users.nix).alice;
in
{
  imports = [ ./hardware.nix ];

  devbox.desktop = {
    enable = true;
    users = [ "alice" ];
  };

  users.users.alice = {
    isNormalUser = true;
    inherit (alice) uid;
    description = alice.description or "";
    extraGroups = [
      "wheel"
      "networkmanager"
    ];
    openssh.authorizedKeys.keys = alice.sshKeys or [ ];
  };

  networking.hostName = "alice-desktop";
  system.stateVersion = "25.11";
}
