//! The durable event log through the real server over TLS, without bitcoind: a log written
//! beforehand (as a previous run of the server would have left it) is replayed by
//! SubscribeEvents and paged by ListEvents, with filters, pruning at startup, refused start
//! points, scoped keys and hostile requests.
//!
//! The node never starts here (its chain source is unreachable); the log is served all the
//! same, because it lives in the history database. Live events need a running node: see
//! `tests/e2e_events.rs`.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::{unreachable_chain_config, ServerProcess};
use ldk_server::auth::ApiKey;
use ldk_server::client::{connect, connect_event_log, ClientOptions};
use ldk_server::proto::api::SubscribeEventsRequest;
use ldk_server::proto::event_log::{ListEventsRequest, ListEventsResponse};
use ldk_server::proto::events::{
    event_envelope, ChannelStateChanged, EventEnvelope, PaymentForwarded, PaymentReceived,
};
use ldk_server::proto::types::{ForwardedPayment, Payment};
use ldk_server::store::PaymentStore;
use tonic::Code;

/// A recording time inside the default 30-day retention.
fn recent() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    i64::try_from(now).unwrap() - 3_600
}

/// The envelope and kind of the `number`-th preloaded event: payments, channels and forwards
/// in turn.
fn preloaded(number: u64) -> (EventEnvelope, &'static str) {
    let event = match number % 3 {
        0 => event_envelope::Event::PaymentReceived(PaymentReceived {
            payment: Some(Payment {
                id: format!("{number:064x}"),
                amount_msat: Some(number),
                ..Default::default()
            }),
            custom_records: vec![],
        }),
        1 => event_envelope::Event::ChannelStateChanged(ChannelStateChanged {
            channel_id: format!("{number:064x}"),
            ..Default::default()
        }),
        _ => event_envelope::Event::PaymentForwarded(PaymentForwarded {
            forwarded_payment: Some(ForwardedPayment {
                total_fee_earned_msat: Some(number),
                ..Default::default()
            }),
        }),
    };
    let kind = match number % 3 {
        0 => "payment_received",
        1 => "channel_state_changed",
        _ => "payment_forwarded",
    };
    (
        EventEnvelope {
            event: Some(event),
            ..Default::default()
        },
        kind,
    )
}

/// A data directory whose event log holds `old` events recorded long ago (beyond retention)
/// followed by `fresh` recent ones.
fn data_dir_with_log(old: u64, fresh: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = PaymentStore::open(&dir.path().join("data").join("regtest")).unwrap();
    let mut batch = Vec::new();
    for number in 1..=old + fresh {
        let (envelope, kind) = preloaded(number);
        let recorded_at = if number <= old { 1_000 } else { recent() };
        batch.push((envelope, kind, recorded_at));
    }
    for chunk in batch.chunks(10_000) {
        store.append_events_at(chunk).unwrap();
    }
    dir
}

fn start_on(dir: tempfile::TempDir, extra: &str) -> ServerProcess {
    let grpc = format!("127.0.0.1:{}", common::free_port())
        .parse()
        .unwrap();
    ServerProcess::start_in(dir, grpc, &unreachable_chain_config(extra))
}

/// Reads `count` envelopes from a stream, failing after 60 s.
async fn take(
    stream: &mut tonic::Streaming<EventEnvelope>,
    count: usize,
) -> Result<Vec<EventEnvelope>, tonic::Status> {
    let mut taken = Vec::with_capacity(count);
    while taken.len() < count {
        let message = tokio::time::timeout(Duration::from_secs(60), stream.message())
            .await
            .expect("events within 60 s")?;
        taken.push(message.expect("the stream stays open"));
    }
    Ok(taken)
}

/// Whether another message arrives within `wait` (it must not, once the log is replayed).
async fn another_arrives(stream: &mut tonic::Streaming<EventEnvelope>, wait: Duration) -> bool {
    tokio::time::timeout(wait, stream.message()).await.is_ok()
}

fn sequences(envelopes: &[EventEnvelope]) -> Vec<u64> {
    envelopes.iter().map(|e| e.sequence).collect()
}

async fn subscribe(
    server: &ServerProcess,
    after_sequence: Option<u64>,
    kinds: &[&str],
) -> Result<tonic::Streaming<EventEnvelope>, tonic::Status> {
    let mut client = server.client().await;
    client
        .subscribe_events(SubscribeEventsRequest {
            after_sequence,
            kinds: kinds.iter().map(|k| k.to_string()).collect(),
        })
        .await
        .map(|response| response.into_inner())
}

async fn list(
    options: ClientOptions,
    after_sequence: Option<u64>,
    kinds: &[&str],
    limit: Option<u32>,
) -> Result<ListEventsResponse, tonic::Status> {
    let mut client = connect_event_log(options).await.expect("connect");
    client
        .list_events(ListEventsRequest {
            after_sequence,
            kinds: kinds.iter().map(|k| k.to_string()).collect(),
            limit,
        })
        .await
        .map(|response| response.into_inner())
}

