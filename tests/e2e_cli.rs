//! End to end on regtest through `ldk-server-cli` only: every subcommand that needs a running
//! node is run as a process against real `ldk-server` processes on a real bitcoind, and its JSON
//! (or its error line and exit code) is checked field by field.
//!
//! Only the setup (starting the nodes) and the bulk payments behind the pagination checks use
//! the gRPC client directly; everything else goes through the CLI binary.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::chain::{next_event, wait_until, Chain, TestNode};
use ldk_server::proto::api::SpontaneousSendRequest;
use ldk_server::proto::events::event_envelope::Event;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const CLI: &str = env!("CARGO_BIN_EXE_ldk-server-cli");
const LONG: Duration = Duration::from_secs(150);

/// What one CLI run left behind.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// How the CLI reaches one node: its connection flags, and a HOME without a default config.
struct Cli {
    name: String,
    connection: Vec<String>,
    home: PathBuf,
}

impl Cli {
    /// `-b <address> -a <key hex> -t <tls.crt>`.
    fn flags(node: &TestNode) -> Self {
        let server = &node.server;
        Self {
            name: node.alias.clone(),
            connection: server.cli_flags(),
            home: server.dir.path().to_owned(),
        }
    }

    /// `-c <config.toml>` alone: the CLI finds address, key and certificate itself.
    fn from_config(node: &TestNode) -> Self {
        Self {
            name: format!("{} (via -c)", node.alias),
            connection: vec!["-c".into(), node.server.config_path.display().to_string()],
            home: node.server.dir.path().to_owned(),
        }
    }

    /// No connection flags at all, in `home`.
    fn bare(home: &Path) -> Self {
        Self {
            name: "bare".into(),
            connection: vec![],
            home: home.to_owned(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(CLI);
        command
            .args(&self.connection)
            .args(args)
            .env("HOME", &self.home)
            .stdin(Stdio::null());
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("LDK_SERVER_") {
                command.env_remove(name);
            }
        }
        command
    }

    fn run(&self, args: &[&str]) -> Run {
        let output = tokio::task::block_in_place(|| self.command(args).output())
            .expect("run ldk-server-cli");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs a subcommand that must succeed and returns its JSON.
    fn json(&self, args: &[&str]) -> Value {
        let run = self.run(args);
        assert_eq!(
            run.code, 0,
            "{}: ldk-server-cli {args:?} failed:\n{}",
            self.name, run.stderr
        );
        assert!(
            run.stderr.is_empty(),
            "{}: {args:?} wrote to stderr: {}",
            self.name,
            run.stderr
        );
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
            panic!(
                "{}: {args:?} printed no JSON ({e}):\n{}",
                self.name, run.stdout
            )
        })
    }

    /// Runs a subcommand that must fail with `code`; returns stderr, which must start with
    /// `prefix`.
    fn fails(&self, args: &[&str], code: i32, prefix: &str) -> String {
        let run = self.run(args);
        assert_eq!(
            run.code, code,
            "{}: {args:?} exit code; stdout {:?} stderr {:?}",
            self.name, run.stdout, run.stderr
        );
        assert!(
            run.stdout.is_empty(),
            "{}: {args:?} printed {:?}",
            self.name,
            run.stdout
        );
        assert!(
            run.stderr.starts_with(prefix),
            "{}: {args:?} stderr {:?} should start with {prefix:?}",
            self.name,
            run.stderr
        );
        run.stderr
    }

    /// Runs a subcommand whose answer is an empty message.
    fn empty(&self, args: &[&str]) {
        assert_eq!(self.json(args), json!({}), "{}: {args:?}", self.name);
    }
}

/// A running `subscribe-events -o json-lines`, read line by line on a thread.
struct EventTail {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr_path: PathBuf,
}

impl EventTail {
    fn start(cli: &Cli) -> Self {
        let stderr_path = cli.home.join(format!("events-{}.err", std::process::id()));
        let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
        let mut child = cli
            .command(&["-o", "json-lines", "subscribe-events"])
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn subscribe-events");
        let stdout = child.stdout.take().expect("stdout");
        let lines = common::line_receiver(stdout);
        Self {
            child,
            lines,
            stderr_path,
        }
    }

    /// Reads event lines until channel `channel_id` changes to `state`; returns the change.
    async fn channel_state(&mut self, what: &str, channel_id: &str, state: &str) -> Value {
        self.next(what, |member, body| {
            (member == "channel_state_changed"
                && body["channel_id"] == channel_id
                && body["state"] == state)
                .then(|| body.clone())
        })
        .await
    }

