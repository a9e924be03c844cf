//! ldk-node balances (`BalanceDetails`) into `api::GetBalancesResponse`.

use ldk_node::lightning::chain::channelmonitor::BalanceSource;
use ldk_node::{BalanceDetails, LightningBalance, PendingSweepBalance};

use super::channels::channel_id_hex;
use super::payments::{payment_hash_hex, payment_preimage_hex};
use crate::proto::{api, types};

/// The full GetBalances answer.
pub fn balances_to_proto(balances: &BalanceDetails) -> api::GetBalancesResponse {
    api::GetBalancesResponse {
        total_onchain_balance_sats: balances.total_onchain_balance_sats,
        spendable_onchain_balance_sats: balances.spendable_onchain_balance_sats,
        total_anchor_channels_reserve_sats: balances.total_anchor_channels_reserve_sats,
        total_lightning_balance_sats: balances.total_lightning_balance_sats,
        lightning_balances: balances
            .lightning_balances
            .iter()
            .map(lightning_balance_to_proto)
            .collect(),
        pending_balances_from_channel_closures: balances
            .pending_balances_from_channel_closures
            .iter()
            .map(pending_sweep_balance_to_proto)
            .collect(),
    }
}

/// One Lightning balance, whichever of the six kinds it is.
pub fn lightning_balance_to_proto(balance: &LightningBalance) -> types::LightningBalance {
    use types::lightning_balance::BalanceType;
    let balance_type = match balance {
        LightningBalance::ClaimableOnChannelClose {
            channel_id,
            counterparty_node_id,
            amount_satoshis,
            transaction_fee_satoshis,
            outbound_payment_htlc_rounded_msat,
            outbound_forwarded_htlc_rounded_msat,
            inbound_claiming_htlc_rounded_msat,
            inbound_htlc_rounded_msat,
        } => BalanceType::ClaimableOnChannelClose(types::ClaimableOnChannelClose {
            channel_id: channel_id_hex(channel_id),
            counterparty_node_id: counterparty_node_id.to_string(),
            amount_satoshis: *amount_satoshis,
            transaction_fee_satoshis: *transaction_fee_satoshis,
            outbound_payment_htlc_rounded_msat: *outbound_payment_htlc_rounded_msat,
            outbound_forwarded_htlc_rounded_msat: *outbound_forwarded_htlc_rounded_msat,
            inbound_claiming_htlc_rounded_msat: *inbound_claiming_htlc_rounded_msat,
            inbound_htlc_rounded_msat: *inbound_htlc_rounded_msat,
        }),
        LightningBalance::ClaimableAwaitingConfirmations {
            channel_id,
            counterparty_node_id,
            amount_satoshis,
            confirmation_height,
            source,
        } => BalanceType::ClaimableAwaitingConfirmations(types::ClaimableAwaitingConfirmations {
            channel_id: channel_id_hex(channel_id),
            counterparty_node_id: counterparty_node_id.to_string(),
            amount_satoshis: *amount_satoshis,
            confirmation_height: *confirmation_height,
            source: balance_source_to_proto(source).into(),
        }),
        LightningBalance::ContentiousClaimable {
            channel_id,
            counterparty_node_id,
            amount_satoshis,
            timeout_height,
            payment_hash,
            payment_preimage,
        } => BalanceType::ContentiousClaimable(types::ContentiousClaimable {
            channel_id: channel_id_hex(channel_id),
            counterparty_node_id: counterparty_node_id.to_string(),
            amount_satoshis: *amount_satoshis,
            timeout_height: *timeout_height,
            payment_hash: payment_hash_hex(payment_hash),
            payment_preimage: payment_preimage_hex(payment_preimage),
        }),
        LightningBalance::MaybeTimeoutClaimableHTLC {
            channel_id,
            counterparty_node_id,
            amount_satoshis,
            claimable_height,
            payment_hash,
            outbound_payment,
        } => BalanceType::MaybeTimeoutClaimableHtlc(types::MaybeTimeoutClaimableHtlc {
            channel_id: channel_id_hex(channel_id),
            counterparty_node_id: counterparty_node_id.to_string(),
            amount_satoshis: *amount_satoshis,
            claimable_height: *claimable_height,
            payment_hash: payment_hash_hex(payment_hash),
            outbound_payment: *outbound_payment,
        }),
        LightningBalance::MaybePreimageClaimableHTLC {
            channel_id,
            counterparty_node_id,
            amount_satoshis,
            expiry_height,
            payment_hash,
        } => BalanceType::MaybePreimageClaimableHtlc(types::MaybePreimageClaimableHtlc {
            channel_id: channel_id_hex(channel_id),
            counterparty_node_id: counterparty_node_id.to_string(),
            amount_satoshis: *amount_satoshis,
            expiry_height: *expiry_height,
            payment_hash: payment_hash_hex(payment_hash),
        }),
        LightningBalance::CounterpartyRevokedOutputClaimable {
            channel_id,
            counterparty_node_id,
            amount_satoshis,
        } => BalanceType::CounterpartyRevokedOutputClaimable(
            types::CounterpartyRevokedOutputClaimable {
                channel_id: channel_id_hex(channel_id),
                counterparty_node_id: counterparty_node_id.to_string(),
                amount_satoshis: *amount_satoshis,
            },
        ),
    };
    types::LightningBalance {
        balance_type: Some(balance_type),
    }
}

