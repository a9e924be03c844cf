//! End-to-end harness: a regtest `bitcoind` (through corepc-node) and `ldk-server` nodes on it.
//!
//! `bitcoind` comes from `BITCOIND_EXE` or `PATH`; without it every end-to-end test prints a
//! loud SKIPPED line and returns.

use std::future::Future;
use std::time::{Duration, Instant};

use corepc_node::{Conf, Node as Bitcoind};
use ldk_server::client::LdkServerClient;
use ldk_server::proto::api::*;
use ldk_server::proto::events::event_envelope::Event;
use ldk_server::proto::events::EventEnvelope;
use serde_json::{json, Value};
use tonic::Streaming;

use super::{free_port, ServerProcess};

/// Locates bitcoind, or prints why the test is skipped.
pub fn bitcoind_exe(test: &str) -> Option<String> {
    if let Ok(path) = std::env::var("BITCOIND_EXE") {
        return Some(path);
    }
    match corepc_node::exe_path() {
        Ok(path) => Some(path),
        Err(_) => {
            eprintln!(
                "\n*** SKIPPED {test}: no bitcoind (set BITCOIND_EXE or put bitcoind on PATH) ***\n"
            );
            None
        }
    }
}

/// A regtest chain with a funded miner wallet.
pub struct Chain {
    /// The bitcoind process.
    pub bitcoind: Bitcoind,
    rpc_user: String,
    rpc_password: String,
}

impl Chain {
    /// Starts bitcoind and mines 101 blocks; `None` (after a SKIPPED line) without bitcoind.
    pub fn start(test: &str) -> Option<Self> {
        let exe = bitcoind_exe(test)?;
        let mut conf = Conf::default();
        conf.args = vec!["-regtest", "-fallbackfee=0.0001", "-txindex=1"];
        let bitcoind = Bitcoind::with_conf(exe, &conf).expect("start bitcoind");
        let cookie = bitcoind
            .params
            .get_cookie_values()
            .expect("cookie")
            .expect("cookie values");
        let chain = Self {
            bitcoind,
            rpc_user: cookie.user,
            rpc_password: cookie.password,
        };
        chain.mine(101);
        Some(chain)
    }

    /// Calls a bitcoind RPC method (on the default wallet).
    pub fn rpc(&self, method: &str, params: &[Value]) -> Value {
        self.bitcoind
            .client
            .call::<Value>(method, params)
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    /// Mines `blocks` blocks to the miner wallet.
    pub fn mine(&self, blocks: u64) {
        let address = self.rpc("getnewaddress", &[]);
        self.rpc("generatetoaddress", &[json!(blocks), address]);
    }

    /// Current block height.
    pub fn height(&self) -> u32 {
        self.rpc("getblockcount", &[]).as_u64().expect("height") as u32
    }

    /// Sends `sats` to `address` and confirms it with 6 blocks.
    pub fn fund(&self, address: &str, sats: u64) {
        let btc = sats as f64 / 100_000_000.0;
        self.rpc("sendtoaddress", &[json!(address), json!(btc)]);
        self.mine(6);
    }

    /// What the transaction `txid` pays to `address`, in satoshis.
    pub fn paid_to(&self, txid: &str, address: &str) -> u64 {
        let tx = self.rpc("getrawtransaction", &[json!(txid), json!(true)]);
        tx["vout"]
            .as_array()
            .expect("vout")
            .iter()
            .filter(|out| out["scriptPubKey"]["address"].as_str() == Some(address))
            .map(|out| (out["value"].as_f64().expect("value") * 100_000_000.0).round() as u64)
            .sum()
    }

    /// Whether bitcoind's mempool holds `txid`.
    pub fn in_mempool(&self, txid: &str) -> bool {
        self.rpc("getrawmempool", &[])
            .as_array()
            .expect("mempool")
            .iter()
            .any(|t| t == txid)
    }

    /// A node config on this chain; `extra` adds TOML after the standard sections.
    pub fn node_config(&self, alias: &str, p2p_port: u16, extra: &str) -> String {
        format!(
            r#"
[node]
network = "regtest"
listening_addresses = ["127.0.0.1:{p2p_port}"]
grpc_service_address = "{{grpc}}"
alias = "{alias}"

[storage.disk]
dir_path = "{{storage}}"

[bitcoind]
rpc_address = "{rpc}"
rpc_user = "{user}"
rpc_password = "{password}"

[log]
level = "debug"
log_to_file = false

[metrics]
enabled = true
poll_metrics_interval = 1

{extra}
"#,
            rpc = self.bitcoind.params.rpc_socket,
            user = self.rpc_user,
            password = self.rpc_password,
        )
    }
}

/// An `ldk-server` process with a connected client.
pub struct TestNode {
    /// The process.
    pub server: ServerProcess,
    /// A signed, pinned client.
    pub client: LdkServerClient,
    /// The node id.
    pub node_id: String,
    /// The P2P listening address, `127.0.0.1:port`.
    pub p2p_address: String,
    /// The alias.
    pub alias: String,
    extra: String,
}

impl TestNode {
    /// Starts a node on `chain` and waits until it runs and has synced to the chain tip.
    pub async fn start(chain: &Chain, alias: &str, extra: &str) -> Self {
        let p2p_port = free_port();
        let server = ServerProcess::start(&chain.node_config(alias, p2p_port, extra));
        Self::running(chain, server, alias, p2p_port, extra).await
    }

