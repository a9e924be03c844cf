# The ldk-server package: its three binaries (ldk-server, ldk-server-cli, ldk-server-mcp), the
# systemd units of systemd/ (the server, its init service and both sockets, with the installed
# binary's path), sysusers and tmpfiles entries, the Grafana dashboards and the Prometheus
# alert rules.
{
  lib,
  rustPlatform,
}:

let
  cargoToml = lib.importTOML ../Cargo.toml;
in
rustPlatform.buildRustPackage {
  pname = "ldk-server";
  inherit (cargoToml.package) version;

  # Only what the build and its tests read, so that editing the README or the Nix files does
  # not rebuild the package.
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../Cargo.toml
      ../Cargo.lock
      ../build.rs
      ../proto
      ../src
      ../benches
      (lib.fileset.difference ../tests ../tests/nixos)
      ../systemd
      ../grafana
    ];
  };

  cargoLock.lockFile = ../Cargo.lock;

  # The test suite runs in the build sandbox: loopback networking only, no bitcoind, not root.
  # Tests that need more (regtest bitcoind, journald in a mount namespace, Prometheus, a booted
  # container) print SKIPPED and pass; the NixOS VM tests in tests/nixos/ cover them for real.
  # (The container test, tests/systemd_nspawn.rs, is #[ignore]d unless asked for.)
  preCheck = ''
    export HOME=$TMPDIR
  '';
  # Builders run other builds beside this one, so the suite runs one test at a time (nixpkgs'
  # cargoCheckHook then passes --test-threads=1 instead of $NIX_BUILD_CORES), and the two tests
  # that count sd_notify watchdog pings within a sub-second window are left to scripts/test and
  # the VM tests: a scheduling delay on a loaded builder is not a defect of the server.
  dontUseCargoParallelTests = true;
  checkFlags = [
    "--skip=notify_status_ready_watchdog_reload_and_stopping"
    "--skip=with_the_chain_source_down_status_says_why_and_ready_never_comes"
  ];

  postInstall = ''
    units=$out/lib/systemd/system
    install -Dm444 -t $units systemd/ldk-server.socket systemd/ldk-server-metrics.socket
    # The services name /usr/local/bin/ldk-server and allow execution from /usr only.
    for service in ldk-server.service ldk-server-init.service; do
      substitute systemd/$service $units/$service \
        --replace-fail /usr/local/bin/ldk-server $out/bin/ldk-server \
        --replace-fail 'ExecPaths=/usr -/lib -/lib64' 'ExecPaths=/nix/store'
    done
    install -Dm444 systemd/ldk-server.sysusers $out/lib/sysusers.d/ldk-server.conf
    install -Dm444 systemd/ldk-server.tmpfiles $out/lib/tmpfiles.d/ldk-server.conf
    install -Dm444 systemd/config.toml $out/share/doc/ldk-server/config.toml
    install -Dm444 -t $out/share/grafana/dashboards grafana/dashboards/*.json
    install -Dm444 -t $out/share/prometheus/rules grafana/alerts/ldk-server.rules.yml
  '';

  meta = {
    description = "Lightning node appliance serving the LDK Server gRPC API on ldk-node";
    longDescription = ''
      ldk-server runs one Lightning node (ldk-node) and serves the LDK Server gRPC API over
      TLS with HMAC authentication, wire-compatible with upstream LDK Server. It ships
      socket-activated, hardened systemd units, Prometheus metrics with Grafana dashboards
      and alert rules, an operator CLI, ldk-server-cli, and ldk-server-mcp, which serves the
      API as Model Context Protocol tools for AI agents.
    '';
    homepage = "https://github.com/lightningdevkit/ldk-server";
    license = with lib.licenses; [
      mit
      asl20
    ];
    mainProgram = "ldk-server";
    platforms = lib.platforms.linux;
    maintainers = [ ];
  };
}
