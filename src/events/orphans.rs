//! Outbound payments that a crash left PENDING for good ("orphans").
//!
//! ldk-node records a payment in its own store right *after* handing it to LDK's
//! ChannelManager, and LDK persists the ChannelManager later, on its own schedule. A `kill -9`
//! after ldk-node's write but before LDK's leaves a payment that ldk-node's store holds as
//! PENDING while the restarted ChannelManager has never heard of it: its HTLC was still queued
//! (in a channel's holding cell, or not yet routed) and no ChannelMonitor holds it. LDK only
//! ever reports on payments its ChannelManager knows — those it always resolves: a payment with
//! no HTLC left fails after ldk-node's 10 s retry timeout, counted again from the restart
//! (`PaymentFailed`, `RetriesExhausted`), and an HTLC resolves when the peer reconnects, or
//! on-chain if a channel was force-closed — so an orphan gets no event, ever.
//!
//! ldk-node 0.7.1 cannot say which payments its ChannelManager knows (`list_recent_payments`
//! is not exposed), cannot abandon one (`abandon_payment` is not exposed) and cannot set a
//! payment's status in its store (only `remove_payment`). What it does show is every HTLC its
//! ChannelMonitors hold: `list_balances()` names each non-dust HTLC of a channel's latest
//! holder commitment by payment hash (or, once a closing transaction confirmed, of the confirmed
//! commitment), and sums the dust ones per channel.
//! So the watch looks at the outbound Lightning payments ldk-node held as pending at start-up
//! ([`Evidence`], [`Judge`]) and records one as FAILED in the history (ListPayments, logged at
//! warn) when it cannot have an HTLC anywhere:
//!
//! - **quickly**, at two checks in a row at least [`GRACE`] after start-up (LDK has abandoned
//!   by then any payment it knows without an HTLC): every ready channel is usable (its peer is
//!   connected, so no HTLC waits in a holding cell, and one that is only in the counterparty's
//!   commitment gets into ours within a round trip), no channel has a dust outbound HTLC, every
//!   closed channel's closing transaction has confirmed (until then an HTLC only in the
//!   counterparty's commitment is not named), and no ChannelMonitor names the payment's hash;
//! - **at the latest**, once the best block is [`ORPHAN_BLOCKS`] past the start-up height and
//!   no ChannelMonitor names the hash: every implementation refuses an HTLC expiring more than
//!   2016 blocks ahead, and LDK settles an expired outbound HTLC on-chain within a few blocks,
//!   its monitor naming it meanwhile. This covers payments without a hash (a BOLT 12 payment
//!   still waiting for its invoice) and nodes with a peer that stays away.
//!
//! Its copy in ldk-node's store, which GetPaymentDetails reads, stays PENDING: ldk-node 0.7.1
//! cannot be told otherwise.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ldk_node::lightning::ln::channelmanager::PaymentId;
use ldk_node::lightning::ln::types::ChannelId;
use ldk_node::lightning_types::payment::PaymentHash;
use ldk_node::payment::{PaymentDetails, PaymentKind};
use ldk_node::{LightningBalance, Node};
use tokio::sync::watch;

use super::reconcile::is_pending_outbound_lightning;
use super::{run_blocking, unix_now};
use crate::convert::payments::{payment_id_hex, payment_to_proto};
use crate::proto::types;
use crate::store::PaymentStore;

/// Time after start-up before a payment can be judged an orphan: three times ldk-node's 10 s
/// retry timeout, after which LDK has failed any payment it knows that has no HTLC.
pub const GRACE: Duration = Duration::from_secs(30);

/// Blocks past the start-up height after which no HTLC that existed at start-up can still be
/// unresolved: 2016 (the farthest expiry any node accepts) plus a margin for LDK's grace period
/// (3 blocks), the on-chain claim and its confirmations (6), and a best block that lagged the
/// crash by a few blocks.
pub const ORPHAN_BLOCKS: u32 = 2016 + 32;