    async fn running(
        chain: &Chain,
        server: ServerProcess,
        alias: &str,
        p2p_port: u16,
        extra: &str,
    ) -> Self {
        let client = server.client().await;
        let mut node = Self {
            server,
            client,
            node_id: String::new(),
            p2p_address: format!("127.0.0.1:{p2p_port}"),
            alias: alias.to_owned(),
            extra: extra.to_owned(),
        };
        let info = node.wait_until_running().await;
        node.node_id = info.node_id;
        node.wait_for_height(chain.height()).await;
        node
    }

    /// Stops the process and starts it again on the same data, ports and config.
    pub async fn restart(self, chain: &Chain) -> Self {
        let p2p_port: u16 = self
            .p2p_address
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let config = chain.node_config(&self.alias, p2p_port, &self.extra);
        let (alias, extra) = (self.alias.clone(), self.extra.clone());
        let (dir, grpc) = self.server.into_parts();
        let server = ServerProcess::start_in(dir, grpc, &config);
        Self::running(chain, server, &alias, p2p_port, &extra).await
    }

    /// Polls GetNodeInfo until the node answers. A loaded CI machine (four e2e tests and the
    /// instrumented fuzz build at once) has been seen to need more than a minute for a debug
    /// build's first sync, so the budget is generous; a server that exits or never answers
    /// fails with its exit status or the tail of its log, so the cause is in the test output.
    async fn wait_until_running(&mut self) -> ldk_server::proto::api::GetNodeInfoResponse {
        let deadline = Instant::now() + NODE_START_TIMEOUT;
        loop {
            let mut client = self.client.clone();
            if let Ok(response) = client.get_node_info(GetNodeInfoRequest {}).await {
                return response.into_inner();
            }
            if let Some(status) = self.server.exit_status() {
                panic!(
                    "{} exited with {status} before it ran:\n{}",
                    self.alias,
                    log_tail(&self.server.log())
                );
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {NODE_START_TIMEOUT:?} waiting for: {} runs\nlast server log lines:\n{}",
                self.alias,
                log_tail(&self.server.log())
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// A fresh client handle (clients are cheap clones of one connection).
    pub fn rpc(&self) -> LdkServerClient {
        self.client.clone()
    }

    /// Waits until the node's best block reaches `height`.
    pub async fn wait_for_height(&self, height: u32) {
        wait_until(
            &format!("{} syncs to {height}", self.alias),
            Duration::from_secs(60),
            || {
                let mut client = self.rpc();
                async move {
                    let info = client
                        .get_node_info(GetNodeInfoRequest {})
                        .await
                        .ok()?
                        .into_inner();
                    (info.current_best_block?.height >= height).then_some(())
                }
            },
        )
        .await
    }

    /// OnchainReceive: a fresh address of the node's wallet.
    pub async fn new_address(&self) -> String {
        let response = self.rpc().onchain_receive(OnchainReceiveRequest {}).await;
        response.expect("onchain receive").into_inner().address
    }

    /// Funds the node's wallet with `sats` (OnchainReceive + mining) and waits for it.
    pub async fn fund(&self, chain: &Chain, sats: u64) {
        let before = self.balances().await.spendable_onchain_balance_sats;
        let address = self.new_address().await;
        chain.fund(&address, sats);
        self.wait_for_height(chain.height()).await;
        wait_until(
            &format!("{} sees its funds", self.alias),
            Duration::from_secs(120),
            || async {
                let now = self.balances().await.spendable_onchain_balance_sats;
                (now >= before + sats).then_some(())
            },
        )
        .await;
    }

    /// GetBalances.
    pub async fn balances(&self) -> GetBalancesResponse {
        self.rpc()
            .get_balances(GetBalancesRequest {})
            .await
            .expect("balances")
            .into_inner()
    }

    /// A BOLT 11 invoice of this node for `amount_msat` (the payer chooses when `None`),
    /// described by `text`, valid for an hour.
    pub async fn receive_invoice(
        &self,
        amount_msat: Option<u64>,
        text: &str,
    ) -> Bolt11ReceiveResponse {
        self.rpc()
            .bolt11_receive(Bolt11ReceiveRequest {
                amount_msat,
                description: description(text),
                expiry_secs: 3600,
            })
            .await
            .expect("bolt11 receive")
            .into_inner()
    }

    /// ListPeers.
    pub async fn peers(&self) -> Vec<ldk_server::proto::types::Peer> {
        self.rpc()
            .list_peers(ListPeersRequest {})
            .await
            .expect("list peers")
            .into_inner()
            .peers
    }

    /// Pays a BOLT 11 `invoice` (with `amount_msat` for one without an amount); returns the
    /// payment id.
    pub async fn pay_invoice(&self, invoice: &str, amount_msat: Option<u64>) -> String {
        self.rpc()
            .bolt11_send(Bolt11SendRequest {
                invoice: invoice.to_owned(),
                amount_msat,
                route_parameters: None,
            })
            .await
            .expect("bolt11 send")
            .into_inner()
            .payment_id
    }

    /// GetPaymentDetails: the payment, which must be known.
    pub async fn payment(&self, payment_id: &str) -> ldk_server::proto::types::Payment {
        let request = GetPaymentDetailsRequest {
            payment_id: payment_id.to_owned(),
        };
        let response = self
            .rpc()
            .get_payment_details(request)
            .await
            .expect("payment details");
        response
            .into_inner()
            .payment
            .unwrap_or_else(|| panic!("payment {payment_id} unknown"))
    }

    /// Every page of ListPayments, in page order.
    pub async fn all_payments(&self) -> Vec<ldk_server::proto::types::Payment> {
        let mut payments = Vec::new();
        let mut page_token = None;
        loop {
            let page = self
                .rpc()
                .list_payments(ListPaymentsRequest { page_token })
                .await
                .expect("list payments")
                .into_inner();
            payments.extend(page.payments);
            match page.next_page_token {
                Some(token) => page_token = Some(token),
                None => return payments,
            }
        }
    }

    /// Opens an event stream.
    pub async fn events(&self) -> Streaming<EventEnvelope> {
        self.rpc()
            .subscribe_events(SubscribeEventsRequest::default())
            .await
            .expect("subscribe")
            .into_inner()
    }

    /// The channels of this node.
    pub async fn channels(&self) -> Vec<ldk_server::proto::types::Channel> {
        self.rpc()
            .list_channels(ListChannelsRequest {})
            .await
            .expect("list channels")
            .into_inner()
            .channels
    }

    /// Prometheus text from /metrics.
    pub async fn metrics(&self) -> String {
        super::scrape_metrics(&self.server, None).await.1
    }
}

/// Opens a channel from `from` to `to`, mines it, and waits until both sides can use it.
/// Returns the user channel id on `from`.
pub async fn open_channel(
    chain: &Chain,
    from: &TestNode,
    to: &TestNode,
    sats: u64,
    push_msat: u64,
    announce: bool,
) -> String {
    use open_channel_request::Amount;
    let response = from
        .rpc()
        .open_channel(OpenChannelRequest {
            node_pubkey: to.node_id.clone(),
            address: to.p2p_address.clone(),
            amount: Some(Amount::ChannelAmountSats(sats)),
            push_to_counterparty_msat: Some(push_msat).filter(|m| *m > 0),
            channel_config: None,
            announce_channel: announce,
            disable_counterparty_reserve: false,
        })
        .await
        .expect("open channel")
        .into_inner();
    let funding_txid = wait_until(
        "funding transaction known",
        Duration::from_secs(60),
        || async {
            let channels = from.channels().await;
            channels
                .into_iter()
                .find(|c| c.user_channel_id == response.user_channel_id)
                .and_then(|c| c.funding_txo)
                .map(|txo| txo.txid)
        },
    )
    .await;
    wait_until(
        "funding transaction in the mempool",
        Duration::from_secs(60),
        || async { chain.in_mempool(&funding_txid).then_some(()) },
    )
    .await;
    chain.mine(6);
    for node in [from, to] {
        node.wait_for_height(chain.height()).await;
    }
    wait_until(
        "channel usable on both sides",
        Duration::from_secs(120),
        || async {
            let mine = from.channels().await;
            let theirs = to.channels().await;
            let usable = |channels: &[ldk_server::proto::types::Channel], peer: &str| {
                channels
                    .iter()
                    .any(|c| c.counterparty_node_id == peer && c.is_usable)
            };
            (usable(&mine, &to.node_id) && usable(&theirs, &from.node_id)).then_some(())
        },
    )
    .await;
    response.user_channel_id
}

/// The value of the sample `name` (series name with its labels, as exported) in a scrape.
pub fn metric_value(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in:\n{text}"))
}

/// A BOLT 11 invoice description of plain `text`.
pub fn description(text: &str) -> Option<ldk_server::proto::types::Bolt11InvoiceDescription> {
    use ldk_server::proto::types::{bolt11_invoice_description, Bolt11InvoiceDescription};
    Some(Bolt11InvoiceDescription {
        kind: Some(bolt11_invoice_description::Kind::Direct(text.into())),
    })
}

/// How long a node may take from spawn to answering GetNodeInfo.
const NODE_START_TIMEOUT: Duration = Duration::from_secs(180);

/// The last 40 lines of a server log.
fn log_tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Polls `probe` until it returns `Some`, or panics after `timeout` naming `what`.
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Reads events until one matches `pick`; panics after `timeout`.
pub async fn next_event<T>(
    stream: &mut Streaming<EventEnvelope>,
    what: &str,
    timeout: Duration,
    mut pick: impl FnMut(&Event) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let message = tokio::time::timeout_at(deadline, stream.message())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for event: {what}"))
            .expect("event stream failed")
            .expect("event stream ended");
        if let Some(found) = message.event.as_ref().and_then(&mut pick) {
            return found;
        }
    }
}

/// How long a payment may take to settle on regtest.
pub const PAYMENT_TIMEOUT: Duration = Duration::from_secs(60);

/// Reads events until the payment `payment_id` succeeds; panics if it fails or times out.
pub async fn wait_payment_succeeded(stream: &mut Streaming<EventEnvelope>, payment_id: &str) {
    next_event(
        stream,
        &format!("PaymentSuccessful {payment_id}"),
        PAYMENT_TIMEOUT,
        |event| match event {
            Event::PaymentSuccessful(e)
                if e.payment.as_ref().is_some_and(|p| p.id == payment_id) =>
            {
                Some(())
            }
            Event::PaymentFailed(e) if e.payment.as_ref().is_some_and(|p| p.id == payment_id) => {
                panic!("payment {payment_id} failed: {e:?}")
            }
            _ => None,
        },
    )
    .await
}

/// Reads events until a `ChannelStateChanged` in `state` arrives; returns it.
pub async fn next_channel_state(
    stream: &mut Streaming<EventEnvelope>,
    state: ldk_server::proto::events::ChannelState,
    timeout: Duration,
) -> ldk_server::proto::events::ChannelStateChanged {
    next_event(
        stream,
        &format!("channel state {state:?}"),
        timeout,
        |event| match event {
            Event::ChannelStateChanged(change) if change.state() == state => Some(change.clone()),
            _ => None,
        },
    )
    .await
}

/// Pays `count` invoices of `to` from `from`, one after the other, each until `to` has it;
/// returns the payment ids (payment hashes) in order.
pub async fn pay_each_until_received(
    from: &TestNode,
    to: &TestNode,
    count: usize,
    sats: u64,
) -> Vec<String> {
    let mut ids = Vec::new();
    for index in 0..count {
        let invoice = send_until_accepted(from, to, sats, index).await;
        let hash = invoice.payment_hash.clone();
        wait_until(
            &format!("{} receives {hash}", to.alias),
            PAYMENT_TIMEOUT,
            || async {
                let mut client = to.rpc();
                let payment = client
                    .get_payment_details(GetPaymentDetailsRequest {
                        payment_id: hash.clone(),
                    })
                    .await
                    .ok()?
                    .into_inner()
                    .payment?;
                (payment.status == ldk_server::proto::types::PaymentStatus::Succeeded as i32)
                    .then_some(())
            },
        )
        .await;
        ids.push(invoice.payment_hash);
    }
    ids
}

/// Sends one payment of `sats` to a fresh invoice of `to`; while the channel is not usable
/// yet (right after a restart, until the peers have reconnected) the send is refused, and is
/// tried again with a new invoice. Returns the invoice that was accepted.
pub async fn send_until_accepted(
    from: &TestNode,
    to: &TestNode,
    sats: u64,
    index: usize,
) -> Bolt11ReceiveResponse {
    let deadline = std::time::Instant::now() + PAYMENT_TIMEOUT;
    loop {
        let invoice = to
            .receive_invoice(Some(sats * 1_000), &format!("event {index}"))
            .await;
        let sent = from
            .rpc()
            .bolt11_send(Bolt11SendRequest {
                invoice: invoice.invoice.clone(),
                amount_msat: None,
                route_parameters: None,
            })
            .await;
        match sent {
            Ok(_) => return invoice,
            Err(status) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{} cannot pay {}: {status:?}",
                    from.alias,
                    to.alias
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}
