//! ldk-node events into `events::EventEnvelope`s for SubscribeEvents.
//!
//! Channel lifecycle events become `ChannelStateChanged`; payment events carry a
//! `types::Payment` the caller has already read from the node and converted (the event
//! itself holds only ids); `PaymentForwarded` becomes a `types::ForwardedPayment`. Other
//! ldk-node events (`SplicePending`, `SpliceFailed`) have no envelope.

use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::lightning::events::ClosureReason;
use ldk_node::lightning::ln::channelmanager::PaymentId;
use ldk_node::lightning::ln::types::ChannelId;
use ldk_node::{CustomTlvRecord, Event, UserChannelId};

use super::channels::{channel_id_hex, outpoint_string, user_channel_id_string};
use super::payments::{payment_hash_hex, payment_id_hex};
use crate::proto::events::{
    self, channel_state_change_reason::Details, event_envelope, ChannelClosureInitiator,
    ChannelState, ChannelStateChangeReasonKind,
};
use crate::proto::types;

/// Why an event could not be turned into an envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventConversionError {
    /// A payment event without a payment id (only events of payments made before
    /// ldk-node 0.3 lack one); there is no payment to report.
    #[error("payment event carries no payment id")]
    MissingPaymentId,
    /// A payment event whose payment the caller did not supply (not in the node's store).
    #[error("payment {0} of a payment event was not supplied")]
    MissingPayment(String),
}

/// The payment a payment event is about, for the caller to look up with `node.payment(..)`.
/// `None` for events that are not about one payment, or whose id is missing.
pub fn event_payment_id(event: &Event) -> Option<PaymentId> {
    match event {
        Event::PaymentSuccessful { payment_id, .. }
        | Event::PaymentFailed { payment_id, .. }
        | Event::PaymentReceived { payment_id, .. } => *payment_id,
        Event::PaymentClaimable { payment_id, .. } => Some(*payment_id),
        _ => None,
    }
}

/// Whether the event's envelope needs a payment from the caller.
pub fn is_payment_event(event: &Event) -> bool {
    matches!(
        event,
        Event::PaymentSuccessful { .. }
            | Event::PaymentFailed { .. }
            | Event::PaymentReceived { .. }
            | Event::PaymentClaimable { .. }
    )
}

/// The envelope for `event`, or `Ok(None)` for events that are not streamed.
///
/// `payment` must be the converted payment of [`event_payment_id`] for payment events (it
/// is ignored otherwise). `channel_was_ever_ready` matters only for `ChannelClosed`: the
/// caller tracks which channels reached ChannelReady (seeded at startup from
/// `list_channels().is_channel_ready`), because a close before that is reported as
/// CHANNEL_STATE_OPEN_FAILED for the reasons that mean "the open never completed".
pub fn event_envelope(
    event: &Event,
    payment: Option<types::Payment>,
    channel_was_ever_ready: bool,
) -> Result<Option<events::EventEnvelope>, EventConversionError> {
    use event_envelope::Event as Envelope;
    let envelope = match event {
        Event::ChannelPending { .. } | Event::ChannelReady { .. } | Event::ChannelClosed { .. } => {
            channel_state_changed(event, channel_was_ever_ready).map(Envelope::ChannelStateChanged)
        }
        Event::PaymentForwarded { .. } => forwarded_payment(event).map(|forwarded_payment| {
            Envelope::PaymentForwarded(events::PaymentForwarded {
                forwarded_payment: Some(forwarded_payment),
            })
        }),
        Event::PaymentReceived { custom_records, .. } => {
            let payment = required_payment(event, payment)?;
            Some(Envelope::PaymentReceived(events::PaymentReceived {
                payment: Some(payment),
                custom_records: custom_records_to_proto(custom_records),
            }))
        }
        Event::PaymentSuccessful { .. } => {
            let payment = required_payment(event, payment)?;
            Some(Envelope::PaymentSuccessful(events::PaymentSuccessful {
                payment: Some(payment),
            }))
        }
        Event::PaymentFailed { .. } => {
            let payment = required_payment(event, payment)?;
            Some(Envelope::PaymentFailed(events::PaymentFailed {
                payment: Some(payment),
            }))
        }
        Event::PaymentClaimable {
            custom_records,
            claim_deadline,
            ..
        } => {
            let payment = required_payment(event, payment)?;
            Some(Envelope::PaymentClaimable(events::PaymentClaimable {
                payment: Some(payment),
                custom_records: custom_records_to_proto(custom_records),
                claim_deadline: *claim_deadline,
            }))
        }
        _ => None,
    };
    Ok(envelope.map(|event| events::EventEnvelope {
        event: Some(event),
        ..Default::default()
    }))
}

