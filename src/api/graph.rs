//! Network graph RPCs: list and look up channels and nodes the node has learned from gossip.

use super::ApiContext;
use crate::convert::{graph, parse};
use crate::error::{ApiError, ApiResult};
use crate::proto::api::*;

/// GraphListChannels: short channel ids of every channel in the graph.
pub async fn list_channels(
    ctx: &ApiContext,
    _request: GraphListChannelsRequest,
) -> ApiResult<GraphListChannelsResponse> {
    ctx.blocking(|node| {
        Ok(GraphListChannelsResponse {
            short_channel_ids: node.network_graph().list_channels(),
        })
    })
    .await
}

/// GraphGetChannel: one channel of the graph.
pub async fn get_channel(
    ctx: &ApiContext,
    request: GraphGetChannelRequest,
) -> ApiResult<GraphGetChannelResponse> {
    let scid = graph::short_channel_id("short_channel_id", request.short_channel_id)?;
    ctx.blocking(move |node| {
        let channel = node.network_graph().channel(scid).ok_or_else(|| {
            ApiError::invalid(format!(
                "no channel with short_channel_id {} in the network graph",
                graph::short_channel_id_string(scid)
            ))
        })?;
        Ok(GraphGetChannelResponse {
            channel: Some(graph::graph_channel_to_proto(&channel)),
        })
    })
    .await
}

/// GraphListNodes: ids of every node in the graph.
pub async fn list_nodes(
    ctx: &ApiContext,
    _request: GraphListNodesRequest,
) -> ApiResult<GraphListNodesResponse> {
    ctx.blocking(|node| {
        let node_ids = node
            .network_graph()
            .list_nodes()
            .iter()
            .map(graph::node_id_hex)
            .collect();
        Ok(GraphListNodesResponse { node_ids })
    })
    .await
}

/// GraphGetNode: one node of the graph.
pub async fn get_node(
    ctx: &ApiContext,
    request: GraphGetNodeRequest,
) -> ApiResult<GraphGetNodeResponse> {
    let node_id = parse::graph_node_id("node_id", &request.node_id)?;
    ctx.blocking(move |node| {
        let info = node.network_graph().node(&node_id).ok_or_else(|| {
            ApiError::invalid(format!("no node {} in the network graph", request.node_id))
        })?;
        Ok(GraphGetNodeResponse {
            node: Some(graph::graph_node_to_proto(&info)),
        })
    })
    .await
}
