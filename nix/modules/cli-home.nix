# nix/modules/cli-home.nix: programs.devbox-cli, a home-manager module that
# gives a laptop or desktop the same command-line tools and defaults as the
# dev image (SPEC R-22, parity): the packages of nix/profile.nix (mapped
# from containers/profile/packages.txt), and tmux, git and bash set up from
# the very files the image installs in /etc (containers/profile/).
#
# It leaves out what only a container needs (tailscaled, code-server,
# devbox-init). Works on NixOS, nix-darwin and standalone home-manager.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib)
    mkDefault
    mkEnableOption
    mkIf
    mkMerge
    mkOption
    types
    ;

  cfg = config.programs.devbox-cli;
  profile = import ../profile.nix;
  profileDir = ../../containers/profile;
in
{
  options.programs.devbox-cli = {
    enable = mkEnableOption "the devbox CLI profile: the dev image's tools, tmux, git and shell defaults";

    withDevboxQuadlet = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Also install the devbox-quadlet command. It manages containers in
        this machine's own systemd user manager, so it is only useful on a
        Linux machine that runs dev containers itself.
      '';
    };

    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ../package.nix { };
      defaultText = lib.literalExpression "pkgs.callPackage \"\${devbox-quadlet}/nix/package.nix\" { }";
      description = "The devbox-quadlet package, for `withDevboxQuadlet`.";
    };

    bash = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Load containers/profile/devbox.sh in interactive bash (through
        programs.bash): PATH with ~/.local/bin, EDITOR=nvim, PAGER, the
        `user@host:dir$` prompt with the exit status.
      '';
    };
  };

  config = mkIf cfg.enable (mkMerge [
    {
      home.packages = profile.packagesFor pkgs ++ lib.optional cfg.withDevboxQuadlet cfg.package;

      # tmux.conf as in the image's /etc/tmux.conf. home-manager writes its
      # own few settings first, so these win, and ~/.config/tmux/tmux.conf
      # is still yours through programs.tmux.extraConfig.
      programs.tmux = {
        enable = mkDefault true;
        extraConfig = builtins.readFile (profileDir + "/tmux.conf");
      };

      # The image's /etc/gitconfig as an include: settings in
      # programs.git (user.name, user.email, …) come after it and win, as
      # ~/.gitconfig wins over /etc/gitconfig in the image.
      programs.git = {
        enable = mkDefault true;
        includes = [ { path = "${profileDir + "/gitconfig"}"; } ];
      };
    }

    (mkIf cfg.bash {
      programs.bash = {
        enable = mkDefault true;
        # DEVBOX_NAME falls back to the host name here, so the prompt and
        # tmux's status line say which machine this is.
        initExtra = ''
          . ${profileDir + "/devbox.sh"}
        '';
      };
    })
  ]);
}
