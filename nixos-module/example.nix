# A node on mainnet with a local bitcoind, remote API clients, Prometheus and Grafana: the
# example of README.md ("NixOS"), where this file is quoted verbatim. flake.nix evaluates it
# (checks.module-eval) and tests/nixos/readme-example.nix boots it.
{
  services.bitcoind.main = {
    enable = true;
    # rpcauth for the user ldk-server: replace with the output of Bitcoin Core's
    # share/rpcauth/rpcauth.py (its password goes into the file of bitcoindRpcPasswordFile).
    rpc.users.ldk-server.passwordHMAC = "00000000000000000000000000000000$0000000000000000000000000000000000000000000000000000000000000000";
  };

  services.ldk-server = {
    enable = true;
    network = "bitcoin";
    alias = "my-node";
    openFirewall = true; # Lightning P2P port 9735
    bitcoind.local.enable = true; # services.bitcoind.main, 127.0.0.1:8332
    bitcoindRpcPasswordFile = "/run/keys/ldk-server-rpc-password"; # never in the store
    apiKeyFile = "/run/keys/ldk-server-api-key"; # optional
    grpc = {
      address = "0.0.0.0";
      allowedIPs = [
        "localhost"
        "192.0.2.0/24"
      ];
      openFirewall = true; # gRPC port 3536, for the clients above
    };
    settings.tls.hosts = [ "node.example.org" ];
    operatorGroup = "ldk-operators"; # members may run ldk-server-cli
    prometheus.enable = true; # scrape job + alert rules
    grafana.enable = true; # the four dashboards and their data source
  };

  services.prometheus.enable = true;
  services.grafana = {
    enable = true;
    # Required by nixpkgs; a file reference keeps the key out of the store.
    settings.security.secret_key = "$__file{/run/keys/grafana-secret-key}";
  };
  users.users.grafana.extraGroups = [ "keys" ]; # /run/keys is root:keys, 0750

  users.users.alice = {
    isNormalUser = true;
    extraGroups = [ "ldk-operators" ];
  };
}
