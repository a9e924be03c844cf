//! The node itself (`NodeStatus`, addresses, alias, network) into `api::GetNodeInfoResponse`.

use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::bitcoin::Network;
use ldk_node::lightning::chain::BestBlock;
use ldk_node::lightning::ln::msgs::SocketAddress;
use ldk_node::lightning::routing::gossip::NodeAlias;
use ldk_node::NodeStatus;

use super::features::FeatureMap;
use crate::proto::{api, types};

/// What GetNodeInfo reports, as the node's getters return it.
#[derive(Debug, Clone)]
pub struct NodeInfoParts<'a> {
    /// `node.node_id()`.
    pub node_id: PublicKey,
    /// `node.status()`.
    pub status: &'a NodeStatus,
    /// `node.config().network` (ldk-node 0.7.1's `NodeStatus` has no network).
    pub network: Network,
    /// `node.listening_addresses()`.
    pub listening_addresses: Option<Vec<SocketAddress>>,
    /// `node.announcement_addresses()`.
    pub announcement_addresses: Option<Vec<SocketAddress>>,
    /// `node.node_alias()`.
    pub node_alias: Option<NodeAlias>,
    /// The node's features (ldk-node 0.7.1 does not expose them; see
    /// `features::approximate_local_node_features`).
    pub features: FeatureMap,
}

/// The GetNodeInfo answer. `node_uris` are `node_id@address` for the announcement
/// addresses, or for the listening addresses when none are announced (as upstream).
pub fn node_info_to_proto(parts: NodeInfoParts<'_>) -> api::GetNodeInfoResponse {
    let node_id = parts.node_id.to_string();
    let listening_addresses = addresses_to_strings(parts.listening_addresses);
    let announcement_addresses = addresses_to_strings(parts.announcement_addresses);
    let reachable_at = if announcement_addresses.is_empty() {
        &listening_addresses
    } else {
        &announcement_addresses
    };
    let node_uris = reachable_at
        .iter()
        .map(|address| format!("{node_id}@{address}"))
        .collect();
    let status = parts.status;
    api::GetNodeInfoResponse {
        node_id,
        current_best_block: Some(best_block_to_proto(&status.current_best_block)),
        latest_lightning_wallet_sync_timestamp: status.latest_lightning_wallet_sync_timestamp,
        latest_onchain_wallet_sync_timestamp: status.latest_onchain_wallet_sync_timestamp,
        latest_fee_rate_cache_update_timestamp: status.latest_fee_rate_cache_update_timestamp,
        latest_rgs_snapshot_timestamp: status.latest_rgs_snapshot_timestamp,
        latest_node_announcement_broadcast_timestamp: status
            .latest_node_announcement_broadcast_timestamp,
        listening_addresses,
        announcement_addresses,
        node_alias: parts.node_alias.map(|alias| alias.to_string()),
        node_uris,
        network: network_to_proto(parts.network).into(),
        features: parts.features,
    }
}

fn addresses_to_strings(addresses: Option<Vec<SocketAddress>>) -> Vec<String> {
    addresses
        .unwrap_or_default()
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// The block the Lightning wallet is synced to.
pub fn best_block_to_proto(best_block: &BestBlock) -> types::BestBlock {
    types::BestBlock {
        block_hash: best_block.block_hash.to_string(),
        height: best_block.height,
    }
}

/// The chain the node runs on.
pub fn network_to_proto(network: Network) -> types::Network {
    match network {
        Network::Bitcoin => types::Network::Bitcoin,
        Network::Testnet => types::Network::Testnet,
        Network::Testnet4 => types::Network::Testnet4,
        Network::Signet => types::Network::Signet,
        Network::Regtest => types::Network::Regtest,
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use ldk_node::bitcoin::BlockHash;

    use super::*;

    const NODE_ID: &str = "02eec7245d6b7d2ccb30380bfbe2a3648cd7a942653f5aa340edcea1f283686619";
    const HASH: &str = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b";

    fn status() -> NodeStatus {
        NodeStatus {
            is_running: true,
            current_best_block: BestBlock {
                block_hash: BlockHash::from_str(HASH).unwrap(),
                height: 101,
            },
            latest_lightning_wallet_sync_timestamp: Some(1),
            latest_onchain_wallet_sync_timestamp: Some(2),
            latest_fee_rate_cache_update_timestamp: Some(3),
            latest_rgs_snapshot_timestamp: None,
            latest_pathfinding_scores_sync_timestamp: Some(5),
            latest_node_announcement_broadcast_timestamp: Some(6),
            latest_channel_monitor_archival_height: None,
        }
    }

    fn address(text: &str) -> SocketAddress {
        SocketAddress::from_str(text).unwrap()
    }

    #[test]
    fn node_info_fields() {
        let status = status();
        let mut alias = [0u8; 32];
        alias[..4].copy_from_slice(b"node");
        let info = node_info_to_proto(NodeInfoParts {
            node_id: PublicKey::from_str(NODE_ID).unwrap(),
            status: &status,
            network: Network::Regtest,
            listening_addresses: Some(vec![address("0.0.0.0:9735")]),
            announcement_addresses: Some(vec![address("203.0.113.7:9735")]),
            node_alias: Some(NodeAlias(alias)),
            features: FeatureMap::new(),
        });
        assert_eq!(info.node_id, NODE_ID);
        assert_eq!(
            info.current_best_block,
            Some(types::BestBlock {
                block_hash: HASH.into(),
                height: 101
            })
        );
        assert_eq!(info.latest_lightning_wallet_sync_timestamp, Some(1));
        assert_eq!(info.latest_onchain_wallet_sync_timestamp, Some(2));
        assert_eq!(info.latest_fee_rate_cache_update_timestamp, Some(3));
        assert_eq!(info.latest_rgs_snapshot_timestamp, None);
        assert_eq!(info.latest_node_announcement_broadcast_timestamp, Some(6));
        assert_eq!(info.listening_addresses, vec!["0.0.0.0:9735".to_string()]);
        assert_eq!(
            info.announcement_addresses,
            vec!["203.0.113.7:9735".to_string()]
        );
        assert_eq!(info.node_alias.as_deref(), Some("node"));
        assert_eq!(info.node_uris, vec![format!("{NODE_ID}@203.0.113.7:9735")]);
        assert_eq!(info.network(), types::Network::Regtest);
    }

    #[test]
    fn node_uris_fall_back_to_listening_addresses() {
        let status = status();
        let info = node_info_to_proto(NodeInfoParts {
            node_id: PublicKey::from_str(NODE_ID).unwrap(),
            status: &status,
            network: Network::Bitcoin,
            listening_addresses: Some(vec![address("127.0.0.1:9735")]),
            announcement_addresses: None,
            node_alias: None,
            features: FeatureMap::new(),
        });
        assert_eq!(info.node_uris, vec![format!("{NODE_ID}@127.0.0.1:9735")]);
        assert!(info.announcement_addresses.is_empty());
        assert_eq!(info.node_alias, None);
        assert_eq!(info.network(), types::Network::Bitcoin);
        assert_eq!(
            network_to_proto(Network::Testnet4),
            types::Network::Testnet4
        );
        assert_eq!(network_to_proto(Network::Signet), types::Network::Signet);
        assert_eq!(network_to_proto(Network::Testnet), types::Network::Testnet);
    }
}