fn required_payment(
    event: &Event,
    payment: Option<types::Payment>,
) -> Result<types::Payment, EventConversionError> {
    let payment_id = event_payment_id(event).ok_or(EventConversionError::MissingPaymentId)?;
    payment.ok_or_else(|| EventConversionError::MissingPayment(payment_id_hex(&payment_id)))
}

/// Every name [`envelope_event_name`] gives, for metrics labels.
pub const EVENT_NAMES: [&str; 6] = [
    "payment_received",
    "payment_successful",
    "payment_failed",
    "payment_forwarded",
    "payment_claimable",
    "channel_state_changed",
];

/// The short name of an envelope's event (`payment_received`, `channel_state_changed`, ...),
/// for logs and metric labels.
pub fn envelope_event_name(envelope: &events::EventEnvelope) -> &'static str {
    use event_envelope::Event as Envelope;
    match &envelope.event {
        Some(Envelope::PaymentReceived(_)) => "payment_received",
        Some(Envelope::PaymentSuccessful(_)) => "payment_successful",
        Some(Envelope::PaymentFailed(_)) => "payment_failed",
        Some(Envelope::PaymentForwarded(_)) => "payment_forwarded",
        Some(Envelope::PaymentClaimable(_)) => "payment_claimable",
        Some(Envelope::ChannelStateChanged(_)) => "channel_state_changed",
        None => "empty",
    }
}

/// `ChannelStateChanged` for ChannelPending, ChannelReady and ChannelClosed; `None` for
/// any other event.
pub fn channel_state_changed(
    event: &Event,
    channel_was_ever_ready: bool,
) -> Option<events::ChannelStateChanged> {
    match event {
        Event::ChannelPending {
            channel_id,
            user_channel_id,
            counterparty_node_id,
            funding_txo,
            ..
        } => Some(events::ChannelStateChanged {
            counterparty_node_id: Some(counterparty_node_id.to_string()),
            funding_txo: Some(outpoint_string(funding_txo)),
            ..state_change(channel_id, user_channel_id, ChannelState::Pending)
        }),
        Event::ChannelReady {
            channel_id,
            user_channel_id,
            counterparty_node_id,
            funding_txo,
        } => Some(events::ChannelStateChanged {
            counterparty_node_id: counterparty_node_id.as_ref().map(PublicKey::to_string),
            funding_txo: funding_txo.as_ref().map(outpoint_string),
            ..state_change(channel_id, user_channel_id, ChannelState::Ready)
        }),
        Event::ChannelClosed {
            channel_id,
            user_channel_id,
            counterparty_node_id,
            reason,
        } => {
            let state = closed_channel_state(reason.as_ref(), channel_was_ever_ready);
            Some(events::ChannelStateChanged {
                counterparty_node_id: counterparty_node_id.as_ref().map(PublicKey::to_string),
                reason: reason.as_ref().map(closure_reason_to_proto),
                closure_initiator: closure_initiator(reason.as_ref()).into(),
                ..state_change(channel_id, user_channel_id, state)
            })
        }
        _ => None,
    }
}

fn state_change(
    channel_id: &ChannelId,
    user_channel_id: &UserChannelId,
    state: ChannelState,
) -> events::ChannelStateChanged {
    events::ChannelStateChanged {
        channel_id: channel_id_hex(channel_id),
        user_channel_id: user_channel_id_string(user_channel_id),
        counterparty_node_id: None,
        state: state.into(),
        funding_txo: None,
        reason: None,
        closure_initiator: ChannelClosureInitiator::Unspecified.into(),
    }
}

/// CLOSED, or OPEN_FAILED when a channel that never became ready closed for a reason that
/// means its opening did not complete.
pub fn closed_channel_state(
    reason: Option<&ClosureReason>,
    channel_was_ever_ready: bool,
) -> ChannelState {
    if !channel_was_ever_ready && is_open_failure_reason(reason) {
        ChannelState::OpenFailed
    } else {
        ChannelState::Closed
    }
}

