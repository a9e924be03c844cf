//! The node's event loop: each ldk-node event becomes stored history (payments, forwards) and an
//! `EventEnvelope` for `SubscribeEvents` streams.
//!
//! An event is acknowledged to ldk-node (`event_handled`) only after its record is durably in
//! the store; if that fails, the event is not acknowledged and ldk-node hands it out again, so a
//! crash at any point loses no payment record.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use ldk_node::lightning::ln::types::ChannelId;
use ldk_node::{Event, Node};
use tokio::sync::{broadcast, watch};

use crate::convert::events::{
    envelope_event_name, event_envelope, event_payment_id, forwarded_payment, is_payment_event,
};
use crate::convert::payments::payment_to_proto;
use crate::metrics::Metrics;
use crate::proto::events::EventEnvelope;
use crate::store::PaymentStore;

/// Pause before an event whose processing failed is tried again.
const RETRY_DELAY: Duration = Duration::from_secs(1);

/// Processes events until shutdown.
pub async fn run(
    node: Arc<Node>,
    store: Arc<PaymentStore>,
    sender: broadcast::Sender<EventEnvelope>,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut processor = EventProcessor::new(node, store, metrics);
    loop {
        let event = tokio::select! {
            biased;
            _ = crate::shutdown::requested(&mut shutdown) => return,
            event = processor.node.next_event_async() => event,
        };
        match processor.process(&event).await {
            Ok(envelope) => {
                log_event(&event);
                if let Some(envelope) = envelope {
                    let name = envelope_event_name(&envelope);
                    processor.metrics.record_event_sent(name);
                    let receivers = sender.send(envelope).unwrap_or(0);
                    tracing::debug!(event = name, receivers, "event published");
                }
                if let Err(error) = processor.node.event_handled() {
                    tracing::error!(%error, "acknowledging an event to ldk-node failed");
                }
            }
            Err(error) => {
                tracing::error!(%error, ?event, "processing an event failed; it will be retried");
                tokio::time::sleep(RETRY_DELAY).await;
            }
        }
    }
}

/// One log record per handled event, with the fields an operator filters the journal on:
/// `PAYMENT_HASH`, `CHANNEL_ID`, `PEER`, amounts in msat.
fn log_event(event: &Event) {
    match event {
        Event::PaymentReceived {
            payment_hash,
            amount_msat,
            ..
        } => tracing::info!(payment_hash = %payment_hash, amount_msat, "payment received"),
        Event::PaymentSuccessful {
            payment_hash,
            fee_paid_msat,
            ..
        } => {
            tracing::info!(payment_hash = %payment_hash, fee_paid_msat = ?fee_paid_msat, "payment sent")
        }
        Event::PaymentFailed {
            payment_hash,
            reason,
            ..
        } => tracing::info!(
            payment_hash = payment_hash.map(|h| h.to_string()),
            reason = ?reason,
            "payment failed"
        ),
        Event::PaymentClaimable {
            payment_hash,
            claimable_amount_msat,
            ..
        } => tracing::info!(
            payment_hash = %payment_hash,
            amount_msat = claimable_amount_msat,
            "payment claimable: claim or fail it by hash"
        ),
        Event::PaymentForwarded {
            prev_channel_id,
            next_channel_id,
            total_fee_earned_msat,
            outbound_amount_forwarded_msat,
            ..
        } => tracing::info!(
            channel_id = %prev_channel_id,
            next_channel_id = %next_channel_id,
            fee_msat = ?total_fee_earned_msat,
            amount_msat = ?outbound_amount_forwarded_msat,
            "payment forwarded"
        ),
        Event::ChannelPending {
            channel_id,
            counterparty_node_id,
            ..
        } => {
            tracing::info!(channel_id = %channel_id, peer = %counterparty_node_id, "channel pending")
        }
        Event::ChannelReady {
            channel_id,
            counterparty_node_id,
            ..
        } => tracing::info!(
            channel_id = %channel_id,
            peer = counterparty_node_id.map(|p| p.to_string()),
            "channel ready"
        ),
        Event::ChannelClosed {
            channel_id,
            counterparty_node_id,
            reason,
            ..
        } => tracing::info!(
            channel_id = %channel_id,
            peer = counterparty_node_id.map(|p| p.to_string()),
            reason = ?reason,
            "channel closed"
        ),
        other => tracing::info!(event = ?other, "node event"),
    }
}

struct EventProcessor {
    node: Arc<Node>,
    store: Arc<PaymentStore>,
    metrics: Arc<Metrics>,
    ready_channels: HashSet<ChannelId>,
}

impl EventProcessor {
    fn new(node: Arc<Node>, store: Arc<PaymentStore>, metrics: Arc<Metrics>) -> Self {
        let ready_channels = node
            .list_channels()
            .iter()
            .filter(|c| c.is_channel_ready)
            .map(|c| c.channel_id)
            .collect();
        Self {
            node,
            store,
            metrics,
            ready_channels,
        }
    }

    /// Stores what the event records and builds its envelope. An error means "retry".
    async fn process(&mut self, event: &Event) -> Result<Option<EventEnvelope>, String> {
        let payment = if is_payment_event(event) {
            Some(self.record_payment(event).await?)
        } else {
            None
        };
        if let Some(forward) = forwarded_payment(event) {
            let store = Arc::clone(&self.store);
            let (amount_msat, fees_msat) = (
                forward.outbound_amount_forwarded_msat.unwrap_or(0),
                forward.total_fee_earned_msat.unwrap_or(0),
            );
            run_blocking(move || {
                store
                    .insert_forwarded_payment(&forward)
                    .map_err(|e| e.to_string())
            })
            .await?;
            self.metrics.node.record_forward(amount_msat, fees_msat);
        }
        let was_ready = match event {
            Event::ChannelReady { channel_id, .. } => {
                self.ready_channels.insert(*channel_id);
                true
            }
            Event::ChannelClosed { channel_id, .. } => self.ready_channels.remove(channel_id),
            _ => false,
        };
        let envelope = event_envelope(event, payment, was_ready).map_err(|e| e.to_string())?;
        self.update_metrics(event).await;
        Ok(envelope)
    }

    /// Upserts the payment an event is about and returns its wire form.
    async fn record_payment(&self, event: &Event) -> Result<crate::proto::types::Payment, String> {
        let payment_id = event_payment_id(event).ok_or("payment event without a payment id")?;
        let details = self.node.payment(&payment_id).ok_or_else(|| {
            format!(
                "payment {} is not in ldk-node's store",
                hex::encode(payment_id.0)
            )
        })?;
        let payment = payment_to_proto(&details);
        let store = Arc::clone(&self.store);
        let stored = payment.clone();
        run_blocking(move || store.upsert_payment(&stored).map_err(|e| e.to_string())).await?;
        Ok(payment)
    }

    /// Keeps the cheap series current as events arrive; payment counts follow on the poll.
    async fn update_metrics(&self, event: &Event) {
        let channels_changed = matches!(
            event,
            Event::ChannelReady { .. } | Event::ChannelClosed { .. }
        );
        let balances_changed = channels_changed
            || matches!(
                event,
                Event::PaymentReceived { .. }
                    | Event::PaymentSuccessful { .. }
                    | Event::PaymentForwarded { .. }
            );
        if !balances_changed {
            return;
        }
        let node = Arc::clone(&self.node);
        let metrics = Arc::clone(&self.metrics);
        let _ = tokio::task::spawn_blocking(move || {
            if channels_changed {
                metrics.refresh_channels_and_peers(&node);
            }
            metrics.refresh_balances(&node);
        })
        .await;
    }
}

async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| format!("blocking task failed: {e}"))?
}
