# Two ldk-server machines and a bitcoind machine on regtest: fund alice, open a channel to bob,
# pay a BOLT 11 invoice, see the payment on both sides, restart bob and find the channel again.
{ self }:
let
  common = import ./common.nix;

  lightningNode =
    { pkgs, ... }:
    {
      imports = [ self.nixosModules.default ];
      virtualisation.memorySize = 1536;
      environment.systemPackages = [ pkgs.jq ];
      environment.etc = common.passwordFile;
      services.ldk-server = common.ldkServer // {
        bitcoind = common.ldkServer.bitcoind // {
          rpcAddress = "bitcoin:18443";
        };
        listenAddresses = [ "0.0.0.0:9735" ];
        openFirewall = true;
      };
    };
in
{
  name = "ldk-server-two-nodes";

  nodes = {
    bitcoin =
      { pkgs, ... }:
      {
        services.bitcoind.regtest = common.bitcoind {
          rpcBind = "0.0.0.0";
          rpcAllowIp = "0.0.0.0/0";
        };
        networking.firewall.allowedTCPPorts = [ 18443 ];
        environment.systemPackages = [ pkgs.jq ];
      };
    alice = lightningNode;
    bob = lightningNode;
  };

  testScript = ''
    import json

    rpc = "bitcoin-cli -regtest -rpcport=18443 -rpcuser=ldk -rpcpassword=${common.rpcPassword}"

    def cli(machine, *args):
        # As root: the module publishes the certificate and key for root (no operator group).
        return json.loads(machine.succeed("ldk-server-cli " + " ".join(args)))

    def mine(blocks):
        address = bitcoin.succeed(f"{rpc} -rpcwallet=miner getnewaddress").strip()
        bitcoin.succeed(f"{rpc} generatetoaddress {blocks} {address}")

    start_all()
    bitcoin.wait_for_unit("bitcoind-regtest.service")
    bitcoin.wait_until_succeeds(f"{rpc} getblockchaininfo")
    bitcoin.succeed(f"{rpc} createwallet miner")
    mine(101)

    for node in [alice, bob]:
        node.wait_for_unit("ldk-server.socket")
        node.wait_until_succeeds("ldk-server-cli get-node-info", timeout=180)

    with subtest("fund alice"):
        address = cli(alice, "onchain-receive")["address"]
        bitcoin.succeed(f"{rpc} -rpcwallet=miner sendtoaddress {address} 0.02")
        mine(6)
        alice.wait_until_succeeds(
            "ldk-server-cli get-balances | jq -e '.spendable_onchain_balance_sats == 2000000'",
            timeout=120,
        )

    with subtest("open a channel to bob"):
        bob_id = cli(bob, "get-node-info")["node_id"]
        cli(alice, "open-channel", bob_id, "bob:9735", "500000sat")
        alice.wait_until_succeeds(
            "ldk-server-cli list-channels | jq -e '.channels | length == 1'", timeout=60
        )
        # The funding transaction is broadcast only once bob has signed: mine after that.
        bitcoin.wait_until_succeeds(f"{rpc} getrawmempool | jq -e 'length == 1'", timeout=60)
        mine(6)
        for node in [alice, bob]:
            node.wait_until_succeeds(
                "ldk-server-cli list-channels | jq -e '.channels[0].is_usable == true'",
                timeout=120,
            )
        channel_id = cli(bob, "list-channels")["channels"][0]["channel_id"]

    with subtest("pay a BOLT 11 invoice; both sides see it"):
        invoice = cli(bob, "bolt11-receive", "25000sat", "-d", "vm-test")["invoice"]
        payment_id = cli(alice, "bolt11-send", invoice)["payment_id"]
        alice.wait_until_succeeds(
            f"ldk-server-cli get-payment-details {payment_id}"
            " | jq -e '.payment.status == \"SUCCEEDED\"'",
            timeout=60,
        )
        bob.wait_until_succeeds(
            "ldk-server-cli list-payments"
            " | jq -e '[.payments[] | select(.status == \"SUCCEEDED\" and .direction == \"INBOUND\")] | length == 1'",
            timeout=60,
        )

    with subtest("restart bob: the channel is still there"):
        bob.succeed("systemctl restart ldk-server.service")
        bob.wait_until_succeeds("ldk-server-cli get-node-info", timeout=120)
        channels = cli(bob, "list-channels")["channels"]
        assert [c["channel_id"] for c in channels] == [channel_id], channels
        bob.wait_until_succeeds(
            "ldk-server-cli list-channels | jq -e '.channels[0].is_usable == true'",
            timeout=120,
        )
        assert cli(bob, "list-payments")["payments"], "payment history lost"
  '';
}
