//! Peer RPCs: ConnectPeer, DisconnectPeer, ListPeers.

use super::ApiContext;
use crate::convert::{parse, peers};
use crate::error::{ApiError, ApiResult};
use crate::proto::api::*;

/// ConnectPeer: connects (and optionally remembers) a peer.
pub async fn connect(
    ctx: &ApiContext,
    request: ConnectPeerRequest,
) -> ApiResult<ConnectPeerResponse> {
    let node_id = parse::public_key("node_pubkey", &request.node_pubkey)?;
    let address = parse::socket_address("address", &request.address)?;
    ctx.blocking(move |node| {
        not_this_node("node_pubkey", node, node_id)?;
        node.connect(node_id, address, request.persist)?;
        Ok(ConnectPeerResponse {})
    })
    .await
}

/// DisconnectPeer: disconnects and forgets a peer.
pub async fn disconnect(
    ctx: &ApiContext,
    request: DisconnectPeerRequest,
) -> ApiResult<DisconnectPeerResponse> {
    let node_id = parse::public_key("node_pubkey", &request.node_pubkey)?;
    ctx.blocking(move |node| {
        node.disconnect(node_id)?;
        Ok(DisconnectPeerResponse {})
    })
    .await
}

/// INVALID_ARGUMENT when `node_id` (the request field `field`) is this node's own id: a node
/// cannot be its own peer, and dialling itself only times out.
pub fn not_this_node(
    field: &str,
    node: &ldk_node::Node,
    node_id: ldk_node::bitcoin::secp256k1::PublicKey,
) -> ApiResult<()> {
    if node.node_id() == node_id {
        return Err(ApiError::bad_field(field, "this is the node's own id"));
    }
    Ok(())
}

/// ListPeers: connected and persisted peers.
pub async fn list(ctx: &ApiContext, _request: ListPeersRequest) -> ApiResult<ListPeersResponse> {
    let node = ctx.node()?;
    Ok(ListPeersResponse {
        peers: node.list_peers().iter().map(peers::peer_to_proto).collect(),
    })
}
