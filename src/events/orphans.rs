//! Outbound payments that a crash left PENDING for good ("orphans").
//!
//! ldk-node records a payment in its own store right *after* handing it to LDK's
//! ChannelManager, and LDK persists the ChannelManager later, on its own schedule. A `kill -9`
//! after ldk-node's write but before LDK's leaves a payment that ldk-node's store holds as
//! PENDING while the restarted ChannelManager has never heard of it: its HTLC was still queued
//! (in a channel's holding cell, or not yet routed) and no ChannelMonitor holds it. LDK only
//! ever reports on payments its ChannelManager knows — those it resolves itself, failing a
//! payment with no HTLC left after its retry timeout (`PaymentFailed`, `RetriesExhausted`), or
//! reporting the outcome of its HTLCs, on-chain if a channel was force-closed — so an orphan
//! gets no event, ever.
//!
//! ldk-node 0.7.1 offers no way out: its API cannot list the ChannelManager's pending outbound
//! payments (`list_recent_payments` is not exposed), cannot abandon a payment
//! (`abandon_payment` is not exposed), cannot set a payment's status in its store (only
//! `remove_payment`), and shows no HTLC of an open channel per payment hash. So an orphan
//! cannot be told apart from a payment whose HTLC a receiver still holds — until the HTLC could
//! not exist any more: every implementation refuses an HTLC expiring more than 2016 blocks
//! ahead (LDK's `CLTV_FAR_FAR_AWAY`), and LDK settles an expired outbound HTLC on-chain within
//! a few blocks plus six confirmations, its ChannelMonitor listing it by hash meanwhile.
//!
//! Hence the watch: the outbound Lightning payments ldk-node held as pending at start-up are
//! looked at once the best block is [`ORPHAN_BLOCKS`] past the start-up height. One that
//! ldk-node's store still holds as pending, and that no ChannelMonitor balance names, has no
//! HTLC anywhere: it is recorded as FAILED in the history (ListPayments, logged at warn). Its
//! copy in ldk-node's store, which GetPaymentDetails reads, stays PENDING: ldk-node 0.7.1
//! cannot be told otherwise.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use ldk_node::lightning::ln::channelmanager::PaymentId;
use ldk_node::lightning_types::payment::PaymentHash;
use ldk_node::payment::{PaymentDetails, PaymentKind};
use ldk_node::{LightningBalance, Node};
use tokio::sync::watch;

use super::reconcile::is_pending_outbound_lightning;
use super::{run_blocking, unix_now};
use crate::convert::payments::{payment_id_hex, payment_to_proto};
use crate::proto::types;
use crate::store::PaymentStore;

/// Blocks past the start-up height after which no HTLC that existed at start-up can still be
/// unresolved: 2016 (the farthest expiry any node accepts) plus a margin for LDK's grace period
/// (3 blocks), the on-chain claim and its confirmations (6), and a best block that lagged the
/// crash by a few blocks.
pub const ORPHAN_BLOCKS: u32 = 2016 + 32;

/// How often the watch looks at the best block.
const CHECK_INTERVAL: Duration = Duration::from_secs(10);

/// Watches `candidates` (the outbound Lightning payments pending at start-up, when the best
/// block was `start_height`) until each is resolved, by LDK or as an orphan, or shutdown.
pub async fn watch(
    node: Arc<Node>,
    store: Arc<PaymentStore>,
    mut candidates: Vec<PaymentId>,
    start_height: u32,
    mut shutdown: watch::Receiver<bool>,
) {
    if candidates.is_empty() {
        return;
    }
    let resolve_at = start_height.saturating_add(ORPHAN_BLOCKS);
    tracing::info!(
        pending = candidates.len(),
        resolve_at_height = resolve_at,
        "outbound payments were pending at start-up; any that LDK never resolves (orphans of a \
         crash) are recorded as failed once the best block reaches resolve_at_height"
    );
    let mut interval = tokio::time::interval(CHECK_INTERVAL);
    while !candidates.is_empty() {
        tokio::select! {
            biased;
            _ = crate::shutdown::requested(&mut shutdown) => return,
            _ = interval.tick() => {}
        }
        if node.status().current_best_block.height < resolve_at {
            continue;
        }
        let (node, store) = (Arc::clone(&node), Arc::clone(&store));
        let unresolved = std::mem::take(&mut candidates);
        match run_blocking(move || Ok(resolve_orphans(&node, &store, unresolved))).await {
            Ok(still_held) => candidates = still_held,
            Err(error) => tracing::error!(%error, "the orphaned payment task failed"),
        }
    }
}