/// Reasons that mean a channel's opening did not complete.
pub fn is_open_failure_reason(reason: Option<&ClosureReason>) -> bool {
    matches!(
        reason,
        Some(
            ClosureReason::FundingTimedOut
                | ClosureReason::DisconnectedPeer
                | ClosureReason::CounterpartyCoopClosedUnfundedChannel
                | ClosureReason::LocallyCoopClosedUnfundedChannel
                | ClosureReason::FundingBatchClosure
        )
    )
}

/// Who closed the channel: LOCAL or REMOTE where the reason says so, UNKNOWN for the other
/// reasons, UNSPECIFIED when no reason is known.
pub fn closure_initiator(reason: Option<&ClosureReason>) -> ChannelClosureInitiator {
    match reason {
        None => ChannelClosureInitiator::Unspecified,
        Some(
            ClosureReason::HolderForceClosed { .. }
            | ClosureReason::LocallyInitiatedCooperativeClosure
            | ClosureReason::LocallyCoopClosedUnfundedChannel,
        ) => ChannelClosureInitiator::Local,
        Some(
            ClosureReason::CounterpartyForceClosed { .. }
            | ClosureReason::CounterpartyInitiatedCooperativeClosure
            | ClosureReason::CounterpartyCoopClosedUnfundedChannel,
        ) => ChannelClosureInitiator::Remote,
        Some(_) => ChannelClosureInitiator::Unknown,
    }
}

/// The reason of a close: its kind, LDK's description of it, and the details some kinds
/// carry.
pub fn closure_reason_to_proto(reason: &ClosureReason) -> events::ChannelStateChangeReason {
    events::ChannelStateChangeReason {
        kind: closure_reason_kind(reason).into(),
        message: reason.to_string(),
        details: closure_reason_details(reason),
    }
}

/// The wire kind of an LDK closure reason (values 1 to 15, in LDK's variant order).
pub fn closure_reason_kind(reason: &ClosureReason) -> ChannelStateChangeReasonKind {
    use ChannelStateChangeReasonKind as Kind;
    match reason {
        ClosureReason::CounterpartyForceClosed { .. } => Kind::CounterpartyForceClosed,
        ClosureReason::HolderForceClosed { .. } => Kind::HolderForceClosed,
        ClosureReason::LegacyCooperativeClosure => Kind::LegacyCooperativeClosure,
        ClosureReason::CounterpartyInitiatedCooperativeClosure => {
            Kind::CounterpartyInitiatedCooperativeClosure
        }
        ClosureReason::LocallyInitiatedCooperativeClosure => {
            Kind::LocallyInitiatedCooperativeClosure
        }
        ClosureReason::CommitmentTxConfirmed => Kind::CommitmentTxConfirmed,
        ClosureReason::FundingTimedOut => Kind::FundingTimedOut,
        ClosureReason::ProcessingError { .. } => Kind::ProcessingError,
        ClosureReason::DisconnectedPeer => Kind::DisconnectedPeer,
        ClosureReason::OutdatedChannelManager => Kind::OutdatedChannelManager,
        ClosureReason::CounterpartyCoopClosedUnfundedChannel => {
            Kind::CounterpartyCoopClosedUnfundedChannel
        }
        ClosureReason::LocallyCoopClosedUnfundedChannel => Kind::LocallyCoopClosedUnfundedChannel,
        ClosureReason::FundingBatchClosure => Kind::FundingBatchClosure,
        ClosureReason::HTLCsTimedOut { .. } => Kind::HtlcsTimedOut,
        ClosureReason::PeerFeerateTooLow { .. } => Kind::PeerFeerateTooLow,
    }
}

