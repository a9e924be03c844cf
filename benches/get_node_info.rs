//! GetNodeInfo throughput over TLS + HMAC against the real server binary on a regtest node.
//!
//! Prints calls per second and latency percentiles for the full path (TLS, HTTP/2, HMAC over the
//! body, handler) and for the authentication-rejection path (transport cost alone), with
//! several concurrent connections. Needs bitcoind (BITCOIND_EXE or PATH); says SKIPPED without.
//!
//! Run: `cargo bench --bench get_node_info` (optionally BENCH_SECONDS, BENCH_CONNECTIONS,
//! BENCH_CONCURRENCY, and BENCH_NODE_CONFIG: TOML added to the server's configuration).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::chain::{Chain, TestNode};
use ldk_server::auth::ApiKey;
use ldk_server::client::{connect, ClientOptions, LdkServerClient};
use ldk_server::proto::api::GetNodeInfoRequest;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Outcome {
    calls: u64,
    failures: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

async fn hammer(
    clients: Vec<LdkServerClient>,
    concurrency: u64,
    run_for: Duration,
    expect_ok: bool,
) -> Outcome {
    let started = Instant::now();
    let deadline = started + run_for;
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let mut client = clients[worker as usize % clients.len()].clone();
        tasks.push(tokio::spawn(async move {
            let (mut failures, mut latencies) = (0u64, Vec::new());
            while Instant::now() < deadline {
                let call = Instant::now();
                let ok = client.get_node_info(GetNodeInfoRequest {}).await.is_ok();
                latencies.push(call.elapsed());
                if ok != expect_ok {
                    failures += 1;
                }
            }
            (failures, latencies)
        }));
    }
    let mut outcome = Outcome {
        calls: 0,
        failures: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for task in tasks {
        let (failures, latencies) = task.await.expect("worker");
        outcome.failures += failures;
        outcome.calls += latencies.len() as u64;
        outcome.latencies.extend(latencies);
    }
    outcome.elapsed = started.elapsed();
    outcome.latencies.sort();
    outcome
}

fn report(label: &str, outcome: &Outcome) {
    let percentile = |p: f64| {
        let index = ((outcome.latencies.len() as f64 - 1.0) * p).round() as usize;
        outcome
            .latencies
            .get(index)
            .map(|d| d.as_secs_f64() * 1e3)
            .unwrap_or(0.0)
    };
    println!(
        "{label:<28} {:>9.0} calls/s  p50 {:>6.3} ms  p99 {:>6.3} ms  ({} calls, {} unexpected)",
        outcome.calls as f64 / outcome.elapsed.as_secs_f64(),
        percentile(0.50),
        percentile(0.99),
        outcome.calls,
        outcome.failures,
    );
}

/// The server's count of closed connections by reason, e.g. `client_closed=4 protocol_error=12`:
/// a rejection path that makes the server close connections shows up here.
async fn connections_closed(node: &TestNode) -> String {
    let text = node.metrics().await;
    let counts: Vec<String> = text
        .lines()
        .filter_map(|line| line.strip_prefix("ldk_server_connections_closed_total{reason=\""))
        .filter_map(|rest| rest.split_once("\"} "))
        .map(|(reason, value)| format!("{reason}={value}"))
        .collect();
    if counts.is_empty() {
        "none".to_owned()
    } else {
        counts.join(" ")
    }
}

async fn clients(options: &ClientOptions, connections: u64) -> Vec<LdkServerClient> {
    let mut clients = Vec::new();
    for _ in 0..connections {
        clients.push(connect(options.clone()).await.expect("connect"));
    }
    clients
}

#[tokio::main]
async fn main() {
    // The server inherits this: keep its logging out of the measurement.
    std::env::set_var("RUST_LOG", "warn");
    let Some(chain) = Chain::start("bench get_node_info") else {
        return;
    };
    // Extra server configuration (TOML), e.g. `[limits]` settings to compare.
    let extra = std::env::var("BENCH_NODE_CONFIG").unwrap_or_default();
    let node = TestNode::start(&chain, "bench", &extra).await;
    let seconds = env_number("BENCH_SECONDS", 5);
    let connections = env_number("BENCH_CONNECTIONS", 4);
    let concurrency = env_number("BENCH_CONCURRENCY", 64);
    println!("GetNodeInfo over TLS + HMAC: {connections} connections, {concurrency} concurrent calls, {seconds} s each");
    let options = node.server.client_options();
    let run_for = Duration::from_secs(seconds);

    let authorised = clients(&options, connections).await;
    let _warm_up = hammer(
        authorised.clone(),
        concurrency,
        Duration::from_millis(500),
        true,
    )
    .await;
    report(
        "signed (full path)",
        &hammer(authorised, concurrency, run_for, true).await,
    );
    println!(
        "  connections closed so far: {}",
        connections_closed(&node).await
    );

    let rejected_options = ClientOptions {
        api_key: ApiKey::from_hex("00"),
        // Upstream's body form, the cheapest to sign: the client shares the machine with the
        // server, and this phase measures the server's refusals, not the client's signing.
        signing: ldk_server::client::Signing::Body,
        ..options
    };
    let rejected = clients(&rejected_options, connections).await;
    report(
        "wrong key (transport only)",
        &hammer(rejected, concurrency, run_for, false).await,
    );
    // A throttled address's connections are refused until its bucket holds a token again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!(
        "  connections closed so far: {}",
        connections_closed(&node).await
    );
}