    /// Reads event lines until `pick` accepts one. Every line must be one JSON object
    /// `{"event": {"<Member>": {...}}, "sequence": N, "recorded_at": T}` on its own line.
    async fn next<T>(&mut self, what: &str, mut pick: impl FnMut(&str, &Value) -> Option<T>) -> T {
        let deadline = Instant::now() + LONG;
        loop {
            match self.lines.try_recv() {
                Ok(line) => {
                    let value: Value = serde_json::from_str(&line)
                        .unwrap_or_else(|e| panic!("event line is not JSON ({e}): {line}"));
                    let envelope = value.as_object().expect("event line is an object");
                    // The oneof, and the event log's sequence and recording time.
                    assert_eq!(envelope.len(), 3, "{line}");
                    assert!(
                        envelope["sequence"].as_u64().is_some_and(|s| s > 0)
                            && envelope["recorded_at"].as_i64().is_some_and(|t| t > 0),
                        "{line}"
                    );
                    let event = envelope["event"].as_object().expect("event oneof");
                    assert_eq!(event.len(), 1, "one member of the oneof is set: {line}");
                    let (member, body) = event.iter().next().unwrap();
                    assert!(body.is_object(), "{line}");
                    if let Some(found) = pick(member, body) {
                        return found;
                    }
                }
                Err(mpsc::TryRecvError::Empty) => {
                    assert!(Instant::now() < deadline, "timed out waiting for: {what}");
                    if let Ok(Some(status)) = self.child.try_wait() {
                        panic!(
                            "subscribe-events exited with {status} while waiting for {what}: {}",
                            std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(mpsc::TryRecvError::Disconnected) => panic!(
                    "subscribe-events closed its output while waiting for {what}: {}",
                    std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
                ),
            }
        }
    }

    /// The next PaymentReceived of `payment_id`.
    async fn received(&mut self, payment_id: &str) -> Value {
        self.next(&format!("PaymentReceived {payment_id}"), |member, body| {
            (member == "payment_received" && body["payment"]["id"] == payment_id)
                .then(|| body.clone())
        })
        .await
    }

    /// Stops the stream (it must still be running: it only ends when told to).
    fn stop(mut self) {
        assert!(
            self.child.try_wait().expect("try_wait").is_none(),
            "subscribe-events ended on its own: {}",
            std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for EventTail {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {value}"))
}

fn number(value: &Value, key: &str) -> u64 {
    value[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not a number in {value}"))
}

fn is_hex(text: &str, bytes: usize) -> bool {
    text.len() == bytes * 2
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Waits until the node (as the CLI sees it) has synced to `height`.
async fn synced(cli: &Cli, height: u32) {
    wait_until(&format!("{} syncs to {height}", cli.name), LONG, || async {
        let info = cli.json(&["get-node-info"]);
        (info["current_best_block"]["height"].as_u64()? >= u64::from(height)).then_some(())
    })
    .await
}

async fn mine_and_sync(chain: &Chain, blocks: u64, clis: &[&Cli]) {
    chain.mine(blocks);
    for cli in clis {
        synced(cli, chain.height()).await;
    }
}

/// Funds the node with `sats` through `onchain-receive` and waits for `get-balances` to see it.
async fn fund(chain: &Chain, cli: &Cli, sats: u64) {
    let address = cli.json(&["onchain-receive"])["address"]
        .as_str()
        .expect("address")
        .to_owned();
    assert!(address.starts_with("bcrt1"), "{address}");
    chain.fund(&address, sats);
    synced(cli, chain.height()).await;
    wait_until(&format!("{} sees its funds", cli.name), LONG, || async {
        let balances = cli.json(&["get-balances"]);
        (number(&balances, "spendable_onchain_balance_sats") >= sats).then_some(())
    })
    .await
}

/// The channel `key` = `value` (e.g. user_channel_id) in `list-channels`, if listed.
fn find_channel(cli: &Cli, key: &str, value: &str) -> Option<Value> {
    let listing = cli.json(&["list-channels"]);
    listing["channels"]
        .as_array()
        .expect("channels array")
        .iter()
        .find(|c| c[key] == value)
        .cloned()
}

/// Opens a channel with `open-channel <args>`, mines it and waits until both ends can use it.
/// Returns the channel as the opener lists it.
async fn open_channel(chain: &Chain, from: &Cli, to: &Cli, args: &[&str]) -> Value {
    let mut command = vec!["open-channel"];
    command.extend_from_slice(args);
    let opened = from.json(&command);
    let user_channel_id = text(&opened, "user_channel_id").to_owned();
    assert!(
        !user_channel_id.is_empty() && user_channel_id.bytes().all(|b| b.is_ascii_digit()),
        "{opened}"
    );
    let txid = wait_until("funding transaction known", LONG, || async {
        let channel = find_channel(from, "user_channel_id", &user_channel_id)?;
        channel["funding_txo"]["txid"].as_str().map(str::to_owned)
    })
    .await;
    wait_until("funding transaction in the mempool", LONG, || async {
        chain.in_mempool(&txid).then_some(())
    })
    .await;
    mine_and_sync(chain, 6, &[from, to]).await;
    let channel = wait_until("channel usable", LONG, || async {
        find_channel(from, "user_channel_id", &user_channel_id).filter(|c| c["is_usable"] == true)
    })
    .await;
    wait_until("channel usable on the peer", LONG, || async {
        find_channel(to, "channel_id", text(&channel, "channel_id"))
            .filter(|c| c["is_usable"] == true)
    })
    .await;
    channel
}

/// Waits until `get-payment-details` shows the payment with `status`; fails early if it
/// settles the other way.
async fn payment_with_status(cli: &Cli, payment_id: &str, status: &str) -> Value {
    wait_until(
        &format!("{} sees payment {payment_id} {status}", cli.name),
        LONG,
        || async {
            let details = cli.json(&["get-payment-details", payment_id]);
            let payment = details["payment"].clone();
            let now = payment["status"].as_str()?;
            assert!(
                now == status || now == "PENDING",
                "payment {payment_id} is {now}, expected {status}: {payment}"
            );
            (now == status).then_some(payment)
        },
    )
    .await
}

/// `payment.kind` is `{"kind": {"<member>": {...}}}`; returns the member's body.
fn kind<'a>(payment: &'a Value, member: &str) -> &'a Value {
    let body = &payment["kind"]["kind"][member];
    assert!(
        body.is_object(),
        "payment kind should be {member}: {payment}"
    );
    assert_eq!(
        payment["kind"]["kind"].as_object().map(|o| o.len()),
        Some(1),
        "{payment}"
    );
    body
}

/// The mempool transaction spending `txid:vout`, if there is one.
fn mempool_spender(chain: &Chain, txid: &str, vout: u64) -> Option<String> {
    let answer = chain.rpc(
        "gettxspendingprevout",
        &[json!([{ "txid": txid, "vout": vout }])],
    );
    answer[0]["spendingtxid"].as_str().map(str::to_owned)
}

/// Waits for a mempool transaction spending the channel's current funding output.
async fn wait_spender(chain: &Chain, channel: &Value, what: &str) -> String {
    let txo = &channel["funding_txo"];
    let (txid, vout) = (text(txo, "txid").to_owned(), number(txo, "vout"));
    wait_until(what, LONG, || async { mempool_spender(chain, &txid, vout) }).await
}

/// The short channel id of a confirmed funding output: height, index in block, vout.
fn short_channel_id(chain: &Chain, txid: &str, vout: u64) -> u64 {
    let tx = chain.rpc("getrawtransaction", &[json!(txid), json!(true)]);
    let block = chain.rpc("getblock", &[tx["blockhash"].clone(), json!(1)]);
    let height = block["height"].as_u64().expect("height");
    let index = block["tx"]
        .as_array()
        .expect("txs")
        .iter()
        .position(|t| t.as_str() == Some(txid))
        .expect("funding tx in its block") as u64;
    (height << 40) | (index << 16) | vout
}

fn metrics_text(cli: &Cli) -> String {
    let run = cli.run(&["metrics"]);
    assert_eq!(run.code, 0, "{}: metrics failed: {}", cli.name, run.stderr);
    run.stdout
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_onchain_peers_channel_and_payments() {
    let Some(chain) = Chain::start("cli_onchain_peers_channel_and_payments") else {
        return;
    };
    let started = Instant::now();
    let alice_node = TestNode::start(&chain, "alice", "").await;
    let bob_node = TestNode::start(&chain, "bob", "").await;
    let alice = Cli::flags(&alice_node);
    let bob = Cli::flags(&bob_node);
    let (alice_id, bob_id) = (alice_node.node_id.as_str(), bob_node.node_id.as_str());
    let bob_address = bob_node.p2p_address.as_str();

    // get-node-info, field by field.
    let info = alice.json(&["get-node-info"]);
    assert_eq!(info["node_id"], alice_id);
    assert!(is_hex(alice_id, 33));
    assert_eq!(info["network"], "REGTEST");
    assert_eq!(info["node_alias"], "alice");
    let height = chain.height();
    assert_eq!(info["current_best_block"]["height"], height);
    assert_eq!(
        info["current_best_block"]["block_hash"],
        chain.rpc("getblockhash", &[json!(height)])
    );
    assert_eq!(
        info["listening_addresses"],
        json!([alice_node.p2p_address.clone()])
    );
    assert_eq!(
        info["node_uris"],
        json!([format!("{alice_id}@{}", alice_node.p2p_address)])
    );
    assert_eq!(info["latest_rgs_snapshot_timestamp"], Value::Null);
    let features = info["features"].as_object().expect("features map");
    assert_eq!(
        features.get("14"),
        Some(&json!({"name": "PaymentSecret", "is_required": true})),
        "{features:?}"
    );
    for (bit, feature) in features {
        assert!(bit.parse::<u32>().is_ok(), "feature key {bit}");
        assert!(feature["name"].is_string() && feature["is_required"].is_boolean());
    }

    // `-c <config>` alone finds the address, the API key and the certificate.
    let via_config = Cli::from_config(&alice_node);
    assert_eq!(via_config.json(&["get-node-info"])["node_id"], alice_id);
    assert!(metrics_text(&via_config).contains("ldk_server_total_channels_count"));
    // Without any flag or config the CLI has no key to sign with: a setup error.
    let empty_home = tempfile::tempdir().unwrap();
    Cli::bare(empty_home.path()).fails(&["get-node-info"], 9, "error: ");

    // On chain: fund Alice, then `onchain-send` with a sat amount to Bob.
    fund(&chain, &alice, 2_000_000).await;
    let info = alice.json(&["get-node-info"]);
    for synced_at in [
        "latest_onchain_wallet_sync_timestamp",
        "latest_lightning_wallet_sync_timestamp",
        "latest_fee_rate_cache_update_timestamp",
    ] {
        assert!(
            number(&info, synced_at) > 1_600_000_000,
            "{synced_at}: {info}"
        );
    }
    let balances = alice.json(&["get-balances"]);
    assert_eq!(balances["total_onchain_balance_sats"], 2_000_000);
    assert_eq!(balances["spendable_onchain_balance_sats"], 2_000_000);
    assert_eq!(balances["total_lightning_balance_sats"], 0);
    assert_eq!(balances["lightning_balances"], json!([]));
    assert_eq!(
        balances["pending_balances_from_channel_closures"],
        json!([])
    );
    let bob_onchain = text(&bob.json(&["onchain-receive"]), "address").to_owned();
    let sent = alice.json(&[
        "onchain-send",
        &bob_onchain,
        "150000sat",
        "--fee-rate-sat-per-vb",
        "2",
    ]);
    let txid = text(&sent, "txid").to_owned();
    assert!(is_hex(&txid, 32), "{sent}");
    wait_until("onchain-send in the mempool", LONG, || async {
        chain.in_mempool(&txid).then_some(())
    })
    .await;
    assert_eq!(chain.paid_to(&txid, &bob_onchain), 150_000);
    mine_and_sync(&chain, 6, &[&alice, &bob]).await;
    wait_until("bob sees 150k sats", LONG, || async {
        (bob.json(&["get-balances"])["spendable_onchain_balance_sats"] == 150_000).then_some(())
    })
    .await;
    wait_until("alice's wallet sees its send", LONG, || async {
        let total = number(&alice.json(&["get-balances"]), "total_onchain_balance_sats");
        (total < 2_000_000 - 150_000).then_some(())
    })
    .await;
    // `onchain-send ... all` empties Bob's wallet into bitcoind's.
    let sink = chain.rpc("getnewaddress", &[]).as_str().unwrap().to_owned();
    let sent = bob.json(&["onchain-send", &sink, "all", "--fee-rate-sat-per-vb", "2"]);
    let txid = text(&sent, "txid").to_owned();
    wait_until("send-all in the mempool", LONG, || async {
        chain.in_mempool(&txid).then_some(())
    })
    .await;
    let swept = chain.paid_to(&txid, &sink);
    assert!(
        (148_000..150_000).contains(&swept),
        "send-all paid {swept} of 150000"
    );
    mine_and_sync(&chain, 1, &[&bob]).await;
    wait_until("bob's wallet is empty", LONG, || async {
        (bob.json(&["get-balances"])["spendable_onchain_balance_sats"] == 0).then_some(())
    })
    .await;
    // A sub-satoshi on-chain amount is refused before any call.
    alice.fails(&["onchain-send", &sink, "1500msat"], 2, "error: ");

    // Peers: `id@host:port`, then separate arguments with --persist.
    let list_bob = |cli: &Cli| {
        cli.json(&["list-peers"])["peers"]
            .as_array()
            .expect("peers")
            .iter()
            .find(|p| p["node_id"] == bob_id)
            .cloned()
    };
    alice.empty(&["connect-peer", &format!("{bob_id}@{bob_address}")]);
    assert_eq!(
        list_bob(&alice),
        Some(json!({
            "node_id": bob_id,
            "address": bob_address,
            "is_persisted": false,
            "is_connected": true,
        }))
    );
    alice.empty(&["disconnect-peer", bob_id]);
    wait_until("bob disconnected", LONG, || async {
        (!list_bob(&alice).is_some_and(|p| p["is_connected"] == true)).then_some(())
    })
    .await;
    alice.fails(&["connect-peer", bob_id], 2, "error: ");
    alice.empty(&["connect-peer", bob_id, bob_address, "--persist"]);
    assert_eq!(
        list_bob(&alice),
        Some(json!({
            "node_id": bob_id,
            "address": bob_address,
            "is_persisted": true,
            "is_connected": true,
        }))
    );

    // sign-message with Alice's key; Bob checks it.
    let signed = alice.json(&["sign-message", "proof of node ownership"]);
    let signature = text(&signed, "signature").to_owned();
    assert!(signature.len() > 60, "{signed}");
    assert_eq!(
        bob.json(&[
            "verify-signature",
            "proof of node ownership",
            &signature,
            alice_id
        ]),
        json!({"valid": true})
    );
    assert_eq!(
        bob.json(&["verify-signature", "something else", &signature, alice_id]),
        json!({"valid": false})
    );
    assert_eq!(
        bob.json(&[
            "verify-signature",
            "proof of node ownership",
            &signature,
            bob_id
        ]),
        json!({"valid": false})
    );

    // Bob's event stream through the CLI, from before the channel exists.
    let mut bob_events = EventTail::start(&bob);

    // open-channel with a push and a forwarding fee; list-channels shows it.
    let channel = open_channel(
        &chain,
        &alice,
        &bob,
        &[
            bob_id,
            bob_address,
            "1000000sat",
            "--push-to-counterparty",
            "100000sat",
            "--forwarding-fee-base-msat",
            "1500",
        ],
    )
    .await;
    let user_channel_id = text(&channel, "user_channel_id").to_owned();
    let channel_id = text(&channel, "channel_id").to_owned();
    assert!(is_hex(&channel_id, 32), "{channel}");
    assert_eq!(channel["counterparty_node_id"], bob_id);
    assert_eq!(channel["channel_value_sats"], 1_000_000);
    assert_eq!(channel["is_outbound"], true);
    assert_eq!(channel["is_announced"], false);
    assert_eq!(channel["is_channel_ready"], true);
    assert!(channel["confirmations"].as_u64().unwrap() >= 6);
    let inbound = number(&channel, "inbound_capacity_msat");
    assert!(
        (80_000_000..100_000_000).contains(&inbound),
        "pushed 100k sats, inbound {inbound} msat"
    );
    assert_eq!(channel["channel_config"]["forwarding_fee_base_msat"], 1500);
    let dust = channel["channel_config"]["max_dust_htlc_exposure"]
        .as_object()
        .expect("max_dust_htlc_exposure oneof");
    assert_eq!(dust.len(), 1, "{dust:?}");
    assert!(
        dust.contains_key("fee_rate_multiplier") || dust.contains_key("fixed_limit_msat"),
        "oneof members are named as in the proto: {dust:?}"
    );
    let ready = bob_events
        .next("bob's channel READY", |member, body| {
            (member == "channel_state_changed" && body["state"] == "CHANNEL_STATE_READY")
                .then(|| body.clone())
        })
        .await;
    assert_eq!(ready["channel_id"], channel_id.as_str());
    assert_eq!(ready["counterparty_node_id"], alice_id);

    // update-channel-config changes the settings given, and nothing else.
    alice.fails(
        &["update-channel-config", &user_channel_id, bob_id],
        2,
        "error: ",
    );
    alice.empty(&[
        "update-channel-config",
        &user_channel_id,
        bob_id,
        "--forwarding-fee-proportional-millionths",
        "4321",
        "--cltv-expiry-delta",
        "100",
    ]);
    let updated = find_channel(&alice, "user_channel_id", &user_channel_id).unwrap();
    let mut expected = channel["channel_config"].clone();
    expected["forwarding_fee_proportional_millionths"] = json!(4321);
    expected["cltv_expiry_delta"] = json!(100);
    assert_eq!(updated["channel_config"], expected);
    let wrong = alice.fails(
        &[
            "update-channel-config",
            "123456789",
            bob_id,
            "--cltv-expiry-delta",
            "90",
        ],
        3,
        "error: INVALID_ARGUMENT: ",
    );
    assert!(wrong.contains("123456789"), "{wrong}");

    // bolt11-receive with an amount, paid with bolt11-send.
    let invoice = bob.json(&["bolt11-receive", "50000sat", "-d", "coffee", "-e", "3600"]);
    let bolt11 = text(&invoice, "invoice").to_owned();
    let payment_hash = text(&invoice, "payment_hash").to_owned();
    assert!(bolt11.starts_with("lnbcrt500u"), "{bolt11}");
    assert!(is_hex(&payment_hash, 32) && is_hex(text(&invoice, "payment_secret"), 32));
    let decoded = bob.json(&["decode-invoice", &bolt11]);
    assert_eq!(decoded["payment_hash"], payment_hash.as_str());
    assert_eq!(decoded["amount_msat"], 50_000_000);
    assert_eq!(decoded["description"], "coffee");
    assert_eq!(decoded["expiry"], 3600);
    assert_eq!(decoded["destination"], bob_id);
    let sent = alice.json(&["bolt11-send", &bolt11]);
    assert_eq!(sent, json!({"payment_id": payment_hash}));
    let paid = payment_with_status(&alice, &payment_hash, "SUCCEEDED").await;
    assert_eq!(paid["id"], payment_hash.as_str());
    assert_eq!(paid["direction"], "OUTBOUND");
    assert_eq!(paid["amount_msat"], 50_000_000);
    assert_eq!(paid["fee_paid_msat"], 0);
    assert!(number(&paid, "latest_update_timestamp") > 1_600_000_000);
    let bolt11_kind = kind(&paid, "bolt11");
    assert_eq!(bolt11_kind["hash"], payment_hash.as_str());
    assert_eq!(bolt11_kind["secret"], invoice["payment_secret"]);
    let preimage = hex::decode(text(bolt11_kind, "preimage")).unwrap();
    assert_eq!(sha256_hex(&preimage), payment_hash);
    let received = bob_events.received(&payment_hash).await;
    assert_eq!(received["payment"]["direction"], "INBOUND");
    assert_eq!(received["payment"]["status"], "SUCCEEDED");
    assert_eq!(received["payment"]["amount_msat"], 50_000_000);
    assert_eq!(received["custom_records"], json!([]));
    assert_eq!(
        kind(&received["payment"], "bolt11")["hash"],
        payment_hash.as_str()
    );

    // bolt11-receive without an amount and with --description-hash; the payer picks 7777 sat.
    let description_hash = sha256_hex(b"a description too long for the invoice itself");
    let invoice = bob.json(&["bolt11-receive", "--description-hash", &description_hash]);
    let bolt11 = text(&invoice, "invoice").to_owned();
    assert!(bolt11.starts_with("lnbcrt1"), "{bolt11}");
    let decoded = bob.json(&["decode-invoice", &bolt11]);
    assert_eq!(decoded["amount_msat"], Value::Null);
    assert_eq!(decoded["description"], Value::Null);
    assert_eq!(decoded["description_hash"], description_hash.as_str());
    assert_eq!(decoded["expiry"], 86_400);
    let payment_id = text(
        &alice.json(&["bolt11-send", &bolt11, "7777sat"]),
        "payment_id",
    )
    .to_owned();
    let paid = payment_with_status(&alice, &payment_id, "SUCCEEDED").await;
    assert_eq!(paid["amount_msat"], 7_777_000);
    let received = bob_events.received(&payment_id).await;
    assert_eq!(received["payment"]["amount_msat"], 7_777_000);

    // BOLT 12: an offer with an amount, paid with a payer note.
    let offer = bob.json(&["bolt12-receive", "tea", "12000sat"]);
    let offer_text = text(&offer, "offer").to_owned();
    let offer_id = text(&offer, "offer_id").to_owned();
    assert!(
        offer_text.starts_with("lno1") && is_hex(&offer_id, 32),
        "{offer}"
    );
    let payment_id = text(
        &alice.json(&["bolt12-send", &offer_text, "-p", "thanks"]),
        "payment_id",
    )
    .to_owned();
    let paid = payment_with_status(&alice, &payment_id, "SUCCEEDED").await;
    assert_eq!(paid["amount_msat"], 12_000_000);
    assert_eq!(paid["direction"], "OUTBOUND");
    let offer_kind = kind(&paid, "bolt12_offer");
    assert_eq!(offer_kind["offer_id"], offer_id.as_str());
    assert_eq!(offer_kind["payer_note"], "thanks");
    let received = bob_events
        .next("bob receives the BOLT 12 payment", |member, body| {
            (member == "payment_received"
                && body["payment"]["kind"]["kind"]["bolt12_offer"]["offer_id"] == offer_id.as_str())
            .then(|| body.clone())
        })
        .await;
    assert_eq!(received["payment"]["amount_msat"], 12_000_000);

    // spontaneous-send with two custom TLVs and a chosen preimage.
    let preimage = [0x42u8; 32];
    let payment_id = text(
        &alice.json(&[
            "spontaneous-send",
            bob_id,
            "1500sat",
            "--custom-tlv",
            "65537:6f726465722d3432",
            "--custom-tlv",
            "65539:ff00",
            "--preimage",
            &hex::encode(preimage),
        ]),
        "payment_id",
    )
    .to_owned();
    let paid = payment_with_status(&alice, &payment_id, "SUCCEEDED").await;
    assert_eq!(paid["amount_msat"], 1_500_000);
    let keysend = kind(&paid, "spontaneous");
    assert_eq!(keysend["hash"], sha256_hex(&preimage));
    assert_eq!(keysend["preimage"], hex::encode(preimage));
    let received = bob_events
        .next("bob receives the keysend", |member, body| {
            (member == "payment_received"
                && body["payment"]["kind"]["kind"]["spontaneous"]["hash"] == sha256_hex(&preimage))
            .then(|| body.clone())
        })
        .await;
    assert_eq!(
        received["custom_records"],
        json!([
            {"type_num": 65537, "value": "6f726465722d3432"},
            {"type_num": 65539, "value": "ff00"},
        ])
    );
    assert_eq!(received["payment"]["amount_msat"], 1_500_000);

    // pay: a BIP 21 URI with an invoice goes over Lightning, a plain one on chain.
    let bob_onchain = text(&bob.json(&["onchain-receive"]), "address").to_owned();
    let invoice = bob.json(&["bolt11-receive", "40000sat", "-d", "unified"]);
    let uri = format!(
        "bitcoin:{bob_onchain}?amount=0.0004&lightning={}",
        text(&invoice, "invoice")
    );
    let result = alice.json(&["pay", &uri]);
    assert_eq!(
        result,
        json!({"payment_result": {"bolt11_payment_id": invoice["payment_hash"]}})
    );
    payment_with_status(&alice, text(&invoice, "payment_hash"), "SUCCEEDED").await;
    let result = alice.json(&["pay", &format!("bitcoin:{bob_onchain}?amount=0.0002")]);
    let txid = text(&result["payment_result"], "txid").to_owned();
    wait_until("pay on chain in the mempool", LONG, || async {
        chain.in_mempool(&txid).then_some(())
    })
    .await;
    assert_eq!(chain.paid_to(&txid, &bob_onchain), 20_000);

    // Hodl invoice: held, then claimed with the preimage.
    let preimage = [0x07u8; 32];
    let hash = sha256_hex(&preimage);
    let invoice = bob.json(&["bolt11-receive-for-hash", &hash, "20000sat", "-d", "hodl"]);
    let bolt11 = text(&invoice, "invoice").to_owned();
    assert_eq!(
        bob.json(&["decode-invoice", &bolt11])["payment_hash"],
        hash.as_str()
    );
    assert_eq!(
        alice.json(&["bolt11-send", &bolt11])["payment_id"],
        hash.as_str()
    );
    let claimable = bob_events
        .next("PaymentClaimable of the hodl invoice", |member, body| {
            (member == "payment_claimable" && body["payment"]["id"] == hash.as_str())
                .then(|| body.clone())
        })
        .await;
    assert_eq!(claimable["payment"]["status"], "PENDING");
    assert_eq!(claimable["payment"]["amount_msat"], 20_000_000);
    assert!(number(&claimable, "claim_deadline") > u64::from(chain.height()));
    let pending = alice.json(&["get-payment-details", &hash]);
    assert_eq!(pending["payment"]["status"], "PENDING");
    let wrong = bob.fails(
        &[
            "bolt11-claim-for-hash",
            &hex::encode(preimage),
            "-p",
            &sha256_hex(b"other"),
        ],
        3,
        "error: INVALID_ARGUMENT: ",
    );
    assert!(wrong.contains("payment_hash"), "{wrong}");
    bob.empty(&[
        "bolt11-claim-for-hash",
        &hex::encode(preimage),
        "-p",
        &hash,
        "-c",
        "20000sat",
    ]);
    let paid = payment_with_status(&alice, &hash, "SUCCEEDED").await;
    assert_eq!(kind(&paid, "bolt11")["preimage"], hex::encode(preimage));
    let received = bob_events.received(&hash).await;
    assert_eq!(received["payment"]["status"], "SUCCEEDED");

    // Hodl invoice without an amount: held, then failed back.
    let preimage = [0x09u8; 32];
    let hash = sha256_hex(&preimage);
    let invoice = bob.json(&["bolt11-receive-for-hash", &hash, "-d", "hodl fail"]);
    let bolt11 = text(&invoice, "invoice").to_owned();
    alice.json(&["bolt11-send", &bolt11, "12000sat"]);
    bob_events
        .next("PaymentClaimable to fail back", |member, body| {
            (member == "payment_claimable" && body["payment"]["id"] == hash.as_str()).then_some(())
        })
        .await;
    bob.empty(&["bolt11-fail-for-hash", &hash]);
    let failed = payment_with_status(&alice, &hash, "FAILED").await;
    assert_eq!(failed["direction"], "OUTBOUND");
    let failed = payment_with_status(&bob, &hash, "FAILED").await;
    assert_eq!(failed["direction"], "INBOUND");
    bob_events.stop();

    // JIT channels need an LSP; this node has none, and the error says which table to add.
    for args in [
        &["bolt11-receive-via-jit-channel", "50000sat", "-d", "jit"][..],
        &[
            "bolt11-receive-variable-amount-via-jit-channel",
            "-d",
            "jit",
        ][..],
    ] {
        let message = alice.fails(args, 5, "error: FAILED_PRECONDITION: ");
        assert!(message.contains("[liquidity.lsps2_client]"), "{message}");
    }

    // Lightning failures: exit code 5 and FAILED_PRECONDITION.
    let nobody = format!("02{}", "ab".repeat(32));
    alice.fails(
        &["spontaneous-send", &nobody, "10sat"],
        5,
        "error: FAILED_PRECONDITION: ",
    );
    let too_big = bob.json(&["bolt11-receive", "5000000sat", "-d", "too much"]);
    alice.fails(
        &["bolt11-send", text(&too_big, "invoice")],
        5,
        "error: FAILED_PRECONDITION: ",
    );
    // Bad arguments never reach the server.
    alice.fails(&["spontaneous-send", bob_id, "10"], 2, "error: ");
    alice.fails(&["get-payment-details", "abcd"], 2, "error: ");

    // Histories, scores and balances.
    assert_eq!(
        alice.json(&["list-forwarded-payments"]),
        json!({"forwarded_payments": [], "next_page_token": null})
    );
    assert_eq!(
        alice.json(&["list-forwarded-payments", "-n", "10"]),
        json!({"forwarded_payments": [], "next_page_token": null})
    );
    assert_eq!(
        alice.json(&["get-payment-details", &"00".repeat(32)]),
        json!({"payment": null})
    );
    let scores = alice.json(&["export-pathfinding-scores"]);
    let scores = text(&scores, "scores");
    assert!(
        !scores.is_empty() && hex::decode(scores).is_ok(),
        "scores {scores:?}"
    );
    let balances = alice.json(&["get-balances"]);
    assert!(number(&balances, "total_lightning_balance_sats") > 700_000);
    let lightning = balances["lightning_balances"].as_array().unwrap();
    assert_eq!(lightning.len(), 1, "{balances}");
    let on_close = &lightning[0]["balance_type"]["claimable_on_channel_close"];
    assert_eq!(on_close["channel_id"], channel_id.as_str());
    assert_eq!(on_close["counterparty_node_id"], bob_id);
    assert_eq!(
        on_close["amount_satoshis"],
        balances["total_lightning_balance_sats"]
    );

    // metrics: the Prometheus text, the channel counted.
    let text = wait_until("metrics count the channel", LONG, || async {
        let text = metrics_text(&alice);
        text.contains("\nldk_server_total_channels_count 1\n")
            .then_some(text)
    })
    .await;
    assert!(text.contains("# TYPE ldk_server_total_channels_count gauge"));
    assert!(
        text.contains("\nldk_server_total_peers_count 1\n"),
        "{text}"
    );
    eprintln!(
        "cli_onchain_peers_channel_and_payments took {:?}",
        started.elapsed()
    );
}

/// `-n`, `--page-token` and `next_page_token` over more than one page of payments.
#[tokio::test(flavor = "multi_thread")]
async fn cli_list_payments_pages() {
    let Some(chain) = Chain::start("cli_list_payments_pages") else {
        return;
    };
    let started = Instant::now();
    let alice_node = TestNode::start(&chain, "alice", "").await;
    let bob_node = TestNode::start(&chain, "bob", "").await;
    let alice = Cli::flags(&alice_node);
    let bob = Cli::flags(&bob_node);
    fund(&chain, &alice, 1_000_000).await;
    open_channel(
        &chain,
        &alice,
        &bob,
        &[&bob_node.node_id, &bob_node.p2p_address, "500000sat"],
    )
    .await;
    assert_eq!(
        alice.json(&["list-payments"]),
        json!({"payments": [], "next_page_token": null})
    );

    // 120 keysends, through the gRPC client (cheaper than 120 processes), 10 at a time.
    let mut events = alice_node.events().await;
    let mut sent = std::collections::HashSet::new();
    for batch in 0..12u64 {
        let sends = (0..10u64).map(|i| {
            let mut client = alice_node.rpc();
            let request = SpontaneousSendRequest {
                amount_msat: 10_000 + batch * 10 + i,
                node_id: bob_node.node_id.clone(),
                route_parameters: None,
                custom_tlvs: vec![],
                preimage: None,
            };
            async move {
                client
                    .spontaneous_send(request)
                    .await
                    .expect("keysend")
                    .into_inner()
                    .payment_id
            }
        });
        let mut pending: std::collections::HashSet<String> = futures_util::future::join_all(sends)
            .await
            .into_iter()
            .collect();
        sent.extend(pending.iter().cloned());
        while !pending.is_empty() {
            let id = next_event(&mut events, "keysends succeed", LONG, |event| match event {
                Event::PaymentSuccessful(e) => e.payment.as_ref().map(|p| p.id.clone()),
                Event::PaymentFailed(e) => panic!("keysend failed: {e:?}"),
                _ => None,
            })
            .await;
            pending.remove(&id);
        }
    }
    assert_eq!(sent.len(), 120);

    let ids = |listing: &Value| -> Vec<String> {
        listing["payments"]
            .as_array()
            .expect("payments")
            .iter()
            .map(|p| text(p, "id").to_owned())
            .collect()
    };
    let token = |listing: &Value| -> Option<String> {
        let token = listing["next_page_token"].as_str()?.to_owned();
        let (id, index) = token.rsplit_once(':').expect("token:index");
        assert!(is_hex(id, 32), "{token}");
        assert!(index.parse::<i64>().is_ok(), "{token}");
        Some(token)
    };

    // One page without -n: the newest 100, and where to continue.
    wait_until("all keysends stored", LONG, || async {
        let listing = alice.json(&["list-payments", "-n", "1000"]);
        (ids(&listing).len() >= 120).then_some(())
    })
    .await;
    let first = alice.json(&["list-payments"]);
    let first_ids = ids(&first);
    assert_eq!(first_ids.len(), 100);
    let first_token = token(&first).expect("a token after a full page");
    // Continuing with --page-token gives the rest, then an empty end.
    let second = alice.json(&["list-payments", "--page-token", &first_token]);
    let second_ids = ids(&second);
    assert_eq!(second_ids.len(), 20, "{second}");
    let second_token = token(&second).expect("a token after a non-empty page");
    let end = alice.json(&["list-payments", "--page-token", &second_token]);
    assert_eq!(end, json!({"payments": [], "next_page_token": null}));
    let mut all: Vec<String> = first_ids.iter().chain(&second_ids).cloned().collect();
    let unique: std::collections::HashSet<String> = all.iter().cloned().collect();
    assert_eq!(unique.len(), 120, "no payment is listed twice");
    assert_eq!(unique, sent, "the pages hold exactly the keysends");

    // -n follows the tokens itself: at least n records, whole pages.
    let many = alice.json(&["list-payments", "-n", "150"]);
    assert_eq!(ids(&many), all, "-n 150 gathers every page in order");
    assert_eq!(many["next_page_token"], Value::Null);
    let some = alice.json(&["list-payments", "-n", "50"]);
    assert_eq!(ids(&some), first_ids);
    assert_eq!(token(&some).as_deref(), Some(first_token.as_str()));
    let rest = alice.json(&["list-payments", "-n", "5", "--page-token", &first_token]);
    assert_eq!(ids(&rest), second_ids);
    assert_eq!(token(&rest).as_deref(), Some(second_token.as_str()));

    // A token names the last record of its page and that record's creation time: the pages go
    // from newer to older.
    let split = |token: &str| {
        let (id, index) = token.rsplit_once(':').unwrap();
        (id.to_owned(), index.parse::<i64>().unwrap())
    };
    let (first_key, first_index) = split(&first_token);
    let (second_key, second_index) = split(&second_token);
    assert_eq!(&first_key, first_ids.last().unwrap());
    assert_eq!(&second_key, second_ids.last().unwrap());
    assert!(
        second_index <= first_index,
        "{first_token} then {second_token}"
    );
    assert!(first_index > 1_600_000_000, "{first_token}");

    // Every record is a successful outbound keysend.
    let payments = many["payments"].as_array().unwrap();
    for payment in payments {
        assert_eq!(payment["status"], "SUCCEEDED", "{payment}");
        assert_eq!(payment["direction"], "OUTBOUND", "{payment}");
        let amount = number(payment, "amount_msat");
        assert!((10_000..10_120).contains(&amount), "{payment}");
        assert!(kind(payment, "spontaneous")["preimage"].is_string());
        assert!(number(payment, "latest_update_timestamp") >= first_index as u64 - 60);
    }

    // Bob's side lists the same payments as inbound.
    let received = wait_until("bob stored every keysend", LONG, || async {
        let listing = bob.json(&["list-payments", "-n", "1000"]);
        (ids(&listing).len() >= 120).then_some(listing)
    })
    .await;
    all.sort();
    let mut bob_ids = ids(&received);
    bob_ids.sort();
    assert_eq!(bob_ids, all);
    assert!(received["payments"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["direction"] == "INBOUND"));

    // Malformed tokens are usage errors.
    for bad in ["nonsense", "abcd:", ":12", "zz:12"] {
        alice.fails(&["list-payments", "--page-token", bad], 2, "error: ");
    }
    eprintln!("cli_list_payments_pages took {:?}", started.elapsed());
}

/// An announced channel in the graph, splices, and both ways of closing.
#[tokio::test(flavor = "multi_thread")]
async fn cli_graph_splices_and_closes() {
    let Some(chain) = Chain::start("cli_graph_splices_and_closes") else {
        return;
    };
    let started = Instant::now();
    let alice_node = TestNode::start(&chain, "alice", "").await;
    let bob_node = TestNode::start(&chain, "bob", "").await;
    let alice = Cli::flags(&alice_node);
    let bob = Cli::flags(&bob_node);
    let (alice_id, bob_id) = (alice_node.node_id.as_str(), bob_node.node_id.as_str());
    let bob_address = bob_node.p2p_address.as_str();
    fund(&chain, &alice, 2_000_000).await;
    let mut alice_events = EventTail::start(&alice);

    // An announced channel and a private one.
    let public = open_channel(
        &chain,
        &alice,
        &bob,
        &[bob_id, bob_address, "500000sat", "--announce-channel"],
    )
    .await;
    assert_eq!(public["is_announced"], true);
    let private = open_channel(
        &chain,
        &alice,
        &bob,
        &[
            bob_id,
            bob_address,
            "400000sat",
            "--push-to-counterparty",
            "100000sat",
        ],
    )
    .await;
    assert_eq!(private["is_announced"], false);
    let private_user_id = text(&private, "user_channel_id").to_owned();
    let private_id = text(&private, "channel_id").to_owned();

    // splice-in 100k sats into the private channel.
    alice.fails(
        &["splice-in", &private_user_id, bob_id, "1500msat"],
        2,
        "error: ",
    );
    alice.empty(&["splice-in", &private_user_id, bob_id, "100000sat"]);
    let splice_txid = wait_spender(&chain, &private, "splice-in transaction").await;
    mine_and_sync(&chain, 6, &[&alice, &bob]).await;
    let spliced = wait_until("channel grows to 500k", LONG, || async {
        find_channel(&alice, "channel_id", &private_id)
            .filter(|c| c["channel_value_sats"] == 500_000)
    })
    .await;
    assert_eq!(spliced["funding_txo"]["txid"], splice_txid.as_str());
    assert_eq!(spliced["user_channel_id"], private_user_id.as_str());
    wait_until("bob sees 500k", LONG, || async {
        find_channel(&bob, "channel_id", &private_id).filter(|c| c["channel_value_sats"] == 500_000)
    })
    .await;

    // splice-out 50k sats to an address of bitcoind's wallet.
    let external = chain.rpc("getnewaddress", &[]).as_str().unwrap().to_owned();
    let out = alice.json(&[
        "splice-out",
        &private_user_id,
        bob_id,
        "50000sat",
        "-a",
        &external,
    ]);
    assert_eq!(out, json!({"address": external}));
    let splice_txid = wait_spender(&chain, &spliced, "splice-out transaction").await;
    assert_eq!(chain.paid_to(&splice_txid, &external), 50_000);
    mine_and_sync(&chain, 6, &[&alice, &bob]).await;
    let spliced = wait_until("channel shrinks after splice-out", LONG, || async {
        find_channel(&alice, "channel_id", &private_id)
            .filter(|c| c["funding_txo"]["txid"] == splice_txid.as_str())
    })
    .await;
    let value = number(&spliced, "channel_value_sats");
    assert!(
        (440_000..450_000).contains(&value),
        "channel value after splice-out: {value}"
    );

    // The announced channel reaches both graphs (it has 18 confirmations by now).
    let funding = &public["funding_txo"];
    let scid = short_channel_id(&chain, text(funding, "txid"), number(funding, "vout"));
    let mut ends = [alice_id.to_owned(), bob_id.to_owned()];
    ends.sort();
    for cli in [&alice, &bob] {
        wait_until(
            &format!("{} has the channel in its graph", cli.name),
            LONG,
            || async {
                let listing = cli.json(&["graph-list-channels"]);
                let ids = listing["short_channel_ids"].as_array().expect("scids");
                ids.contains(&json!(scid)).then_some(())
            },
        )
        .await;
        let graph = cli.json(&["graph-get-channel", &scid.to_string()]);
        let graph_channel = &graph["channel"];
        assert_eq!(graph_channel["node_one"], ends[0].as_str());
        assert_eq!(graph_channel["node_two"], ends[1].as_str());
        assert_eq!(graph_channel["capacity_sats"], 500_000);
    }
    // Both directions' updates, as the viewer (eventually) has them.
    let graph_channel = wait_until("both channel updates in alice's graph", LONG, || async {
        let graph = alice.json(&["graph-get-channel", &scid.to_string()]);
        let channel = graph["channel"].clone();
        (channel["one_to_two"].is_object() && channel["two_to_one"].is_object()).then_some(channel)
    })
    .await;
    for direction in ["one_to_two", "two_to_one"] {
        let update = &graph_channel[direction];
        assert_eq!(update["enabled"], true, "{update}");
        assert!(number(update, "last_update") > 0);
        assert!(number(update, "cltv_expiry_delta") > 0);
        assert!(update["fees"]["base_msat"].is_u64(), "{update}");
        assert!(
            update["fees"]["proportional_millionths"].is_u64(),
            "{update}"
        );
        assert!(number(update, "htlc_maximum_msat") <= 500_000_000);
    }
    for (viewer, subject, alias, address) in [
        (&alice, bob_id, "bob", bob_address),
        (&bob, alice_id, "alice", alice_node.p2p_address.as_str()),
    ] {
        let node = wait_until(
            &format!("{} sees the announcement of {alias}", viewer.name),
            LONG,
            || async {
                let node = viewer.json(&["graph-get-node", subject])["node"].clone();
                node["announcement_info"].is_object().then_some(node)
            },
        )
        .await;
        assert_eq!(node["channels"], json!([scid]));
        let announcement = &node["announcement_info"];
        assert_eq!(announcement["alias"], alias);
        assert_eq!(announcement["rgb"], "000000");
        assert!(number(announcement, "last_update") > 0);
        assert!(
            announcement["addresses"]
                .as_array()
                .unwrap()
                .contains(&json!(address)),
            "{announcement}"
        );
        assert!(announcement["features"].is_object());
        let mut listed: Vec<String> = viewer.json(&["graph-list-nodes"])["node_ids"]
            .as_array()
            .expect("node ids")
            .iter()
            .map(|n| n.as_str().unwrap().to_owned())
            .collect();
        listed.sort();
        assert_eq!(listed, ends.to_vec());
    }
    let bad = alice.fails(
        &["graph-get-channel", &(scid + 1).to_string()],
        3,
        "error: INVALID_ARGUMENT: ",
    );
    assert!(bad.contains("short_channel_id"), "{bad}");
    alice.fails(&["graph-get-node", "02abcd"], 2, "error: ");

    // close-channel: cooperative close of the announced channel.
    let public_id = text(&public, "channel_id").to_owned();
    alice.empty(&["close-channel", text(&public, "user_channel_id"), bob_id]);
    let closed = alice_events
        .channel_state(
            "announced channel CLOSED",
            &public_id,
            "CHANNEL_STATE_CLOSED",
        )
        .await;
    assert_eq!(
        closed["reason"]["kind"],
        "CHANNEL_STATE_CHANGE_REASON_KIND_LOCALLY_INITIATED_COOPERATIVE_CLOSURE"
    );
    assert_eq!(
        closed["closure_initiator"],
        "CHANNEL_CLOSURE_INITIATOR_LOCAL"
    );
    assert_eq!(closed["counterparty_node_id"], bob_id);
    let coop_txid = wait_spender(&chain, &public, "cooperative closing transaction").await;
    wait_until("closed channel leaves list-channels", LONG, || async {
        find_channel(&alice, "channel_id", &public_id)
            .is_none()
            .then_some(())
    })
    .await;

    // force-close-channel of the spliced private channel, with a reason.
    alice.empty(&[
        "force-close-channel",
        &private_user_id,
        bob_id,
        "--force-close-reason",
        "cli says goodbye",
    ]);
    let closed = alice_events
        .channel_state(
            "private channel CLOSED",
            &private_id,
            "CHANNEL_STATE_CLOSED",
        )
        .await;
    assert_eq!(
        closed["reason"]["kind"],
        "CHANNEL_STATE_CHANGE_REASON_KIND_HOLDER_FORCE_CLOSED"
    );
    assert_eq!(
        closed["reason"]["details"]["holder_force_closed"],
        json!({"broadcasted_latest_txn": true, "message": "cli says goodbye"})
    );
    let commitment_txid = wait_spender(&chain, &spliced, "commitment transaction").await;
    assert_ne!(commitment_txid, coop_txid);
    wait_until("no channels left", LONG, || async {
        (alice.json(&["list-channels"]) == json!({"channels": []})).then_some(())
    })
    .await;
    alice_events.stop();

    // Once the commitment confirms, Alice's share waits for its delay.
    mine_and_sync(&chain, 1, &[&alice, &bob]).await;
    let awaiting = wait_until("alice's to_local awaits its delay", LONG, || async {
        let balances = alice.json(&["get-balances"]);
        balances["lightning_balances"]
            .as_array()?
            .iter()
            .find_map(|b| {
                let c = &b["balance_type"]["claimable_awaiting_confirmations"];
                (c["channel_id"] == private_id.as_str()).then(|| c.clone())
            })
    })
    .await;
    assert_eq!(awaiting["source"], "HOLDER_FORCE_CLOSED");
    assert_eq!(awaiting["counterparty_node_id"], bob_id);
    assert!(number(&awaiting, "amount_satoshis") > 300_000, "{awaiting}");
    assert!(number(&awaiting, "confirmation_height") > u64::from(chain.height()));
    eprintln!("cli_graph_splices_and_closes took {:?}", started.elapsed());
}
