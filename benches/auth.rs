//! The cost of authentication per call, by `x-auth` form: the server's checks (header, key
//! lookup, HMAC over the body, and for v2 the method path and the nonce cache) measured in
//! process, then whole calls over TLS against the real binary (GetBalances on a node that
//! cannot start answers UNAVAILABLE right after authentication and scope, so the call is all
//! transport and auth). Needs no bitcoind.
//!
//! Run: `cargo bench --bench auth` (optionally BENCH_SECONDS for the over-TLS part).

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ldk_server::auth::{self, ApiKey};
use ldk_server::client::{connect, Signing};
use ldk_server::keys::store::KeyStore;
use ldk_server::keys::{AuthPolicy, HeaderOutcome, Keyring};
use ldk_server::proto::api::GetBalancesRequest;

const PATH: &str = "/api.LightningNode/GetBalances";

fn header_for(signing: Signing, key: &ApiKey, now: u64, body: &[u8]) -> String {
    signing.header(key, now, PATH, body)
}

/// Server-side checks of one call, in nanoseconds per call, and the client's signing cost.
fn in_process(body_len: usize) {
    let dir = tempfile::tempdir().unwrap();
    let admin = ApiKey::from_file_bytes(&[7; 32]);
    let store = Arc::new(KeyStore::open(dir.path(), None, auth::KeyId::of(&admin)).unwrap());
    let keyring = Keyring::new(admin.clone(), store, AuthPolicy::default());
    let mut body = vec![0u8; 5];
    body.resize(5 + body_len, 0x61);
    let now = auth::unix_now();
    const CALLS: u32 = 50_000;
    for signing in [
        Signing::Timestamp,
        Signing::Body,
        Signing::KeyId,
        Signing::V2,
    ] {
        // Fresh headers (v2 needs a new nonce each time), made before timing the server.
        let started = Instant::now();
        let headers: Vec<String> = (0..CALLS)
            .map(|_| header_for(signing, &admin, now, &body))
            .collect();
        let signing_ns = started.elapsed().as_nanos() / u128::from(CALLS);
        let started = Instant::now();
        for header in &headers {
            match keyring.check_header(Some(header.as_bytes()), now).unwrap() {
                HeaderOutcome::Authenticated(caller) => {
                    Keyring::authorize(&caller, PATH).unwrap();
                }
                HeaderOutcome::NeedsBody(pending) => {
                    let caller = keyring.verify_body(pending, PATH, &body, now).unwrap();
                    Keyring::authorize(&caller, PATH).unwrap();
                }
            }
        }
        let server_ns = started.elapsed().as_nanos() / u128::from(CALLS);
        println!(
            "  {:<28} server {server_ns:>6} ns/call   client signing {signing_ns:>6} ns/call",
            format!("{signing:?} ({body_len} B body)")
        );
    }
}

/// Whole calls over TLS, one connection, 8 in flight.
async fn over_tls(seconds: u64) {
    let server = common::ServerProcess::start(&common::unreachable_chain_config(""));
    for signing in [Signing::Body, Signing::KeyId, Signing::V2] {
        let mut options = server.client_options();
        options.signing = signing;
        let client = connect(options).await.expect("connect");
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let mut client = client.clone();
            tasks.push(tokio::spawn(async move {
                let mut calls = 0u64;
                while Instant::now() < deadline {
                    let status = client
                        .get_balances(GetBalancesRequest {})
                        .await
                        .unwrap_err();
                    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
                    calls += 1;
                }
                calls
            }));
        }
        let mut calls = 0;
        for task in tasks {
            calls += task.await.unwrap();
        }
        let per_second = calls as f64 / seconds as f64;
        println!(
            "  {:<28} {per_second:>8.0} calls/s ({:.1} µs/call)",
            format!("{signing:?}"),
            1e6 / per_second
        );
    }
}

fn main() {
    println!("authentication cost per call, in process (admin key, GetBalances):");
    in_process(0);
    in_process(1_024);
    let seconds = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    println!("whole calls over TLS (node not running: all transport and auth), {seconds} s each:");
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(over_tls(seconds));
}