/// How often the watch looks.
const CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// What the node shows, at one moment, about where HTLCs could be.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evidence {
    /// The best block height.
    pub height: u32,
    /// Payment hashes of the HTLCs the ChannelMonitors hold.
    pub held: HashSet<PaymentHash>,
    /// Every ready channel is usable, none has a dust outbound payment HTLC, and every closed
    /// channel's closing transaction has confirmed: an HTLC would be named in `held`.
    pub all_visible: bool,
    /// Some closed channel's closing transaction has not confirmed yet.
    pub unconfirmed_close: bool,
}

impl Evidence {
    /// Reads the node's balances, channels and best block (blocking).
    pub fn gather(node: &Node) -> Self {
        let balances = node.list_balances().lightning_balances;
        let channels = node.list_channels();
        let open: HashSet<ChannelId> = channels.iter().map(|c| c.channel_id).collect();
        let channels_usable = channels.iter().all(|c| c.is_usable || !c.is_channel_ready);
        Self {
            height: node.status().current_best_block.height,
            held: hashes_held_by_monitors(&balances),
            all_visible: channels_usable && !hides_htlcs(&balances, &open),
            unconfirmed_close: has_unconfirmed_close(&balances, &open),
        }
    }
}

/// Whether some HTLC could be missing from the hashes the balances name: a channel carries a
/// dust outbound payment HTLC (only summed), or a closed channel's closing transaction has not
/// confirmed yet (its monitor names the HTLCs of our latest commitment only; one that was
/// only in the counterparty's can still confirm with theirs).
fn hides_htlcs(balances: &[LightningBalance], open: &HashSet<ChannelId>) -> bool {
    has_unconfirmed_close(balances, open)
        || balances.iter().any(|balance| {
            matches!(balance, LightningBalance::ClaimableOnChannelClose {
                outbound_payment_htlc_rounded_msat, ..
            } if *outbound_payment_htlc_rounded_msat > 0)
        })
}

/// Whether a monitor still reports a channel that is no longer open as unclosed: its closing
/// transaction has not confirmed.
fn has_unconfirmed_close(balances: &[LightningBalance], open: &HashSet<ChannelId>) -> bool {
    balances.iter().any(|balance| {
        matches!(balance, LightningBalance::ClaimableOnChannelClose { channel_id, .. }
            if !open.contains(channel_id))
    })
}

/// Confirmations a closing transaction needs before the commitment it confirmed is taken as
/// final (LDK's `ANTI_REORG_DELAY`): a reorganisation before that could confirm the other
/// party's commitment, with HTLCs of its own.
const CLOSE_CONFIRMATIONS: u32 = 6;

/// Decides, check after check, which pending payments are orphans.
#[derive(Debug)]
pub struct Judge {
    resolve_at: u32,
    clear_last_time: HashSet<PaymentId>,
    /// No quick verdict below this height: a closing was unconfirmed just before it.
    closes_final_at: u32,
}

impl Judge {
    /// A judge for payments pending when the best block was `start_height`.
    pub fn new(start_height: u32) -> Self {
        Self {
            resolve_at: start_height.saturating_add(ORPHAN_BLOCKS),
            clear_last_time: HashSet::new(),
            closes_final_at: 0,
        }
    }

    /// The height from which a payment no monitor names is an orphan, whatever else is seen.
    pub fn resolve_at(&self) -> u32 {
        self.resolve_at
    }

