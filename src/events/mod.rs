//! The node's event loop: each ldk-node event becomes stored history (payments, forwards) and an
//! `EventEnvelope` for `SubscribeEvents` streams.
//!
//! An event is acknowledged to ldk-node (`event_handled`) only after a durable record of it is
//! in the history database, so a crash at any point loses no payment record: until then
//! ldk-node hands the same event out again. A streamed event's envelope is written to the event
//! log ([`crate::store::event_log`]) in the same transaction as its history change, numbered,
//! and then published with its sequence; the first event after a start that is the newest
//! logged one again (the process died between recording and acknowledging it) is acknowledged
//! without being recorded twice. Subscribers read the log through [`resume`]; [`retention`]
//! prunes it. The pipeline cannot wedge on one event:
//!
//! - a payment event whose payment ldk-node's store does not know (a crash between LDK and
//!   ldk-node persisting it) is recorded from the event's own fields ([`payment_record`]);
//! - an event that still fails after [`retry::EVENT_RETRIES`] (5 attempts, 7.5 s of pauses) is
//!   stored in the `dead_lettered_events` table, counted in
//!   `ldk_server_events_dead_lettered_total`, logged at error with the whole event, and then
//!   acknowledged ([`dead_letter`]).
//!
//! Before the loop starts, the history is reconciled with ldk-node's payment store
//! ([`reconcile`]), and payments a crash left pending for good are watched for ([`orphans`]).

pub mod dead_letter;
pub mod kinds;
mod log;
pub mod orphans;
pub mod payment_record;
mod processor;
pub mod reconcile;
pub mod resume;
pub mod retention;
pub mod retry;
pub mod service;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use ldk_node::{Event, Node};
use tokio::sync::{broadcast, watch};

use crate::convert::events::envelope_event_name;
use crate::metrics::Metrics;
use crate::proto::events::EventEnvelope;
use crate::store::PaymentStore;
use processor::EventProcessor;
use retry::{with_retries, Retried, EVENT_RETRIES};

/// Reconciles the history, then processes events until shutdown.
pub async fn run(
    node: Arc<Node>,
    store: Arc<PaymentStore>,
    sender: broadcast::Sender<EventEnvelope>,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let start_height = node.status().current_best_block.height;
    let pending = reconcile::at_startup(&node, &store).await;
    let orphan_watch = tokio::spawn(orphans::watch(
        Arc::clone(&node),
        Arc::clone(&store),
        pending,
        start_height,
        shutdown.clone(),
    ));
    let last_logged = match run_blocking({
        let store = Arc::clone(&store);
        move || store.last_logged_identity().map_err(|e| e.to_string())
    })
    .await
    {
        Ok(last) => last,
        Err(error) => {
            tracing::error!(%error, "cannot read the event log's newest row");
            None
        }
    };
    let processor = EventProcessor::new(node, store, metrics, last_logged);
    loop {
        let event = tokio::select! {
            biased;
            _ = crate::shutdown::requested(&mut shutdown) => break,
            event = processor.node.next_event_async() => event,
        };
        if !handle(&processor, &sender, &event, &mut shutdown).await {
            break;
        }
        if let Err(error) = processor.node.event_handled() {
            tracing::error!(%error, "acknowledging an event to ldk-node failed");
        }
    }
    let _ = orphan_watch.await;
}

/// Processes an event with retries and publishes its envelope, or dead-letters it once every
/// attempt failed. Returns whether to acknowledge it: `false` only when shutdown came before
/// the event was recorded anywhere, so that ldk-node hands it out again at the next start.
async fn handle(
    processor: &EventProcessor,
    sender: &broadcast::Sender<EventEnvelope>,
    event: &Event,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    let processed = with_retries(&EVENT_RETRIES, "processing an event", shutdown, || {
        processor.process(event)
    })
    .await;
    match processed {
        Retried::Done(envelope) => {
            log::log_event(event);
            if let Some(envelope) = envelope {
                publish(&processor.metrics, sender, envelope);
            }
            true
        }
        Retried::ShutDown => false,
        Retried::GaveUp {
            attempts,
            last_error,
        } => {
            let now = i64::try_from(unix_now()).unwrap_or(i64::MAX);
            let letter = dead_letter::dead_letter(event, attempts, last_error, now);
            dead_letter::record(&processor.store, &processor.metrics, letter, shutdown).await
        }
    }
}

/// Streams an envelope to the subscribers and counts it.
fn publish(metrics: &Metrics, sender: &broadcast::Sender<EventEnvelope>, envelope: EventEnvelope) {
    let name = envelope_event_name(&envelope);
    metrics.record_event_sent(name);
    metrics.event_log.record_appended(envelope.sequence);
    let receivers = sender.send(envelope).unwrap_or(0);
    tracing::debug!(event = name, receivers, "event published");
}

/// Runs blocking work (SQLite, ldk-node's locks) off the async reactor.
async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| format!("blocking task failed: {e}"))?
}

/// The current time in unix seconds (0 if the clock is before 1970).
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_secs())
        .unwrap_or(0)
}
