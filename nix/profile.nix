# nix/profile.nix: the shared CLI profile for Nix. It maps the Debian
# package names in containers/profile/packages.txt (the one list both
# recipes read) to nixpkgs attributes, so the dev image, the home-manager
# module and the workstations install the same tools as the Debian image.
#
# Two parts:
# - pure (builtins only, no nixpkgs): debianPackages, attrPaths. CI
#   evaluates them with a bare nix-instantiate (test/nix/flake-outputs.nix),
#   so a name added to packages.txt without a mapping here fails CI, and so
#   does a mapping whose name left packages.txt: the lists cannot drift.
# - packagesFor :: pkgs -> [derivation]: the packages, less those the
#   platform cannot build (procps and iproute2 are Linux-only, say).
#
# Usage: (import ./nix/profile.nix).packagesFor pkgs
let
  inherit (builtins)
    attrNames
    concatLists
    concatStringsSep
    elem
    filter
    foldl'
    getAttr
    head
    isList
    isString
    listToAttrs
    map
    match
    split
    ;

  sourceFile = ../containers/profile/packages.txt;

  # One package per line; '#' starts a comment; blank lines are ignored.
  # A line holding more than one word is an error rather than a guess.
  parseLine =
    line:
    let
      m = match "[[:space:]]*([^#[:space:]]*)[[:space:]]*(#.*)?" line;
    in
    if m == null then
      throw "nix/profile.nix: containers/profile/packages.txt: cannot read the line ${builtins.toJSON line}: want one Debian package name per line"
    else
      head m;

  debianPackages = filter (n: n != "") (
    map parseLine (filter isString (split "\n" (builtins.readFile sourceFile)))
  );

  # Debian name -> what provides it in nixpkgs: an attribute path (dotted
  # string), a list of them, or null when nothing should be installed from
  # nixpkgs (the reason is in the comment).
  table = {
    # Nix tools find certificates through NIX_SSL_CERT_FILE/SSL_CERT_FILE;
    # the image sets those, a NixOS or macOS host has its own store.
    ca-certificates = "cacert";
    curl = "curl";
    git = "git";
    openssh-client = "openssh";
    less = "less";
    procps = "procps";
    iproute2 = "iproute2";
    # sudo must be setuid root, which no store path is. Hosts bring their own
    # (/run/wrappers/bin/sudo on NixOS, /usr/bin/sudo on macOS), and a
    # profile copy earlier on PATH would shadow it with one that cannot work.
    # nix/image.nix installs its own setuid copy.
    sudo = null;
    bash-completion = "bash-completion";
    # glibc has C.UTF-8 built in (the image's LANG); Debian needs the
    # package for other locales, which NixOS configures system-wide
    # (i18n.supportedLocales) and macOS has anyway.
    locales = null;
    tzdata = "tzdata";
    unzip = "unzip";
    xz-utils = "xz";
    zstd = "zstd";
    file = "file";
    ripgrep = "ripgrep";
    # Debian calls the binary fdfind; nixpkgs' fd is `fd`, the name the
    # Debian image adds as a symlink.
    fd-find = "fd";
    jq = "jq";
    tmux = "tmux";
    neovim = "neovim";
    # Debian's build-essential is a C/C++ compiler, make and libc headers:
    # stdenv.cc is gcc on Linux and clang on macOS, with libc headers.
    build-essential = [
      "stdenv.cc"
      "gnumake"
    ];
    syncthing = "syncthing";
    # Debian's Node.js runs code-server there; nixpkgs' code-server brings
    # its own, and this one is for the developer.
    nodejs = "nodejs";
  };

  unmapped = filter (n: !(table ? ${n})) debianPackages;
  stale = filter (n: !(elem n debianPackages)) (attrNames table);

  checked =
    if unmapped != [ ] then
      throw "nix/profile.nix: containers/profile/packages.txt lists ${concatStringsSep ", " unmapped}, which the table in nix/profile.nix does not map: add each with its nixpkgs attribute (or null, with the reason, if Nix should not install it)"
    else if stale != [ ] then
      throw "nix/profile.nix: the table maps ${concatStringsSep ", " stale}, which containers/profile/packages.txt no longer lists: remove it from the table too"
    else
      true;

  asList = v: if v == null then [ ] else if isList v then v else [ v ];

  # Deduplicated, in packages.txt order.
  attrPaths =
    assert checked;
    foldl' (acc: p: if elem p acc then acc else acc ++ [ p ]) [ ] (
      concatLists (map (n: asList table.${n}) debianPackages)
    );

  getPath =
    pkgs: path:
    foldl' (set: name: getAttr name set) pkgs (filter isString (split "[.]" path));

  packagesFor =
    pkgs:
    filter (p: pkgs.lib.meta.availableOn pkgs.stdenv.hostPlatform p) (map (getPath pkgs) attrPaths);
in
{
  inherit
    debianPackages
    table
    attrPaths
    packagesFor
    ;
  # For the check: each Debian name and what it became.
  mapping = assert checked; listToAttrs (map (n: { name = n; value = table.${n}; }) debianPackages);
}
