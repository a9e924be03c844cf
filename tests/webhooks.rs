//! Webhooks through the real server and a real HTTP receiver on loopback, without bitcoind:
//! events are appended to the server's event log by a second writer (as its event loop would),
//! and the server delivers them — in order, signed, filtered, retried, across restarts and a
//! `kill -9`, with a failing or hanging receiver that delays no other webhook. Refused
//! configurations exit 78 naming the key. Live payments: `tests/e2e_webhooks.rs`.

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::webhook_receiver::{Delivery, Receiver, Reply};
use common::{run_to_exit, scrape_metrics, unreachable_chain_config, ServerProcess};
use ldk_server::proto::events::{
    event_envelope, ChannelStateChanged, EventEnvelope, PaymentReceived,
};
use ldk_server::proto::types::Payment;
use ldk_server::store::PaymentStore;
use ldk_server::webhooks::signature::verify;

const SECRET: &str = "webhook-secret-0123456789abcdef";
const WAIT: Duration = Duration::from_secs(60);

fn now() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_secs()).unwrap()
}

/// The `number`-th event: payments received and channel changes in turn.
fn event(number: u64) -> (EventEnvelope, &'static str) {
    if number % 2 == 0 {
        let event = event_envelope::Event::PaymentReceived(PaymentReceived {
            payment: Some(Payment {
                id: format!("{number:064x}"),
                amount_msat: Some(number * 1_000),
                ..Default::default()
            }),
            custom_records: vec![],
        });
        (
            EventEnvelope {
                event: Some(event),
                ..Default::default()
            },
            "payment_received",
        )
    } else {
        let event = event_envelope::Event::ChannelStateChanged(ChannelStateChanged {
            channel_id: format!("{number:064x}"),
            ..Default::default()
        });
        (
            EventEnvelope {
                event: Some(event),
                ..Default::default()
            },
            "channel_state_changed",
        )
    }
}

fn network_dir(dir: &Path) -> std::path::PathBuf {
    dir.join("data").join("regtest")
}

/// Appends events `numbers` to the log in `dir` (a second writer); returns their sequences.
fn append(dir: &Path, numbers: std::ops::RangeInclusive<u64>) -> Vec<u64> {
    let store = PaymentStore::open(&network_dir(dir)).unwrap();
    numbers
        .map(|number| {
            let (envelope, kind) = event(number);
            store.append_events_at(&[(envelope, kind, now())]).unwrap()
        })
        .collect()
}

/// A `[[webhooks]]` table delivering to `url`, its secret in a file under `dir`.
fn webhook(dir: &Path, name: &str, url: &str, extra: &str) -> String {
    let secret = dir.join(format!("{name}.secret"));
    std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    format!(
        "[[webhooks]]\nname = \"{name}\"\nurl = \"{url}\"\nsecret_file = \"{}\"\n{extra}\n",
        secret.display()
    )
}

fn start(dir: tempfile::TempDir, grpc: std::net::SocketAddr, tables: &str) -> ServerProcess {
    ServerProcess::start_in(dir, grpc, &unreachable_chain_config(tables))
}

/// [`start`] with the metrics listener on, to read the webhook series.
fn start_with_metrics(
    dir: tempfile::TempDir,
    grpc: std::net::SocketAddr,
    tables: &str,
) -> ServerProcess {
    start(dir, grpc, &format!("[metrics]\nenabled = true\n{tables}"))
}

fn fresh_grpc_address() -> std::net::SocketAddr {
    format!("127.0.0.1:{}", common::free_port())
        .parse()
        .unwrap()
}

