//! Tests of the event log: numbering, atomicity with the history, reads, pruning, cursors.

use super::*;
use crate::proto::events::{event_envelope, ChannelStateChanged, PaymentReceived};
use crate::proto::types::{HtlcLocator, PaymentStatus};
use crate::store::tests::{open_temp, payment};

fn received(number: u64) -> (HistoryChange, EventEnvelope) {
    let payment = payment(number, PaymentStatus::Succeeded);
    let envelope = EventEnvelope {
        event: Some(event_envelope::Event::PaymentReceived(PaymentReceived {
            payment: Some(payment.clone()),
            custom_records: vec![],
        })),
        ..Default::default()
    };
    (HistoryChange::Payment(payment), envelope)
}

fn channel_event() -> EventEnvelope {
    EventEnvelope {
        event: Some(event_envelope::Event::ChannelStateChanged(
            ChannelStateChanged::default(),
        )),
        ..Default::default()
    }
}

fn forward() -> ForwardedPayment {
    ForwardedPayment {
        total_fee_earned_msat: Some(5),
        outbound_amount_forwarded_msat: Some(500),
        prev_htlcs: vec![HtlcLocator {
            channel_id: "22".repeat(32),
            user_channel_id: None,
            node_id: None,
        }],
        ..Default::default()
    }
}

#[test]
fn events_are_numbered_from_one_and_read_back_in_order_with_their_sequence() {
    let (_dir, store) = open_temp();
    assert_eq!(store.event_log_edges().unwrap(), (0, 0));
    for number in 1..=5 {
        let (change, envelope) = received(number);
        let logged = store
            .record_event(&change, &envelope, "payment_received", &[number as u8; 32])
            .unwrap();
        assert_eq!(logged.sequence, number);
    }
    let events = store.events_after(2, 100).unwrap();
    let sequences: Vec<u64> = events.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, [3, 4, 5]);
    let envelope = events[0].envelope().unwrap();
    assert_eq!(envelope.sequence, 3);
    assert!(envelope.recorded_at > 1_600_000_000);
    assert_eq!(events[0].kind, "payment_received");
    assert_eq!(
        store.last_logged_identity().unwrap(),
        Some((5, [5u8; 32])),
        "the newest row's identity is what a replay is compared with"
    );
    let bounds = store.event_log_bounds().unwrap();
    assert_eq!(
        bounds,
        LogBounds {
            oldest: Some(1),
            newest: 5,
            pruned_through: 0,
        }
    );
}

#[test]
fn the_history_change_and_the_log_row_are_written_together() {
    let (_dir, store) = open_temp();
    let (change, envelope) = received(7);
    store
        .record_event(&change, &envelope, "payment_received", &[1; 32])
        .unwrap();
    assert_eq!(store.count_payments().unwrap(), 1);
    store
        .record_event(
            &HistoryChange::Forward(forward()),
            &EventEnvelope::default(),
            "payment_forwarded",
            &[2; 32],
        )
        .unwrap();
    assert_eq!(store.count_forwarded_payments().unwrap(), 1);
    store
        .record_event(
            &HistoryChange::None,
            &channel_event(),
            "channel_state_changed",
            &[3; 32],
        )
        .unwrap();
    assert_eq!(store.count_events().unwrap(), 3);

    // A payment the history refuses (a malformed id) leaves no log row either.
    let mut bad = payment(8, PaymentStatus::Pending);
    bad.id = "not hex".into();
    let refused = store.record_event(
        &HistoryChange::Payment(bad),
        &envelope,
        "payment_received",
        &[4; 32],
    );
    assert!(refused.is_err());
    assert_eq!(store.count_events().unwrap(), 3);
    assert_eq!(
        store.event_log_edges().unwrap().0,
        3,
        "no sequence was used up"
    );
}

