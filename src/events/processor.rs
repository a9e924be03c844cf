//! What one event changes: the stored history (payments, forwards), the cheap metric series,
//! and the envelope streamed to subscribers.
//!
//! Processing is idempotent, so a failed attempt can simply be run again: everything that can
//! fail without side effects (reading the payment, building the envelope) happens first, then
//! one durable write, then state that only changes once the write succeeded.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use ldk_node::lightning::ln::types::ChannelId;
use ldk_node::{Event, Node};

use super::payment_record::payment_from_event;
use super::{run_blocking, unix_now};
use crate::convert::events::{
    envelope_event_name, event_envelope, event_payment_id, forwarded_payment, is_payment_event,
};
use crate::convert::payments::{payment_id_hex, payment_to_proto};
use crate::metrics::Metrics;
use crate::proto::events::EventEnvelope;
use crate::proto::types::Payment;
use crate::store::event_log::HistoryChange;
use crate::store::PaymentStore;

/// Turns events into history and envelopes.
pub(super) struct EventProcessor {
    pub(super) node: Arc<Node>,
    pub(super) store: Arc<PaymentStore>,
    pub(super) metrics: Arc<Metrics>,
    /// Channels that reached ChannelReady (a close before that may be an open failure).
    ready_channels: Mutex<HashSet<ChannelId>>,
    /// The newest log row's sequence and identity as found at startup, until the first event.
    last_logged: Mutex<Option<(u64, [u8; 32])>>,
}

impl EventProcessor {
    pub(super) fn new(
        node: Arc<Node>,
        store: Arc<PaymentStore>,
        metrics: Arc<Metrics>,
        last_logged: Option<(u64, [u8; 32])>,
    ) -> Self {
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
            ready_channels: Mutex::new(ready_channels),
            last_logged: Mutex::new(last_logged),
        }
    }

    /// Stores what the event records, with its envelope in the event log, and returns the
    /// envelope with its sequence number (`None` for events that are not streamed, and for the
    /// replay of an event that the log already holds). An error means the attempt changed
    /// nothing and may be retried.
    pub(super) async fn process(&self, event: &Event) -> Result<Option<EventEnvelope>, String> {
        let identity = event_identity(event);
        if self.is_replay_of_last_logged(&identity) {
            tracing::info!(
                ?event,
                "ldk-node handed out again an event that was recorded before a restart: \
                 acknowledging it without recording it twice"
            );
            return Ok(None);
        }
        let payment = if is_payment_event(event) {
            Some(self.payment_of(event).await?)
        } else {
            None
        };
        let forward = forwarded_payment(event);
        let envelope = event_envelope(event, payment.clone(), self.channel_was_ready(event))
            .map_err(|e| e.to_string())?;
        let change = match (payment, forward.clone()) {
            (Some(payment), _) => HistoryChange::Payment(payment),
            (None, Some(forward)) => HistoryChange::Forward(forward),
            (None, None) => HistoryChange::None,
        };
        let logged = self.record(change, envelope, identity).await?;
        if let Some(forward) = forward {
            self.metrics.node.record_forward(
                forward.outbound_amount_forwarded_msat.unwrap_or(0),
                forward.total_fee_earned_msat.unwrap_or(0),
            );
        }
        self.track_channel(event);
        self.update_metrics(event).await;
        Ok(logged)
    }

    /// Writes the history change and, for a streamed event, its log row, in one transaction.
    async fn record(
        &self,
        change: HistoryChange,
        envelope: Option<EventEnvelope>,
        identity: [u8; 32],
    ) -> Result<Option<EventEnvelope>, String> {
        let store = Arc::clone(&self.store);
        run_blocking(move || {
            let Some(mut envelope) = envelope else {
                return write_history_only(&store, &change).map(|()| None);
            };
            let kind = envelope_event_name(&envelope);
            let logged = store
                .record_event(&change, &envelope, kind, &identity)
                .map_err(|e| e.to_string())?;
            envelope.sequence = logged.sequence;
            envelope.recorded_at = logged.recorded_at;
            Ok(Some(envelope))
        })
        .await
    }

    /// Whether `identity` is that of the newest logged event, and this is the first event
    /// since the start: then the process died after recording it and before acknowledging
    /// it, and ldk-node hands out the same event again. Later events are never compared.
    fn is_replay_of_last_logged(&self, identity: &[u8; 32]) -> bool {
        let last = self
            .last_logged
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        last.is_some_and(|(_, logged)| &logged == identity)
    }

    /// The payment an event is about, as ldk-node's store has it; for a payment that store does
    /// not know (a crash between LDK and ldk-node persisting it), as the event itself describes
    /// it, over the history's earlier copy if there is one.
    async fn payment_of(&self, event: &Event) -> Result<Payment, String> {
        let payment_id = event_payment_id(event).ok_or("payment event without a payment id")?;
        if let Some(details) = self.node.payment(&payment_id) {
            return Ok(payment_to_proto(&details));
        }
        let id = payment_id_hex(&payment_id);
        let store = Arc::clone(&self.store);
        let stored = {
            let id = id.clone();
            run_blocking(move || store.payment(&id).map_err(|e| e.to_string())).await?
        };
        let payment = payment_from_event(event, stored, unix_now())
            .ok_or("payment event without a payment id")?;
        tracing::warn!(
            payment_id = %id,
            ?event,
            "ldk-node's payment store does not know this payment (a crash came between LDK and \
             ldk-node recording it): recording it from the event's own fields"
        );
        Ok(payment)
    }

    /// For `ChannelClosed`: whether the channel had been ready (`ChannelReady` counts as ready).
    fn channel_was_ready(&self, event: &Event) -> bool {
        match event {
            Event::ChannelReady { .. } => true,
            Event::ChannelClosed { channel_id, .. } => self.ready_channels().contains(channel_id),
            _ => false,
        }
    }

    /// Records a channel becoming ready or closing, once its event has been processed.
    fn track_channel(&self, event: &Event) {
        match event {
            Event::ChannelReady { channel_id, .. } => {
                self.ready_channels().insert(*channel_id);
            }
            Event::ChannelClosed { channel_id, .. } => {
                self.ready_channels().remove(channel_id);
            }
            _ => {}
        }
    }

    fn ready_channels(&self) -> std::sync::MutexGuard<'_, HashSet<ChannelId>> {
        self.ready_channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
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

/// SHA-256 of ldk-node's own encoding of the event: the same event handed out again encodes
/// the same.
fn event_identity(event: &Event) -> [u8; 32] {
    use ldk_node::lightning::util::ser::Writeable;
    use sha2::{Digest, Sha256};
    Sha256::digest(event.encode()).into()
}

/// The history change of an event that is not streamed (none today: every payment and
/// forward event has an envelope), written on its own.
fn write_history_only(store: &PaymentStore, change: &HistoryChange) -> Result<(), String> {
    let written = match change {
        HistoryChange::None => Ok(()),
        HistoryChange::Payment(payment) => store.upsert_payment(payment),
        HistoryChange::Forward(forward) => store.insert_forwarded_payment(forward).map(|_| ()),
    };
    written.map_err(|e| e.to_string())
}
