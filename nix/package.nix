# nix/package.nix: the devbox-quadlet package. One build of the three Go
# binaries, then `make install-data PREFIX=$out`, so the agent's unit, its
# D-Bus policy and activation file, sysusers.d and the reaper's user units
# ship exactly as `make install` puts them on Debian (SPEC R-28):
#
#   $out/bin/devbox-quadlet, $out/bin/devbox-quadlet-agent
#   $out/lib/systemd/system/devbox-quadlet-agent.service
#   $out/lib/systemd/user/devbox-quadlet-reap.{service,timer}
#   $out/share/dbus-1/system.d/…, $out/share/dbus-1/system-services/…
#   $out/lib/sysusers.d/devbox-quadlet.conf, $out/share/doc/devbox-quadlet/…
#   $out/share/man/man1/devbox-quadlet.1, $out/share/man/man8/devbox-quadlet-agent.8
#   $out/share/{bash-completion/completions,zsh/site-functions,fish/vendor_completions.d}/…
#   $init/bin/devbox-init   the container's PID 1: nix/image.nix puts it in
#                           the image; it is kept off the host's PATH, as
#                           `make install` leaves it out too.
#
# Use: pkgs.callPackage ./nix/package.nix { }  (the flake's packages.*.devbox-quadlet)
{
  lib,
  buildGoModule,
  gnumake,
  # null: the version in internal/cli/env.go, the one place it is written.
  version ? null,
}:
let
  # The hash of the vendored Go modules (buildGoModule's goModules output).
  # Update it with the hash `nix build` prints when go.mod or go.sum change
  # ("specified: … got: sha256-…"). This one was computed, not built: `go mod
  # vendor` (Go 1.26.8) on the filtered source below, then
  # `nix hash path vendor`; no nixpkgs build has confirmed it (docs/nix.md).
  goModulesHash = "sha256-OcTWQLXLvtatF5dqCDzUTL3MDGTkjH1ApuoMVad8ypM=";

  # Read, not repeated: `var Version = "…"` in internal/cli/env.go. Lines
  # are matched one at a time, because whether `.` crosses a newline in
  # builtins.match depends on the platform's C++ regex library.
  sourceVersion =
    let
      lines = builtins.filter builtins.isString (
        builtins.split "\n" (builtins.readFile ../internal/cli/env.go)
      );
      found = builtins.filter (m: m != null) (
        map (builtins.match "var Version = \"([^\"]+)\"") lines
      );
    in
    if found == [ ] then
      throw "nix/package.nix: no `var Version = \"…\"` line in internal/cli/env.go"
    else
      builtins.head (builtins.head found);

  # What the build reads: the Go module, the Makefile and what
  # install-data installs (contrib/, README.md, docs/). Leaving out test/,
  # build/ (VM images, gigabytes) and the rest keeps a docs-only or
  # test-only change from rebuilding the package. Builtins only, so it
  # can be evaluated without nixpkgs.
  topLevel = [
    "go.mod"
    "go.sum"
    "Makefile"
    "README.md"
    "cmd"
    "internal"
    "contrib"
    "docs"
  ];
  # Test files stay in: `go mod vendor` (and so the vendor hash) counts
  # the imports of the module's tests too.
  root = toString ../.;
  src = builtins.path {
    name = "devbox-quadlet-source";
    path = ../.;
    filter =
      path: _type:
      let
        s = toString path;
        rel = builtins.substring (builtins.stringLength root + 1) (builtins.stringLength s) s;
      in
      builtins.elem (builtins.head (builtins.split "/" rel)) topLevel;
  };

  finalVersion = if version == null then sourceVersion else version;
in
buildGoModule {
  pname = "devbox-quadlet";
  version = finalVersion;
  inherit src;
  vendorHash = goModulesHash;

  subPackages = [
    "cmd/devbox-quadlet"
    "cmd/devbox-quadlet-agent"
    "cmd/devbox-init"
  ];

  # Static binaries, as the Makefile builds them: devbox-init runs in any
  # image, whatever its libc.
  env.CGO_ENABLED = 0;

  # The same flags as the Makefile's GOFLAGS_BUILD (-trimpath is
  # buildGoModule's default).
  ldflags = [
    "-s"
    "-w"
    "-X github.com/devbox-quadlet/devbox-quadlet/internal/cli.Version=${finalVersion}"
    "-X github.com/devbox-quadlet/devbox-quadlet/internal/agentd.Version=${finalVersion}"
  ];

  outputs = [
    "out"
    "init"
  ];

  nativeBuildInputs = [ gnumake ];

  # The unit tests need root, a dbus-daemon and real systemd/podman for a
  # good part of them; scripts/test.sh runs them all (and the VM suite).
  # This package is the same code, built.
  doCheck = false;

  # install-data installs files only, it builds nothing: the binaries are
  # already in $out/bin, and BINDIR (default $(PREFIX)/bin) goes into the
  # units' ExecStart= lines.
  postInstall = ''
    make install-data PREFIX=$out
    mkdir -p $init/bin
    mv $out/bin/devbox-init $init/bin/devbox-init
  '';

  meta = {
    description = "Personal dev containers as rootless podman quadlets in each developer's own systemd";
    homepage = "https://github.com/devbox-quadlet/devbox-quadlet";
    mainProgram = "devbox-quadlet";
    # systemd user managers, the system bus, rootless podman.
    platforms = lib.platforms.linux;
  };
}