#[test]
fn reads_are_capped_at_the_maximum_page() {
    let (_dir, store) = open_temp();
    let batch: Vec<(EventEnvelope, &str, i64)> = (0..1_500)
        .map(|_| (channel_event(), "channel_state_changed", 1_700_000_000))
        .collect();
    assert_eq!(store.append_events_at(&batch).unwrap(), 1_500);
    assert_eq!(store.events_after(0, 5_000).unwrap().len(), MAX_READ_ROWS);
    assert_eq!(store.events_after(1_000, 5_000).unwrap().len(), 500);
    assert!(store.events_after(1_500, 10).unwrap().is_empty());
    assert!(store.events_after(u64::MAX, 10).unwrap().is_empty());
}

#[test]
fn pruning_by_age_and_count_raises_the_mark_and_never_reuses_a_sequence() {
    let (_dir, store) = open_temp();
    let old: Vec<(EventEnvelope, &str, i64)> = (0..30)
        .map(|_| (channel_event(), "channel_state_changed", 1_000))
        .collect();
    let new: Vec<(EventEnvelope, &str, i64)> = (0..30)
        .map(|_| (channel_event(), "channel_state_changed", 2_000))
        .collect();
    store.append_events_at(&old).unwrap();
    store.append_events_at(&new).unwrap();

    // Age: everything recorded before 1500 goes (the 30 old rows).
    let pruned = store.prune_events(1_500, 1_000, None).unwrap();
    assert_eq!(pruned.deleted, 30);
    let bounds = store.event_log_bounds().unwrap();
    assert_eq!((bounds.oldest, bounds.pruned_through), (Some(31), 30));
    assert_eq!(store.count_events().unwrap(), 30);

    // Count: keep the newest 10.
    let pruned = store.prune_events(0, 10, None).unwrap();
    assert_eq!(pruned.deleted, 20);
    assert_eq!(store.event_log_bounds().unwrap().oldest, Some(51));

    // Everything gone: the next event still gets a fresh number.
    store.prune_events(i64::MAX, 0, None).unwrap();
    let bounds = store.event_log_bounds().unwrap();
    assert_eq!(
        (bounds.oldest, bounds.newest, bounds.pruned_through),
        (None, 60, 60)
    );
    let logged = store
        .record_event(
            &HistoryChange::None,
            &channel_event(),
            "channel_state_changed",
            &[0; 32],
        )
        .unwrap();
    assert_eq!(logged.sequence, 61);
}

#[test]
fn pruning_by_age_keeps_what_a_webhook_has_not_delivered_but_the_count_limit_does_not() {
    let (_dir, store) = open_temp();
    let old: Vec<(EventEnvelope, &str, i64)> = (0..100)
        .map(|_| (channel_event(), "channel_state_changed", 1_000))
        .collect();
    store.append_events_at(&old).unwrap();
    let pruned = store.prune_events(5_000, 1_000, Some(40)).unwrap();
    assert_eq!(
        pruned,
        Pruned {
            deleted: 40,
            undelivered: 0
        }
    );
    let pruned = store.prune_events(5_000, 10, Some(40)).unwrap();
    assert_eq!(
        pruned,
        Pruned {
            deleted: 50,
            undelivered: 50
        }
    );
}

#[test]
fn webhook_cursors_are_kept_per_name() {
    let (_dir, store) = open_temp();
    assert_eq!(store.webhook_cursor("shop").unwrap(), None);
    store.set_webhook_cursor("shop", 12).unwrap();
    store.set_webhook_cursor("audit", 3).unwrap();
    store.set_webhook_cursor("shop", 13).unwrap();
    assert_eq!(store.webhook_cursor("shop").unwrap(), Some(13));
    assert_eq!(store.webhook_cursor("audit").unwrap(), Some(3));
}

#[test]
fn the_log_survives_reopening() {
    let (dir, store) = open_temp();
    let (change, envelope) = received(1);
    store
        .record_event(&change, &envelope, "payment_received", &[9; 32])
        .unwrap();
    drop(store);
    let store = PaymentStore::open(dir.path()).unwrap();
    assert_eq!(store.last_logged_identity().unwrap(), Some((1, [9; 32])));
    let logged = store
        .record_event(
            &HistoryChange::None,
            &channel_event(),
            "channel_state_changed",
            &[0; 32],
        )
        .unwrap();
    assert_eq!(logged.sequence, 2);
}
