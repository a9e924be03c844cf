# Shared by the VM tests: a regtest bitcoind whose RPC user `ldk` has a known password, and the
# ldk-server settings every test node uses. Test secrets live in /etc (a test VM only); the
# module itself never takes a secret as a value.
{
  rpcPassword = "regtest-rpc-password";

  # bitcoind on regtest; rpcauth for user `ldk` (salt$HMAC-SHA256(salt, rpcPassword)).
  bitcoind =
    { rpcBind ? "127.0.0.1", rpcAllowIp ? "127.0.0.1" }:
    {
      enable = true;
      rpc = {
        port = 18443;
        users.ldk.passwordHMAC = "5f2b6c1e9a3d4f70b8c2d1e0a9f8e7d6$2da314cf670e5b1907625405f6fe66679deee8b84697246ebf709559726cb617";
      };
      extraCmdlineOptions = [
        "-regtest"
        "-fallbackfee=0.0001"
        "-txindex=1"
        "-rpcbind=${rpcBind}"
        "-rpcallowip=${rpcAllowIp}"
      ];
    };

  # An ldk-server on regtest; its RPC password file is written by the test machine.
  ldkServer = {
    enable = true;
    network = "regtest";
    bitcoind.rpcUser = "ldk";
    bitcoindRpcPasswordFile = "/etc/ldk-server-test/rpc-password";
    settings.log.level = "Debug";
  };

  # The password file, root-only (systemd reads it for LoadCredential=).
  passwordFile = {
    "ldk-server-test/rpc-password" = {
      text = "regtest-rpc-password";
      mode = "0400";
    };
  };
}
