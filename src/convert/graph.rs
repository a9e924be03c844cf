//! The network graph (`ldk_node::graph`) into the `Graph*` wire types.
//!
//! Without its `uniffi` feature, ldk-node 0.7.1 hands out LDK's own
//! `lightning::routing::gossip::{ChannelInfo, NodeInfo}`.

use ldk_node::lightning::routing::gossip::{
    ChannelInfo, ChannelUpdateInfo, NodeAnnouncementInfo, NodeId, NodeInfo, RoutingFees,
};

use super::features::node_features_to_proto;
use super::lower_hex;
use crate::error::{ApiError, ApiResult};
use crate::proto::types;

/// A node id of the graph as 66 lowercase hex characters.
pub fn node_id_hex(node_id: &NodeId) -> String {
    lower_hex(node_id.as_slice())
}

/// The short channel id of GraphGetChannel: 0 is never a real channel, so it means the
/// field was left unset.
pub fn short_channel_id(field: &str, value: u64) -> ApiResult<u64> {
    if value == 0 {
        return Err(ApiError::missing_field(field));
    }
    Ok(value)
}

/// A short channel id in the human form `block x tx x output` (e.g. `800000x42x1`).
pub fn short_channel_id_string(scid: u64) -> String {
    format!(
        "{}x{}x{}",
        scid >> 40,
        (scid >> 16) & 0xff_ffff,
        scid & 0xffff
    )
}

/// A channel of the graph.
pub fn graph_channel_to_proto(channel: &ChannelInfo) -> types::GraphChannel {
    types::GraphChannel {
        node_one: node_id_hex(&channel.node_one),
        node_two: node_id_hex(&channel.node_two),
        capacity_sats: channel.capacity_sats,
        one_to_two: channel.one_to_two.as_ref().map(channel_update_to_proto),
        two_to_one: channel.two_to_one.as_ref().map(channel_update_to_proto),
    }
}

/// The latest update of one direction of a channel.
pub fn channel_update_to_proto(update: &ChannelUpdateInfo) -> types::GraphChannelUpdate {
    types::GraphChannelUpdate {
        last_update: update.last_update,
        enabled: update.enabled,
        cltv_expiry_delta: u32::from(update.cltv_expiry_delta),
        htlc_minimum_msat: update.htlc_minimum_msat,
        htlc_maximum_msat: update.htlc_maximum_msat,
        fees: Some(routing_fees_to_proto(&update.fees)),
    }
}

/// Forwarding fees of a channel direction.
pub fn routing_fees_to_proto(fees: &RoutingFees) -> types::GraphRoutingFees {
    types::GraphRoutingFees {
        base_msat: fees.base_msat,
        proportional_millionths: fees.proportional_millionths,
    }
}

/// A node of the graph, with its announcement if one was received.
pub fn graph_node_to_proto(node: &NodeInfo) -> types::GraphNode {
    types::GraphNode {
        channels: node.channels.clone(),
        announcement_info: node
            .announcement_info
            .as_ref()
            .map(node_announcement_to_proto),
    }
}

