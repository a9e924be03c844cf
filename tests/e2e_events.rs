//! The durable event log on regtest with real payments: resuming after a disconnect, a clean
//! restart and a `kill -9` in the middle of a payment storm. Each check compares what a
//! subscriber received with the log itself. (A subscriber lagging past the live buffer is
//! tested in `src/events/resume.rs`: HTTP/2 send buffers make it unreachable with a few
//! payments.)

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::chain::{open_channel, pay_each_until_received, Chain, TestNode, PAYMENT_TIMEOUT};
use ldk_server::client::LdkServerClient;
use ldk_server::proto::api::*;
use ldk_server::proto::event_log::ListEventsRequest;
use ldk_server::proto::events::event_envelope::Event;
use ldk_server::proto::events::EventEnvelope;
use tonic::Streaming;

const CHANNEL_SATS: u64 = 1_000_000;

async fn pair(chain: &Chain, test_bob_extra: &str) -> (TestNode, TestNode) {
    let (alice, bob) = tokio::join!(
        TestNode::start(chain, "alice", ""),
        TestNode::start(chain, "bob", test_bob_extra)
    );
    alice.fund(chain, 2 * CHANNEL_SATS).await;
    open_channel(chain, &alice, &bob, CHANNEL_SATS, 0, false).await;
    (alice, bob)
}

async fn subscribe(
    node: &TestNode,
    after_sequence: Option<u64>,
    kinds: &[&str],
) -> Streaming<EventEnvelope> {
    node.rpc()
        .subscribe_events(SubscribeEventsRequest {
            after_sequence,
            kinds: kinds.iter().map(|k| k.to_string()).collect(),
        })
        .await
        .expect("subscribe")
        .into_inner()
}

/// The payment id of a PaymentReceived envelope.
fn received_id(envelope: &EventEnvelope) -> Option<String> {
    match &envelope.event {
        Some(Event::PaymentReceived(received)) => received.payment.as_ref().map(|p| p.id.clone()),
        _ => None,
    }
}

/// Reads envelopes until `count` PaymentReceived ones arrived (others are returned too).
async fn take_received(stream: &mut Streaming<EventEnvelope>, count: usize) -> Vec<EventEnvelope> {
    let mut taken = Vec::new();
    let mut received = 0;
    while received < count {
        let message = tokio::time::timeout(PAYMENT_TIMEOUT, stream.message())
            .await
            .expect("events in time")
            .expect("stream ok")
            .expect("stream open");
        if received_id(&message).is_some() {
            received += 1;
        }
        taken.push(message);
    }
    taken
}

/// Whether a message arrives within `wait`.
async fn another_arrives(stream: &mut Streaming<EventEnvelope>, wait: Duration) -> bool {
    tokio::time::timeout(wait, stream.message()).await.is_ok()
}

/// Every event of `node`'s log, read with ListEvents.
async fn whole_log(node: &TestNode) -> Vec<EventEnvelope> {
    let mut client = ldk_server::client::connect_event_log(node.server.client_options())
        .await
        .expect("event log client");
    let mut after = Some(0);
    let mut events = Vec::new();
    loop {
        let page = client
            .list_events(ListEventsRequest {
                after_sequence: after,
                kinds: vec![],
                limit: Some(1_000),
            })
            .await
            .expect("list events")
            .into_inner();
        if page.events.is_empty() {
            return events;
        }
        after = Some(page.next_after_sequence);
        events.extend(page.events);
    }
}

fn sequences(envelopes: &[EventEnvelope]) -> Vec<u64> {
    envelopes.iter().map(|e| e.sequence).collect()
}

fn strictly_increasing(values: &[u64]) -> bool {
    values.windows(2).all(|pair| pair[0] < pair[1])
}

