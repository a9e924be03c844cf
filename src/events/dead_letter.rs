//! Giving up on an event: it goes to the history's dead-letter table, is counted in
//! `ldk_server_events_dead_lettered_total` and logged at error with the whole event, and the
//! caller then acknowledges it so that later events flow.

use std::sync::Arc;

use ldk_node::Event;
use tokio::sync::watch;

use super::retry::{with_retries, Retried, DEAD_LETTER_WRITES};
use super::run_blocking;
use crate::metrics::Metrics;
use crate::store::dead_letter::DeadLetter;
use crate::store::PaymentStore;

/// The dead letter of `event`, given up on after `attempts` with `last_error`, at `now` (unix
/// seconds).
pub fn dead_letter(event: &Event, attempts: u32, last_error: String, now: i64) -> DeadLetter {
    let event = format!("{event:?}");
    DeadLetter {
        dead_lettered_at: now,
        event_kind: event_kind(&event).to_owned(),
        event,
        last_error,
        attempts,
    }
}

/// The variant name at the start of an event's debug text (`PaymentSuccessful { .. }`).
fn event_kind(debug: &str) -> &str {
    let end = debug
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(debug.len());
    &debug[..end]
}

/// Stores the dead letter durably (retrying while the database fails), then counts and logs it.
/// Returns `false` only if shutdown came first: the event must then stay unacknowledged, so
/// that ldk-node hands it out again at the next start.
pub async fn record(
    store: &Arc<PaymentStore>,
    metrics: &Metrics,
    letter: DeadLetter,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    let written = with_retries(
        &DEAD_LETTER_WRITES,
        "writing a dead letter",
        shutdown,
        || {
            let store = Arc::clone(store);
            let letter = letter.clone();
            run_blocking(move || store.record_dead_letter(&letter).map_err(|e| e.to_string()))
        },
    )
    .await;
    let Retried::Done(row) = written else {
        return false;
    };
    metrics.record_event_dead_lettered();
    tracing::error!(
        dead_letter_id = row,
        event_kind = %letter.event_kind,
        event = %letter.event,
        attempts = letter.attempts,
        error = %letter.last_error,
        "an event could not be processed after every retry: stored in the dead_lettered_events \
         table of the history database and acknowledged, so that later events flow"
    );
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldk_node::lightning::ln::channelmanager::PaymentId;

    #[test]
    fn a_dead_letter_names_the_event_and_keeps_its_text() {
        let event = Event::PaymentFailed {
            payment_id: Some(PaymentId([0xab; 32])),
            payment_hash: None,
            reason: None,
        };
        let letter = dead_letter(&event, 5, "database is locked".into(), 1_700_000_000);
        assert_eq!(letter.event_kind, "PaymentFailed");
        assert!(
            letter.event.starts_with("PaymentFailed {"),
            "{}",
            letter.event
        );
        assert!(letter.event.contains("abab"), "{}", letter.event);
        assert_eq!(letter.attempts, 5);
        assert_eq!(letter.last_error, "database is locked");
        assert_eq!(event_kind("SplicePending"), "SplicePending");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn recording_stores_counts_and_reports_success() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(PaymentStore::open(dir.path()).unwrap());
        let metrics = Metrics::new(false);
        let (_sender, mut shutdown) = watch::channel(false);
        let event = Event::PaymentFailed {
            payment_id: None,
            payment_hash: None,
            reason: None,
        };
        let letter = dead_letter(&event, 5, "no payment id".into(), 42);
        assert!(record(&store, &metrics, letter.clone(), &mut shutdown).await);
        let stored = store.dead_letters(10).unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].letter, letter);
        let text = metrics.render();
        assert!(
            text.contains("ldk_server_events_dead_lettered_total 1"),
            "{text}"
        );
    }
}
