//! The history record of a payment event whose payment ldk-node's store does not know.
//!
//! That happens after a crash: LDK persists its ChannelManager on its own schedule and ldk-node
//! writes its payment store separately, so a `kill -9` between the two can leave LDK replaying
//! `PaymentSent` (ldk-node: `PaymentSuccessful`) for a payment ldk-node never stored. The event
//! itself says what happened: the payment id, hash, preimage, amount or fee it carries, its
//! direction (sent events are outbound, received ones inbound) and its status. Those facts are
//! laid over the history's earlier copy when there is one; otherwise the record is new, with a
//! kind guessed from the ids (ldk-node uses the payment hash as the id of BOLT 11 and keysend
//! payments, which the event cannot tell apart, and random ids only for BOLT 12 offer payments,
//! whose offer id the event does not carry).

use ldk_node::lightning::ln::channelmanager::PaymentId;
use ldk_node::lightning_types::payment::{PaymentHash, PaymentPreimage};
use ldk_node::Event;

use crate::convert::payments::{payment_hash_hex, payment_id_hex, payment_preimage_hex};
use crate::proto::types::{
    self, payment_kind::Kind, Payment, PaymentDirection, PaymentKind, PaymentStatus,
};

/// What a payment event says about its payment.
#[derive(Debug, Clone, PartialEq, Eq)]
struct EventFacts {
    id: PaymentId,
    hash: Option<PaymentHash>,
    preimage: Option<PaymentPreimage>,
    amount_msat: Option<u64>,
    fee_paid_msat: Option<u64>,
    direction: PaymentDirection,
    status: PaymentStatus,
}

/// The record of `event`'s payment, built from the event's own fields over `stored` (the
/// history's copy, if any), updated at `now` (unix seconds). `None` when the event is not about
/// one payment or carries no payment id.
pub fn payment_from_event(event: &Event, stored: Option<Payment>, now: u64) -> Option<Payment> {
    let facts = EventFacts::of(event)?;
    let mut payment = stored.unwrap_or_else(|| facts.new_payment());
    facts.apply_to(&mut payment, now);
    Some(payment)
}

impl EventFacts {
    fn of(event: &Event) -> Option<Self> {
        let facts = match event {
            Event::PaymentSuccessful {
                payment_id,
                payment_hash,
                payment_preimage,
                fee_paid_msat,
            } => Self {
                hash: Some(*payment_hash),
                preimage: *payment_preimage,
                fee_paid_msat: *fee_paid_msat,
                ..Self::bare(
                    (*payment_id)?,
                    PaymentDirection::Outbound,
                    PaymentStatus::Succeeded,
                )
            },
            Event::PaymentFailed {
                payment_id,
                payment_hash,
                ..
            } => Self {
                hash: *payment_hash,
                ..Self::bare(
                    (*payment_id)?,
                    PaymentDirection::Outbound,
                    PaymentStatus::Failed,
                )
            },
            Event::PaymentReceived {
                payment_id,
                payment_hash,
                amount_msat,
                ..
            } => Self {
                hash: Some(*payment_hash),
                amount_msat: Some(*amount_msat),
                ..Self::bare(
                    (*payment_id)?,
                    PaymentDirection::Inbound,
                    PaymentStatus::Succeeded,
                )
            },
            Event::PaymentClaimable {
                payment_id,
                payment_hash,
                claimable_amount_msat,
                ..
            } => Self {
                hash: Some(*payment_hash),
                amount_msat: Some(*claimable_amount_msat),
                ..Self::bare(
                    *payment_id,
                    PaymentDirection::Inbound,
                    PaymentStatus::Pending,
                )
            },
            _ => return None,
        };
        Some(facts)
    }

    fn bare(id: PaymentId, direction: PaymentDirection, status: PaymentStatus) -> Self {
        Self {
            id,
            hash: None,
            preimage: None,
            amount_msat: None,
            fee_paid_msat: None,
            direction,
            status,
        }
    }

