//! ldk-node peers (`PeerDetails`) into `types::Peer`.

use ldk_node::PeerDetails;

use crate::proto::types;

/// A peer as ListPeers reports it; the address is in Lightning `SocketAddress` syntax.
pub fn peer_to_proto(peer: &PeerDetails) -> types::Peer {
    types::Peer {
        node_id: peer.node_id.to_string(),
        address: peer.address.to_string(),
        is_persisted: peer.is_persisted,
        is_connected: peer.is_connected,
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use ldk_node::bitcoin::secp256k1::PublicKey;
    use ldk_node::lightning::ln::msgs::SocketAddress;

    use super::*;

    #[test]
    fn peer_fields() {
        let node_id = "02eec7245d6b7d2ccb30380bfbe2a3648cd7a942653f5aa340edcea1f283686619";
        let peer = PeerDetails {
            node_id: PublicKey::from_str(node_id).unwrap(),
            address: SocketAddress::from_str("example.com:9735").unwrap(),
            is_persisted: true,
            is_connected: false,
        };
        let proto = peer_to_proto(&peer);
        assert_eq!(proto.node_id, node_id);
        assert_eq!(proto.address, "example.com:9735");
        assert!(proto.is_persisted);
        assert!(!proto.is_connected);
    }
}
