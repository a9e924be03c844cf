{
  description = "ldk-server: a Lightning node appliance serving the LDK Server gRPC API on ldk-node";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      overlays.default = final: _prev: {
        ldk-server = final.callPackage ./nix/package.nix { };
      };

      packages = forAllSystems (pkgs: {
        ldk-server = pkgs.callPackage ./nix/package.nix { };
        default = self.packages.${pkgs.stdenv.hostPlatform.system}.ldk-server;
      });

      apps = forAllSystems (
        pkgs:
        let
          package = self.packages.${pkgs.stdenv.hostPlatform.system}.default;
        in
        {
          default = {
            type = "app";
            program = lib.getExe package;
            meta.description = "The ldk-server Lightning node";
          };
          cli = {
            type = "app";
            program = lib.getExe' package "ldk-server-cli";
            meta.description = "ldk-server-cli, the operator CLI of ldk-server";
          };
        }
      );

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = with pkgs; [
            cargo
            rustc
            clippy
            rustfmt
            rust-analyzer
            pkg-config
            bitcoind
            prometheus
            # promtool is in its own output.
            prometheus.cli
            nodejs
            python3
            nixfmt
            nix-tree
          ];
          # The end-to-end tests start a regtest bitcoind from here (corepc-node's convention).
          # Newer than corepc-node's feature "29_0" (Cargo.toml), which is harmless: the feature
          # only picks the typed client, and the tests use its untyped `call`; the two typed
          # calls corepc-node makes itself (createwallet, loadwallet) are the same in its v29
          # and v30 clients.
          BITCOIND_EXE = lib.getExe' pkgs.bitcoind "bitcoind";
        };
      });

      # The module with this flake's package as its default (without an overlay, so that it
      # also works where `pkgs` is read-only, as in the VM tests).
      nixosModules.default =
        { lib, pkgs, ... }:
        {
          imports = [ ./nixos-module ];
          services.ldk-server.package = lib.mkDefault self.packages.${pkgs.stdenv.hostPlatform.system}.default;
        };

      checks = forAllSystems (
        pkgs:
        let
          package = self.packages.${pkgs.stdenv.hostPlatform.system}.default;
          vmTest = file: pkgs.testers.runNixOSTest (import file { inherit self; });
        in
        {
          inherit package;
          clippy = package.overrideAttrs (old: {
            pname = "${old.pname}-clippy";
            nativeBuildInputs = old.nativeBuildInputs ++ [ pkgs.clippy ];
            buildPhase = ''
              runHook preBuild
              cargo clippy --all-targets --locked --offline -- -D warnings
              runHook postBuild
            '';
            doCheck = false;
            installPhase = "touch $out";
          });
          # rustfmt directly: `cargo fmt` would resolve the dependency graph, which needs the
          # network.
          fmt = pkgs.runCommand "ldk-server-fmt" { nativeBuildInputs = [ pkgs.rustfmt ]; } ''
            cd ${./.}
            find . -name '*.rs' -not -path './target/*' -exec rustfmt --check --edition 2021 {} +
            touch $out
          '';
          # The module through nixpkgs' eval-config.nix in several configurations (nix/module-eval.nix).
          module-eval = import ./nix/module-eval.nix { inherit nixpkgs self pkgs; };
          nixos-single-node = vmTest ./tests/nixos/single-node.nix;
          nixos-two-nodes = vmTest ./tests/nixos/two-nodes.nix;
          # README.md's NixOS example, nixos-module/example.nix, booted.
          nixos-readme-example = vmTest ./tests/nixos/readme-example.nix;
        }
      );

      # nixfmt through treefmt: `nix fmt` with no argument formats every .nix file of the tree.
      formatter = forAllSystems (pkgs: pkgs.nixfmt-tree);
    };
}
