# nix/image.nix: the dev-container image localhost/devbox built with
# dockerTools, the Nix twin of containers/build.sh (Debian). It keeps the
# same contract (docs/image-contract.md, containers/README.md): devbox-init
# as the entrypoint at /usr/local/bin/devbox-init, the readiness label, a
# `dev` user (uid 1000) with passwordless sudo and its home at /home/dev,
# tailscale and tailscaled, code-server and Syncthing, and the shared CLI
# profile (nix/profile.nix reads the same containers/profile/packages.txt).
#
# The result is a stream script (streamLayeredImage): running it writes a
# docker-archive to stdout, so nothing the size of the image is stored:
#
#   $(nix build --print-out-paths .#devbox-image) | podman load
#
# The NixOS module does that for every listed user (devbox-image-load).
{
  lib,
  pkgs,
  dockerTools,
  runCommand,
  bashInteractive,
  coreutils,
  cacert,
  sudo,
  pam,
  tailscale,
  code-server,
  syncthing,
  devbox-quadlet ? pkgs.callPackage ./package.nix { },
  # Image tags are per content in practice: the module loads by store path
  # and moves :latest, the name devbox-quadlet's default config uses.
  tag ? devbox-quadlet.version,
}:
let
  profile = (import ./profile.nix).packagesFor pkgs;
  devbox-init = devbox-quadlet.init;
  profileDir = ../containers/profile;

  # The paths the Debian image has and the contract names: devbox-init
  # looks for /usr/local/bin/code-server first, and scripts (and people)
  # find tailscale and tailscaled where the Debian image puts them. The
  # profile files are the same files the Debian image installs. The layout
  # also holds sudo's PAM file and names the sudo whose binary the fakeroot
  # step copies: the closure of the contents is in the image with every
  # streamLayeredImage version, so sudo and PAM are too.
  layout = runCommand "devbox-image-layout" { inherit sudoPam; } ''
    mkdir -p $out/usr/local/bin $out/usr/local/sbin $out/etc/profile.d $out/etc/pam.d $out/share/devbox-image
    ln -s ${devbox-init}/bin/devbox-init $out/usr/local/bin/devbox-init
    ln -s ${code-server}/bin/code-server $out/usr/local/bin/code-server
    ln -s ${tailscale}/bin/tailscale $out/usr/local/bin/tailscale
    ln -s ${tailscale}/bin/tailscaled $out/usr/local/sbin/tailscaled
    ln -s ../sbin/tailscaled $out/usr/local/bin/tailscaled
    cp ${profileDir}/devbox.sh $out/etc/profile.d/devbox.sh
    cp ${profileDir}/tmux.conf $out/etc/tmux.conf
    cp ${profileDir}/gitconfig $out/etc/gitconfig
    printf '%s' "$sudoPam" > $out/etc/pam.d/sudo
    echo ${sudo}/bin/sudo > $out/share/devbox-image/setuid-sudo-source
  '';

  # Files that must be regular files owned by root with exact modes (the
  # account databases, sudoers), or that podman seeds into a new home
  # volume with dev as owner: written under fakeroot, in the image's root.
  passwd = ''
    root:x:0:0:root:/root:/bin/bash
    dev:x:1000:1000:dev:/home/dev:/bin/bash
    nobody:x:65534:65534:nobody:/nonexistent:/bin/false
  '';
  # sudo is gid 27 as on Debian, so a home volume moved between the two
  # images keeps its meaning.
  group = ''
    root:x:0:
    sudo:x:27:dev
    dev:x:1000:
    nogroup:x:65534:
  '';
  # No passwords: dev gets in through Tailscale SSH and sudo asks none.
  shadow = ''
    root:*:1::::::
    dev:*:1::::::
    nobody:*:1::::::
  '';
  # nixpkgs' sudo reads /etc/sudoers and PAM service "sudo" (its sysconfdir
  # is /etc). NOPASSWD means PAM only does account and session: permit them.
  sudoPam = ''
    auth     sufficient ${pam}/lib/security/pam_rootok.so
    auth     required   ${pam}/lib/security/pam_deny.so
    account  required   ${pam}/lib/security/pam_permit.so
    session  required   ${pam}/lib/security/pam_permit.so
  '';
  # Login shells read /etc/profile; nixpkgs' bash reads /etc/bashrc for
  # interactive ones (Debian: /etc/bash.bashrc). Both load the profile, as
  # on Debian, so `podman exec … bash` gets the same prompt.
  etcProfile = ''
    for f in /etc/profile.d/*.sh; do [ -r "$f" ] && . "$f"; done
    unset f
  '';
  etcBashrc = ''
    [ -r /etc/profile.d/devbox.sh ] && . /etc/profile.d/devbox.sh
  '';
  skelBashrc = ''
    # ~/.bashrc: the devbox profile; add your own below.
    [ -r /etc/profile.d/devbox.sh ] && . /etc/profile.d/devbox.sh
  '';
  skelProfile = ''
    # ~/.profile: login shells read ~/.bashrc too.
    [ -n "$BASH_VERSION" ] && [ -r "$HOME/.bashrc" ] && . "$HOME/.bashrc"
  '';
in
dockerTools.streamLayeredImage {
  name = "localhost/devbox";
  inherit tag;

  # unique: the profile has cacert and syncthing too.
  contents = lib.unique (
    profile
    ++ [
      bashInteractive
      coreutils
      cacert
      tailscale
      code-server
      syncthing
      devbox-init
      layout
    ]
  );

  # podman's overlay driver stacks at most 127 layers; dockerTools puts the
  # most shared store paths in layers of their own up to this count.
  maxLayers = 100;

  fakeRootCommands = ''
    set -eu
    mkdir -p etc/sudoers.d etc/ssl/certs root home/dev tmp var/tmp run usr/bin
    rm -f etc/passwd etc/group etc/shadow etc/sudoers etc/nsswitch.conf etc/profile etc/bashrc
    printf '%s' ${lib.escapeShellArg passwd} > etc/passwd
    printf '%s' ${lib.escapeShellArg group} > etc/group
    printf '%s' ${lib.escapeShellArg shadow} > etc/shadow
    chmod 0644 etc/passwd etc/group
    chmod 0600 etc/shadow
    printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n' > etc/nsswitch.conf
    printf '%s' ${lib.escapeShellArg etcProfile} > etc/profile
    printf '%s' ${lib.escapeShellArg etcBashrc} > etc/bashrc

    # sudo: a setuid-root copy (no store path can be setuid) and the Debian
    # rules (root and %sudo may; dev without a password). Its PAM file is
    # in the layout.
    printf 'root ALL=(ALL:ALL) ALL\n%%sudo ALL=(ALL:ALL) ALL\n@includedir /etc/sudoers.d\n' > etc/sudoers
    printf 'dev ALL=(ALL) NOPASSWD:ALL\n' > etc/sudoers.d/dev
    chmod 0440 etc/sudoers etc/sudoers.d/dev
    rm -f bin/sudo usr/bin/sudo
    cp ${sudo}/bin/sudo usr/bin/sudo
    chown 0:0 usr/bin/sudo
    chmod 4755 usr/bin/sudo

    # Debian's certificate bundle path, which Go programs (tailscale) try
    # first; cacert names it ca-bundle.crt.
    [ -e etc/ssl/certs/ca-certificates.crt ] || ln -s ca-bundle.crt etc/ssl/certs/ca-certificates.crt
    # #!/usr/bin/env scripts.
    [ -e usr/bin/env ] || ln -s ${coreutils}/bin/env usr/bin/env

    # dev's home: podman copies it into a new home volume, owners included.
    printf '%s' ${lib.escapeShellArg skelBashrc} > home/dev/.bashrc
    printf '%s' ${lib.escapeShellArg skelProfile} > home/dev/.profile
    chown -R 1000:1000 home/dev
    chmod 0700 home/dev root
    chmod 1777 tmp var/tmp
  '';

  # The image config of containers/build.sh's import-changes, line for line,
  # with two additions the Nix layout needs: where certificates and time
  # zones are (Debian's tools know their own paths).
  config = {
    Entrypoint = [ "/usr/local/bin/devbox-init" ];
    WorkingDir = "/home/dev";
    Env = [
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
      "LANG=C.UTF-8"
      "SSL_CERT_FILE=/etc/ssl/certs/ca-bundle.crt"
      "NIX_SSL_CERT_FILE=/etc/ssl/certs/ca-bundle.crt"
      "TZDIR=/share/zoneinfo"
    ];
    Labels = {
      # devbox-init sends READY=1: devbox-quadlet renders Notify=true.
      "io.github.devbox-quadlet.notify" = "true";
      "io.github.devbox-quadlet.code-server" = code-server.version;
      "org.opencontainers.image.title" = "devbox";
      "org.opencontainers.image.version" = devbox-quadlet.version;
    };
    StopSignal = "SIGTERM";
  };
}