    /// A record with nothing but the id, direction and a kind guessed from the ids.
    fn new_payment(&self) -> Payment {
        let kind = match self.hash {
            Some(hash) if hash.0 == self.id.0 => Kind::Bolt11(types::Bolt11 {
                hash: payment_hash_hex(&hash),
                preimage: None,
                secret: None,
                counterparty_skimmed_fee_msat: None,
            }),
            _ => Kind::Bolt12Offer(types::Bolt12Offer {
                hash: None,
                preimage: None,
                secret: None,
                offer_id: String::new(),
                payer_note: None,
                quantity: None,
            }),
        };
        Payment {
            id: payment_id_hex(&self.id),
            kind: Some(PaymentKind { kind: Some(kind) }),
            amount_msat: None,
            fee_paid_msat: None,
            direction: self.direction.into(),
            status: PaymentStatus::Pending.into(),
            latest_update_timestamp: 0,
        }
    }

    /// Lays the event's facts over `payment`. As ldk-node does, a failure reported after an
    /// outbound payment succeeded is ignored (LDK may emit `PaymentFailed` after `PaymentSent`).
    fn apply_to(&self, payment: &mut Payment, now: u64) {
        let late_failure = self.status == PaymentStatus::Failed
            && payment.status == PaymentStatus::Succeeded as i32;
        if late_failure {
            return;
        }
        payment.status = self.status.into();
        if self.amount_msat.is_some() {
            payment.amount_msat = self.amount_msat;
        }
        if self.fee_paid_msat.is_some() {
            payment.fee_paid_msat = self.fee_paid_msat;
        }
        if let Some(kind) = payment.kind.as_mut().and_then(|k| k.kind.as_mut()) {
            self.fill_kind(kind);
        }
        payment.latest_update_timestamp = now.max(payment.latest_update_timestamp);
    }