/// Records as FAILED every candidate that ldk-node still holds as pending while no
/// ChannelMonitor names its hash; returns those still held by a monitor (or not recorded
/// because the store failed), to look at again.
pub fn resolve_orphans(
    node: &Node,
    store: &PaymentStore,
    candidates: Vec<PaymentId>,
) -> Vec<PaymentId> {
    let held = hashes_held_by_monitors(&node.list_balances().lightning_balances);
    let mut again = Vec::new();
    for payment_id in candidates {
        let Some(details) = node.payment(&payment_id) else {
            continue;
        };
        if !is_pending_outbound_lightning(&details) {
            continue;
        }
        if payment_hash(&details).is_some_and(|hash| held.contains(&hash)) {
            again.push(payment_id);
            continue;
        }
        match store.record_unless_resolved(&orphan_record(&details, unix_now())) {
            Ok(true) => tracing::warn!(
                payment_id = %payment_id_hex(&payment_id),
                "outbound payment left pending by a crash: LDK never resolved it and no HTLC of \
                 it exists, so it is recorded as failed in the payment history (ldk-node's own \
                 store, read by GetPaymentDetails, keeps it pending)"
            ),
            Ok(false) => {}
            Err(error) => {
                tracing::error!(%error, payment_id = %payment_id_hex(&payment_id), "recording an orphaned payment as failed failed");
                again.push(payment_id);
            }
        }
    }
    again
}

/// The history record of an orphan: ldk-node's copy, failed at `now`.
pub fn orphan_record(details: &PaymentDetails, now: u64) -> types::Payment {
    types::Payment {
        status: types::PaymentStatus::Failed.into(),
        latest_update_timestamp: now.max(details.latest_update_timestamp),
        ..payment_to_proto(details)
    }
}

/// Payment hashes of the HTLCs the ChannelMonitors of closed channels still track.
fn hashes_held_by_monitors(balances: &[LightningBalance]) -> HashSet<PaymentHash> {
    balances
        .iter()
        .filter_map(|balance| match balance {
            LightningBalance::ContentiousClaimable { payment_hash, .. }
            | LightningBalance::MaybeTimeoutClaimableHTLC { payment_hash, .. }
            | LightningBalance::MaybePreimageClaimableHTLC { payment_hash, .. } => {
                Some(*payment_hash)
            }
            _ => None,
        })
        .collect()
}

/// The payment hash of a Lightning payment, when known.
fn payment_hash(details: &PaymentDetails) -> Option<PaymentHash> {
    match &details.kind {
        PaymentKind::Bolt11 { hash, .. }
        | PaymentKind::Bolt11Jit { hash, .. }
        | PaymentKind::Spontaneous { hash, .. } => Some(*hash),
        PaymentKind::Bolt12Offer { hash, .. } | PaymentKind::Bolt12Refund { hash, .. } => *hash,
        PaymentKind::Onchain { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldk_node::bitcoin::secp256k1::PublicKey;
    use ldk_node::lightning::ln::types::ChannelId;
    use ldk_node::payment::{PaymentDirection, PaymentStatus};
    use std::str::FromStr;

    fn pending_keysend(byte: u8) -> PaymentDetails {
        PaymentDetails {
            id: PaymentId([byte; 32]),
            kind: PaymentKind::Spontaneous {
                hash: PaymentHash([byte; 32]),
                preimage: None,
            },
            amount_msat: Some(5_000),
            fee_paid_msat: None,
            direction: PaymentDirection::Outbound,
            status: PaymentStatus::Pending,
            latest_update_timestamp: 1_000,
        }
    }

    #[test]
    fn an_orphan_record_is_the_payment_failed_now() {
        let details = pending_keysend(4);
        let record = orphan_record(&details, 2_000);
        assert_eq!(record.status(), types::PaymentStatus::Failed);
        assert_eq!(record.latest_update_timestamp, 2_000);
        assert_eq!(record.amount_msat, Some(5_000));
        assert_eq!(record.id, "04".repeat(32));
        assert_eq!(record.direction(), types::PaymentDirection::Outbound);
    }

    #[test]
    fn hashes_come_from_htlc_balances_only() {
        let peer = PublicKey::from_str(
            "02eec7245d6b7d2ccb30380bfbe2a3648cd7a942653f5aa340edcea1f283686619",
        )
        .unwrap();
        let balances = [
            LightningBalance::MaybeTimeoutClaimableHTLC {
                channel_id: ChannelId([1; 32]),
                counterparty_node_id: peer,
                amount_satoshis: 5,
                claimable_height: 900,
                payment_hash: PaymentHash([4; 32]),
                outbound_payment: true,
            },
            LightningBalance::ClaimableOnChannelClose {
                channel_id: ChannelId([1; 32]),
                counterparty_node_id: peer,
                amount_satoshis: 100_000,
                transaction_fee_satoshis: 300,
                outbound_payment_htlc_rounded_msat: 0,
                outbound_forwarded_htlc_rounded_msat: 0,
                inbound_claiming_htlc_rounded_msat: 0,
                inbound_htlc_rounded_msat: 0,
            },
        ];
        let held = hashes_held_by_monitors(&balances);
        assert_eq!(held, HashSet::from([PaymentHash([4; 32])]));
        assert_eq!(
            payment_hash(&pending_keysend(4)),
            Some(PaymentHash([4; 32]))
        );
    }
}
