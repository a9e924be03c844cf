//! The durable event log: how fast events are recorded (each with its history change, one
//! durable commit apiece, as the event loop does), and how fast 100,000 stored events replay,
//! both through the log follower in-process and through the real server's SubscribeEvents over
//! TLS (no bitcoind needed: the log is served while the node cannot start).
//!
//! Run: `cargo bench --bench event_log` (EVENT_LOG_BENCH_ROWS overrides the 100,000 stored
//! events, EVENT_LOG_BENCH_WRITES the 2,000 recorded one by one).

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Instant;

use ldk_server::events::kinds::KindFilter;
use ldk_server::events::resume::LogFollower;
use ldk_server::proto::api::SubscribeEventsRequest;
use ldk_server::proto::events::{event_envelope, EventEnvelope, PaymentReceived};
use ldk_server::proto::types::{Payment, PaymentDirection, PaymentStatus};
use ldk_server::store::event_log::HistoryChange;
use ldk_server::store::PaymentStore;

type BenchResult = Result<(), Box<dyn std::error::Error>>;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A received payment's history record and envelope, about the size of a real one.
fn received(number: u64) -> (HistoryChange, EventEnvelope) {
    let payment = Payment {
        id: format!("{number:064x}"),
        amount_msat: Some(1_000 * number),
        direction: PaymentDirection::Inbound as i32,
        status: PaymentStatus::Succeeded as i32,
        latest_update_timestamp: 1_700_000_000 + number,
        ..Default::default()
    };
    let envelope = EventEnvelope {
        event: Some(event_envelope::Event::PaymentReceived(PaymentReceived {
            payment: Some(payment.clone()),
            custom_records: vec![],
        })),
        ..Default::default()
    };
    (HistoryChange::Payment(payment), envelope)
}

fn now() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
}

fn record_one_by_one(store: &PaymentStore, count: u64) -> BenchResult {
    let started = Instant::now();
    for number in 1..=count {
        let (change, envelope) = received(number);
        store.record_event(&change, &envelope, "payment_received", &[1; 32])?;
    }
    let elapsed = started.elapsed();
    println!(
        "record_event (history upsert + log row, one durable commit each): {count} in {elapsed:.2?}, {:.0} events/s",
        count as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}

fn fill(store: &PaymentStore, rows: u64) -> BenchResult {
    let started = Instant::now();
    let recorded_at = now();
    let mut number = 0;
    while number < rows {
        let batch: Vec<(EventEnvelope, &str, i64)> = (number..(number + 10_000).min(rows))
            .map(|n| (received(n).1, "payment_received", recorded_at))
            .collect();
        number += batch.len() as u64;
        store.append_events_at(&batch)?;
    }
    println!("filled {rows} stored events in {:.2?}", started.elapsed());
    Ok(())
}

async fn replay_in_process(store: Arc<PaymentStore>, rows: u64) -> BenchResult {
    let (live, _keep) = tokio::sync::broadcast::channel::<EventEnvelope>(16);
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    let newest = store.event_log_edges()?.0;
    let mut follower = LogFollower::new(
        store,
        live.subscribe(),
        shutdown,
        KindFilter::default(),
        newest - rows,
    );
    let started = Instant::now();
    for _ in 0..rows {
        follower.next(&|_| {}).await.map_err(|e| format!("{e:?}"))?;
    }
    let elapsed = started.elapsed();
    println!(
        "replay through the log follower (read, decode): {rows} in {elapsed:.2?}, {:.0} events/s",
        rows as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}

async fn replay_over_grpc(dir: tempfile::TempDir, rows: u64) -> BenchResult {
    let grpc = format!("127.0.0.1:{}", common::free_port()).parse()?;
    let server = common::ServerProcess::start_in(dir, grpc, &common::unreachable_chain_config(""));
    let mut client = server.client().await;
    let newest = rows + env_number("EVENT_LOG_BENCH_WRITES", 2_000);
    let started = Instant::now();
    let mut stream = client
        .subscribe_events(SubscribeEventsRequest {
            after_sequence: Some(newest - rows),
            kinds: vec![],
        })
        .await?
        .into_inner();
    let mut first = None;
    for _ in 0..rows {
        stream.message().await?.ok_or("the stream ended")?;
        first.get_or_insert_with(|| started.elapsed());
    }
    let elapsed = started.elapsed();
    println!(
        "replay over SubscribeEvents (TLS, HTTP/2, real server): {rows} in {elapsed:.2?}, {:.0} events/s, first event after {:.2?}",
        rows as f64 / elapsed.as_secs_f64(),
        first.unwrap_or_default()
    );
    Ok(())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> BenchResult {
    let rows = env_number("EVENT_LOG_BENCH_ROWS", 100_000);
    let writes = env_number("EVENT_LOG_BENCH_WRITES", 2_000);
    let dir = tempfile::tempdir()?;
    let store = Arc::new(PaymentStore::open(
        &dir.path().join("data").join("regtest"),
    )?);
    record_one_by_one(&store, writes)?;
    fill(&store, rows)?;
    replay_in_process(Arc::clone(&store), rows).await?;
    drop(store);
    replay_over_grpc(dir, rows).await
}