/// Waits until every webhook named has a persisted cursor (it has started).
async fn wait_for_cursors(dir: &Path, names: &[&str]) {
    let store = PaymentStore::open(&network_dir(dir)).unwrap();
    let deadline = Instant::now() + WAIT;
    while !names
        .iter()
        .all(|name| store.webhook_cursor(name).unwrap().is_some())
    {
        assert!(
            Instant::now() < deadline,
            "webhooks {names:?} never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn cursor(dir: &Path, name: &str) -> Option<u64> {
    PaymentStore::open(&network_dir(dir))
        .unwrap()
        .webhook_cursor(name)
        .unwrap()
}

fn sequences(deliveries: &[Delivery]) -> Vec<u64> {
    deliveries.iter().map(Delivery::sequence).collect()
}

/// Waits until `path` accepted (2xx) `count` deliveries.
async fn accepted(receiver: &Receiver, path: &str, count: usize) -> Vec<Delivery> {
    receiver
        .wait_for(path, WAIT, |all| {
            all.iter()
                .filter(|d| (200..300).contains(&d.status))
                .count()
                >= count
        })
        .await;
    receiver.accepted(path)
}

/// The value of the metric line starting with `prefix`.
fn metric(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(prefix))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

#[tokio::test]
async fn events_are_delivered_in_order_signed_and_filtered_from_the_first_start_on() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    // Events from before the webhooks existed are not delivered: a new webhook starts from now.
    append(dir.path(), 1..=4);
    let tables = [
        webhook(dir.path(), "all", &receiver.url("/all"), ""),
        webhook(
            dir.path(),
            "payments",
            &receiver.url("/payments?token=kept-out-of-logs"),
            "kinds = [\"payments\"]",
        ),
    ]
    .concat();
    let server = start_with_metrics(dir, fresh_grpc_address(), &tables);
    wait_for_cursors(server.dir.path(), &["all", "payments"]).await;
    assert_eq!(cursor(server.dir.path(), "all"), Some(4));

    let appended = append(server.dir.path(), 5..=34);
    let all = accepted(&receiver, "/all", 30).await;
    assert_eq!(sequences(&all), appended, "every event once, in order");
    let payments = accepted(&receiver, "/payments", 15).await;
    let expected: Vec<u64> = appended.iter().copied().filter(|s| s % 2 == 0).collect();
    assert_eq!(sequences(&payments), expected, "only the kinds asked for");

    for delivery in all.iter().chain(&payments) {
        let signature = delivery
            .header("x-ldk-server-signature")
            .expect("a signature header");
        assert_eq!(
            verify(SECRET.as_bytes(), &signature, &delivery.body, now(), 300),
            Ok(()),
            "{signature}"
        );
        assert!(verify(
            b"another secret, 16+ bytes",
            &signature,
            &delivery.body,
            now(),
            300
        )
        .is_err());
        let body = delivery.json();
        let sequence = delivery.sequence();
        assert_eq!(
            delivery.header("x-ldk-server-event-sequence"),
            Some(sequence.to_string())
        );
        assert_eq!(
            delivery.header("content-type").as_deref(),
            Some("application/json")
        );
        assert_eq!(
            body["kind"],
            delivery.header("x-ldk-server-event-kind").unwrap()
        );
        assert!(body["recorded_at"].as_i64().unwrap() > now() - 600);
        if sequence % 2 == 0 {
            assert_eq!(body["kind"], "payment_received");
            assert_eq!(
                body["event"]["payment_received"]["payment"]["amount_msat"],
                sequence * 1_000
            );
        } else {
            assert_eq!(body["kind"], "channel_state_changed");
            assert_eq!(
                body["event"]["channel_state_changed"]["channel_id"],
                format!("{sequence:064x}")
            );
        }
    }
    assert_eq!(
        all[0].header("x-ldk-server-webhook").as_deref(),
        Some("all")
    );
    assert_eq!(
        payments[0].header("x-ldk-server-webhook").as_deref(),
        Some("payments")
    );

    // The cursors were persisted; the metrics say where each webhook stands.
    let deadline = Instant::now() + WAIT;
    while cursor(server.dir.path(), "all") != Some(34) {
        assert!(
            Instant::now() < deadline,
            "cursor of `all` never reached 34"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, text) = scrape_metrics(&server, None).await;
    assert_eq!(
        metric(
            &text,
            "ldk_server_webhook_deliveries_total{outcome=\"delivered\",webhook=\"all\"}"
        ),
        Some(30.0),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "ldk_server_webhook_deliveries_total{outcome=\"delivered\",webhook=\"payments\"}"
        ),
        Some(15.0)
    );
    assert_eq!(
        metric(
            &text,
            "ldk_server_webhook_delivered_sequence{webhook=\"all\"}"
        ),
        Some(34.0)
    );
    assert_eq!(
        metric(&text, "ldk_server_webhook_lag_events{webhook=\"all\"}"),
        Some(0.0)
    );
    // Neither the secret nor the receiver's token reaches the log.
    let log = server.log();
    assert!(
        !log.contains(SECRET) && !log.contains("kept-out-of-logs"),
        "{log}"
    );
}

#[tokio::test]
async fn the_append_to_receipt_latency_of_the_polling_path() {
    // A second process appends, so nothing is published live: this is the fallback poll's
    // latency, the worst case. The live path is measured in tests/e2e_webhooks.rs.
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let tables = webhook(dir.path(), "timed", &receiver.url("/timed"), "");
    let server = start(dir, fresh_grpc_address(), &tables);
    wait_for_cursors(server.dir.path(), &["timed"]).await;
    let mut latencies = Vec::new();
    for number in 1..=20u64 {
        let appended_at = Instant::now();
        append(server.dir.path(), number..=number);
        let got = accepted(&receiver, "/timed", usize::try_from(number).unwrap()).await;
        latencies.push(got.last().unwrap().at.duration_since(appended_at));
    }
    latencies.sort();
    println!(
        "webhook latency, append by another process -> receipt, 20 events (no live wake-up: \
         the 1 s poll, or the read after the previous delivery): p50 {:?}, p99 {:?}",
        latencies[latencies.len() / 2],
        latencies[latencies.len() * 99 / 100]
    );
}

#[tokio::test]
async fn failures_are_retried_in_order_redirects_are_not_followed_and_a_hanging_receiver_delays_no_one(
) {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    receiver.script(
        "/flaky",
        vec![
            Reply::Redirect(receiver.url("/elsewhere")),
            Reply::Status(500),
            Reply::Status(503),
            Reply::Status(404),
        ],
    );
    receiver.script("/hanging", vec![Reply::Hang; 1_000]);
    let tables = [
        webhook(dir.path(), "flaky", &receiver.url("/flaky"), ""),
        webhook(
            dir.path(),
            "hanging",
            &receiver.url("/hanging"),
            "timeout_secs = 2",
        ),
        webhook(dir.path(), "healthy", &receiver.url("/healthy"), ""),
    ]
    .concat();
    let server = start_with_metrics(dir, fresh_grpc_address(), &tables);
    wait_for_cursors(server.dir.path(), &["flaky", "hanging", "healthy"]).await;
    let appended = append(server.dir.path(), 1..=10);

    // The healthy webhook gets everything promptly while the others fail.
    let started = Instant::now();
    let healthy = accepted(&receiver, "/healthy", 10).await;
    assert_eq!(sequences(&healthy), appended);
    let healthy_took = started.elapsed();
    let hanging = receiver.deliveries("/hanging");
    assert!(
        hanging.iter().all(|d| d.sequence() == appended[0]),
        "the hanging receiver holds its webhook at the first event"
    );
    println!(
        "healthy webhook: 10 events in {healthy_took:?} while `hanging` made {} attempts",
        hanging.len()
    );

    // Four failed attempts (302, 500, 503, 404) at the first event, then everything in order.
    let flaky = accepted(&receiver, "/flaky", 10).await;
    let attempts = receiver.deliveries("/flaky");
    let first_event: Vec<u16> = attempts
        .iter()
        .filter(|d| d.sequence() == appended[0])
        .map(|d| d.status)
        .collect();
    assert_eq!(first_event, [302, 500, 503, 404, 200]);
    assert_eq!(sequences(&flaky), appended, "in order, each accepted once");
    assert!(
        receiver.deliveries("/elsewhere").is_empty(),
        "the redirect was not followed"
    );
    // Retries back off: four waits of at least 100 ms each.
    let span = attempts[4].at.duration_since(attempts[0].at);
    assert!(span >= Duration::from_millis(400), "{span:?}");
    // Every attempt of the same event carries the same body, freshly signed.
    assert!(attempts[..5].windows(2).all(|p| p[0].body == p[1].body));

    let (_, text) = scrape_metrics(&server, None).await;
    assert_eq!(
        metric(
            &text,
            "ldk_server_webhook_deliveries_total{outcome=\"rejected\",webhook=\"flaky\"}"
        ),
        Some(4.0),
        "{text}"
    );
    let unreachable = metric(
        &text,
        "ldk_server_webhook_deliveries_total{outcome=\"unreachable\",webhook=\"hanging\"}",
    )
    .unwrap();
    assert!(unreachable >= 1.0, "timeouts count as unreachable: {text}");
    assert!(
        metric(&text, "ldk_server_webhook_lag_events{webhook=\"hanging\"}").unwrap() >= 10.0,
        "{text}"
    );
    assert!(
        metric(
            &text,
            "ldk_server_webhook_failing_attempts{webhook=\"hanging\"}"
        )
        .unwrap()
            >= 1.0
    );
    let log = server.log();
    assert!(log.contains("webhook delivery failed; retrying"), "{log}");
}

#[tokio::test]
async fn the_cursor_survives_a_receiver_outage_a_restart_and_a_kill() {
    // The receiver is down: the events wait in the log.
    let down = Receiver::start().await;
    let address = down.address;
    drop(down);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://{address}/hook");
    let tables = webhook(dir.path(), "outage", &url, "timeout_secs = 1");
    let server = start(dir, fresh_grpc_address(), &tables);
    wait_for_cursors(server.dir.path(), &["outage"]).await;
    let mut expected = append(server.dir.path(), 1..=5);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        cursor(server.dir.path(), "outage"),
        Some(0),
        "nothing delivered"
    );

    // Stopped cleanly; more events arrive while it is down; the receiver comes back.
    let (dir, grpc) = server.into_parts();
    expected.extend(append(dir.path(), 6..=10));
    let receiver = Receiver::start_on(address).await;
    let server = start(dir, grpc, &tables);
    let got = accepted(&receiver, "/hook", 10).await;
    assert_eq!(
        sequences(&got),
        expected,
        "resumed from the persisted cursor"
    );

    // kill -9 while deliveries are under way (each answer takes 50 ms).
    receiver.delay("/hook", Duration::from_millis(50));
    expected.extend(append(server.dir.path(), 11..=40));
    receiver
        .wait_for("/hook", WAIT, |all| all.len() >= 15)
        .await;
    let pid = server.pid();
    std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    let (dir, grpc) = server.into_parts();
    let after_kill = cursor(dir.path(), "outage").unwrap();
    assert!((10..40).contains(&after_kill), "{after_kill}");
    let server = start(dir, grpc, &tables);
    receiver
        .wait_for("/hook", WAIT, |all| {
            all.iter().any(|d| d.sequence() == 40 && d.status == 200)
        })
        .await;
    let received = sequences(&receiver.accepted("/hook"));
    let distinct: BTreeSet<u64> = received.iter().copied().collect();
    assert_eq!(
        distinct.into_iter().collect::<Vec<_>>(),
        expected,
        "at least once: every event arrived"
    );
    let duplicates = received.len() - expected.len();
    assert!(
        duplicates <= 1,
        "only the delivery in flight at the kill may repeat: {received:?}"
    );
    assert!(
        received.windows(2).all(|pair| pair[1] >= pair[0]),
        "in order: {received:?}"
    );
    println!("kill -9 with the cursor at {after_kill}: {duplicates} duplicate(s)");
    drop(server);
}