fn closure_reason_details(reason: &ClosureReason) -> Option<Details> {
    match reason {
        ClosureReason::CounterpartyForceClosed { peer_msg } => Some(
            Details::CounterpartyForceClosed(events::CounterpartyForceClosedDetails {
                peer_msg: peer_msg.to_string(),
            }),
        ),
        ClosureReason::HolderForceClosed {
            broadcasted_latest_txn,
            message,
        } => Some(Details::HolderForceClosed(
            events::HolderForceClosedDetails {
                broadcasted_latest_txn: *broadcasted_latest_txn,
                message: message.clone(),
            },
        )),
        ClosureReason::ProcessingError { err } => {
            Some(Details::ProcessingError(events::ProcessingErrorDetails {
                err: err.clone(),
            }))
        }
        ClosureReason::HTLCsTimedOut { payment_hash } => {
            Some(Details::HtlcsTimedOut(events::HtlcsTimedOutDetails {
                payment_hash: payment_hash.as_ref().map(payment_hash_hex),
            }))
        }
        ClosureReason::PeerFeerateTooLow {
            peer_feerate_sat_per_kw,
            required_feerate_sat_per_kw,
        } => Some(Details::PeerFeerateTooLow(
            events::PeerFeerateTooLowDetails {
                peer_feerate_sat_per_kw: *peer_feerate_sat_per_kw,
                required_feerate_sat_per_kw: *required_feerate_sat_per_kw,
            },
        )),
        _ => None,
    }
}

/// The forwarding record of a `PaymentForwarded` event (`None` for other events).
/// ldk-node 0.7.1 reports one inbound and one outbound HTLC, so `prev_htlcs` and
/// `next_htlcs` have one element each.
pub fn forwarded_payment(event: &Event) -> Option<types::ForwardedPayment> {
    let Event::PaymentForwarded {
        prev_channel_id,
        next_channel_id,
        prev_user_channel_id,
        next_user_channel_id,
        prev_node_id,
        next_node_id,
        total_fee_earned_msat,
        skimmed_fee_msat,
        claim_from_onchain_tx,
        outbound_amount_forwarded_msat,
    } = event
    else {
        return None;
    };
    Some(types::ForwardedPayment {
        total_fee_earned_msat: *total_fee_earned_msat,
        skimmed_fee_msat: *skimmed_fee_msat,
        claim_from_onchain_tx: *claim_from_onchain_tx,
        outbound_amount_forwarded_msat: *outbound_amount_forwarded_msat,
        prev_htlcs: vec![htlc_locator(
            prev_channel_id,
            prev_user_channel_id.as_ref(),
            prev_node_id.as_ref(),
        )],
        next_htlcs: vec![htlc_locator(
            next_channel_id,
            next_user_channel_id.as_ref(),
            next_node_id.as_ref(),
        )],
    })
}

/// Where one HTLC of a forward travelled: channel, our id for it, and the peer.
pub fn htlc_locator(
    channel_id: &ChannelId,
    user_channel_id: Option<&UserChannelId>,
    node_id: Option<&PublicKey>,
) -> types::HtlcLocator {
    types::HtlcLocator {
        channel_id: channel_id_hex(channel_id),
        user_channel_id: user_channel_id.map(user_channel_id_string),
        node_id: node_id.map(PublicKey::to_string),
    }
}

