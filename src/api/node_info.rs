//! Node identity and wallet RPCs: GetNodeInfo, GetBalances, SignMessage, VerifySignature,
//! ExportPathfindingScores.

use std::sync::OnceLock;

use super::ApiContext;
use crate::convert::{balances, features, node, parse};
use crate::error::{ApiError, ApiResult};
use crate::proto::api::*;

/// GetNodeInfo: identity, sync state, addresses, network and features. Cheap: no blocking calls.
pub async fn get_node_info(
    ctx: &ApiContext,
    _request: GetNodeInfoRequest,
) -> ApiResult<GetNodeInfoResponse> {
    let node = ctx.node()?;
    Ok(node::node_info_to_proto(node::NodeInfoParts {
        node_id: node.node_id(),
        status: &node.status(),
        network: ctx.network,
        listening_addresses: node.listening_addresses(),
        announcement_addresses: node.announcement_addresses(),
        node_alias: node.node_alias(),
        features: local_features(ctx).clone(),
    }))
}

/// The features our node advertises. ldk-node 0.7 does not expose them, so they are derived
/// once from the same settings ldk-node derives them from.
fn local_features(ctx: &ApiContext) -> &'static features::FeatureMap {
    static FEATURES: OnceLock<features::FeatureMap> = OnceLock::new();
    FEATURES.get_or_init(|| {
        let anchors = ctx
            .node()
            .map(|node| node.config().anchor_channels_config.is_some())
            .unwrap_or(true);
        features::node_features_to_proto(&features::approximate_local_node_features(
            anchors,
            ctx.gossip_via_p2p,
        ))
    })
}

/// GetBalances: on-chain and Lightning balances with their breakdown.
pub async fn get_balances(
    ctx: &ApiContext,
    _request: GetBalancesRequest,
) -> ApiResult<GetBalancesResponse> {
    ctx.blocking(|node| Ok(balances::balances_to_proto(&node.list_balances())))
        .await
}

/// SignMessage: signs with the node key (zbase32, as `lightning::util::message_signing`).
pub async fn sign_message(
    ctx: &ApiContext,
    request: SignMessageRequest,
) -> ApiResult<SignMessageResponse> {
    let node = ctx.node()?;
    Ok(SignMessageResponse {
        signature: node.sign_message(&request.message),
    })
}

/// VerifySignature: checks a zbase32 signature against a node id. Needs no running node.
pub async fn verify_signature(
    _ctx: &ApiContext,
    request: VerifySignatureRequest,
) -> ApiResult<VerifySignatureResponse> {
    let public_key = parse::public_key("public_key", &request.public_key)?;
    if request.signature.is_empty() {
        return Err(ApiError::missing_field("signature"));
    }
    let valid = ldk_node::lightning::util::message_signing::verify(
        &request.message,
        &request.signature,
        &public_key,
    );
    Ok(VerifySignatureResponse { valid })
}

/// ExportPathfindingScores: the serialized scorer, for seeding another node.
pub async fn export_pathfinding_scores(
    ctx: &ApiContext,
    _request: ExportPathfindingScoresRequest,
) -> ApiResult<ExportPathfindingScoresResponse> {
    ctx.blocking(|node| {
        Ok(ExportPathfindingScoresResponse {
            scores: node.export_pathfinding_scores()?,
        })
    })
    .await
}
