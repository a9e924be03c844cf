# One machine: regtest bitcoind and ldk-server through the module, with Prometheus and Grafana.
# Proves socket activation (the socket listens first, the first CLI call starts the node), the
# sandbox (systemctl show, exposure <= 1.0 with confinement), the journal's fields, the scrape
# and the provisioned dashboards.
{ self }:
let
  common = import ./common.nix;
in
{
  name = "ldk-server-single-node";

  nodes.machine =
    { lib, pkgs, ... }:
    {
      imports = [ self.nixosModules.default ];
      virtualisation.memorySize = 2048;

      services.bitcoind.regtest = common.bitcoind { };
      environment.etc = common.passwordFile // {
        # A test-only key secret (a real host provisions it outside the store).
        "ldk-server-test/shop-key" = {
          text = "5e1f0c0a5e1f0c0a5e1f0c0a5e1f0c0a5e1f0c0a5e1f0c0a5e1f0c0a5e1f0c0a";
          mode = "0400";
        };
      };

      services.ldk-server = common.ldkServer // {
        bitcoind = common.ldkServer.bitcoind // {
          local = {
            enable = true;
            instance = "regtest";
          };
        };
        operatorGroup = "ldk-operators";
        apiKeys.shop = {
          scopes = [ "read" ];
          methods = [ "Bolt11Receive" ];
          keyFile = "/etc/ldk-server-test/shop-key";
          budget = "1000sat/1h";
        };
        prometheus.enable = true;
        grafana.enable = true;
      };

      services.prometheus = {
        enable = true;
        globalConfig = {
          scrape_interval = "2s";
          evaluation_interval = "2s";
        };
      };
      # Started by the test script: a scrape of the metrics socket would start ldk-server
      # before the socket-activation check.
      systemd.services.prometheus.wantedBy = lib.mkForce [ ];
      services.grafana = {
        enable = true;
        settings = {
          server.http_port = 3000;
          security = {
            admin_user = "admin";
            admin_password = "test-only-password";
            secret_key = "test-only-secret-key";
          };
        };
      };

      users.users.alice = {
        isNormalUser = true;
        extraGroups = [ "ldk-operators" ];
      };
      environment.systemPackages = [
        pkgs.curl
        pkgs.iproute2
        pkgs.jq
      ];
    };

  testScript = ''
    import json

    machine.wait_for_unit("bitcoind-regtest.service")
    machine.wait_for_unit("ldk-server-init.service")
    machine.wait_for_unit("ldk-server.socket")
    machine.wait_for_unit("ldk-server-metrics.socket")

    with subtest("the socket listens before the service runs"):
        # ss, not wait_for_open_port: its connection would start the service.
        machine.succeed("ss -Htln 'sport = :3536' | grep -q LISTEN")
        machine.succeed("systemctl is-active ldk-server.socket")
        machine.fail("systemctl is-active ldk-server.service")

    with subtest("an operator's first CLI call starts the node"):
        # The first calls answer UNAVAILABLE (exit 6) while the node starts.
        machine.wait_until_succeeds("sudo -u alice ldk-server-cli get-node-info", timeout=180)
        machine.succeed("systemctl is-active ldk-server.service")
        info = json.loads(machine.succeed("sudo -u alice ldk-server-cli get-node-info"))
        assert len(info["node_id"]) == 66, info
        status = machine.succeed("systemctl show -p StatusText --value ldk-server.service")
        assert status.startswith("running: node"), status
        # Not an operator: no access to the key.
        machine.succeed("useradd mallory")
        machine.fail("sudo -u mallory ldk-server-cli get-node-info")

    with subtest("the sandbox"):
        props = machine.succeed(
            "systemctl show ldk-server.service -p User -p ProtectSystem -p ProtectHome"
            " -p PrivateUsers -p PrivateDevices -p NoNewPrivileges -p CapabilityBoundingSet"
            " -p RestrictNamespaces -p MemoryDenyWriteExecute -p RootDirectory"
            " -p SystemCallArchitectures -p LoadCredential"
        )
        for expected in [
            "User=ldk-server",
            "ProtectSystem=strict",
            "ProtectHome=yes",
            "PrivateUsers=yes",
            "PrivateDevices=yes",
            "NoNewPrivileges=yes",
            "CapabilityBoundingSet=\n",
            "RestrictNamespaces=yes",
            "MemoryDenyWriteExecute=yes",
            "RootDirectory=/run/confinement/",
            "SystemCallArchitectures=native",
        ]:
            assert expected in props + "\n", f"{expected!r} not in {props}"
        pid = machine.succeed("systemctl show -p MainPID --value ldk-server.service").strip()
        proc = machine.succeed(f"cat /proc/{pid}/status")
        for field in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]:
            assert f"{field}:\t0000000000000000" in proc, proc
        assert "NoNewPrivs:\t1" in proc, proc
        # The configuration is in the store: nothing in /etc (ConfigurationDirectory= reset).
        machine.succeed("test ! -e /etc/ldk-server")
        score = machine.succeed(
            "systemd-analyze security --no-pager ldk-server.service | tail -n 1"
        )
        # "→ Overall exposure level for ldk-server.service: 1.0 OK"
        level = float(score.split(":")[1].split()[0])
        assert level <= 1.0, score

    with subtest("a declared API key works within its scopes"):
        shop = "LDK_SERVER_API_KEY=$(cat /etc/ldk-server-test/shop-key) ldk-server-cli"
        machine.succeed(f"{shop} get-balances")
        machine.succeed(f"{shop} bolt11-receive 1000sat -d tea")
        # Outside its scopes: PERMISSION_DENIED, exit 4.
        code = machine.execute(f"{shop} onchain-receive")[0]
        assert code == 4, code
        keys = json.loads(machine.succeed("ldk-server-cli keys list"))
        assert [k["name"] for k in keys["keys"]] == ["admin", "shop"], keys
        assert "5e1f0c0a" not in json.dumps(keys), keys
        mode = machine.succeed("stat -c %a /var/lib/ldk-server/regtest/api_keys/shop.toml").strip()
        assert mode == "600", mode
        machine.fail("grep -q 5e1f0c0a /var/lib/ldk-server/regtest/api_keys/shop.toml")

    with subtest("the journal has our structured fields"):
        entries = [
            json.loads(line)
            for line in machine.succeed("journalctl -u ldk-server -o json --no-pager").splitlines()
        ]
        calls = [e for e in entries if e.get("RPC_METHOD") == "GetNodeInfo"]
        assert calls, "no RPC_METHOD=GetNodeInfo entry"
        assert all(e.get("SYSLOG_IDENTIFIER") == "ldk-server" for e in calls)
        assert any(e.get("STATUS_CODE") == "0" and "DURATION_MS" in e for e in calls)

    with subtest("Prometheus scrapes it and loads the alert rules"):
        machine.succeed("systemctl start prometheus.service")
        machine.wait_for_unit("prometheus.service")
        machine.wait_until_succeeds(
            "curl -sf 'http://127.0.0.1:9090/api/v1/query?query=ldk_server_node_running'"
            " | jq -e '.data.result[0].value[1] == \"1\"'",
            timeout=60,
        )
        # A rule's health is "unknown" until its group's first evaluation.
        machine.wait_until_succeeds(
            "curl -sf http://127.0.0.1:9090/api/v1/rules"
            " | jq -e '[.data.groups[].rules[]] | length > 0 and all(.health == \"ok\")'",
            timeout=60,
        )

    with subtest("Grafana serves the provisioned dashboards"):
        machine.wait_for_unit("grafana.service")
        machine.wait_for_open_port(3000)
        found = machine.wait_until_succeeds(
            "curl -sf -u admin:test-only-password 'http://127.0.0.1:3000/api/search?type=dash-db'",
            timeout=60,
        )
        titles = [d["title"] for d in json.loads(found)]
        assert len(titles) >= 4, titles
        uids = [d["uid"] for d in json.loads(found)]
        for uid in uids:
            machine.succeed(
                f"curl -sf -u admin:test-only-password http://127.0.0.1:3000/api/dashboards/uid/{uid}"
                " | jq -e '.dashboard.panels | length > 0'"
            )
  '';
}