/// Where a balance awaiting confirmations comes from.
pub fn balance_source_to_proto(source: &BalanceSource) -> types::BalanceSource {
    match source {
        BalanceSource::HolderForceClosed => types::BalanceSource::HolderForceClosed,
        BalanceSource::CounterpartyForceClosed => types::BalanceSource::CounterpartyForceClosed,
        BalanceSource::CoopClose => types::BalanceSource::CoopClose,
        BalanceSource::Htlc => types::BalanceSource::Htlc,
    }
}

/// One output being swept back to the wallet after a channel closed.
pub fn pending_sweep_balance_to_proto(balance: &PendingSweepBalance) -> types::PendingSweepBalance {
    use types::pending_sweep_balance::BalanceType;
    let balance_type = match balance {
        PendingSweepBalance::PendingBroadcast {
            channel_id,
            amount_satoshis,
        } => BalanceType::PendingBroadcast(types::PendingBroadcast {
            channel_id: channel_id.as_ref().map(channel_id_hex),
            amount_satoshis: *amount_satoshis,
        }),
        PendingSweepBalance::BroadcastAwaitingConfirmation {
            channel_id,
            latest_broadcast_height,
            latest_spending_txid,
            amount_satoshis,
        } => BalanceType::BroadcastAwaitingConfirmation(types::BroadcastAwaitingConfirmation {
            channel_id: channel_id.as_ref().map(channel_id_hex),
            latest_broadcast_height: *latest_broadcast_height,
            latest_spending_txid: latest_spending_txid.to_string(),
            amount_satoshis: *amount_satoshis,
        }),
        PendingSweepBalance::AwaitingThresholdConfirmations {
            channel_id,
            latest_spending_txid,
            confirmation_hash,
            confirmation_height,
            amount_satoshis,
        } => BalanceType::AwaitingThresholdConfirmations(types::AwaitingThresholdConfirmations {
            channel_id: channel_id.as_ref().map(channel_id_hex),
            latest_spending_txid: latest_spending_txid.to_string(),
            confirmation_hash: confirmation_hash.to_string(),
            confirmation_height: *confirmation_height,
            amount_satoshis: *amount_satoshis,
        }),
    };
    types::PendingSweepBalance {
        balance_type: Some(balance_type),
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use ldk_node::bitcoin::secp256k1::PublicKey;
    use ldk_node::bitcoin::{BlockHash, Txid};
    use ldk_node::lightning::ln::types::ChannelId;
    use ldk_node::lightning_types::payment::{PaymentHash, PaymentPreimage};

    use super::*;
    use types::lightning_balance::BalanceType as Lightning;
    use types::pending_sweep_balance::BalanceType as Sweep;

    const NODE_ID: &str = "02eec7245d6b7d2ccb30380bfbe2a3648cd7a942653f5aa340edcea1f283686619";
    const TXID: &str = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b";

    fn node() -> PublicKey {
        PublicKey::from_str(NODE_ID).unwrap()
    }

    fn lightning_balances() -> Vec<LightningBalance> {
        let channel_id = ChannelId([1; 32]);
        vec![
            LightningBalance::ClaimableOnChannelClose {
                channel_id,
                counterparty_node_id: node(),
                amount_satoshis: 1,
                transaction_fee_satoshis: 2,
                outbound_payment_htlc_rounded_msat: 3,
                outbound_forwarded_htlc_rounded_msat: 4,
                inbound_claiming_htlc_rounded_msat: 5,
                inbound_htlc_rounded_msat: 6,
            },
            LightningBalance::ClaimableAwaitingConfirmations {
                channel_id,
                counterparty_node_id: node(),
                amount_satoshis: 7,
                confirmation_height: 8,
                source: BalanceSource::CoopClose,
            },
            LightningBalance::ContentiousClaimable {
                channel_id,
                counterparty_node_id: node(),
                amount_satoshis: 9,
                timeout_height: 10,
                payment_hash: PaymentHash([2; 32]),
                payment_preimage: PaymentPreimage([3; 32]),
            },
            LightningBalance::MaybeTimeoutClaimableHTLC {
                channel_id,
                counterparty_node_id: node(),
                amount_satoshis: 11,
                claimable_height: 12,
                payment_hash: PaymentHash([4; 32]),
                outbound_payment: true,
            },
            LightningBalance::MaybePreimageClaimableHTLC {
                channel_id,
                counterparty_node_id: node(),
                amount_satoshis: 13,
                expiry_height: 14,
                payment_hash: PaymentHash([5; 32]),
            },
            LightningBalance::CounterpartyRevokedOutputClaimable {
                channel_id,
                counterparty_node_id: node(),
                amount_satoshis: 15,
            },
        ]
    }

    fn sweep_balances() -> Vec<PendingSweepBalance> {
        let txid = Txid::from_str(TXID).unwrap();
        vec![
            PendingSweepBalance::PendingBroadcast {
                channel_id: None,
                amount_satoshis: 16,
            },
            PendingSweepBalance::BroadcastAwaitingConfirmation {
                channel_id: Some(ChannelId([6; 32])),
                latest_broadcast_height: 17,
                latest_spending_txid: txid,
                amount_satoshis: 18,
            },
            PendingSweepBalance::AwaitingThresholdConfirmations {
                channel_id: Some(ChannelId([7; 32])),
                latest_spending_txid: txid,
                confirmation_hash: BlockHash::from_str(TXID).unwrap(),
                confirmation_height: 19,
                amount_satoshis: 20,
            },
        ]
    }

    #[test]
    fn totals_and_every_variant() {
        let details = BalanceDetails {
            total_onchain_balance_sats: 100,
            spendable_onchain_balance_sats: 90,
            total_anchor_channels_reserve_sats: 10,
            total_lightning_balance_sats: 50,
            lightning_balances: lightning_balances(),
            pending_balances_from_channel_closures: sweep_balances(),
        };
        let response = balances_to_proto(&details);
        assert_eq!(response.total_onchain_balance_sats, 100);
        assert_eq!(response.spendable_onchain_balance_sats, 90);
        assert_eq!(response.total_anchor_channels_reserve_sats, 10);
        assert_eq!(response.total_lightning_balance_sats, 50);

        let kinds: Vec<_> = response
            .lightning_balances
            .iter()
            .map(|b| b.balance_type.clone().unwrap())
            .collect();
        let Lightning::ClaimableOnChannelClose(close) = &kinds[0] else {
            panic!()
        };
        assert_eq!(close.channel_id, "01".repeat(32));
        assert_eq!(close.counterparty_node_id, NODE_ID);
        assert_eq!(
            [
                close.amount_satoshis,
                close.transaction_fee_satoshis,
                close.outbound_payment_htlc_rounded_msat,
                close.outbound_forwarded_htlc_rounded_msat,
                close.inbound_claiming_htlc_rounded_msat,
                close.inbound_htlc_rounded_msat
            ],
            [1, 2, 3, 4, 5, 6]
        );
        let Lightning::ClaimableAwaitingConfirmations(awaiting) = &kinds[1] else {
            panic!()
        };
        assert_eq!(
            (awaiting.amount_satoshis, awaiting.confirmation_height),
            (7, 8)
        );
        assert_eq!(awaiting.source(), types::BalanceSource::CoopClose);
        let Lightning::ContentiousClaimable(contentious) = &kinds[2] else {
            panic!()
        };
        assert_eq!(
            (contentious.amount_satoshis, contentious.timeout_height),
            (9, 10)
        );
        assert_eq!(contentious.payment_hash, "02".repeat(32));
        assert_eq!(contentious.payment_preimage, "03".repeat(32));
        let Lightning::MaybeTimeoutClaimableHtlc(timeout) = &kinds[3] else {
            panic!()
        };
        assert_eq!(
            (timeout.amount_satoshis, timeout.claimable_height),
            (11, 12)
        );
        assert_eq!(timeout.payment_hash, "04".repeat(32));
        assert!(timeout.outbound_payment);
        let Lightning::MaybePreimageClaimableHtlc(preimage) = &kinds[4] else {
            panic!()
        };
        assert_eq!((preimage.amount_satoshis, preimage.expiry_height), (13, 14));
        assert_eq!(preimage.payment_hash, "05".repeat(32));
        let Lightning::CounterpartyRevokedOutputClaimable(revoked) = &kinds[5] else {
            panic!()
        };
        assert_eq!(revoked.amount_satoshis, 15);

        let sweeps: Vec<_> = response
            .pending_balances_from_channel_closures
            .iter()
            .map(|b| b.balance_type.clone().unwrap())
            .collect();
        let Sweep::PendingBroadcast(pending) = &sweeps[0] else {
            panic!()
        };
        assert_eq!(
            (pending.channel_id.as_ref(), pending.amount_satoshis),
            (None, 16)
        );
        let Sweep::BroadcastAwaitingConfirmation(broadcast) = &sweeps[1] else {
            panic!()
        };
        assert_eq!(
            broadcast.channel_id.as_deref(),
            Some("06".repeat(32).as_str())
        );
        assert_eq!(
            (broadcast.latest_broadcast_height, broadcast.amount_satoshis),
            (17, 18)
        );
        assert_eq!(broadcast.latest_spending_txid, TXID);
        let Sweep::AwaitingThresholdConfirmations(threshold) = &sweeps[2] else {
            panic!()
        };
        assert_eq!(
            threshold.channel_id.as_deref(),
            Some("07".repeat(32).as_str())
        );
        assert_eq!(
            (
                threshold.latest_spending_txid.as_str(),
                threshold.confirmation_hash.as_str()
            ),
            (TXID, TXID)
        );
        assert_eq!(
            (threshold.confirmation_height, threshold.amount_satoshis),
            (19, 20)
        );
    }

    #[test]
    fn balance_sources() {
        assert_eq!(
            balance_source_to_proto(&BalanceSource::HolderForceClosed),
            types::BalanceSource::HolderForceClosed
        );
        assert_eq!(
            balance_source_to_proto(&BalanceSource::CounterpartyForceClosed),
            types::BalanceSource::CounterpartyForceClosed
        );
        assert_eq!(
            balance_source_to_proto(&BalanceSource::Htlc),
            types::BalanceSource::Htlc
        );
    }
}
