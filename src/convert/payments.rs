//! ldk-node payments (`PaymentDetails`) into `types::Payment`.
//!
//! ldk-node 0.7.1 keeps JIT-channel invoice payments in a separate `PaymentKind::Bolt11Jit`;
//! the wire contract has no such kind, so they become `types::Bolt11` carrying the fee the
//! LSP skimmed. The LSP fee limits of such a payment have no field on the wire.

use ldk_node::lightning::ln::channelmanager::PaymentId;
use ldk_node::lightning_types::payment::{PaymentHash, PaymentPreimage, PaymentSecret};
use ldk_node::payment::{
    ConfirmationStatus, PaymentDetails, PaymentDirection, PaymentKind, PaymentStatus,
    QrPaymentResult,
};

use super::lower_hex;
use crate::proto::{api, types};

/// A payment as the API reports it.
pub fn payment_to_proto(payment: &PaymentDetails) -> types::Payment {
    types::Payment {
        id: payment_id_hex(&payment.id),
        kind: Some(payment_kind_to_proto(&payment.kind)),
        amount_msat: payment.amount_msat,
        fee_paid_msat: payment.fee_paid_msat,
        direction: direction_to_proto(payment.direction).into(),
        status: status_to_proto(payment.status).into(),
        latest_update_timestamp: payment.latest_update_timestamp,
    }
}

/// A payment id as 64 lowercase hex characters (also the key of the payment store).
pub fn payment_id_hex(id: &PaymentId) -> String {
    lower_hex(id.0)
}

/// A payment hash as 64 lowercase hex characters.
pub fn payment_hash_hex(hash: &PaymentHash) -> String {
    lower_hex(hash.0)
}

/// A payment preimage as 64 lowercase hex characters.
pub fn payment_preimage_hex(preimage: &PaymentPreimage) -> String {
    lower_hex(preimage.0)
}

fn secret_bytes(secret: &Option<PaymentSecret>) -> Option<Vec<u8>> {
    secret.as_ref().map(|secret| secret.0.to_vec())
}

/// The kind-specific part of a payment.
pub fn payment_kind_to_proto(kind: &PaymentKind) -> types::PaymentKind {
    use types::payment_kind::Kind;
    let kind = match kind {
        PaymentKind::Onchain { txid, status } => Kind::Onchain(types::Onchain {
            txid: txid.to_string(),
            status: Some(confirmation_status_to_proto(status)),
        }),
        PaymentKind::Bolt11 {
            hash,
            preimage,
            secret,
        } => Kind::Bolt11(types::Bolt11 {
            hash: payment_hash_hex(hash),
            preimage: preimage.as_ref().map(payment_preimage_hex),
            secret: secret_bytes(secret),
            counterparty_skimmed_fee_msat: None,
        }),
        PaymentKind::Bolt11Jit {
            hash,
            preimage,
            secret,
            counterparty_skimmed_fee_msat,
            ..
        } => Kind::Bolt11(types::Bolt11 {
            hash: payment_hash_hex(hash),
            preimage: preimage.as_ref().map(payment_preimage_hex),
            secret: secret_bytes(secret),
            counterparty_skimmed_fee_msat: *counterparty_skimmed_fee_msat,
        }),
        PaymentKind::Bolt12Offer {
            hash,
            preimage,
            secret,
            offer_id,
            payer_note,
            quantity,
        } => Kind::Bolt12Offer(types::Bolt12Offer {
            hash: hash.as_ref().map(payment_hash_hex),
            preimage: preimage.as_ref().map(payment_preimage_hex),
            secret: secret_bytes(secret),
            offer_id: lower_hex(offer_id.0),
            payer_note: payer_note.as_ref().map(ToString::to_string),
            quantity: *quantity,
        }),
        PaymentKind::Bolt12Refund {
            hash,
            preimage,
            secret,
            payer_note,
            quantity,
        } => Kind::Bolt12Refund(types::Bolt12Refund {
            hash: hash.as_ref().map(payment_hash_hex),
            preimage: preimage.as_ref().map(payment_preimage_hex),
            secret: secret_bytes(secret),
            payer_note: payer_note.as_ref().map(ToString::to_string),
            quantity: *quantity,
        }),
        PaymentKind::Spontaneous { hash, preimage } => Kind::Spontaneous(types::Spontaneous {
            hash: payment_hash_hex(hash),
            preimage: preimage.as_ref().map(payment_preimage_hex),
        }),
    };
    types::PaymentKind { kind: Some(kind) }
}

/// Whether an on-chain payment is confirmed, and where.
pub fn confirmation_status_to_proto(status: &ConfirmationStatus) -> types::ConfirmationStatus {
    use types::confirmation_status::Status;
    let status = match status {
        ConfirmationStatus::Confirmed {
            block_hash,
            height,
            timestamp,
        } => Status::Confirmed(types::Confirmed {
            block_hash: block_hash.to_string(),
            height: *height,
            timestamp: *timestamp,
        }),
        ConfirmationStatus::Unconfirmed => Status::Unconfirmed(types::Unconfirmed {}),
    };
    types::ConfirmationStatus {
        status: Some(status),
    }
}