/// A node announcement: alias as text, colour as 6 lowercase hex digits, addresses in
/// `SocketAddress` syntax, and the announced features.
pub fn node_announcement_to_proto(
    announcement: &NodeAnnouncementInfo,
) -> types::GraphNodeAnnouncement {
    types::GraphNodeAnnouncement {
        last_update: announcement.last_update(),
        alias: announcement.alias().to_string(),
        rgb: lower_hex(announcement.rgb()),
        addresses: announcement
            .addresses()
            .iter()
            .map(ToString::to_string)
            .collect(),
        features: node_features_to_proto(announcement.features()),
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;
    use std::time::{SystemTime, UNIX_EPOCH};

    use ldk_node::bitcoin::constants::ChainHash;
    use ldk_node::bitcoin::secp256k1::PublicKey;
    use ldk_node::bitcoin::Network;
    use ldk_node::lightning::ln::msgs::{
        SocketAddress, UnsignedChannelUpdate, UnsignedNodeAnnouncement,
    };
    use ldk_node::lightning::routing::gossip::{NetworkGraph, NodeAlias};
    use ldk_node::lightning::util::logger::{Logger, Record};
    use ldk_node::lightning_types::features::{ChannelFeatures, NodeFeatures};

    use super::*;

    const NODE_ONE: &str = "02eec7245d6b7d2ccb30380bfbe2a3648cd7a942653f5aa340edcea1f283686619";
    const NODE_TWO: &str = "0324653eac434488002cc06bbfb7f10fe18991e35f9fe4302dbea6d2353dc0ab1c";
    const SCID: u64 = (800_000u64 << 40) | (42 << 16) | 1;

    struct QuietLogger;
    impl Logger for QuietLogger {
        fn log(&self, _record: Record) {}
    }

    fn node_id(hex: &str) -> NodeId {
        NodeId::from_pubkey(&PublicKey::from_str(hex).unwrap())
    }

    fn now() -> u32 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as u32
    }

    /// A graph with one channel between the two nodes, an update for direction one→two
    /// only, and an announcement of node one.
    fn sample_graph(logger: &QuietLogger) -> NetworkGraph<&QuietLogger> {
        let graph = NetworkGraph::new(Network::Regtest, logger);
        let (one, two) = (node_id(NODE_ONE), node_id(NODE_TWO));
        let (node_one, node_two) = if one < two { (one, two) } else { (two, one) };
        graph
            .add_channel_from_partial_announcement(
                SCID,
                Some(1_000_000),
                u64::from(now()),
                ChannelFeatures::empty(),
                node_one,
                node_two,
            )
            .unwrap();
        graph
            .update_channel_unsigned(&UnsignedChannelUpdate {
                chain_hash: ChainHash::using_genesis_block(Network::Regtest),
                short_channel_id: SCID,
                timestamp: now(),
                message_flags: 1,
                channel_flags: 0,
                cltv_expiry_delta: 144,
                htlc_minimum_msat: 1_000,
                htlc_maximum_msat: 990_000_000,
                fee_base_msat: 1_000,
                fee_proportional_millionths: 100,
                excess_data: Vec::new(),
            })
            .unwrap();
        let mut alias = [0u8; 32];
        alias[..5].copy_from_slice(b"alice");
        let mut features = NodeFeatures::empty();
        features.set_keysend_optional();
        graph
            .update_node_from_unsigned_announcement(&UnsignedNodeAnnouncement {
                features,
                timestamp: 1_700_000_123,
                node_id: node_one,
                rgb: [0xff, 0x00, 0x7f],
                alias: NodeAlias(alias),
                addresses: vec![SocketAddress::from_str("127.0.0.1:9735").unwrap()],
                excess_address_data: Vec::new(),
                excess_data: Vec::new(),
            })
            .unwrap();
        graph
    }

    #[test]
    fn short_channel_ids() {
        let error = short_channel_id("short_channel_id", 0)
            .unwrap_err()
            .to_string();
        assert!(error.contains("`short_channel_id`"), "{error}");
        assert_eq!(short_channel_id("short_channel_id", SCID).unwrap(), SCID);
        assert_eq!(short_channel_id_string(SCID), "800000x42x1");
    }

    #[test]
    fn channel_with_one_direction_updated() {
        let logger = QuietLogger;
        let graph = sample_graph(&logger);
        let info = graph.read_only().channel(SCID).cloned().unwrap();
        let channel = graph_channel_to_proto(&info);
        let mut ends = [channel.node_one.clone(), channel.node_two.clone()];
        ends.sort();
        assert_eq!(ends, [NODE_ONE.to_string(), NODE_TWO.to_string()]);
        assert_eq!(channel.capacity_sats, Some(1_000_000));
        assert!(channel.two_to_one.is_none());
        let update = channel.one_to_two.unwrap();
        assert!(update.enabled);
        assert_eq!(update.cltv_expiry_delta, 144);
        assert_eq!(
            (update.htlc_minimum_msat, update.htlc_maximum_msat),
            (1_000, 990_000_000)
        );
        assert_eq!(
            update.fees,
            Some(types::GraphRoutingFees {
                base_msat: 1_000,
                proportional_millionths: 100
            })
        );
        assert!(update.last_update > 1_700_000_000);
    }

    #[test]
    fn nodes_with_and_without_announcement() {
        let logger = QuietLogger;
        let graph = sample_graph(&logger);
        let (one, two) = (node_id(NODE_ONE), node_id(NODE_TWO));
        let announced_id = if one < two { one } else { two };
        let silent_id = if one < two { two } else { one };

        let announced =
            graph_node_to_proto(&graph.read_only().node(&announced_id).cloned().unwrap());
        assert_eq!(announced.channels, vec![SCID]);
        let info = announced.announcement_info.unwrap();
        assert_eq!(info.last_update, 1_700_000_123);
        assert_eq!(info.alias, "alice");
        assert_eq!(info.rgb, "ff007f");
        assert_eq!(info.addresses, vec!["127.0.0.1:9735".to_string()]);
        assert_eq!(
            info.features.get(&55).map(|f| f.name.as_str()),
            Some("Keysend")
        );

        let silent = graph_node_to_proto(&graph.read_only().node(&silent_id).cloned().unwrap());
        assert_eq!(silent.channels, vec![SCID]);
        assert!(silent.announcement_info.is_none());
        assert_eq!(node_id_hex(&silent_id).len(), 66);
    }
}
