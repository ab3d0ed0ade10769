# examples/hosts/desktop.nix: a developer's NixOS desktop (the flake's
# nixosConfigurations.example-desktop): Hyprland, Tailscale, and the dev
# image's CLI profile for its user. The login user comes from ../users.nix
# so uid and keys match the orchestrator. The hardware lines are
# placeholders for your own hardware-configuration.nix.
{ ... }:
let
  alice = (import ../users.nix).alice;
in
{
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
  nixpkgs.hostPlatform = "x86_64-linux";
  boot.loader.systemd-boot.enable = true;
  boot.loader.efi.canTouchEfiVariables = true;
  fileSystems."/" = {
    device = "/dev/disk/by-label/nixos";
    fsType = "ext4";
  };
  fileSystems."/boot" = {
    device = "/dev/disk/by-label/boot";
    fsType = "vfat";
  };
  system.stateVersion = "25.11";
}
