//! ldk-node channels (`ChannelDetails`, `ChannelConfig`) into `types::Channel`.
//!
//! ldk-node 0.7.1 flattens the counterparty into `counterparty_*` fields; the wire message
//! has the same flat shape. `short_channel_id`, the scid aliases, `cltv_expiry_delta` and
//! the inbound HTLC limits of `ChannelDetails` have no field in `types::Channel`.

use ldk_node::bitcoin::OutPoint;
use ldk_node::config::{ChannelConfig, MaxDustHTLCExposure};
use ldk_node::lightning::ln::types::ChannelId;
use ldk_node::{ChannelDetails, UserChannelId};

use super::lower_hex;
use crate::proto::types;

/// A channel as ListChannels reports it.
pub fn channel_to_proto(channel: &ChannelDetails) -> types::Channel {
    types::Channel {
        channel_id: channel_id_hex(&channel.channel_id),
        counterparty_node_id: channel.counterparty_node_id.to_string(),
        funding_txo: channel.funding_txo.as_ref().map(outpoint_to_proto),
        user_channel_id: user_channel_id_string(&channel.user_channel_id),
        unspendable_punishment_reserve: channel.unspendable_punishment_reserve,
        channel_value_sats: channel.channel_value_sats,
        feerate_sat_per_1000_weight: channel.feerate_sat_per_1000_weight,
        outbound_capacity_msat: channel.outbound_capacity_msat,
        inbound_capacity_msat: channel.inbound_capacity_msat,
        confirmations_required: channel.confirmations_required,
        confirmations: channel.confirmations,
        is_outbound: channel.is_outbound,
        is_channel_ready: channel.is_channel_ready,
        is_usable: channel.is_usable,
        is_announced: channel.is_announced,
        channel_config: Some(channel_config_to_proto(&channel.config)),
        next_outbound_htlc_limit_msat: channel.next_outbound_htlc_limit_msat,
        next_outbound_htlc_minimum_msat: channel.next_outbound_htlc_minimum_msat,
        force_close_spend_delay: channel.force_close_spend_delay.map(u32::from),
        counterparty_outbound_htlc_minimum_msat: channel.counterparty_outbound_htlc_minimum_msat,
        counterparty_outbound_htlc_maximum_msat: channel.counterparty_outbound_htlc_maximum_msat,
        counterparty_unspendable_punishment_reserve: channel
            .counterparty_unspendable_punishment_reserve,
        counterparty_forwarding_info_fee_base_msat: channel
            .counterparty_forwarding_info_fee_base_msat,
        counterparty_forwarding_info_fee_proportional_millionths: channel
            .counterparty_forwarding_info_fee_proportional_millionths,
        counterparty_forwarding_info_cltv_expiry_delta: channel
            .counterparty_forwarding_info_cltv_expiry_delta
            .map(u32::from),
    }
}

/// A channel's forwarding configuration; every field is set.
pub fn channel_config_to_proto(config: &ChannelConfig) -> types::ChannelConfig {
    use types::channel_config::MaxDustHtlcExposure;
    let max_dust_htlc_exposure = match config.max_dust_htlc_exposure {
        MaxDustHTLCExposure::FixedLimit { limit_msat } => {
            MaxDustHtlcExposure::FixedLimitMsat(limit_msat)
        }
        MaxDustHTLCExposure::FeeRateMultiplier { multiplier } => {
            MaxDustHtlcExposure::FeeRateMultiplier(multiplier)
        }
    };
    types::ChannelConfig {
        forwarding_fee_proportional_millionths: Some(config.forwarding_fee_proportional_millionths),
        forwarding_fee_base_msat: Some(config.forwarding_fee_base_msat),
        cltv_expiry_delta: Some(u32::from(config.cltv_expiry_delta)),
        force_close_avoidance_max_fee_satoshis: Some(config.force_close_avoidance_max_fee_satoshis),
        accept_underpaying_htlcs: Some(config.accept_underpaying_htlcs),
        max_dust_htlc_exposure: Some(max_dust_htlc_exposure),
    }
}

/// A funding outpoint as a message.
pub fn outpoint_to_proto(outpoint: &OutPoint) -> types::OutPoint {
    types::OutPoint {
        txid: outpoint.txid.to_string(),
        vout: outpoint.vout,
    }
}

/// A funding outpoint as the `txid:vout` string events use.
pub fn outpoint_string(outpoint: &OutPoint) -> String {
    format!("{}:{}", outpoint.txid, outpoint.vout)
}

/// A channel id as 64 lowercase hex characters.
pub fn channel_id_hex(channel_id: &ChannelId) -> String {
    lower_hex(channel_id.0)
}