/// Inbound or outbound.
pub fn direction_to_proto(direction: PaymentDirection) -> types::PaymentDirection {
    match direction {
        PaymentDirection::Inbound => types::PaymentDirection::Inbound,
        PaymentDirection::Outbound => types::PaymentDirection::Outbound,
    }
}

/// Pending, succeeded or failed.
pub fn status_to_proto(status: PaymentStatus) -> types::PaymentStatus {
    match status {
        PaymentStatus::Pending => types::PaymentStatus::Pending,
        PaymentStatus::Succeeded => types::PaymentStatus::Succeeded,
        PaymentStatus::Failed => types::PaymentStatus::Failed,
    }
}

/// The UnifiedSend answer for what ldk-node's unified QR payment did: an on-chain
/// transaction, or a BOLT 11 or BOLT 12 payment.
pub fn unified_send_result_to_proto(result: &QrPaymentResult) -> api::UnifiedSendResponse {
    use api::unified_send_response::PaymentResult;
    let payment_result = match result {
        QrPaymentResult::Onchain { txid } => PaymentResult::Txid(txid.to_string()),
        QrPaymentResult::Bolt11 { payment_id } => {
            PaymentResult::Bolt11PaymentId(payment_id_hex(payment_id))
        }
        QrPaymentResult::Bolt12 { payment_id } => {
            PaymentResult::Bolt12PaymentId(payment_id_hex(payment_id))
        }
    };
    api::UnifiedSendResponse {
        payment_result: Some(payment_result),
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use ldk_node::bitcoin::{BlockHash, Txid};
    use ldk_node::lightning::offers::offer::OfferId;
    use ldk_node::lightning_types::string::UntrustedString;
    use ldk_node::payment::LSPFeeLimits;

    use super::*;
    use types::payment_kind::Kind;

    const TXID: &str = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b";

    fn details(kind: PaymentKind) -> PaymentDetails {
        PaymentDetails {
            id: PaymentId([0xab; 32]),
            kind,
            amount_msat: Some(21_000),
            fee_paid_msat: Some(12),
            direction: PaymentDirection::Outbound,
            status: PaymentStatus::Succeeded,
            latest_update_timestamp: 1_700_000_000,
        }
    }

    fn kind_of(payment: &types::Payment) -> &Kind {
        payment
            .kind
            .as_ref()
            .and_then(|kind| kind.kind.as_ref())
            .unwrap()
    }

    #[test]
    fn common_fields() {
        let payment = payment_to_proto(&details(PaymentKind::Spontaneous {
            hash: PaymentHash([1; 32]),
            preimage: None,
        }));
        assert_eq!(payment.id, "ab".repeat(32));
        assert_eq!(payment.amount_msat, Some(21_000));
        assert_eq!(payment.fee_paid_msat, Some(12));
        assert_eq!(payment.direction(), types::PaymentDirection::Outbound);
        assert_eq!(payment.status(), types::PaymentStatus::Succeeded);
        assert_eq!(payment.latest_update_timestamp, 1_700_000_000);
        assert_eq!(
            status_to_proto(PaymentStatus::Pending),
            types::PaymentStatus::Pending
        );
        assert_eq!(
            status_to_proto(PaymentStatus::Failed),
            types::PaymentStatus::Failed
        );
        assert_eq!(
            direction_to_proto(PaymentDirection::Inbound),
            types::PaymentDirection::Inbound
        );
    }

    #[test]
    fn onchain_confirmed_and_unconfirmed() {
        let txid = Txid::from_str(TXID).unwrap();
        let block_hash = BlockHash::from_str(TXID).unwrap();
        let confirmed = payment_to_proto(&details(PaymentKind::Onchain {
            txid,
            status: ConfirmationStatus::Confirmed {
                block_hash,
                height: 800_000,
                timestamp: 99,
            },
        }));
        let Kind::Onchain(onchain) = kind_of(&confirmed) else {
            panic!("not onchain")
        };
        assert_eq!(onchain.txid, TXID);
        let Some(types::confirmation_status::Status::Confirmed(at)) =
            onchain.status.as_ref().and_then(|s| s.status.as_ref())
        else {
            panic!("not confirmed")
        };
        assert_eq!(
            (at.block_hash.as_str(), at.height, at.timestamp),
            (TXID, 800_000, 99)
        );

        let unconfirmed = payment_to_proto(&details(PaymentKind::Onchain {
            txid,
            status: ConfirmationStatus::Unconfirmed,
        }));
        let Kind::Onchain(onchain) = kind_of(&unconfirmed) else {
            panic!("not onchain")
        };
        assert!(matches!(
            onchain.status.as_ref().and_then(|s| s.status.as_ref()),
            Some(types::confirmation_status::Status::Unconfirmed(_))
        ));
    }

    #[test]
    fn bolt11_and_jit() {
        let plain = payment_to_proto(&details(PaymentKind::Bolt11 {
            hash: PaymentHash([2; 32]),
            preimage: Some(PaymentPreimage([3; 32])),
            secret: Some(PaymentSecret([4; 32])),
        }));
        let Kind::Bolt11(bolt11) = kind_of(&plain) else {
            panic!("not bolt11")
        };
        assert_eq!(bolt11.hash, "02".repeat(32));
        assert_eq!(bolt11.preimage.as_deref(), Some("03".repeat(32).as_str()));
        assert_eq!(bolt11.secret.as_deref(), Some(&[4u8; 32][..]));
        assert_eq!(bolt11.counterparty_skimmed_fee_msat, None);

        let jit = payment_to_proto(&details(PaymentKind::Bolt11Jit {
            hash: PaymentHash([5; 32]),
            preimage: None,
            secret: None,
            counterparty_skimmed_fee_msat: Some(1_500),
            lsp_fee_limits: LSPFeeLimits {
                max_total_opening_fee_msat: Some(10),
                max_proportional_opening_fee_ppm_msat: None,
            },
        }));
        let Kind::Bolt11(bolt11) = kind_of(&jit) else {
            panic!("jit must map to bolt11")
        };
        assert_eq!(bolt11.hash, "05".repeat(32));
        assert_eq!(bolt11.preimage, None);
        assert_eq!(bolt11.secret, None);
        assert_eq!(bolt11.counterparty_skimmed_fee_msat, Some(1_500));
    }

    #[test]
    fn bolt12_offer_and_refund() {
        let offer = payment_to_proto(&details(PaymentKind::Bolt12Offer {
            hash: Some(PaymentHash([6; 32])),
            preimage: None,
            secret: Some(PaymentSecret([7; 32])),
            offer_id: OfferId([8; 32]),
            payer_note: Some(UntrustedString("thanks".into())),
            quantity: Some(2),
        }));
        let Kind::Bolt12Offer(bolt12) = kind_of(&offer) else {
            panic!("not an offer payment")
        };
        assert_eq!(bolt12.hash.as_deref(), Some("06".repeat(32).as_str()));
        assert_eq!(bolt12.preimage, None);
        assert_eq!(bolt12.secret.as_deref(), Some(&[7u8; 32][..]));
        assert_eq!(bolt12.offer_id, "08".repeat(32));
        assert_eq!(bolt12.payer_note.as_deref(), Some("thanks"));
        assert_eq!(bolt12.quantity, Some(2));

        let refund = payment_to_proto(&details(PaymentKind::Bolt12Refund {
            hash: None,
            preimage: Some(PaymentPreimage([9; 32])),
            secret: None,
            payer_note: None,
            quantity: None,
        }));
        let Kind::Bolt12Refund(bolt12) = kind_of(&refund) else {
            panic!("not a refund payment")
        };
        assert_eq!(bolt12.hash, None);
        assert_eq!(bolt12.preimage.as_deref(), Some("09".repeat(32).as_str()));
        assert_eq!(
            (bolt12.secret.as_ref(), bolt12.payer_note.as_ref()),
            (None, None)
        );
        assert_eq!(bolt12.quantity, None);
    }

    #[test]
    fn spontaneous() {
        let payment = payment_to_proto(&details(PaymentKind::Spontaneous {
            hash: PaymentHash([10; 32]),
            preimage: Some(PaymentPreimage([11; 32])),
        }));
        let Kind::Spontaneous(keysend) = kind_of(&payment) else {
            panic!("not spontaneous")
        };
        assert_eq!(keysend.hash, "0a".repeat(32));
        assert_eq!(keysend.preimage.as_deref(), Some("0b".repeat(32).as_str()));
    }

    #[test]
    fn unified_send_results() {
        use api::unified_send_response::PaymentResult;
        let txid = Txid::from_str(TXID).unwrap();
        let result = |r: QrPaymentResult| unified_send_result_to_proto(&r).payment_result;
        assert_eq!(
            result(QrPaymentResult::Onchain { txid }),
            Some(PaymentResult::Txid(TXID.into()))
        );
        assert_eq!(
            result(QrPaymentResult::Bolt11 {
                payment_id: PaymentId([1; 32])
            }),
            Some(PaymentResult::Bolt11PaymentId("01".repeat(32)))
        );
        assert_eq!(
            result(QrPaymentResult::Bolt12 {
                payment_id: PaymentId([2; 32])
            }),
            Some(PaymentResult::Bolt12PaymentId("02".repeat(32)))
        );
    }
}