#[tokio::test]
async fn pruning_by_age_keeps_what_a_webhook_has_not_delivered_and_pruned_events_are_skipped() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    // Ten events recorded long ago (beyond the 30 days kept); the webhook had delivered
    // through 3, and its receiver hangs twice (2 s each) before it answers again.
    {
        let store = PaymentStore::open(&network_dir(dir.path())).unwrap();
        let batch: Vec<_> = (1..=10)
            .map(|number| {
                let (envelope, kind) = event(number);
                (envelope, kind, 1_000)
            })
            .collect();
        store.append_events_at(&batch).unwrap();
        store.set_webhook_cursor("late", 3).unwrap();
    }
    receiver.script("/late", vec![Reply::Hang, Reply::Hang]);
    let tables = webhook(
        dir.path(),
        "late",
        &receiver.url("/late"),
        "timeout_secs = 2",
    );
    let server = start(dir, fresh_grpc_address(), &tables);
    let deadline = Instant::now() + WAIT;
    while !server.log().contains("pruned the event log") {
        assert!(
            Instant::now() < deadline,
            "no pruning at startup:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let store = PaymentStore::open(&network_dir(server.dir.path())).unwrap();
    assert_eq!(
        store.webhook_cursor("late").unwrap(),
        Some(3),
        "still undelivered"
    );
    assert_eq!(
        store.event_log_bounds().unwrap().pruned_through,
        3,
        "age pruning stopped at the webhook's cursor"
    );
    let got = accepted(&receiver, "/late", 7).await;
    assert_eq!(sequences(&got), (4..=10).collect::<Vec<_>>());
    let (dir, grpc) = server.into_parts();

    // Pruned by the count limit (as retention_max_events = 5 would) 5 events before the
    // webhook delivered them: it skips them, counts them and says so.
    let appended = append(dir.path(), 11..=20);
    let pruned = PaymentStore::open(&network_dir(dir.path()))
        .unwrap()
        .prune_events(0, 5, Some(10))
        .unwrap();
    // 1 to 3 went in the first part.
    assert_eq!((pruned.deleted, pruned.undelivered), (12, 5));
    let server = start_with_metrics(dir, grpc, &tables);
    let got = accepted(&receiver, "/late", 12).await;
    assert_eq!(sequences(&got[7..]), appended[5..]);
    let (_, text) = scrape_metrics(&server, None).await;
    assert_eq!(
        metric(
            &text,
            "ldk_server_webhook_skipped_events_total{webhook=\"late\"}"
        ),
        Some(5.0),
        "{text}"
    );
    assert!(server
        .log()
        .contains("events were pruned before this webhook delivered them"));
}

#[test]
fn refused_webhook_configurations_exit_78_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("short.secret");
    std::fs::write(&short, "short").unwrap();
    std::fs::set_permissions(&short, std::fs::Permissions::from_mode(0o600)).unwrap();
    let shared = dir.path().join("shared.secret");
    std::fs::write(&shared, SECRET).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o644)).unwrap();
    let cases = [
        (
            webhook(dir.path(), "lan", "http://192.0.2.10/hook", ""),
            "webhooks[0].url",
        ),
        (
            format!(
                "[[webhooks]]\nname = \"s\"\nurl = \"https://a.example/\"\nsecret_file = \"{}\"\n",
                short.display()
            ),
            "webhooks[0].secret_file",
        ),
        (
            format!(
                "[[webhooks]]\nname = \"s\"\nurl = \"https://a.example/\"\nsecret_file = \"{}\"\n",
                shared.display()
            ),
            "webhooks[0].secret_file",
        ),
        (
            webhook(dir.path(), "Bad Name", "https://a.example/", ""),
            "webhooks[0].name",
        ),
        (
            [
                webhook(dir.path(), "twice", "https://a.example/", ""),
                webhook(dir.path(), "twice", "https://b.example/", ""),
            ]
            .concat(),
            "webhooks[1].name",
        ),
        (
            webhook(dir.path(), "k", "https://a.example/", "kinds = [\"nope\"]"),
            "webhooks[0].kinds",
        ),
        (
            webhook(dir.path(), "x", "https://a.example/", "retries = 3"),
            "retries",
        ),
    ];
    for (tables, key) in cases {
        let config = unreachable_chain_config(&tables)
            .replace("{storage}", &dir.path().join("data").display().to_string())
            .replace("{grpc}", "127.0.0.1:0");
        let path = dir.path().join("config.toml");
        std::fs::write(&path, config).unwrap();
        let (code, stderr) = run_to_exit(&[path.to_str().unwrap()], dir.path());
        assert_eq!(code, 78, "{key}: {stderr}");
        assert!(stderr.contains(key), "{key}: {stderr}");
        assert!(!stderr.contains(SECRET), "{stderr}");
    }
    // Plain http to another host is allowed only when asked for: the server starts (and its
    // webhook retries an address nothing answers on).
    let allowed = webhook(
        dir.path(),
        "lan",
        "http://192.0.2.10/hook",
        "allow_insecure_http = true\ntimeout_secs = 1",
    );
    let server = ServerProcess::start(&unreachable_chain_config(&allowed));
    let log = server.log();
    assert!(!log.contains(SECRET), "{log}");
}