#[tokio::test]
async fn a_subscriber_replays_the_stored_log_in_order_then_waits_for_live_events() {
    let server = start_on(data_dir_with_log(0, 2_500), "");
    let mut stream = subscribe(&server, Some(0), &[]).await.unwrap();
    let started = std::time::Instant::now();
    let replayed = take(&mut stream, 2_500).await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(sequences(&replayed), (1..=2_500).collect::<Vec<u64>>());
    assert!(replayed.iter().all(|e| e.recorded_at > 1_600_000_000));
    assert_eq!(
        replayed[2].event,
        preloaded(3).0.event,
        "the envelope comes back as stored"
    );
    println!(
        "replayed 2500 stored events over gRPC in {elapsed:?} ({:.0} events/s)",
        2_500.0 / elapsed.as_secs_f64()
    );
    assert!(
        !another_arrives(&mut stream, Duration::from_millis(500)).await,
        "nothing beyond the log"
    );

    // From the middle: exactly the rest.
    let mut stream = subscribe(&server, Some(2_000), &[]).await.unwrap();
    let rest = take(&mut stream, 500).await.unwrap();
    assert_eq!(sequences(&rest), (2_001..=2_500).collect::<Vec<u64>>());
    assert!(!another_arrives(&mut stream, Duration::from_millis(300)).await);

    // Upstream's request (no start point): from now on, so nothing stored is replayed.
    let mut stream = subscribe(&server, None, &[]).await.unwrap();
    assert!(!another_arrives(&mut stream, Duration::from_millis(300)).await);

    // At the newest event: nothing, and not an error.
    let mut stream = subscribe(&server, Some(2_500), &[]).await.unwrap();
    assert!(!another_arrives(&mut stream, Duration::from_millis(300)).await);
}

#[tokio::test]
async fn kinds_filter_the_replay_and_unknown_kinds_are_refused_naming_the_field() {
    let server = start_on(data_dir_with_log(0, 300), "");
    let mut channels = subscribe(&server, Some(0), &["channels"]).await.unwrap();
    let got = take(&mut channels, 100).await.unwrap();
    assert!(got
        .iter()
        .all(|e| matches!(e.event, Some(event_envelope::Event::ChannelStateChanged(_)))));
    assert_eq!(
        sequences(&got),
        (1..=300).filter(|n| n % 3 == 1).collect::<Vec<u64>>()
    );
    assert!(!another_arrives(&mut channels, Duration::from_millis(300)).await);

    let mut two = subscribe(&server, Some(150), &["payment_received", "FORWARDS"])
        .await
        .unwrap();
    let got = take(&mut two, 100).await.unwrap();
    assert_eq!(
        sequences(&got),
        (151..=300).filter(|n| n % 3 != 1).collect::<Vec<u64>>()
    );

    let refused = subscribe(&server, Some(0), &["payments", "refunds"])
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(
        refused.message().contains("`kinds`") && refused.message().contains("refunds"),
        "{}",
        refused.message()
    );
    let huge = "k".repeat(100_000);
    let refused = subscribe(&server, Some(0), &[&huge]).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(
        refused.message().len() < 500,
        "the message quotes a bounded part"
    );
}

