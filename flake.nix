# flake.nix: devbox-quadlet as a library flake (SPEC R-23). Consumers
# import its modules and bring their own users.nix, secrets and tailnet
# policy; the examples/ hosts show the shape (docs/nix.md).
#
# Every attribute name below, at the top and per system, is written out or
# built with builtins, and only the leaf values touch nixpkgs: that is what
# lets test/nix/flake-outputs.nix list the outputs offline, with stub
# inputs that throw when forced.
{
  description = "devbox-quadlet: personal dev containers as rootless podman quadlets in each developer's own systemd";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
    nix-darwin = {
      url = "github:nix-darwin/nix-darwin";
      inputs.nixpkgs.follows = "nixpkgs";
    };
    home-manager = {
      url = "github:nix-community/home-manager";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  outputs =
    {
      self,
      nixpkgs,
      nix-darwin,
      home-manager,
      ...
    }:
    let
      # The orchestrator needs systemd and podman: Linux. The workstation
      # modules also serve macOS, which gets only the formatter here.
      linuxSystems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      darwinSystems = [
        "aarch64-darwin"
        "x86_64-darwin"
      ];
      forSystems =
        systems: f:
        builtins.listToAttrs (
          map (system: {
            name = system;
            value = f system;
          }) systems
        );
      pkgsFor = system: nixpkgs.legacyPackages.${system};
    in
    {
      # The pure data logic (users.nix schema, subuid ranges, config.toml
      # rendering): builtins only.
      lib = import ./nix/lib { };

      packages = forSystems linuxSystems (
        system:
        let
          pkgs = pkgsFor system;
        in
        {
          devbox-quadlet = pkgs.callPackage ./nix/package.nix { };
          devbox-image = pkgs.callPackage ./nix/image.nix {
            devbox-quadlet = self.packages.${system}.devbox-quadlet;
          };
          default = self.packages.${system}.devbox-quadlet;
        }
      );

      nixosModules = {
        orchestrator = ./nix/modules/orchestrator.nix;
        # With home-manager's NixOS module, which it configures for the
        # desktop's users. A path, so importing it again is a no-op.
        desktop = {
          imports = [
            home-manager.nixosModules.home-manager
            ./nix/modules/desktop.nix
          ];
        };
      };

      darwinModules.workstation = {
        imports = [
          home-manager.darwinModules.home-manager
          ./nix/modules/workstation-darwin.nix
        ];
      };

      homeManagerModules.cli = ./nix/modules/cli-home.nix;

      nixosConfigurations = {
        example-orchestrator = nixpkgs.lib.nixosSystem {
          modules = [
            self.nixosModules.orchestrator
            ./examples/hosts/orchestrator.nix
          ];
        };
        example-desktop = nixpkgs.lib.nixosSystem {
          modules = [
            self.nixosModules.desktop
            ./examples/hosts/desktop.nix
          ];
        };
      };

      darwinConfigurations.example-macbook = nix-darwin.lib.darwinSystem {
        modules = [
          self.darwinModules.workstation
          ./examples/hosts/macbook.nix
        ];
      };

      checks = forSystems linuxSystems (
        system:
        let
          pkgs = pkgsFor system;
        in
        {
          # The NixOS VM test: two users, the agent, create, reboot, destroy.
          orchestrator = import ./nix/tests/orchestrator.nix {
            inherit pkgs;
            module = self.nixosModules.orchestrator;
          };
          # The pure checks CI runs with a bare nix-instantiate, here as part
          # of `nix flake check`: nix/lib's table tests and the output list.
          # They run at evaluation; the derivation records that they passed.
          nix-lib =
            let
              libFailures = import ./test/nix/lib-test.nix;
              outputs = import ./test/nix/flake-outputs.nix;
              report = builtins.toJSON {
                inherit libFailures;
                inherit (outputs) missing unexpected failedFacts;
              };
            in
            if libFailures != [ ] || !outputs.ok then
              throw "nix-lib checks failed: ${report}"
            else
              pkgs.runCommand "devbox-quadlet-nix-lib-checks" { inherit report; } ''
                printf '%s\n' "$report" > $out
              '';
        }
      );

      formatter = forSystems (linuxSystems ++ darwinSystems) (system: (pkgsFor system).nixfmt-rfc-style);
    };
}
