# The README's NixOS example (nixos-module/example.nix, imported as it is) on one machine. Only
# what a test VM cannot have is changed: regtest instead of mainnet, an rpcauth entry whose
# password the test knows, and the secret files of /run/keys, written by tmpfiles.
# Proves that the documented configuration boots: the init unit ran in its sandbox and
# published the certificate and key, /etc/ldk-server does not exist, the firewall has both
# ports, an operator's first CLI call starts the node, Prometheus scrapes it and Grafana serves
# the provisioned dashboards with the file-provided secret key.
{ self }:
let
  common = import ./common.nix;
in
{
  name = "ldk-server-readme-example";

  nodes.machine =
    { lib, pkgs, ... }:
    {
      imports = [
        self.nixosModules.default
        ../../nixos-module/example.nix
      ];
      virtualisation.memorySize = 2048;

      # Test only: regtest, and the rpcauth entry of common.nix (an HMAC of the password only,
      # so it fits any user name).
      services.bitcoind.main = {
        rpc.users.ldk-server.passwordHMAC = lib.mkForce (common.bitcoind { }).rpc.users.ldk.passwordHMAC;
        extraCmdlineOptions = [
          "-regtest"
          "-fallbackfee=0.0001"
        ];
      };
      services.ldk-server.network = lib.mkForce "regtest";
      # The secrets the example names, as a deployment tool would place them (before any
      # service starts). Test values only.
      systemd.tmpfiles.rules = [
        "f /run/keys/ldk-server-rpc-password 0400 root root - ${common.rpcPassword}"
        "f /run/keys/ldk-server-api-key 0400 root root - test-only-api-key-of-32-bytes!!"
        "f /run/keys/grafana-secret-key 0440 root keys - test-only-grafana-secret-key"
      ];
      environment.systemPackages = [
        pkgs.curl
        pkgs.jq
        pkgs.iptables
        pkgs.nftables
      ];
    };

  testScript = ''
    import json

    machine.wait_for_unit("ldk-server-init.service")

    with subtest("the init unit ran in its sandbox and published the files"):
        props = machine.succeed(
            "systemctl show ldk-server-init.service -p PrivateNetwork -p PrivateUsers"
            " -p RestrictAddressFamilies -p MemoryDenyWriteExecute -p NoNewPrivileges"
            " -p CapabilityBoundingSet -p ProtectSystem -p User"
        )
        for expected in [
            "PrivateNetwork=yes",
            "PrivateUsers=yes",
            "RestrictAddressFamilies=AF_UNIX",
            "MemoryDenyWriteExecute=yes",
            "NoNewPrivileges=yes",
            "CapabilityBoundingSet=\n",
            "ProtectSystem=strict",
            "User=ldk-server",
        ]:
            assert expected in props + "\n", f"{expected!r} not in {props}"
        machine.succeed("test \"$(stat -c '%a %G' /run/ldk-server/tls.crt)\" = '444 ldk-operators'")
        machine.succeed("test \"$(stat -c '%a %G' /run/ldk-server/api_key)\" = '440 ldk-operators'")
        machine.succeed("cmp /run/keys/ldk-server-api-key /run/ldk-server/api_key")
        machine.succeed("test \"$(stat -c '%a %U' /var/lib/ldk-server)\" = '700 ldk-server'")
        init = float(
            machine.succeed("systemd-analyze security --no-pager ldk-server-init.service | tail -n 1")
            .split(":")[1]
            .split()[0]
        )
        main = float(
            machine.succeed("systemd-analyze security --no-pager ldk-server.service | tail -n 1")
            .split(":")[1]
            .split()[0]
        )
        assert init <= main, f"init unit exposure {init} above the service's {main}"

    with subtest("no /etc/ldk-server: the configuration comes from the store"):
        machine.succeed("test ! -e /etc/ldk-server")

    with subtest("the firewall opens the P2P and the gRPC port"):
        rules = machine.succeed("(iptables -w -S; nft list ruleset) 2>/dev/null || true")
        for port in ["9735", "3536"]:
            assert port in rules, f"port {port} not open:\n{rules}"

    with subtest("an operator's first CLI call starts the node"):
        machine.wait_for_unit("ldk-server.socket")
        machine.wait_until_succeeds("sudo -u alice ldk-server-cli get-node-info", timeout=180)
        info = json.loads(machine.succeed("sudo -u alice ldk-server-cli get-node-info"))
        assert len(info["node_id"]) == 66, info

    with subtest("Prometheus scrapes it"):
        machine.wait_for_unit("prometheus.service")
        machine.wait_until_succeeds(
            "curl -sf 'http://127.0.0.1:9090/api/v1/query?query=ldk_server_node_running'"
            " | jq -e '.data.result[0].value[1] == \"1\"'",
            timeout=120,
        )

    with subtest("Grafana serves the provisioned dashboards"):
        machine.wait_for_unit("grafana.service")
        machine.wait_for_open_port(3000)
        found = machine.wait_until_succeeds(
            "curl -sf -u admin:admin 'http://127.0.0.1:3000/api/search?type=dash-db'",
            timeout=60,
        )
        titles = [d["title"] for d in json.loads(found)]
        assert len(titles) >= 4, titles
        machine.succeed(
            "curl -sf -u admin:admin http://127.0.0.1:3000/api/datasources/uid/ldk-server-prometheus"
        )
  '';
}
