# test/nix/flake-outputs.nix: the flake's outputs, listed offline. It calls
# flake.nix's `outputs` with inputs that throw "offline: … not available"
# when forced, lists every output name down to the per-system attributes,
# and compares that with the list below. It also forces the parts that must
# evaluate without nixpkgs: nix/lib through the flake's `lib`, the module
# paths, nix/profile.nix's Debian-to-nixpkgs table (a Debian name in
# containers/profile/packages.txt without a mapping is reported by name),
# and nix/package.nix's version and vendor hash.
#
#   nix-instantiate --eval --strict --json test/nix/flake-outputs.nix
#
# test/nix/flake-outputs.sh runs it and prints what differed; the flake's
# checks.<system>.nix-lib asserts `ok`.
let
  inherit (builtins)
    attrNames
    concatMap
    deepSeq
    elem
    filter
    isFunction
    isPath
    length
    map
    match
    pathExists
    sort
    toString
    tryEval
    ;

  flake = import ../../flake.nix;

  offline = name: throw "offline: ${name} not available";
  inputs = {
    nixpkgs = offline "nixpkgs";
    nix-darwin = offline "nix-darwin";
    home-manager = offline "home-manager";
  };
  outputs = flake.outputs (inputs // { self = outputs; });

  # The outputs whose systems hold named packages or checks (formatter's
  # systems hold the formatter itself).
  named = [
    "packages"
    "checks"
  ];

  namesUnder =
    top:
    map (n: "${top}.${n}") (attrNames outputs.${top})
    ++ (
      if elem top named then
        concatMap (
          system: map (n: "${top}.${system}.${n}") (attrNames outputs.${top}.${system})
        ) (attrNames outputs.${top})
      else
        [ ]
    );

  # `lib` is ours and pure: it is checked by what it must offer below, not
  # listed, so nix/lib can grow.
  listed = filter (n: n != "lib") (attrNames outputs);
  actual = sort (a: b: a < b) (
    attrNames outputs ++ concatMap namesUnder listed ++ map (n: "inputs.${n}") (attrNames flake.inputs)
  );

  linux = [
    "aarch64-linux"
    "x86_64-linux"
  ];
  allSystems = linux ++ [
    "aarch64-darwin"
    "x86_64-darwin"
  ];
  expected = sort (a: b: a < b) (
    [
      "checks"
      "darwinConfigurations"
      "darwinModules"
      "formatter"
      "homeManagerModules"
      "lib"
      "nixosConfigurations"
      "nixosModules"
      "packages"
      "darwinConfigurations.example-macbook"
      "darwinModules.workstation"
      "homeManagerModules.cli"
      "nixosConfigurations.example-desktop"
      "nixosConfigurations.example-orchestrator"
      "nixosModules.desktop"
      "nixosModules.orchestrator"
      "inputs.home-manager"
      "inputs.nix-darwin"
      "inputs.nixpkgs"
    ]
    ++ map (s: "formatter.${s}") allSystems
    ++ concatMap (s: [
      "packages.${s}"
      "packages.${s}.default"
      "packages.${s}.devbox-image"
      "packages.${s}.devbox-quadlet"
      "checks.${s}"
      "checks.${s}.nix-lib"
      "checks.${s}.orchestrator"
    ]) linux
  );

  missing = filter (n: !(elem n actual)) expected;
  unexpected = filter (n: !(elem n expected)) actual;

  # What must work offline, each as { what; ok; }.
  libNeeds = [
    "checkUsers"
    "checkAdmins"
    "subIdRange"
    "renderConfig"
    "toTOML"
  ];
  profile = import ../../nix/profile.nix;
  pkgInfo = import ../../nix/package.nix {
    lib.platforms.linux = [ ];
    buildGoModule = args: args;
    gnumake = null;
  };
  envGo = builtins.readFile ../../internal/cli/env.go;
  forced = v: (tryEval (deepSeq v true)).success;
  offlineOnly = v: !(tryEval (deepSeq v true)).success;
  # The profile's two lists, compared here as data, so the report names the
  # package (nix/profile.nix itself throws with the names when used).
  unmapped = filter (n: !(profile.table ? ${n})) profile.debianPackages;
  stale = filter (n: !(elem n profile.debianPackages)) (attrNames profile.table);
  # An absent output is reported as missing above; here it must not stop
  # the evaluation.
  absent = throw "absent";

  facts = [
    {
      what = "lib offers ${toString libNeeds}";
      ok = filter (n: !(outputs.lib ? ${n})) libNeeds == [ ];
    }
    {
      what = "lib renders examples/users.nix offline";
      ok = forced (outputs.lib.renderConfig { users = import ../../examples/users.nix; });
    }
    {
      what = "nixosModules.orchestrator and homeManagerModules.cli are files of this repository";
      ok =
        let
          o = outputs.nixosModules.orchestrator or null;
          c = outputs.homeManagerModules.cli or null;
        in
        isPath o && pathExists o && isPath c && pathExists c;
    }
    {
      what =
        if unmapped == [ ] then
          "nix/profile.nix maps every Debian package of containers/profile/packages.txt"
        else
          "nix/profile.nix maps every Debian package of containers/profile/packages.txt: it does not map ${toString unmapped}";
      ok = unmapped == [ ];
    }
    {
      what = "nix/profile.nix's attribute list evaluates without nixpkgs";
      ok = unmapped != [ ] || stale != [ ] || (forced profile.attrPaths && isFunction profile.packagesFor);
    }
    {
      what =
        if stale == [ ] then
          "nix/profile.nix maps only packages that containers/profile/packages.txt lists"
        else
          "nix/profile.nix maps only packages that containers/profile/packages.txt lists: ${toString stale} are not listed there";
      ok = stale == [ ];
    }
    {
      what = "nix/package.nix reads its version from internal/cli/env.go";
      ok = pkgInfo.version != "" && match ".*\nvar Version = \"${pkgInfo.version}\"\n.*" "\n${envGo}\n" != null;
    }
    {
      what = "nix/package.nix has one vendor hash, in SRI form";
      ok = match "sha256-[A-Za-z0-9+/]{43}=" pkgInfo.vendorHash != null;
    }
    {
      what = "nix/package.nix builds the three commands";
      ok = pkgInfo.subPackages == [
        "cmd/devbox-quadlet"
        "cmd/devbox-quadlet-agent"
        "cmd/devbox-init"
      ];
    }
    {
      # Laziness is what makes this file possible: a value that needs
      # nixpkgs must throw the stub's error, not be computed from nothing.
      what = "package, image, check and host values need nixpkgs (they throw offline)";
      ok =
        offlineOnly (outputs.packages.x86_64-linux.default or absent)
        && offlineOnly (outputs.packages.x86_64-linux.devbox-image or absent)
        && offlineOnly (outputs.checks.x86_64-linux.orchestrator or absent)
        && offlineOnly (outputs.nixosConfigurations.example-orchestrator or absent)
        && offlineOnly (outputs.darwinConfigurations.example-macbook or absent);
    }
    {
      what = "nixpkgs, nix-darwin and home-manager follow one nixpkgs";
      ok =
        flake.inputs.nix-darwin.inputs.nixpkgs.follows == "nixpkgs"
        && flake.inputs.home-manager.inputs.nixpkgs.follows == "nixpkgs";
    }
  ];
  failedFacts = map (f: f.what) (filter (f: !f.ok) facts);
  ok = missing == [ ] && unexpected == [ ] && failedFacts == [ ];
  profileSummary = "${toString (length profile.attrPaths)} nixpkgs attributes for ${toString (length profile.debianPackages)} Debian packages";

  # What test/nix/flake-outputs.sh prints, one finding a line.
  report = builtins.concatStringsSep "" (
    map (n: "missing output: ${n}\n") missing
    ++ map (
      n: "unexpected output: ${n} (if it is meant, add it to the expected list in test/nix/flake-outputs.nix)\n"
    ) unexpected
    ++ map (f: "not so: ${f}\n") failedFacts
    ++ [
      (
        if ok then
          "ok: ${toString (length actual)} output names as expected, ${toString (length facts)} offline facts hold; profile: ${profileSummary}; version ${pkgInfo.version}\n"
        else
          "FAIL\n"
      )
    ]
  );
in
{
  inherit ok report;
  inherit
    missing
    unexpected
    actual
    failedFacts
    ;
  facts = map (f: f.what) facts;
  profile = profileSummary;
  version = pkgInfo.version;
}