    /// Of `pending` (id and hash of the payments ldk-node still holds as pending), those that
    /// are orphans given `evidence`, gathered at least [`GRACE`] after start-up.
    pub fn orphans(
        &mut self,
        evidence: &Evidence,
        pending: &[(PaymentId, Option<PaymentHash>)],
    ) -> Vec<PaymentId> {
        let bound_passed = evidence.height >= self.resolve_at;
        if evidence.unconfirmed_close {
            self.closes_final_at = evidence.height.saturating_add(CLOSE_CONFIRMATIONS);
        }
        let visible = evidence.all_visible && evidence.height >= self.closes_final_at;
        let mut clear_now = HashSet::new();
        let mut orphans = Vec::new();
        for (id, hash) in pending {
            if hash.is_some_and(|hash| evidence.held.contains(&hash)) {
                continue;
            }
            if bound_passed {
                orphans.push(*id);
            } else if hash.is_some() && visible {
                if self.clear_last_time.contains(id) {
                    orphans.push(*id);
                } else {
                    clear_now.insert(*id);
                }
            }
        }
        self.clear_last_time = clear_now;
        orphans
    }
}

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
    let started = Instant::now();
    let mut judge = Judge::new(start_height);
    tracing::info!(
        pending = candidates.len(),
        resolve_at_height = judge.resolve_at(),
        "outbound payments were pending at start-up; any that LDK never resolves (orphans of a \
         crash) are recorded as failed once no HTLC of theirs can exist"
    );
    let mut interval = tokio::time::interval(CHECK_INTERVAL);
    while !candidates.is_empty() {
        tokio::select! {
            biased;
            _ = crate::shutdown::requested(&mut shutdown) => return,
            _ = interval.tick() => {}
        }
        if started.elapsed() < GRACE {
            continue;
        }
        let (node, store) = (Arc::clone(&node), Arc::clone(&store));
        let unresolved = std::mem::take(&mut candidates);
        let checked = run_blocking(move || {
            let still_pending = still_pending(&node, unresolved);
            let orphans = judge.orphans(&Evidence::gather(&node), &still_pending);
            let unrecorded = record_orphans(&node, &store, &orphans);
            let remaining = still_pending
                .into_iter()
                .map(|(id, _)| id)
                .filter(|id| !orphans.contains(id) || unrecorded.contains(id))
                .collect::<Vec<_>>();
            Ok((judge, remaining))
        })
        .await;
        match checked {
            Ok((returned, remaining)) => (judge, candidates) = (returned, remaining),
            Err(error) => {
                tracing::error!(%error, "the orphaned payment task failed");
                return;
            }
        }
    }
}

/// The candidates ldk-node still holds as pending, with their payment hashes.
fn still_pending(node: &Node, candidates: Vec<PaymentId>) -> Vec<(PaymentId, Option<PaymentHash>)> {
    candidates
        .into_iter()
        .filter_map(|id| node.payment(&id))
        .filter(is_pending_outbound_lightning)
        .map(|details| (details.id, payment_hash(&details)))
        .collect()
}

/// Records each orphan as FAILED in the history (unless the event loop resolved it meanwhile);
/// returns those the store could not record, to try again.
fn record_orphans(node: &Node, store: &PaymentStore, orphans: &[PaymentId]) -> Vec<PaymentId> {
    let mut unrecorded = Vec::new();
    for payment_id in orphans {
        let Some(details) = node
            .payment(payment_id)
            .filter(is_pending_outbound_lightning)
        else {
            continue;
        };
        let id = payment_id_hex(payment_id);
        match store.record_unless_resolved(&orphan_record(&details, unix_now())) {
            Ok(true) => tracing::warn!(
                payment_id = %id,
                "outbound payment left pending by a crash: LDK never resolved it and no HTLC of \
                 it exists, so it is recorded as failed in the payment history (ldk-node's own \
                 store, read by GetPaymentDetails, keeps it pending)"
            ),
            Ok(false) => {}
            Err(error) => {
                tracing::error!(%error, payment_id = %id, "recording an orphaned payment as failed failed");
                unrecorded.push(*payment_id);
            }
        }
    }
    unrecorded
}

/// The history record of an orphan: ldk-node's copy, failed at `now`.
pub fn orphan_record(details: &PaymentDetails, now: u64) -> types::Payment {
    types::Payment {
        status: types::PaymentStatus::Failed.into(),
        latest_update_timestamp: now.max(details.latest_update_timestamp),
        ..payment_to_proto(details)
    }
}

