//! Hostile input, derived from the descriptor: every unary RPC of `api.LightningNode` gets
//! random bytes and structurally valid messages with hostile values in every field, correctly
//! signed and over TLS, against a regtest node that has a channel. No request may answer
//! INTERNAL, UNKNOWN, UNAVAILABLE (a node fault) or an empty message, the process must
//! survive without a panic, and afterwards the node must still follow the chain and pay over
//! its channel.
//!
//! The RPC list and every message shape come from `ldk_server::proto::FILE_DESCRIPTOR_SET`, so
//! an RPC or field added to the proto is covered without touching this test.

mod common;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::chain::{open_channel, wait_payment_succeeded, wait_until, Chain, TestNode};
use common::raw_codec::RawCodec;
use futures_util::stream::{self, StreamExt};
use ldk_node::bitcoin::hashes::{sha256, Hash};
use ldk_node::bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use ldk_node::bitcoin::Network;
use ldk_node::lightning::offers::offer::{OfferBuilder, Quantity};
use ldk_node::lightning_invoice::{Currency, InvoiceBuilder};
use ldk_node::lightning_types::payment::PaymentSecret;
use ldk_server::client::SigningService;
use ldk_server::proto::api::*;
use prost::Message;
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, Value,
};
use tonic::transport::Channel;
use tonic::{Code, Status};

/// The service under test.
const SERVICE: &str = "api.LightningNode";
/// RPCs that, given the node's real ids, would close, splice or disconnect the channel the
/// test pays over afterwards, or lock funds in new channels: they get hostile values only,
/// never the node's real ids, addresses or channel. They are sent and counted like the rest.
const DESTRUCTIVE: &[&str] = &[
    "CloseChannel",
    "ForceCloseChannel",
    "SpliceIn",
    "SpliceOut",
    "OpenChannel",
    "DisconnectPeer",
];
/// Random-byte bodies per RPC.
const RANDOM_BODIES: usize = 12;
/// Messages with every field hostile at once, per RPC.
const ALL_FIELDS_MESSAGES: usize = 12;
/// Requests in flight at once.
const CONCURRENCY: usize = 8;
/// Longest any single request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Nesting depth up to which sub-messages are filled.
const MAX_DEPTH: usize = 3;
/// A 100 KB text.
const BIG: usize = 100 * 1024;

