//! Start-up reconciliation of the history with ldk-node's payment store.
//!
//! A crash can leave the history behind ldk-node's store: an event acknowledged by an earlier
//! version that did not wait for its write, a payment ldk-node resolved without an event (a
//! send that failed at once, an invoice failed back by hash), or a history restored from an
//! older backup. Once the node runs and before the event loop starts, every Lightning payment
//! ldk-node knows is compared with its stored copy, and the outdated ones, and the resolved ones
//! the history lacks, are written (see `store::reconcile`), off the async reactor. On-chain
//! payments stay out of the history, as the event pipeline never records them either.

use std::sync::Arc;
use std::time::Instant;

use ldk_node::lightning::ln::channelmanager::PaymentId;
use ldk_node::payment::{PaymentDetails, PaymentDirection, PaymentKind, PaymentStatus};
use ldk_node::Node;

use super::run_blocking;
use crate::convert::payments::payment_to_proto;
use crate::proto::types::Payment;
use crate::store::PaymentStore;

/// Reconciles the history with ldk-node's payment store and logs what it fixed. Returns the
/// outbound Lightning payments ldk-node holds as pending, for the orphan watch.
pub async fn at_startup(node: &Arc<Node>, store: &Arc<PaymentStore>) -> Vec<PaymentId> {
    let node = Arc::clone(node);
    let store = Arc::clone(store);
    let started = Instant::now();
    let result = run_blocking(move || {
        let details = node.list_payments();
        let pending = details
            .iter()
            .filter(|p| is_pending_outbound_lightning(p))
            .map(|p| p.id)
            .collect::<Vec<_>>();
        let payments: Vec<Payment> = details
            .iter()
            .filter(|p| !matches!(p.kind, PaymentKind::Onchain { .. }))
            .map(payment_to_proto)
            .collect();
        let outcome = store.reconcile_payments(&payments);
        Ok((outcome, pending))
    })
    .await;
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match result {
        Ok((Ok(outcome), pending)) => {
            tracing::info!(
                checked = outcome.checked,
                fixed = outcome.added + outcome.updated,
                added = outcome.added,
                updated = outcome.updated,
                pending_outbound = pending.len(),
                duration_ms,
                "payment history reconciled with ldk-node's payment store"
            );
            pending
        }
        Ok((Err(error), pending)) => {
            tracing::error!(
                %error,
                "reconciling the payment history with ldk-node's payment store failed; \
                 payments are brought up to date as their events arrive"
            );
            pending
        }
        Err(error) => {
            tracing::error!(%error, "the payment history reconciliation task failed");
            Vec::new()
        }
    }
}

/// An outbound Lightning payment ldk-node has not seen resolved.
pub fn is_pending_outbound_lightning(payment: &PaymentDetails) -> bool {
    payment.direction == PaymentDirection::Outbound
        && payment.status == PaymentStatus::Pending
        && !matches!(payment.kind, PaymentKind::Onchain { .. })
}