#[tokio::test]
async fn an_https_receiver_behind_a_private_ca_is_trusted_through_ca_file_only() {
    let receiver = Receiver::start_tls().await;
    let stranger = Receiver::start_tls().await;
    let dir = tempfile::tempdir().unwrap();
    let own_ca = dir.path().join("own-ca.pem");
    std::fs::write(&own_ca, receiver.ca_pem.as_ref().unwrap()).unwrap();
    let other_ca = dir.path().join("other-ca.pem");
    std::fs::write(&other_ca, stranger.ca_pem.as_ref().unwrap()).unwrap();
    let tables = [
        webhook(
            dir.path(),
            "private",
            &receiver.url("/private"),
            &format!("ca_file = \"{}\"", own_ca.display()),
        ),
        // The public web PKI does not know the private CA.
        webhook(dir.path(), "public", &receiver.url("/public"), ""),
        // Nor does another CA: ca_file is the only trust, not an addition to it.
        webhook(
            dir.path(),
            "other",
            &receiver.url("/other"),
            &format!("ca_file = \"{}\"", other_ca.display()),
        ),
    ]
    .concat();
    let server = start_with_metrics(dir, fresh_grpc_address(), &tables);
    wait_for_cursors(server.dir.path(), &["private", "public", "other"]).await;
    let appended = append(server.dir.path(), 1..=3);
    let delivered = accepted(&receiver, "/private", 3).await;
    assert_eq!(sequences(&delivered), appended, "over TLS, in order");
    let signature = delivered[0].header("x-ldk-server-signature").unwrap();
    assert_eq!(
        verify(
            SECRET.as_bytes(),
            &signature,
            &delivered[0].body,
            now(),
            300
        ),
        Ok(())
    );

    // Both untrusted webhooks fail their handshakes: counted, and nothing reaches the receiver.
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, text) = scrape_metrics(&server, None).await;
        let failed = |name: &str| {
            metric(
                &text,
                &format!(
                    "ldk_server_webhook_deliveries_total{{outcome=\"unreachable\",webhook=\"{name}\"}}"
                ),
            )
            .unwrap_or(0.0)
        };
        if failed("public") >= 1.0 && failed("other") >= 1.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no failed handshake counted: {text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(receiver.deliveries("/public").is_empty());
    assert!(receiver.deliveries("/other").is_empty());
    let log = server.log();
    assert!(
        log.contains("certificate") || log.contains("Certificate"),
        "the failure says why: {log}"
    );
}