#[tokio::test]
async fn pruning_at_startup_and_start_points_outside_the_log_are_out_of_range() {
    // 100 events recorded long ago, 20 recent: the startup pruning removes the 100.
    let server = start_on(data_dir_with_log(100, 20), "[metrics]\nenabled = true\n");
    let options = server.client_options();
    let mut bounds = list(options.clone(), None, &[], Some(1)).await.unwrap();
    for _ in 0..100 {
        if bounds.oldest_sequence == 101 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        bounds = list(options.clone(), None, &[], Some(1)).await.unwrap();
    }
    assert_eq!((bounds.oldest_sequence, bounds.newest_sequence), (101, 120));

    for too_old in [0, 5, 99] {
        let refused = subscribe(&server, Some(too_old), &[]).await.unwrap_err();
        assert_eq!(refused.code(), Code::OutOfRange, "{too_old}");
        assert!(
            refused.message().contains("pruned") && refused.message().contains("100"),
            "{}",
            refused.message()
        );
        let refused = list(options.clone(), Some(too_old), &[], None)
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::OutOfRange);
    }
    // Exactly at the mark: everything kept.
    let mut stream = subscribe(&server, Some(100), &[]).await.unwrap();
    assert_eq!(
        sequences(&take(&mut stream, 20).await.unwrap()),
        (101..=120).collect::<Vec<u64>>()
    );
    for ahead in [121, 10_000, u64::MAX] {
        let refused = subscribe(&server, Some(ahead), &[]).await.unwrap_err();
        assert_eq!(refused.code(), Code::OutOfRange, "{ahead}");
        assert!(refused.message().contains("ahead"), "{}", refused.message());
    }
    let metrics = common::scrape_metrics(&server, None).await.1;
    assert!(
        metrics.contains("ldk_server_event_log_oldest_sequence 101")
            && metrics.contains("ldk_server_event_log_rows 20")
            && metrics.contains("ldk_server_event_log_pruned_total 100"),
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("event_log"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[tokio::test]
async fn list_events_pages_through_the_log_with_filters_and_bounds() {
    let server = start_on(data_dir_with_log(0, 1_200), "");
    let options = server.client_options();
    let mut after = None;
    let mut seen = Vec::new();
    loop {
        let page = list(options.clone(), after, &[], Some(250)).await.unwrap();
        assert_eq!((page.oldest_sequence, page.newest_sequence), (1, 1_200));
        if page.events.is_empty() {
            assert_eq!(page.next_after_sequence, 1_200);
            break;
        }
        seen.extend(sequences(&page.events));
        after = Some(page.next_after_sequence);
    }
    assert_eq!(seen, (1..=1_200).collect::<Vec<u64>>());

    // A narrow filter: pages say how far they examined, so a client walks on.
    let page = list(options.clone(), Some(0), &["payments"], Some(10))
        .await
        .unwrap();
    assert_eq!(
        sequences(&page.events),
        (1..=30).filter(|n| n % 3 == 0).collect::<Vec<u64>>()
    );
    assert_eq!(page.next_after_sequence, 30);

    for (limit, field) in [(Some(0), "`limit`"), (Some(1_001), "`limit`")] {
        let refused = list(options.clone(), None, &[], limit).await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument);
        assert!(refused.message().contains(field), "{}", refused.message());
    }
    let refused = list(options.clone(), None, &["nope"], None)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().contains("`kinds`"));
}

/// Writes a key file with `scopes` into the server's key directory; returns the key.
fn provision(server: &ServerProcess, name: &str, scopes: &str) -> ApiKey {
    let secret = hex::encode([name.len() as u8 + 40; 32]);
    let dir = server.storage().join(&server.network).join("api_keys");
    let path = dir.join(format!("{name}.toml"));
    let temporary = path.with_extension("tmp");
    std::fs::write(
        &temporary,
        format!("secret = \"{secret}\"\nscopes = {scopes}\n"),
    )
    .unwrap();
    std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::rename(&temporary, &path).unwrap();
    ApiKey::from_hex(&secret)
}

#[tokio::test]
async fn the_event_log_needs_the_read_scope() {
    let server = start_on(data_dir_with_log(0, 10), "");
    let reader = provision(&server, "dashboard", "[\"read\"]");
    let shop = provision(&server, "shop", "[\"receive\"]");
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let with_key = |key: &ApiKey| ClientOptions {
        api_key: key.clone(),
        ..server.client_options()
    };
    let page = list(with_key(&reader), None, &[], None).await.unwrap();
    assert_eq!(page.events.len(), 10);
    let refused = list(with_key(&shop), None, &[], None).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert!(
        refused.message().contains("`read`"),
        "{}",
        refused.message()
    );

    let mut client = connect(with_key(&shop)).await.unwrap();
    let refused = client
        .subscribe_events(SubscribeEventsRequest {
            after_sequence: Some(0),
            kinds: vec![],
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let mut client = connect(with_key(&reader)).await.unwrap();
    let mut stream = client
        .subscribe_events(SubscribeEventsRequest {
            after_sequence: Some(0),
            kinds: vec![],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(take(&mut stream, 10).await.unwrap().len(), 10);
}

#[tokio::test]
async fn the_log_and_its_numbering_survive_a_restart_and_a_kill() {
    let mut server = start_on(data_dir_with_log(0, 50), "");
    let mut stream = subscribe(&server, Some(40), &[]).await.unwrap();
    assert_eq!(
        sequences(&take(&mut stream, 10).await.unwrap()),
        (41..=50).collect::<Vec<u64>>()
    );
    let pid = server.pid();
    std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    let _ = server.stop();
    let (dir, grpc) = server.into_parts();
    // A second writer (as the server's event loop would be) appends while it is down.
    let store = PaymentStore::open(&dir.path().join("data").join("regtest")).unwrap();
    let (envelope, kind) = preloaded(51);
    assert_eq!(
        store
            .append_events_at(&[(envelope, kind, recent())])
            .unwrap(),
        51,
        "numbering goes on after the kill"
    );
    drop(store);
    let server = ServerProcess::start_in(dir, grpc, &unreachable_chain_config(""));
    let mut stream = subscribe(&server, Some(45), &[]).await.unwrap();
    assert_eq!(
        sequences(&take(&mut stream, 6).await.unwrap()),
        (46..=51).collect::<Vec<u64>>()
    );
}