/// Payment hashes of the HTLCs the ChannelMonitors hold.
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

    const START: u32 = 1_000;

    fn pending(byte: u8) -> (PaymentId, Option<PaymentHash>) {
        (PaymentId([byte; 32]), Some(PaymentHash([byte; 32])))
    }

    fn evidence(height: u32, held: &[u8], all_visible: bool) -> Evidence {
        Evidence {
            height,
            held: held.iter().map(|b| PaymentHash([*b; 32])).collect(),
            all_visible,
            unconfirmed_close: false,
        }
    }

    #[test]
    fn a_closing_must_be_six_blocks_deep_first() {
        let mut judge = Judge::new(START);
        let payments = [pending(1)];
        let closing = Evidence {
            unconfirmed_close: true,
            ..evidence(START, &[], false)
        };
        assert!(judge.orphans(&closing, &payments).is_empty());
        for height in START + 1..START + 6 {
            let confirmed = evidence(height, &[], true);
            assert!(judge.orphans(&confirmed, &payments).is_empty(), "{height}");
        }
        assert!(judge
            .orphans(&evidence(START + 6, &[], true), &payments)
            .is_empty());
        assert_eq!(
            judge.orphans(&evidence(START + 6, &[], true), &payments),
            [PaymentId([1; 32])]
        );
    }

    #[test]
    fn an_unheld_payment_is_an_orphan_at_the_second_clear_check() {
        let mut judge = Judge::new(START);
        let payments = [pending(1), pending(2)];
        assert_eq!(judge.orphans(&evidence(START, &[2], true), &payments), []);
        assert_eq!(
            judge.orphans(&evidence(START, &[2], true), &payments),
            [PaymentId([1; 32])]
        );
    }

    #[test]
    fn a_hidden_htlc_anywhere_restarts_the_count() {
        let mut judge = Judge::new(START);
        let payments = [pending(1)];
        assert!(judge
            .orphans(&evidence(START, &[], true), &payments)
            .is_empty());
        assert!(judge
            .orphans(&evidence(START, &[], false), &payments)
            .is_empty());
        assert!(judge
            .orphans(&evidence(START, &[], true), &payments)
            .is_empty());
        assert_eq!(
            judge.orphans(&evidence(START, &[], true), &payments),
            [PaymentId([1; 32])]
        );
    }

    #[test]
    fn a_held_payment_is_never_an_orphan() {
        let mut judge = Judge::new(START);
        let payments = [pending(3)];
        for height in [START, START + 5_000] {
            for _ in 0..3 {
                assert!(judge
                    .orphans(&evidence(height, &[3], true), &payments)
                    .is_empty());
            }
        }
    }

    #[test]
    fn the_block_bound_resolves_what_cannot_be_seen() {
        let mut judge = Judge::new(START);
        assert_eq!(judge.resolve_at(), START + ORPHAN_BLOCKS);
        let no_hash = (PaymentId([4; 32]), None);
        let payments = [no_hash, pending(5)];
        for _ in 0..3 {
            let before = evidence(START + ORPHAN_BLOCKS - 1, &[], false);
            assert!(judge.orphans(&before, &payments).is_empty());
        }
        let past = evidence(START + ORPHAN_BLOCKS, &[], false);
        assert_eq!(
            judge.orphans(&past, &payments),
            [PaymentId([4; 32]), PaymentId([5; 32])]
        );
    }

    #[test]
    fn an_orphan_record_is_the_payment_failed_now() {
        let details = PaymentDetails {
            id: PaymentId([4; 32]),
            kind: PaymentKind::Spontaneous {
                hash: PaymentHash([4; 32]),
                preimage: None,
            },
            amount_msat: Some(5_000),
            fee_paid_msat: None,
            direction: PaymentDirection::Outbound,
            status: PaymentStatus::Pending,
            latest_update_timestamp: 1_000,
        };
        let record = orphan_record(&details, 2_000);
        assert_eq!(record.status(), types::PaymentStatus::Failed);
        assert_eq!(record.latest_update_timestamp, 2_000);
        assert_eq!(record.amount_msat, Some(5_000));
        assert_eq!(record.id, "04".repeat(32));
        assert_eq!(record.direction(), types::PaymentDirection::Outbound);
        assert_eq!(payment_hash(&details), Some(PaymentHash([4; 32])));
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
        let open = HashSet::from([ChannelId([1; 32])]);
        assert!(!hides_htlcs(&balances, &open));
        assert!(
            hides_htlcs(&balances, &HashSet::new()),
            "a closed channel whose closing transaction has not confirmed"
        );
        let mut dust = balances.clone();
        if let LightningBalance::ClaimableOnChannelClose {
            outbound_payment_htlc_rounded_msat,
            ..
        } = &mut dust[1]
        {
            *outbound_payment_htlc_rounded_msat = 500;
        }
        assert!(hides_htlcs(&dust, &open), "a dust HTLC");
    }
}