#[tokio::test(flavor = "multi_thread")]
async fn hostile_input_never_faults_the_node() {
    let Some(chain) = Chain::start("hostile_input_never_faults_the_node") else {
        return;
    };
    let mut alice = TestNode::start(&chain, "alice", "").await;
    let bob = TestNode::start(&chain, "bob", "").await;
    alice.fund(&chain, 3_000_000).await;
    let user_channel_id = open_channel(&chain, &alice, &bob, 1_000_000, 0, false).await;
    let pid = alice.server.pid();

    let targets = RealTargets::gather(&alice, &bob, &user_channel_id).await;
    let plan = Plan::from_descriptor(&targets);
    eprintln!(
        "hostile plan: {} requests over {} unary RPCs ({} streaming RPCs not sent: {:?})",
        plan.requests.len(),
        plan.unary_rpcs.len(),
        plan.streaming_rpcs.len(),
        plan.streaming_rpcs
    );

    let started = Instant::now();
    let outcomes = send_all(&alice, &plan.requests).await;
    let elapsed = started.elapsed();
    let report = Report::new(&plan, &outcomes);
    report.print(elapsed);

    // Every unary RPC of the descriptor was exercised.
    for rpc in &plan.unary_rpcs {
        assert!(
            report
                .per_rpc
                .get(rpc)
                .is_some_and(|codes| !codes.is_empty()),
            "{rpc} got no request"
        );
    }
    assert!(
        report.violations.is_empty(),
        "{} requests answered badly:\n{}",
        report.violations.len(),
        report.violations.join("\n")
    );

    // The process never restarted or died, and nothing panicked.
    let child = alice.server.child.as_mut().expect("alice's process");
    assert!(
        child.try_wait().expect("wait").is_none(),
        "alice exited:\n{}",
        alice.server.log()
    );
    assert_eq!(alice.server.pid(), pid, "alice restarted");
    let log = alice.server.log();
    assert!(
        !log.contains("panicked"),
        "alice panicked:\n{}",
        log.lines()
            .filter(|l| l.contains("panicked"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    // The node still follows the chain: its best block reaches bitcoind's within seconds.
    chain.mine(3);
    let height = chain.height();
    let followed = Instant::now();
    wait_until(
        "alice follows the chain after the hostile input",
        Duration::from_secs(20),
        || async {
            let info = alice
                .rpc()
                .get_node_info(GetNodeInfoRequest {})
                .await
                .ok()?
                .into_inner();
            (info.current_best_block?.height >= height).then_some(())
        },
    )
    .await;
    eprintln!(
        "alice reached height {height} {:?} after mining",
        followed.elapsed()
    );

    // And still pays over its channel.
    let mut events = alice.events().await;
    let invoice = bob
        .receive_invoice(Some(50_000_000), "after the storm")
        .await
        .invoice;
    let payment_id = alice.pay_invoice(&invoice, None).await;
    wait_payment_succeeded(&mut events, &payment_id).await;
    eprintln!("alice paid bob over the channel after the hostile input");
}

/// Runs without bitcoind: the key management service (from its own descriptor) gets random
/// bytes and hostile values in every field, signed with the admin key, and the `x-auth` header
/// gets hostile values in all three forms. No call may answer INTERNAL or UNKNOWN, every hostile
/// header is UNAUTHENTICATED, and the server stays up and serves the admin key afterwards.
#[tokio::test(flavor = "multi_thread")]
async fn hostile_key_management_and_headers_never_fault_the_server() {
    let server = common::ServerProcess::start(&common::unreachable_chain_config(
        "[limits]\nauth_failures_burst = 1000000\nauth_failures_per_minute = 1000000\n",
    ));
    let options = server.client_options();
    let channel = ldk_server::client::channel(&options)
        .await
        .expect("channel");
    let signing = SigningService::with_signing(
        channel.clone(),
        options.api_key.clone(),
        ldk_server::client::Signing::V2,
    );

    // The key management service, every method, from its descriptor.
    let pool = DescriptorPool::decode(ldk_server::proto::ADMIN_FILE_DESCRIPTOR_SET)
        .expect("admin descriptor");
    let service = pool
        .get_service_by_name("ldk_server.admin.KeyManagement")
        .expect("service");
    let pools = Pools::generic();
    let mut rng = SplitMix(0x6b65_7973);
    let mut requests: Vec<(String, String, Vec<u8>)> = Vec::new();
    for method in service.methods() {
        let rpc = method.name().to_owned();
        for index in 0..RANDOM_BODIES {
            let len = rng.below(2_048);
            requests.push((
                rpc.clone(),
                format!("random bytes #{index}"),
                rng.bytes(len),
            ));
        }
        for (what, message) in one_field_at_a_time(&method.input(), &pools, 0) {
            requests.push((rpc.clone(), what, message.encode_to_vec()));
        }
        for index in 0..ALL_FIELDS_MESSAGES {
            let message = all_fields(&method.input(), &pools, &mut rng, 0);
            requests.push((
                rpc.clone(),
                format!("all fields #{index}"),
                message.encode_to_vec(),
            ));
        }
    }
    let mut violations = Vec::new();
    let mut codes = BTreeMap::<String, usize>::new();
    for (rpc, what, body) in &requests {
        let outcome = send_raw_to(
            signing.clone(),
            &format!("/ldk_server.admin.KeyManagement/{rpc}"),
            body.clone(),
        )
        .await;
        let code = match &outcome {
            Outcome::Ok => "OK".to_owned(),
            Outcome::Status(code, _) => format!("{code:?}"),
            other => format!("{other:?}"),
        };
        *codes.entry(code).or_default() += 1;
        match outcome {
            Outcome::Status(Code::Internal | Code::Unknown | Code::Unavailable, message) => {
                violations.push(format!("{rpc} {what}: {message}"))
            }
            Outcome::Transport(message) => violations.push(format!("{rpc} {what}: {message}")),
            Outcome::TimedOut => violations.push(format!("{rpc} {what}: timed out")),
            _ => {}
        }
    }
    eprintln!(
        "key management: {} hostile requests over {} methods: {codes:?}",
        requests.len(),
        service.methods().len()
    );
    assert!(violations.is_empty(), "{}", violations.join("\n"));

    // Hostile `x-auth` values in every form, on a node RPC and on the key management service.
    let key = options.api_key.clone();
    let now = ldk_server::auth::unix_now();
    let admin_id = ldk_server::auth::KeyId::of(&key).to_hex();
    let tag = "00".repeat(32);
    let nonce = "11".repeat(16);
    let mut headers: Vec<String> = vec![
        format!("HMAC {admin_id}:{now}:{tag}"),
        format!("HMAC2 {admin_id}:{now}:{nonce}:{tag}"),
        format!("HMAC2 {admin_id}:{now}:{}:{tag}", "11".repeat(15)),
        format!("HMAC2 {admin_id}:{now}:{}:{tag}", "11".repeat(64)),
        format!("HMAC2 {admin_id}:{now}:{nonce}:{tag}:{tag}"),
        format!("HMAC2 {admin_id}::{nonce}:{tag}"),
        format!("HMAC2 {admin_id}:{}:{nonce}:{tag}", u64::MAX),
        format!("HMAC2 {admin_id}:99999999999999999999999:{nonce}:{tag}"),
        format!("HMAC2 {}:{now}:{nonce}:{tag}", "zz".repeat(8)),
        format!("HMAC2 {}:{now}:{nonce}:{tag}", "ab".repeat(9)),
        format!("HMAC {}:{now}:{tag}", "ab".repeat(8)),
        format!("HMAC {admin_id}:{now}:{}", "00".repeat(31)),
        format!("HMAC {admin_id}:-{now}:{tag}"),
        format!("hmac2 {admin_id}:{now}:{nonce}:{tag}"),
        format!("HMAC2  {admin_id}:{now}:{nonce}:{tag}"),
        format!("HMAC2 {admin_id}:{now}:{nonce}:{}", "é".repeat(32)),
        "HMAC2 ".to_owned(),
        "HMAC2 :::".to_owned(),
        ":".repeat(4_000),
        format!("HMAC2 {}", "a:".repeat(2_000)),
    ];
    // A valid v2 signature, made for another path: refused.
    let frame = [0u8; 5];
    headers.push(ldk_server::auth::sign_v2(
        &key,
        now,
        &[7; 16],
        "/api.LightningNode/ListPeers",
        &frame,
    ));
    for _ in 0..50 {
        let len = rng.below(300);
        let text: String = (0..len)
            .map(|_| char::from(b' ' + (rng.next() % 95) as u8))
            .collect();
        headers.push(format!("HMAC2 {text}"));
    }
    let mut refused = 0;
    for header in &headers {
        for path in [
            "/api.LightningNode/GetBalances",
            "/ldk_server.admin.KeyManagement/ListKeys",
        ] {
            let Ok(value) = http::HeaderValue::from_str(header) else {
                continue;
            };
            let status = call_with_x_auth(&channel, path, value).await;
            assert_eq!(
                status.code(),
                Code::Unauthenticated,
                "{header:?} on {path}: {status:?}"
            );
            refused += 1;
        }
    }
    eprintln!("{refused} hostile x-auth values, every one UNAUTHENTICATED");

    // Still up, and the admin key still works in every form.
    let mut client = server.client().await;
    let status = client
        .get_balances(GetBalancesRequest {})
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let log = server.log();
    assert!(!log.contains("panicked"), "the server panicked:\n{log}");
}

async fn call_with_x_auth(channel: &Channel, path: &str, value: http::HeaderValue) -> Status {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.expect("ready");
    let mut request = tonic::Request::new(bytes::Bytes::new());
    request.metadata_mut().insert(
        "x-auth",
        tonic::metadata::MetadataValue::try_from(value.as_bytes()).expect("metadata"),
    );
    let path = http::uri::PathAndQuery::from_str(path).expect("path");
    match grpc.unary(request, path, RawCodec).await {
        Ok(_) => Status::ok(""),
        Err(status) => status,
    }
}

/// Runs without bitcoind: the plan covers every unary RPC of the descriptor (and only
/// SubscribeEvents is left out, as the one streaming RPC), and stays a few thousand requests.
#[test]
fn plan_covers_every_unary_rpc_of_the_descriptor() {
    let plan = Plan::from_descriptor(&RealTargets {
        tagged: vec![("node_id", "real".into())],
    });
    let pool = DescriptorPool::decode(ldk_server::proto::FILE_DESCRIPTOR_SET).expect("descriptor");
    let service = pool.get_service_by_name(SERVICE).expect("service");
    assert_eq!(
        plan.unary_rpcs.len() + plan.streaming_rpcs.len(),
        service.methods().len()
    );
    assert_eq!(plan.streaming_rpcs, ["SubscribeEvents"]);
    for rpc in &plan.unary_rpcs {
        let sent = plan.requests.iter().filter(|r| &r.rpc == rpc).count();
        assert!(sent >= RANDOM_BODIES + ALL_FIELDS_MESSAGES, "{rpc}: {sent}");
    }
    for rpc in DESTRUCTIVE {
        assert!(
            plan.unary_rpcs.iter().any(|r| r == rpc),
            "{rpc} is not in the descriptor"
        );
        assert!(
            !plan
                .requests
                .iter()
                .any(|r| &r.rpc == rpc && r.what.contains("\"real\"")),
            "{rpc} got a real target"
        );
    }
    eprintln!(
        "plan: {} requests over {} unary RPCs",
        plan.requests.len(),
        plan.unary_rpcs.len()
    );
    assert!(
        (1_000..=8_000).contains(&plan.requests.len()),
        "{} requests",
        plan.requests.len()
    );
}

/// Real values of the running nodes, used to reach deeper than parsing in RPCs that cannot
/// destroy anything. Each is tagged with the field-name fragment it fits (`node_id` fits
/// `counterparty_node_id`), so a baseline message can carry real ids around one hostile field.
struct RealTargets {
    tagged: Vec<(&'static str, String)>,
}

impl RealTargets {
    async fn gather(alice: &TestNode, bob: &TestNode, user_channel_id: &str) -> Self {
        let own_address = alice.new_address().await;
        let bob_address = bob.new_address().await;
        let fixed = bob.receive_invoice(Some(10_000), "hostile fixed").await;
        let variable = bob.receive_invoice(None, "hostile variable").await;
        let own_invoice = alice.receive_invoice(Some(10_000), "to myself").await;
        let mut tagged = vec![
            ("node_id", bob.node_id.clone()),
            ("pubkey", bob.node_id.clone()),
            ("public_key", alice.node_id.clone()),
            ("node_id", alice.node_id.clone()),
            ("channel_id", user_channel_id.to_owned()),
            ("address", bob.p2p_address.clone()),
            ("address", own_address.clone()),
            ("address", bob_address.clone()),
            ("invoice", fixed.invoice.clone()),
            ("invoice", variable.invoice),
            ("invoice", own_invoice.invoice),
            ("payment_hash", fixed.payment_hash),
            ("payment_hash", variable.payment_hash),
            ("payment_hash", own_invoice.payment_hash),
            // BIP 21 amounts far beyond the supply, to the node's own address.
            (
                "uri",
                format!("bitcoin:{own_address}?amount=184467440737.09551615"),
            ),
            (
                "uri",
                format!("bitcoin:{own_address}?amount=21000000.00000001"),
            ),
            ("uri", format!("bitcoin:{own_address}?amount=0.00000001")),
            (
                "uri",
                format!(
                    "bitcoin:{bob_address}?amount=0.0001&lightning={}",
                    fixed.invoice
                ),
            ),
        ];
        if let Ok(offer) = bob
            .rpc()
            .bolt12_receive(Bolt12ReceiveRequest {
                description: "hostile offer".into(),
                amount_msat: Some(5_000),
                expiry_secs: None,
                quantity: Some(3),
            })
            .await
        {
            tagged.push(("offer", offer.into_inner().offer));
        }
        Self { tagged }
    }

    fn strings(&self) -> Vec<String> {
        self.tagged.iter().map(|(_, value)| value.clone()).collect()
    }

    /// The real values that fit a field of this name.
    fn fitting(&self, field_name: &str) -> Vec<&str> {
        self.tagged
            .iter()
            .filter(|(tag, _)| field_name.contains(tag))
            .map(|(_, value)| value.as_str())
            .collect()
    }
}

/// What to send: one request per entry, each tagged with its RPC and what is hostile in it.
struct Plan {
    requests: Vec<PlannedRequest>,
    unary_rpcs: Vec<String>,
    streaming_rpcs: Vec<String>,
}

struct PlannedRequest {
    rpc: String,
    what: String,
    body: Vec<u8>,
}

impl Plan {
    fn from_descriptor(targets: &RealTargets) -> Self {
        let pool =
            DescriptorPool::decode(ldk_server::proto::FILE_DESCRIPTOR_SET).expect("descriptor");
        let service = pool.get_service_by_name(SERVICE).expect("service");
        let mut rng = SplitMix(0x5eed_4057_11e5);
        let generic = Pools::generic();
        let with_targets = generic.with_real(&targets.strings());
        let mut plan = Self {
            requests: Vec::new(),
            unary_rpcs: Vec::new(),
            streaming_rpcs: Vec::new(),
        };
        for method in service.methods() {
            let rpc = method.name().to_owned();
            if method.is_client_streaming() || method.is_server_streaming() {
                plan.streaming_rpcs.push(rpc);
                continue;
            }
            let pools = if DESTRUCTIVE.contains(&rpc.as_str()) {
                &generic
            } else {
                &with_targets
            };
            let input = method.input();
            for index in 0..RANDOM_BODIES {
                let len = rng.below(2_048);
                let body = rng.bytes(len);
                plan.push(
                    &rpc,
                    format!("random bytes #{index} ({} B)", body.len()),
                    body,
                );
            }
            for (what, message) in one_field_at_a_time(&input, pools, 0) {
                plan.push(&rpc, what, message.encode_to_vec());
            }
            if !DESTRUCTIVE.contains(&rpc.as_str()) {
                for (what, message) in one_field_over_baseline(&input, pools, targets) {
                    plan.push(&rpc, format!("real ids, {what}"), message.encode_to_vec());
                }
            }
            for index in 0..ALL_FIELDS_MESSAGES {
                let message = all_fields(&input, pools, &mut rng, 0);
                plan.push(
                    &rpc,
                    format!("all fields hostile #{index}"),
                    message.encode_to_vec(),
                );
            }
            plan.unary_rpcs.push(rpc);
        }
        plan
    }

    fn push(&mut self, rpc: &str, what: String, body: Vec<u8>) {
        self.requests.push(PlannedRequest {
            rpc: rpc.to_owned(),
            what,
            body,
        });
    }
}

/// Hostile values by protobuf type.
#[derive(Clone)]
struct Pools {
    strings: Vec<String>,
    bytes: Vec<Vec<u8>>,
    unsigned: Vec<u64>,
    signed: Vec<i64>,
}

impl Pools {
    fn generic() -> Self {
        let hex64 = "00".repeat(32);
        let mut strings = vec![
            String::new(),
            " ".into(),
            "a".repeat(BIG),
            "é".repeat(BIG / 2),
            "\0".into(),
            "abc\0def".into(),
            "ü∂ø😀\u{202e}".into(),
            "zz".repeat(32),
            "00".repeat(31),
            "00".repeat(33),
            hex64.clone(),
            hex64.to_uppercase().replace('0', "F"),
            format!("02{}", "00".repeat(32)),
            format!("04{}", "11".repeat(32)),
            "ff".repeat(33),
            "0".into(),
            "-1".into(),
            "18446744073709551615".into(),
            "340282366920938463463374607431768211455".into(),
            "340282366920938463463374607431768211456".into(),
            // Socket addresses stay on loopback or fail to parse: no DNS, no traffic out.
            "127.0.0.1:1".into(),
            "[::1]:1".into(),
            "127.0.0.1:99999".into(),
            "localhost".into(),
            "lnbc1invalid".into(),
            "lnbcrt1pgarbage".into(),
            "lno1garbage".into(),
            "lno1".into(),
            "bitcoin:".into(),
            "bitcoin:garbage?amount=abc".into(),
            "bitcoin:bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080?amount=99999999999".into(),
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4".into(),
            "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx".into(),
            "BITCOIN:BCRT1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KYGT080?req-unknown=1".into(),
            "₿".repeat(700),
            "x".repeat(640),
        ];
        strings.extend(foreign_invoices_and_offers());
        Self {
            strings,
            bytes: vec![
                Vec::new(),
                vec![0],
                vec![0xff; 64],
                vec![0; BIG],
                (0..=255).collect(),
            ],
            unsigned: vec![
                0,
                1,
                2,
                47,
                48,
                63,
                64,
                255,
                256,
                293,
                546,
                10_000,
                65_535,
                65_536,
                u32::MAX as u64 - 1,
                u32::MAX as u64,
                1 << 32,
                2_100_000_000_000_000,
                2_100_000_000_000_001,
                2_100_000_000_000_000_000,
                2_100_000_000_000_000_001,
                i64::MAX as u64,
                u64::MAX - 1,
                u64::MAX,
            ],
            signed: vec![
                0,
                1,
                -1,
                i64::MIN,
                i64::MAX,
                i32::MIN as i64,
                i32::MAX as i64,
            ],
        }
    }

    fn with_real(&self, real: &[String]) -> Self {
        let mut pools = self.clone();
        pools.strings.extend(real.iter().cloned());
        pools
    }

    /// Hostile values for a field of `kind`, as reflection values.
    fn values(&self, kind: &Kind) -> Vec<Value> {
        match kind {
            Kind::String => self.strings.iter().cloned().map(Value::String).collect(),
            Kind::Bytes => self
                .bytes
                .iter()
                .map(|b| Value::Bytes(b.clone().into()))
                .collect(),
            Kind::Bool => vec![Value::Bool(false), Value::Bool(true)],
            Kind::Uint64 | Kind::Fixed64 => self.unsigned.iter().map(|v| Value::U64(*v)).collect(),
            Kind::Uint32 | Kind::Fixed32 => {
                let mut values: Vec<u32> = self.unsigned.iter().map(|v| *v as u32).collect();
                values.sort_unstable();
                values.dedup();
                values.into_iter().map(Value::U32).collect()
            }
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
                self.signed.iter().map(|v| Value::I64(*v)).collect()
            }
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
                let mut values: Vec<i32> = self.signed.iter().map(|v| *v as i32).collect();
                values.sort_unstable();
                values.dedup();
                values.into_iter().map(Value::I32).collect()
            }
            Kind::Double => vec![
                Value::F64(0.0),
                Value::F64(f64::NAN),
                Value::F64(f64::INFINITY),
                Value::F64(-1e308),
            ],
            Kind::Float => vec![Value::F32(0.0), Value::F32(f32::NAN), Value::F32(f32::MAX)],
            Kind::Enum(descriptor) => {
                let mut values: Vec<Value> = descriptor
                    .values()
                    .map(|v| Value::EnumNumber(v.number()))
                    .collect();
                values.push(Value::EnumNumber(9_999));
                values.push(Value::EnumNumber(-1));
                values
            }
            Kind::Message(_) => Vec::new(),
        }
    }
}

/// Invoices and offers that parse but are wrong for this node: other networks, absurd amounts,
/// quantities that multiply beyond the supply, unknown payees.
fn foreign_invoices_and_offers() -> Vec<String> {
    let secp = Secp256k1::new();
    let key = SecretKey::from_slice(&[0x42; 32]).expect("key");
    let payee = PublicKey::from_secret_key(&secp, &key);
    let invoice = |currency: Currency, amount_msat: Option<u64>, expiry_secs: u64| {
        let builder = InvoiceBuilder::new(currency)
            .description("foreign".into())
            .payment_hash(sha256::Hash::hash(&[7; 32]))
            .payment_secret(PaymentSecret([9; 32]))
            .duration_since_epoch(
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .expect("clock")
                    .saturating_sub(Duration::from_secs(3_600)),
            )
            .min_final_cltv_expiry_delta(144)
            .expiry_time(Duration::from_secs(expiry_secs));
        let builder = match amount_msat {
            Some(amount) => builder.amount_milli_satoshis(amount),
            None => builder,
        };
        builder
            .build_signed(|hash| secp.sign_ecdsa_recoverable(hash, &key))
            .expect("invoice")
            .to_string()
    };
    let offer = |network: Network, amount_msat: Option<u64>, quantity: Quantity| {
        let builder = OfferBuilder::new(payee)
            .chain(network)
            .description("foreign offer".into())
            .supported_quantity(quantity);
        let builder = match amount_msat {
            Some(amount) => builder.amount_msats(amount),
            None => builder,
        };
        builder.build().expect("offer").to_string()
    };
    vec![
        invoice(Currency::Bitcoin, Some(1_000), 86_400),
        invoice(Currency::BitcoinTestnet, None, 86_400),
        invoice(Currency::Regtest, Some(1_800_000_000_000_000_000), 86_400),
        invoice(Currency::Regtest, Some(1_000), 60),
        invoice(Currency::Regtest, None, u32::MAX as u64),
        offer(Network::Bitcoin, Some(1_000), Quantity::One),
        offer(
            Network::Regtest,
            Some(2_000_000_000_000_000_000),
            Quantity::Unbounded,
        ),
        offer(
            Network::Regtest,
            Some(1_000),
            Quantity::Bounded(std::num::NonZeroU64::new(3).expect("3")),
        ),
        offer(Network::Regtest, None, Quantity::One),
    ]
}

/// Every (field, hostile value) pair of a message's fields, described; nested messages are
/// filled one field at a time. Lists hold the value twice.
fn hostile_fields(
    descriptor: &MessageDescriptor,
    pools: &Pools,
    depth: usize,
) -> Vec<(FieldDescriptor, String, Value)> {
    let mut out = Vec::new();
    for field in descriptor.fields() {
        if field.is_map() {
            continue;
        }
        for (what, value) in field_values(&field, pools, depth) {
            let value = if field.is_list() {
                Value::List(vec![value.clone(), value])
            } else {
                value
            };
            out.push((field.clone(), format!("{} = {what}", field.name()), value));
        }
    }
    out
}

/// For each field (and each field of nested messages), one message per hostile value with only
/// that field set.
fn one_field_at_a_time(
    descriptor: &MessageDescriptor,
    pools: &Pools,
    depth: usize,
) -> Vec<(String, DynamicMessage)> {
    hostile_fields(descriptor, pools, depth)
        .into_iter()
        .map(|(field, what, value)| {
            let mut message = DynamicMessage::new(descriptor.clone());
            message.set_field(&field, value);
            (what, message)
        })
        .collect()
}

/// For each top-level field, one message per hostile value with that field set and every
/// other string field holding a real value that fits its name (rotating through them), so the
/// hostile value reaches the checks behind the ids.
fn one_field_over_baseline(
    descriptor: &MessageDescriptor,
    pools: &Pools,
    targets: &RealTargets,
) -> Vec<(String, DynamicMessage)> {
    let baseline_fields: Vec<(FieldDescriptor, Vec<&str>)> = descriptor
        .fields()
        .filter(|f| f.kind() == Kind::String && !f.is_list() && f.containing_oneof().is_none())
        .map(|f| {
            let fitting = targets.fitting(f.name());
            (f, fitting)
        })
        .filter(|(_, fitting)| !fitting.is_empty())
        .collect();
    if baseline_fields.is_empty() {
        return Vec::new();
    }
    hostile_fields(descriptor, pools, 0)
        .into_iter()
        .enumerate()
        .map(|(index, (hostile_field, what, value))| {
            let mut message = DynamicMessage::new(descriptor.clone());
            for (field, fitting) in &baseline_fields {
                let real = fitting[index % fitting.len()];
                message.set_field(field, Value::String(real.to_owned()));
            }
            message.set_field(&hostile_field, value);
            (what, message)
        })
        .collect()
}

/// The hostile values of one field, described; nested messages are filled one field at a time.
fn field_values(field: &FieldDescriptor, pools: &Pools, depth: usize) -> Vec<(String, Value)> {
    match field.kind() {
        Kind::Message(nested) => {
            let mut values = vec![(
                "{}".to_owned(),
                Value::Message(DynamicMessage::new(nested.clone())),
            )];
            if depth < MAX_DEPTH {
                values.extend(
                    one_field_at_a_time(&nested, pools, depth + 1)
                        .into_iter()
                        .map(|(what, message)| (format!("{{{what}}}"), Value::Message(message))),
                );
            }
            values
        }
        kind => pools
            .values(&kind)
            .into_iter()
            .map(|value| (describe(&value), value))
            .collect(),
    }
}

/// A message with every field set to a random hostile value (nested messages filled the same
/// way, one member per oneof).
fn all_fields(
    descriptor: &MessageDescriptor,
    pools: &Pools,
    rng: &mut SplitMix,
    depth: usize,
) -> DynamicMessage {
    let mut message = DynamicMessage::new(descriptor.clone());
    let mut oneofs_done = Vec::new();
    for field in descriptor.fields() {
        if field.is_map() {
            continue;
        }
        if let Some(oneof) = field.containing_oneof() {
            if oneofs_done.contains(&oneof.name().to_owned()) || rng.below(2) == 0 {
                continue;
            }
            oneofs_done.push(oneof.name().to_owned());
        }
        let value = if field.is_list() {
            let count = [0, 1, 3, 40][rng.below(4)];
            Value::List(
                (0..count)
                    .filter_map(|_| random_value(&field, pools, rng, depth))
                    .collect(),
            )
        } else {
            match random_value(&field, pools, rng, depth) {
                Some(value) => value,
                None => continue,
            }
        };
        message.set_field(&field, value);
    }
    message
}

/// One random hostile value for `field` (a filled sub-message for message fields).
fn random_value(
    field: &FieldDescriptor,
    pools: &Pools,
    rng: &mut SplitMix,
    depth: usize,
) -> Option<Value> {
    match field.kind() {
        Kind::Message(nested) if depth < MAX_DEPTH => {
            Some(Value::Message(all_fields(&nested, pools, rng, depth + 1)))
        }
        Kind::Message(nested) => Some(Value::Message(DynamicMessage::new(nested))),
        kind => {
            let values = pools.values(&kind);
            let index = rng.below(values.len());
            values.into_iter().nth(index)
        }
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::String(text) if text.len() > 48 => {
            format!(
                "{:?}… ({} B)",
                text.chars().take(24).collect::<String>(),
                text.len()
            )
        }
        Value::String(text) => format!("{text:?}"),
        Value::Bytes(bytes) => format!("{} bytes", bytes.len()),
        other => format!("{other:?}"),
    }
}

/// How one request ended.
#[derive(Debug, Clone)]
enum Outcome {
    Ok,
    Status(Code, String),
    Transport(String),
    TimedOut,
}

async fn send_all(node: &TestNode, requests: &[PlannedRequest]) -> Vec<Outcome> {
    let options = node.server.client_options();
    let channel = ldk_server::client::channel(&options)
        .await
        .expect("channel");
    let signing = SigningService::new(channel, options.api_key.clone(), true);
    let mut outcomes: Vec<(usize, Outcome)> = stream::iter(requests.iter().enumerate())
        .map(|(index, request)| {
            let signing = signing.clone();
            async move {
                (
                    index,
                    send_raw(signing, &request.rpc, request.body.clone()).await,
                )
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    outcomes.sort_by_key(|(index, _)| *index);
    outcomes.into_iter().map(|(_, outcome)| outcome).collect()
}

async fn send_raw(signing: SigningService<Channel>, rpc: &str, body: Vec<u8>) -> Outcome {
    send_raw_to(signing, &format!("/{SERVICE}/{rpc}"), body).await
}

async fn send_raw_to(signing: SigningService<Channel>, path: &str, body: Vec<u8>) -> Outcome {
    let mut grpc = tonic::client::Grpc::new(signing)
        .max_decoding_message_size(16 * 1024 * 1024)
        .max_encoding_message_size(16 * 1024 * 1024);
    let call = async {
        grpc.ready()
            .await
            .map_err(|error| Status::unavailable(format!("not ready: {error}")))?;
        let path = http::uri::PathAndQuery::from_str(path).expect("path");
        grpc.unary(
            tonic::Request::new(bytes::Bytes::from(body)),
            path,
            RawCodec,
        )
        .await
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, call).await {
        Err(_) => Outcome::TimedOut,
        Ok(Ok(_)) => Outcome::Ok,
        Ok(Err(status)) if status.message().starts_with("not ready") => {
            Outcome::Transport(status.message().to_owned())
        }
        Ok(Err(status)) => Outcome::Status(status.code(), status.message().to_owned()),
    }
}

/// Counts and violations.
struct Report {
    per_rpc: BTreeMap<String, BTreeMap<String, usize>>,
    histogram: BTreeMap<String, usize>,
    violations: Vec<String>,
}

impl Report {
    fn new(plan: &Plan, outcomes: &[Outcome]) -> Self {
        let mut report = Self {
            per_rpc: BTreeMap::new(),
            histogram: BTreeMap::new(),
            violations: Vec::new(),
        };
        for (request, outcome) in plan.requests.iter().zip(outcomes) {
            let label = match outcome {
                Outcome::Ok => "OK".to_owned(),
                Outcome::Status(code, _) => format!("{code:?}"),
                Outcome::Transport(_) => "transport error".to_owned(),
                Outcome::TimedOut => "timed out".to_owned(),
            };
            let bad = match outcome {
                Outcome::Ok => None,
                Outcome::Status(Code::Internal | Code::Unknown, message) => {
                    Some(format!("{label}: {message}"))
                }
                // The node runs throughout: UNAVAILABLE would mean a node fault (a panic).
                Outcome::Status(Code::Unavailable, message) => {
                    Some(format!("{label} while the node runs: {message}"))
                }
                Outcome::Status(_, message) if message.trim().is_empty() => {
                    Some(format!("{label} with an empty message"))
                }
                Outcome::Status(..) => None,
                Outcome::Transport(message) => Some(format!("transport: {message}")),
                Outcome::TimedOut => Some(format!("no answer within {REQUEST_TIMEOUT:?}")),
            };
            if let Some(bad) = bad {
                report
                    .violations
                    .push(format!("{} [{}]: {bad}", request.rpc, request.what));
            }
            *report
                .per_rpc
                .entry(request.rpc.clone())
                .or_default()
                .entry(label.clone())
                .or_default() += 1;
            *report.histogram.entry(label).or_default() += 1;
        }
        report
    }

    fn print(&self, elapsed: Duration) {
        let total: usize = self.histogram.values().sum();
        eprintln!("\n=== hostile input: {total} requests in {elapsed:.1?} ===");
        eprintln!("{:<45} {:>6}  statuses", "RPC", "sent");
        for (rpc, codes) in &self.per_rpc {
            let sent: usize = codes.values().sum();
            let statuses: Vec<String> = codes.iter().map(|(c, n)| format!("{c}={n}")).collect();
            eprintln!("{rpc:<45} {sent:>6}  {}", statuses.join(" "));
        }
        eprintln!("status histogram:");
        for (code, count) in &self.histogram {
            eprintln!("  {code:<22} {count:>6}");
        }
        eprintln!();
    }
}

/// A small deterministic generator (SplitMix64), so every run sends the same requests.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound.max(1) as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}