#[tokio::test(flavor = "multi_thread")]
async fn resuming_after_a_disconnect_and_a_restart_delivers_exactly_the_missed_events() {
    let Some(chain) = Chain::start("resuming_after_a_disconnect_and_a_restart") else {
        return;
    };
    let (alice, bob) = pair(&chain, "").await;

    let mut stream = subscribe(&bob, None, &["payments"]).await;
    let first = pay_each_until_received(&alice, &bob, 3, 1_000).await;
    let seen = take_received(&mut stream, 3).await;
    let seen_ids: Vec<String> = seen.iter().filter_map(received_id).collect();
    assert_eq!(seen_ids, first);
    let last_seen = seen.last().unwrap().sequence;
    drop(stream);

    // Missed while disconnected: exactly these come back, then live ones.
    let missed = pay_each_until_received(&alice, &bob, 5, 1_000).await;
    let mut stream = subscribe(&bob, Some(last_seen), &["payments"]).await;
    let replayed = take_received(&mut stream, 5).await;
    assert_eq!(
        replayed.iter().filter_map(received_id).collect::<Vec<_>>(),
        missed
    );
    assert!(replayed.iter().all(|e| e.sequence > last_seen));
    let live = pay_each_until_received(&alice, &bob, 1, 1_000).await;
    let after_seam = take_received(&mut stream, 1).await;
    assert_eq!(
        after_seam
            .iter()
            .filter_map(received_id)
            .collect::<Vec<_>>(),
        live
    );
    let all: Vec<EventEnvelope> = replayed.into_iter().chain(after_seam).collect();
    assert!(
        strictly_increasing(&sequences(&all)),
        "{:?}",
        sequences(&all)
    );
    let last_seen = all.last().unwrap().sequence;
    assert!(
        !another_arrives(&mut stream, Duration::from_millis(500)).await,
        "no duplicate after the seam"
    );
    drop(stream);

    // Across a clean restart: the log and its numbering go on.
    let bob = bob.restart(&chain).await;
    let after_restart = pay_each_until_received(&alice, &bob, 2, 1_000).await;
    let mut stream = subscribe(&bob, Some(last_seen), &["payments"]).await;
    let resumed = take_received(&mut stream, 2).await;
    assert_eq!(
        resumed.iter().filter_map(received_id).collect::<Vec<_>>(),
        after_restart
    );
    assert!(resumed.iter().all(|e| e.sequence > last_seen));
    assert!(!another_arrives(&mut stream, Duration::from_millis(500)).await);

    // The log holds every event once, in order, and the subscriber saw its payments' part.
    let log = whole_log(&bob).await;
    assert!(strictly_increasing(&sequences(&log)));
    let logged_received: Vec<String> = log.iter().filter_map(received_id).collect();
    let paid: Vec<String> = [first, missed, live, after_restart].concat();
    assert_eq!(
        logged_received, paid,
        "one PaymentReceived per payment, in order"
    );
    assert!(
        log.iter()
            .any(|e| matches!(e.event, Some(Event::ChannelStateChanged(_)))),
        "channel events are logged too"
    );
    println!(
        "bob's log: {} events, sequences {}..={}",
        log.len(),
        log[0].sequence,
        log.last().unwrap().sequence
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kill_during_a_payment_storm_leaves_no_gap_for_a_resuming_subscriber() {
    let Some(chain) = Chain::start("a_kill_during_a_payment_storm") else {
        return;
    };
    let (alice, bob) = pair(&chain, "").await;

    // A subscriber from the start of bob's log collects until the kill breaks its stream.
    let mut stream = subscribe(&bob, Some(0), &[]).await;
    let collector = tokio::spawn(async move {
        let mut got = Vec::new();
        while let Ok(Some(envelope)) = stream.message().await {
            got.push(envelope);
        }
        got
    });

    // A storm of payments from alice; bob is killed in the middle of it.
    let mut invoices = Vec::new();
    for index in 0..40 {
        invoices.push(
            bob.receive_invoice(Some(10_000), &format!("storm {index}"))
                .await
                .invoice,
        );
    }
    let sender = alice.rpc();
    let storm = tokio::spawn(async move {
        for invoice in invoices {
            let mut client: LdkServerClient = sender.clone();
            let _ = client
                .bolt11_send(Bolt11SendRequest {
                    invoice,
                    amount_msat: None,
                    route_parameters: None,
                })
                .await;
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    });
    let kill_at = 200 + (std::process::id() % 400) as u64;
    tokio::time::sleep(Duration::from_millis(kill_at)).await;
    // SAFETY: `kill` only sends a signal, to the server child this test spawned.
    let killed = unsafe { libc::kill(bob.server.pid() as libc::pid_t, libc::SIGKILL) };
    assert_eq!(killed, 0);
    let before_kill = collector.await.unwrap();
    let _ = storm.await;
    let bob = bob.restart(&chain).await;

    // Let LDK settle what was in flight, then resume after the last sequence seen.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let last_seen = before_kill.last().map_or(0, |e| e.sequence);
    let mut stream = subscribe(&bob, Some(last_seen), &[]).await;
    let log = whole_log(&bob).await;
    let newest = log.last().map_or(0, |e| e.sequence);
    let mut after_kill = Vec::new();
    while after_kill
        .last()
        .map_or(last_seen, |e: &EventEnvelope| e.sequence)
        < newest
    {
        let message = tokio::time::timeout(PAYMENT_TIMEOUT, stream.message())
            .await
            .expect("replay in time")
            .expect("stream ok")
            .expect("stream open");
        after_kill.push(message);
    }

    // What the subscriber saw before and after the kill is the log, exactly.
    let seen: Vec<u64> = sequences(&before_kill)
        .into_iter()
        .chain(sequences(&after_kill))
        .collect();
    let logged: Vec<u64> = sequences(&log)
        .into_iter()
        .filter(|s| *s <= newest)
        .collect();
    assert_eq!(seen, logged, "no gap and no duplicate across the kill");

    // Every payment bob holds as received has its event in the log; count replays.
    let received: BTreeSet<String> = bob
        .all_payments()
        .await
        .into_iter()
        .filter(|p| {
            p.direction == ldk_server::proto::types::PaymentDirection::Inbound as i32
                && p.status == ldk_server::proto::types::PaymentStatus::Succeeded as i32
        })
        .map(|p| p.id)
        .collect();
    let mut events_per_payment: BTreeMap<String, usize> = BTreeMap::new();
    for id in log.iter().filter_map(received_id) {
        *events_per_payment.entry(id).or_default() += 1;
    }
    let missing: Vec<&String> = received
        .iter()
        .filter(|id| !events_per_payment.contains_key(*id))
        .collect();
    assert!(missing.is_empty(), "payments without an event: {missing:?}");
    let duplicated = events_per_payment.values().filter(|n| **n > 1).count();
    println!(
        "kill after {kill_at} ms: {} events before the kill, {} after; {} payments received, \
         {duplicated} with more than one PaymentReceived (LDK replays, at-least-once)",
        before_kill.len(),
        after_kill.len(),
        received.len()
    );
}
