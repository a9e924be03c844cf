//! Webhooks (`[[webhooks]]`): the event log delivered to HTTP endpoints, in order, at least
//! once, signed.
//!
//! Each webhook has a cursor in the history database (`webhook_cursors`): the sequence it has
//! delivered, or skipped by its kinds, through. Its task ([`worker`]) POSTs the next matching
//! event ([`payload`]) with an HMAC-SHA256 signature header ([`signature`]) and moves the
//! cursor only after a 2xx answer, retrying with exponential backoff and full jitter
//! ([`backoff`]). A restart resumes from the cursor; a new webhook starts from the newest event.
//! Pruning by age keeps what a webhook has not delivered ([`keep_after`]); the count limit
//! (`[events] retention_max_events`) does not, and what it takes is counted as skipped.

pub mod backoff;
pub mod payload;
pub mod signature;
mod worker;

use std::sync::Arc;

use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::config::WebhookConfig;
use crate::events::retention::KeepAfter;
use crate::metrics::Metrics;
use crate::proto::events::EventEnvelope;
use crate::store::PaymentStore;

/// Unix seconds, as the signature header and the event log's `recorded_at` count them.
pub(crate) fn unix_now() -> i64 {
    i64::try_from(crate::auth::unix_now()).unwrap_or(i64::MAX)
}

pub use worker::{KIND_HEADER, SEQUENCE_HEADER, WEBHOOK_HEADER};

/// Starts one delivery task per webhook; they end at shutdown.
pub fn spawn(
    webhooks: &[WebhookConfig],
    store: &Arc<PaymentStore>,
    events: &broadcast::Sender<EventEnvelope>,
    metrics: &Arc<Metrics>,
    shutdown: &watch::Receiver<bool>,
) -> Result<Vec<JoinHandle<()>>, String> {
    let mut tasks = Vec::with_capacity(webhooks.len());
    for hook in webhooks {
        let worker = worker::Worker::new(
            Arc::new(hook.clone()),
            Arc::clone(store),
            events.subscribe(),
            Arc::clone(metrics),
            shutdown.clone(),
        )?;
        tasks.push(tokio::spawn(worker.run()));
    }
    Ok(tasks)
}

/// For retention: the lowest cursor of the configured webhooks (cursors of webhooks no longer
/// configured hold nothing back).
pub fn keep_after(webhooks: &[WebhookConfig]) -> KeepAfter {
    let names: Vec<String> = webhooks.iter().map(|hook| hook.name.clone()).collect();
    Box::new(move |store: &PaymentStore| {
        names
            .iter()
            .filter_map(|name| match store.webhook_cursor(name) {
                Ok(cursor) => cursor,
                Err(error) => {
                    tracing::error!(webhook = %name, %error, "reading a webhook cursor for pruning failed");
                    // Hold back all age-based pruning rather than risk deleting undelivered events.
                    Some(0)
                }
            })
            .min()
    })
}
