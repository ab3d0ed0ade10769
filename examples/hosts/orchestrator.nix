# examples/hosts/orchestrator.nix: a NixOS host that runs the team's dev
# containers (the flake's nixosConfigurations.example-orchestrator). The
# users come from ../users.nix; the 1Password token comes from an agenix
# (or sops-nix) secret, given as a path string so it never enters the store.
# The hardware lines (hardware.nix) are placeholders for your own
# hardware-configuration.nix.
{ ... }:
{
  imports = [ ./hardware.nix ];

  services.devbox-quadlet = {
    enable = true;
    users = import ../users.nix;
    settings = {
      container = {
        cpus = 2;
        memory = "4G";
      };
      caps = {
        max_per_user = 5;
        max_global = 12;
      };
      secrets = {
        backend = "onepassword";
        vault = "DevBox";
      };
      # Only the users in users.nix (the module's `devbox` group) may call
      # the agent; the CLI refuses to run without it.
      agent = {
        mode = "required";
        allowed_group = "devbox";
      };
      # tailnet.login_server = "https://headscale.example.com";
    };
    # With agenix: age.secrets.devbox-quadlet-op-token.file = ./secrets/op-token.age;
    # then config.age.secrets.devbox-quadlet-op-token.path here.
    agent.credentials.opTokenFile = "/run/agenix/devbox-quadlet-op-token";
    sliceLimits.perUser.CPUQuota = "800%";
  };

  # How developers reach the host itself (their keys are in users.nix).
  services.openssh = {
    enable = true;
    settings.PasswordAuthentication = false;
  };

  networking.hostName = "devbox";
  system.stateVersion = "25.11";
}