/// A user channel id as a decimal `u128` (not ldk-node's `UserChannelId(..)` Display).
pub fn user_channel_id_string(user_channel_id: &UserChannelId) -> String {
    user_channel_id.0.to_string()
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use ldk_node::bitcoin::secp256k1::PublicKey;
    use ldk_node::bitcoin::Txid;

    use super::*;

    const NODE_ID: &str = "02eec7245d6b7d2ccb30380bfbe2a3648cd7a942653f5aa340edcea1f283686619";
    const TXID: &str = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b";

    fn sample_channel() -> ChannelDetails {
        ChannelDetails {
            channel_id: ChannelId([0xcd; 32]),
            counterparty_node_id: PublicKey::from_str(NODE_ID).unwrap(),
            funding_txo: Some(OutPoint {
                txid: Txid::from_str(TXID).unwrap(),
                vout: 1,
            }),
            short_channel_id: Some(123),
            outbound_scid_alias: None,
            inbound_scid_alias: None,
            channel_value_sats: 1_000_000,
            unspendable_punishment_reserve: Some(10_000),
            user_channel_id: UserChannelId(u128::MAX),
            feerate_sat_per_1000_weight: 253,
            outbound_capacity_msat: 600_000_000,
            inbound_capacity_msat: 300_000_000,
            confirmations_required: Some(6),
            confirmations: Some(3),
            is_outbound: true,
            is_channel_ready: true,
            is_usable: false,
            is_announced: true,
            cltv_expiry_delta: Some(72),
            counterparty_unspendable_punishment_reserve: 11_000,
            counterparty_outbound_htlc_minimum_msat: Some(1),
            counterparty_outbound_htlc_maximum_msat: Some(2),
            counterparty_forwarding_info_fee_base_msat: Some(3),
            counterparty_forwarding_info_fee_proportional_millionths: Some(4),
            counterparty_forwarding_info_cltv_expiry_delta: Some(40),
            next_outbound_htlc_limit_msat: 5,
            next_outbound_htlc_minimum_msat: 6,
            force_close_spend_delay: Some(144),
            inbound_htlc_minimum_msat: 7,
            inbound_htlc_maximum_msat: Some(8),
            config: ChannelConfig {
                forwarding_fee_proportional_millionths: 100,
                forwarding_fee_base_msat: 1_000,
                cltv_expiry_delta: 72,
                max_dust_htlc_exposure: MaxDustHTLCExposure::FixedLimit { limit_msat: 5_000 },
                force_close_avoidance_max_fee_satoshis: 1_000,
                accept_underpaying_htlcs: true,
            },
        }
    }

    #[test]
    fn every_channel_field_is_mapped() {
        let channel = channel_to_proto(&sample_channel());
        assert_eq!(channel.channel_id, "cd".repeat(32));
        assert_eq!(channel.counterparty_node_id, NODE_ID);
        assert_eq!(
            channel.funding_txo,
            Some(types::OutPoint {
                txid: TXID.into(),
                vout: 1
            })
        );
        assert_eq!(channel.user_channel_id, u128::MAX.to_string());
        assert_eq!(channel.unspendable_punishment_reserve, Some(10_000));
        assert_eq!(channel.channel_value_sats, 1_000_000);
        assert_eq!(channel.feerate_sat_per_1000_weight, 253);
        assert_eq!(
            (
                channel.outbound_capacity_msat,
                channel.inbound_capacity_msat
            ),
            (600_000_000, 300_000_000)
        );
        assert_eq!(
            (channel.confirmations_required, channel.confirmations),
            (Some(6), Some(3))
        );
        assert!(channel.is_outbound && channel.is_channel_ready && !channel.is_usable);
        assert!(channel.is_announced);
        assert_eq!(
            (
                channel.next_outbound_htlc_limit_msat,
                channel.next_outbound_htlc_minimum_msat
            ),
            (5, 6)
        );
        assert_eq!(channel.force_close_spend_delay, Some(144));
        assert_eq!(channel.counterparty_outbound_htlc_minimum_msat, Some(1));
        assert_eq!(channel.counterparty_outbound_htlc_maximum_msat, Some(2));
        assert_eq!(channel.counterparty_unspendable_punishment_reserve, 11_000);
        assert_eq!(channel.counterparty_forwarding_info_fee_base_msat, Some(3));
        assert_eq!(
            channel.counterparty_forwarding_info_fee_proportional_millionths,
            Some(4)
        );
        assert_eq!(
            channel.counterparty_forwarding_info_cltv_expiry_delta,
            Some(40)
        );

        let config = channel.channel_config.unwrap();
        assert_eq!(config.forwarding_fee_proportional_millionths, Some(100));
        assert_eq!(config.forwarding_fee_base_msat, Some(1_000));
        assert_eq!(config.cltv_expiry_delta, Some(72));
        assert_eq!(config.force_close_avoidance_max_fee_satoshis, Some(1_000));
        assert_eq!(config.accept_underpaying_htlcs, Some(true));
        assert_eq!(
            config.max_dust_htlc_exposure,
            Some(types::channel_config::MaxDustHtlcExposure::FixedLimitMsat(
                5_000
            ))
        );
    }

    #[test]
    fn config_round_trips_through_the_update_parser() {
        let original = sample_channel().config;
        let proto = channel_config_to_proto(&original);
        let parsed =
            super::super::parse::apply_channel_config_update("c", ChannelConfig::default(), &proto)
                .unwrap();
        assert_eq!(parsed, original);
    }

    #[test]
    fn outpoint_and_id_formats() {
        let outpoint = OutPoint {
            txid: Txid::from_str(TXID).unwrap(),
            vout: 7,
        };
        assert_eq!(outpoint_string(&outpoint), format!("{TXID}:7"));
        assert_eq!(outpoint_string(&outpoint), outpoint.to_string());
        assert_eq!(user_channel_id_string(&UserChannelId(42)), "42");
        assert_eq!(channel_id_hex(&ChannelId([0x0f; 32])), "0f".repeat(32));
    }
}