    /// Fills in the hash (where the record lacks it) and the preimage (where the event has it).
    fn fill_kind(&self, kind: &mut Kind) {
        let hash = self.hash.as_ref().map(payment_hash_hex);
        let (preimage_field, hash_text, hash_option) = match kind {
            Kind::Bolt11(bolt11) => (&mut bolt11.preimage, Some(&mut bolt11.hash), None),
            Kind::Spontaneous(spontaneous) => {
                (&mut spontaneous.preimage, Some(&mut spontaneous.hash), None)
            }
            Kind::Bolt12Offer(offer) => (&mut offer.preimage, None, Some(&mut offer.hash)),
            Kind::Bolt12Refund(refund) => (&mut refund.preimage, None, Some(&mut refund.hash)),
            Kind::Onchain(_) => return,
        };
        if let Some(preimage) = self.preimage.as_ref() {
            *preimage_field = Some(payment_preimage_hex(preimage));
        }
        match (hash_text, hash_option) {
            (Some(text), _) if text.is_empty() => *text = hash.unwrap_or_default(),
            (_, Some(option)) if option.is_none() => *option = hash,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_123;

    fn successful(id: [u8; 32], hash: [u8; 32]) -> Event {
        Event::PaymentSuccessful {
            payment_id: Some(PaymentId(id)),
            payment_hash: PaymentHash(hash),
            payment_preimage: Some(PaymentPreimage([9; 32])),
            fee_paid_msat: Some(1_234),
        }
    }

    fn kind_of(payment: &Payment) -> &Kind {
        payment.kind.as_ref().unwrap().kind.as_ref().unwrap()
    }

    #[test]
    fn an_unknown_sent_payment_is_recorded_from_the_event() {
        let payment = payment_from_event(&successful([7; 32], [7; 32]), None, NOW).unwrap();
        assert_eq!(payment.id, "07".repeat(32));
        assert_eq!(payment.direction(), PaymentDirection::Outbound);
        assert_eq!(payment.status(), PaymentStatus::Succeeded);
        assert_eq!(payment.fee_paid_msat, Some(1_234));
        assert_eq!(payment.amount_msat, None, "the event carries no amount");
        assert_eq!(payment.latest_update_timestamp, NOW);
        assert_eq!(
            kind_of(&payment),
            &Kind::Bolt11(types::Bolt11 {
                hash: "07".repeat(32),
                preimage: Some("09".repeat(32)),
                secret: None,
                counterparty_skimmed_fee_msat: None,
            })
        );
    }

    #[test]
    fn a_random_id_means_a_bolt12_offer_payment() {
        let payment = payment_from_event(&successful([1; 32], [2; 32]), None, NOW).unwrap();
        let Kind::Bolt12Offer(offer) = kind_of(&payment) else {
            panic!("{payment:?}");
        };
        assert_eq!(offer.hash.as_deref(), Some("02".repeat(32).as_str()));
        assert_eq!(offer.preimage.as_deref(), Some("09".repeat(32).as_str()));
    }

    #[test]
    fn received_and_claimable_payments_are_inbound_with_their_amount() {
        let received = Event::PaymentReceived {
            payment_id: Some(PaymentId([3; 32])),
            payment_hash: PaymentHash([3; 32]),
            amount_msat: 50_000,
            custom_records: vec![],
        };
        let payment = payment_from_event(&received, None, NOW).unwrap();
        assert_eq!(payment.direction(), PaymentDirection::Inbound);
        assert_eq!(payment.status(), PaymentStatus::Succeeded);
        assert_eq!(payment.amount_msat, Some(50_000));
        let claimable = Event::PaymentClaimable {
            payment_id: PaymentId([4; 32]),
            payment_hash: PaymentHash([4; 32]),
            claimable_amount_msat: 70_000,
            claim_deadline: Some(500),
            custom_records: vec![],
        };
        let payment = payment_from_event(&claimable, None, NOW).unwrap();
        assert_eq!(payment.status(), PaymentStatus::Pending);
        assert_eq!(payment.amount_msat, Some(70_000));
    }

    #[test]
    fn the_event_is_laid_over_the_stored_copy() {
        let stored = Payment {
            id: "05".repeat(32),
            kind: Some(PaymentKind {
                kind: Some(Kind::Spontaneous(types::Spontaneous {
                    hash: "05".repeat(32),
                    preimage: None,
                })),
            }),
            amount_msat: Some(99_000),
            fee_paid_msat: None,
            direction: PaymentDirection::Outbound.into(),
            status: PaymentStatus::Pending.into(),
            latest_update_timestamp: NOW - 50,
        };
        let payment = payment_from_event(&successful([5; 32], [5; 32]), Some(stored), NOW).unwrap();
        assert_eq!(payment.amount_msat, Some(99_000), "the stored amount stays");
        assert_eq!(payment.status(), PaymentStatus::Succeeded);
        assert_eq!(
            kind_of(&payment),
            &Kind::Spontaneous(types::Spontaneous {
                hash: "05".repeat(32),
                preimage: Some("09".repeat(32)),
            })
        );
    }

    #[test]
    fn a_late_failure_does_not_undo_a_success() {
        let succeeded = payment_from_event(&successful([6; 32], [6; 32]), None, NOW).unwrap();
        let failed = Event::PaymentFailed {
            payment_id: Some(PaymentId([6; 32])),
            payment_hash: Some(PaymentHash([6; 32])),
            reason: None,
        };
        let after = payment_from_event(&failed, Some(succeeded.clone()), NOW + 9).unwrap();
        assert_eq!(after, succeeded);
        let fresh = payment_from_event(&failed, None, NOW).unwrap();
        assert_eq!(fresh.status(), PaymentStatus::Failed);
        assert_eq!(fresh.direction(), PaymentDirection::Outbound);
    }

    #[test]
    fn events_without_a_payment_id_or_not_about_payments_give_nothing() {
        let no_id = Event::PaymentFailed {
            payment_id: None,
            payment_hash: None,
            reason: None,
        };
        assert_eq!(payment_from_event(&no_id, None, NOW), None);
        let channel = Event::ChannelReady {
            channel_id: ldk_node::lightning::ln::types::ChannelId([1; 32]),
            user_channel_id: ldk_node::UserChannelId(1),
            counterparty_node_id: None,
            funding_txo: None,
        };
        assert_eq!(payment_from_event(&channel, None, NOW), None);
    }
}