/// Custom TLV records received with a payment.
pub fn custom_records_to_proto(records: &[CustomTlvRecord]) -> Vec<types::CustomTlvRecord> {
    records
        .iter()
        .map(|record| types::CustomTlvRecord {
            type_num: record.type_num,
            value: record.value.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use ldk_node::bitcoin::{OutPoint, Txid};
    use ldk_node::lightning_types::payment::PaymentHash;
    use ldk_node::lightning_types::string::UntrustedString;

    use super::*;
    use event_envelope::Event as Envelope;

    const NODE_ID: &str = "02eec7245d6b7d2ccb30380bfbe2a3648cd7a942653f5aa340edcea1f283686619";
    const OTHER_NODE: &str = "0324653eac434488002cc06bbfb7f10fe18991e35f9fe4302dbea6d2353dc0ab1c";
    const TXID: &str = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b";

    fn node(hex: &str) -> PublicKey {
        PublicKey::from_str(hex).unwrap()
    }

    fn outpoint() -> OutPoint {
        OutPoint {
            txid: Txid::from_str(TXID).unwrap(),
            vout: 2,
        }
    }

    /// Every LDK closure reason with the wire kind number it must map to.
    fn all_reasons() -> Vec<(ClosureReason, i32)> {
        vec![
            (
                ClosureReason::CounterpartyForceClosed {
                    peer_msg: UntrustedString("bye".into()),
                },
                1,
            ),
            (
                ClosureReason::HolderForceClosed {
                    broadcasted_latest_txn: Some(true),
                    message: "operator".into(),
                },
                2,
            ),
            (ClosureReason::LegacyCooperativeClosure, 3),
            (ClosureReason::CounterpartyInitiatedCooperativeClosure, 4),
            (ClosureReason::LocallyInitiatedCooperativeClosure, 5),
            (ClosureReason::CommitmentTxConfirmed, 6),
            (ClosureReason::FundingTimedOut, 7),
            (ClosureReason::ProcessingError { err: "boom".into() }, 8),
            (ClosureReason::DisconnectedPeer, 9),
            (ClosureReason::OutdatedChannelManager, 10),
            (ClosureReason::CounterpartyCoopClosedUnfundedChannel, 11),
            (ClosureReason::LocallyCoopClosedUnfundedChannel, 12),
            (ClosureReason::FundingBatchClosure, 13),
            (
                ClosureReason::HTLCsTimedOut {
                    payment_hash: Some(PaymentHash([4; 32])),
                },
                14,
            ),
            (
                ClosureReason::PeerFeerateTooLow {
                    peer_feerate_sat_per_kw: 253,
                    required_feerate_sat_per_kw: 1000,
                },
                15,
            ),
        ]
    }

    #[test]
    fn closure_reason_kinds_are_numbered_in_ldk_order() {
        for (reason, number) in all_reasons() {
            let proto = closure_reason_to_proto(&reason);
            assert_eq!(proto.kind, number, "{reason:?}");
            assert_eq!(proto.message, reason.to_string());
        }
    }

    #[test]
    fn closure_reason_details() {
        let details = |reason: &ClosureReason| closure_reason_to_proto(reason).details;
        let reasons: Vec<_> = all_reasons()
            .into_iter()
            .map(|(reason, _)| reason)
            .collect();
        assert_eq!(
            details(&reasons[0]),
            Some(Details::CounterpartyForceClosed(
                events::CounterpartyForceClosedDetails {
                    peer_msg: "bye".into()
                }
            ))
        );
        assert_eq!(
            details(&reasons[1]),
            Some(Details::HolderForceClosed(
                events::HolderForceClosedDetails {
                    broadcasted_latest_txn: Some(true),
                    message: "operator".into()
                }
            ))
        );
        assert_eq!(
            details(&reasons[7]),
            Some(Details::ProcessingError(events::ProcessingErrorDetails {
                err: "boom".into()
            }))
        );
        assert_eq!(
            details(&reasons[13]),
            Some(Details::HtlcsTimedOut(events::HtlcsTimedOutDetails {
                payment_hash: Some("04".repeat(32))
            }))
        );
        assert_eq!(
            details(&reasons[14]),
            Some(Details::PeerFeerateTooLow(
                events::PeerFeerateTooLowDetails {
                    peer_feerate_sat_per_kw: 253,
                    required_feerate_sat_per_kw: 1000
                }
            ))
        );
        for index in [2, 3, 4, 5, 6, 8, 9, 10, 11, 12] {
            assert_eq!(details(&reasons[index]), None, "{:?}", reasons[index]);
        }
        assert_eq!(
            details(&ClosureReason::HTLCsTimedOut { payment_hash: None }),
            Some(Details::HtlcsTimedOut(events::HtlcsTimedOutDetails {
                payment_hash: None
            }))
        );
    }

    #[test]
    fn initiators() {
        use ChannelClosureInitiator::*;
        let expected = [
            Remote, Local, Unknown, Remote, Local, Unknown, Unknown, Unknown, Unknown, Unknown,
            Remote, Local, Unknown, Unknown, Unknown,
        ];
        for ((reason, _), initiator) in all_reasons().into_iter().zip(expected) {
            assert_eq!(closure_initiator(Some(&reason)), initiator, "{reason:?}");
        }
        assert_eq!(closure_initiator(None), Unspecified);
    }

    #[test]
    fn open_failed_only_for_never_ready_channels_and_opening_reasons() {
        let opening_failures = [7, 9, 11, 12, 13];
        for (reason, number) in all_reasons() {
            let expected = if opening_failures.contains(&number) {
                ChannelState::OpenFailed
            } else {
                ChannelState::Closed
            };
            assert_eq!(
                closed_channel_state(Some(&reason), false),
                expected,
                "{reason:?}"
            );
            assert_eq!(
                closed_channel_state(Some(&reason), true),
                ChannelState::Closed
            );
        }
        assert_eq!(closed_channel_state(None, false), ChannelState::Closed);
    }

    fn state_changed(event: &Event, was_ready: bool) -> events::ChannelStateChanged {
        match event_envelope(event, None, was_ready)
            .unwrap()
            .unwrap()
            .event
        {
            Some(Envelope::ChannelStateChanged(changed)) => changed,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn channel_lifecycle_envelopes() {
        let pending = state_changed(
            &Event::ChannelPending {
                channel_id: ChannelId([1; 32]),
                user_channel_id: UserChannelId(77),
                former_temporary_channel_id: ChannelId([2; 32]),
                counterparty_node_id: node(NODE_ID),
                funding_txo: outpoint(),
            },
            false,
        );
        assert_eq!(pending.channel_id, "01".repeat(32));
        assert_eq!(pending.user_channel_id, "77");
        assert_eq!(pending.counterparty_node_id.as_deref(), Some(NODE_ID));
        assert_eq!(pending.state(), ChannelState::Pending);
        assert_eq!(pending.funding_txo, Some(format!("{TXID}:2")));
        assert_eq!(pending.reason, None);
        assert_eq!(
            pending.closure_initiator(),
            ChannelClosureInitiator::Unspecified
        );

        let ready = state_changed(
            &Event::ChannelReady {
                channel_id: ChannelId([1; 32]),
                user_channel_id: UserChannelId(77),
                counterparty_node_id: None,
                funding_txo: Some(outpoint()),
            },
            false,
        );
        assert_eq!(ready.state(), ChannelState::Ready);
        assert_eq!(ready.counterparty_node_id, None);
        assert_eq!(ready.funding_txo, Some(format!("{TXID}:2")));

        let closed_event = Event::ChannelClosed {
            channel_id: ChannelId([1; 32]),
            user_channel_id: UserChannelId(77),
            counterparty_node_id: Some(node(NODE_ID)),
            reason: Some(ClosureReason::LocallyCoopClosedUnfundedChannel),
        };
        let open_failed = state_changed(&closed_event, false);
        assert_eq!(open_failed.state(), ChannelState::OpenFailed);
        assert_eq!(open_failed.funding_txo, None);
        assert_eq!(
            open_failed.closure_initiator(),
            ChannelClosureInitiator::Local
        );
        let reason = open_failed.reason.unwrap();
        assert_eq!(
            reason.kind(),
            ChannelStateChangeReasonKind::LocallyCoopClosedUnfundedChannel
        );
        assert_eq!(
            reason.message,
            "Channel closed because we requested the unfunded channel be closed"
        );
        assert_eq!(
            state_changed(&closed_event, true).state(),
            ChannelState::Closed
        );

        let no_reason = state_changed(
            &Event::ChannelClosed {
                channel_id: ChannelId([1; 32]),
                user_channel_id: UserChannelId(77),
                counterparty_node_id: None,
                reason: None,
            },
            false,
        );
        assert_eq!(no_reason.state(), ChannelState::Closed);
        assert_eq!(
            (&no_reason.reason, &no_reason.counterparty_node_id),
            (&None, &None)
        );
        assert_eq!(
            no_reason.closure_initiator(),
            ChannelClosureInitiator::Unspecified
        );
    }

    fn sample_payment() -> types::Payment {
        types::Payment {
            id: "ab".repeat(32),
            amount_msat: Some(1_000),
            ..Default::default()
        }
    }

    #[test]
    fn payment_envelopes_carry_the_supplied_payment() {
        let records = vec![CustomTlvRecord {
            type_num: 65_537,
            value: vec![1, 2],
        }];
        let received = Event::PaymentReceived {
            payment_id: Some(PaymentId([0xab; 32])),
            payment_hash: PaymentHash([1; 32]),
            amount_msat: 1_000,
            custom_records: records.clone(),
        };
        assert_eq!(event_payment_id(&received), Some(PaymentId([0xab; 32])));
        assert!(is_payment_event(&received));
        let envelope = event_envelope(&received, Some(sample_payment()), false)
            .unwrap()
            .unwrap();
        assert_eq!(envelope_event_name(&envelope), "payment_received");
        let Some(Envelope::PaymentReceived(event)) = envelope.event else {
            panic!()
        };
        assert_eq!(event.payment, Some(sample_payment()));
        assert_eq!(event.custom_records.len(), 1);
        assert_eq!(event.custom_records[0].type_num, 65_537);
        assert_eq!(event.custom_records[0].value.to_vec(), vec![1, 2]);

        let claimable = Event::PaymentClaimable {
            payment_id: PaymentId([0xab; 32]),
            payment_hash: PaymentHash([1; 32]),
            claimable_amount_msat: 1_000,
            claim_deadline: Some(900),
            custom_records: Vec::new(),
        };
        let envelope = event_envelope(&claimable, Some(sample_payment()), false)
            .unwrap()
            .unwrap();
        let Some(Envelope::PaymentClaimable(event)) = envelope.event else {
            panic!()
        };
        assert_eq!(event.claim_deadline, Some(900));
        assert_eq!(event.payment, Some(sample_payment()));

        let successful = Event::PaymentSuccessful {
            payment_id: Some(PaymentId([0xab; 32])),
            payment_hash: PaymentHash([1; 32]),
            payment_preimage: None,
            fee_paid_msat: Some(3),
        };
        let envelope = event_envelope(&successful, Some(sample_payment()), false)
            .unwrap()
            .unwrap();
        assert!(
            matches!(envelope.event, Some(Envelope::PaymentSuccessful(ref e)) if e.payment == Some(sample_payment()))
        );

        let failed = Event::PaymentFailed {
            payment_id: Some(PaymentId([0xab; 32])),
            payment_hash: None,
            reason: None,
        };
        let envelope = event_envelope(&failed, Some(sample_payment()), false)
            .unwrap()
            .unwrap();
        assert_eq!(envelope_event_name(&envelope), "payment_failed");

        assert_eq!(
            event_envelope(&failed, None, false),
            Err(EventConversionError::MissingPayment("ab".repeat(32)))
        );
        let anonymous = Event::PaymentFailed {
            payment_id: None,
            payment_hash: None,
            reason: None,
        };
        assert_eq!(
            event_envelope(&anonymous, None, false),
            Err(EventConversionError::MissingPaymentId)
        );
    }

    #[test]
    fn forwarded_payment_has_one_htlc_each_way() {
        let event = Event::PaymentForwarded {
            prev_channel_id: ChannelId([1; 32]),
            next_channel_id: ChannelId([2; 32]),
            prev_user_channel_id: Some(UserChannelId(5)),
            next_user_channel_id: None,
            prev_node_id: Some(node(NODE_ID)),
            next_node_id: Some(node(OTHER_NODE)),
            total_fee_earned_msat: Some(10),
            skimmed_fee_msat: Some(1),
            claim_from_onchain_tx: true,
            outbound_amount_forwarded_msat: Some(100_000),
        };
        assert!(!is_payment_event(&event));
        let envelope = event_envelope(&event, None, false).unwrap().unwrap();
        assert_eq!(envelope_event_name(&envelope), "payment_forwarded");
        let Some(Envelope::PaymentForwarded(forwarded)) = envelope.event else {
            panic!()
        };
        let forwarded = forwarded.forwarded_payment.unwrap();
        assert_eq!(forwarded.total_fee_earned_msat, Some(10));
        assert_eq!(forwarded.skimmed_fee_msat, Some(1));
        assert!(forwarded.claim_from_onchain_tx);
        assert_eq!(forwarded.outbound_amount_forwarded_msat, Some(100_000));
        assert_eq!(
            forwarded.prev_htlcs,
            vec![types::HtlcLocator {
                channel_id: "01".repeat(32),
                user_channel_id: Some("5".into()),
                node_id: Some(NODE_ID.into())
            }]
        );
        assert_eq!(
            forwarded.next_htlcs,
            vec![types::HtlcLocator {
                channel_id: "02".repeat(32),
                user_channel_id: None,
                node_id: Some(OTHER_NODE.into())
            }]
        );
    }

    #[test]
    fn splice_events_have_no_envelope() {
        let event = Event::SplicePending {
            channel_id: ChannelId([1; 32]),
            user_channel_id: UserChannelId(1),
            counterparty_node_id: node(NODE_ID),
            new_funding_txo: outpoint(),
        };
        assert_eq!(event_envelope(&event, None, true), Ok(None));
        assert_eq!(event_payment_id(&event), None);
    }
}
