# examples/hosts/macbook.nix: a developer's Mac with nix-darwin (the flake's
# darwinConfigurations.example-macbook): the dev image's CLI profile,
# AeroSpace, Tailscale, and GUI apps from Homebrew. The user is one of
# ../users.nix, so the name matches the tailnet ACLs and the orchestrator.
{ ... }:
let
  user = "bob";
in
assert (import ../users.nix) ? ${user};
{
  devbox.workstation = {
    enable = true;
    inherit user;
    guiApps = [
      "zed"
      "ghostty"
    ];
  };

  nixpkgs.hostPlatform = "aarch64-darwin";
  networking.hostName = "bob-macbook";
  # nix-darwin's own state version (an integer), not NixOS's.
  system.stateVersion = 6;
}
