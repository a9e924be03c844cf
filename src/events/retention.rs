//! Pruning the event log in the background, at startup and then every `prune_interval`.
//!
//! Events older than `[events] retention_days` go, except those a webhook has not delivered
//! yet (`keep_after`); beyond `retention_max_events` the oldest go whoever needs them. Each
//! run deletes in short batches (the write lock is never held long) and refreshes the log's
//! metrics.

use std::sync::Arc;

use tokio::sync::watch;

use crate::config::EventsConfig;
use crate::metrics::Metrics;
use crate::store::PaymentStore;

/// The lowest sequence something still needs delivered (webhooks' cursors), if anything.
pub type KeepAfter = Box<dyn Fn(&PaymentStore) -> Option<u64> + Send + Sync>;

/// Prunes until shutdown.
pub async fn run(
    store: Arc<PaymentStore>,
    config: EventsConfig,
    keep_after: KeepAfter,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let keep_after = Arc::new(keep_after);
    loop {
        let store = Arc::clone(&store);
        let metrics = Arc::clone(&metrics);
        let keep_after = Arc::clone(&keep_after);
        let settings = config.clone();
        let pruned = tokio::task::spawn_blocking(move || {
            prune_once(&store, &settings, &keep_after, &metrics)
        })
        .await;
        match pruned {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(%error, "pruning the event log failed"),
            Err(error) => tracing::error!(%error, "the event log pruning task failed"),
        }
        tokio::select! {
            _ = crate::shutdown::requested(&mut shutdown) => return,
            () = tokio::time::sleep(config.prune_interval) => {}
        }
    }
}

/// One pruning pass and a refresh of the log's metrics.
fn prune_once(
    store: &PaymentStore,
    config: &EventsConfig,
    keep_after: &KeepAfter,
    metrics: &Metrics,
) -> Result<(), crate::store::StoreError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let cutoff = now.saturating_sub(config.retention.as_secs());
    let pruned = store.prune_events(
        i64::try_from(cutoff).unwrap_or(i64::MAX),
        config.retention_max_events,
        keep_after(store),
    )?;
    let bounds = store.event_log_bounds()?;
    let rows = store.count_events()?;
    if pruned.deleted > 0 {
        tracing::info!(
            deleted = pruned.deleted,
            pruned_through = bounds.pruned_through,
            oldest = ?bounds.oldest,
            rows,
            "pruned the event log"
        );
    }
    if pruned.undelivered > 0 {
        tracing::error!(
            undelivered = pruned.undelivered,
            max_events = config.retention_max_events,
            "the event log reached [events] retention_max_events: events a webhook had not \
             delivered yet were pruned"
        );
    }
    metrics.event_log.record_pruned(pruned, bounds, rows);
    Ok(())
}
