//! Sending without an invoice: SpontaneousSend (keysend) and UnifiedSend (BIP 21 URIs).

use super::ApiContext;
use crate::convert::bounds::{self, Unit};
use crate::convert::parse;
use crate::convert::payments::{self, payment_id_hex};
use crate::error::{ApiError, ApiResult};
use crate::keys::budget;
use crate::proto::api::unified_send_response::PaymentResult;
use crate::proto::api::*;

/// SpontaneousSend: keysend to a node id, optionally with custom TLVs and a chosen preimage.
pub async fn spontaneous_send(
    ctx: &ApiContext,
    request: SpontaneousSendRequest,
) -> ApiResult<SpontaneousSendResponse> {
    let node_id = parse::public_key("node_id", &request.node_id)?;
    let route = parse::route_parameters(request.route_parameters)?;
    let custom_tlvs = parse::custom_tlvs("custom_tlvs", &request.custom_tlvs)?;
    let preimage = request
        .preimage
        .as_deref()
        .map(|preimage| parse::payment_preimage("preimage", preimage))
        .transpose()?;
    let amount = bounds::positive_amount("amount_msat", request.amount_msat, Unit::Msat)?;
    parse::check_amount_and_fee_cap("amount_msat", amount, route.as_ref())?;
    let (cost, route) = budget::lightning_send_cost(amount, route);
    budget::send_within_budget(ctx, cost, move |node| {
        super::peers::not_this_node("node_id", node, node_id)?;
        let payments = node.spontaneous_payment();
        let payment_id = match (preimage, custom_tlvs.is_empty()) {
            (None, true) => payments.send(amount, node_id, route)?,
            (None, false) => payments.send_with_custom_tlvs(amount, node_id, route, custom_tlvs)?,
            (Some(preimage), true) => {
                payments.send_with_preimage(amount, node_id, preimage, route)?
            }
            (Some(preimage), false) => payments.send_with_preimage_and_custom_tlvs(
                amount,
                node_id,
                custom_tlvs,
                preimage,
                route,
            )?,
        };
        let payment_id = payment_id_hex(&payment_id);
        Ok((
            SpontaneousSendResponse {
                payment_id: payment_id.clone(),
            },
            payment_id,
        ))
    })
    .await
}

/// UnifiedSend: pays a BIP 21 URI the best way it offers (BOLT 12, then BOLT 11, then on-chain).
///
/// ldk-node 0.7 cannot override the amount nor resolve BIP 353 names; both are rejected with
/// INVALID_ARGUMENT rather than ignored.
pub async fn unified_send(
    ctx: &ApiContext,
    request: UnifiedSendRequest,
) -> ApiResult<UnifiedSendResponse> {
    if request.amount_msat.is_some() {
        return Err(ApiError::invalid(
            "`amount_msat` is not supported: ldk-node 0.7 pays the amount the URI carries",
        ));
    }
    let uri = request.uri.trim().to_owned();
    if uri.is_empty() {
        return Err(ApiError::missing_field("uri"));
    }
    if !uri.to_ascii_lowercase().starts_with("bitcoin:") {
        return Err(ApiError::invalid(
            "`uri` must be a BIP 21 `bitcoin:` URI; BIP 353 names and bare invoices are not \
             supported on ldk-node 0.7 (use Bolt11Send or Bolt12Send)",
        ));
    }
    let amount_sats = parse::bip21_amount_sats("uri", &uri)?;
    let route = parse::route_parameters(request.route_parameters)?;
    let amount_msat = match amount_sats {
        Some(sats) => sats.saturating_mul(1_000),
        None if budget::caller_has_budget() => {
            return Err(ApiError::PermissionDenied(
                "a key with a budget can only pay URIs that carry an `amount=`".to_owned(),
            ))
        }
        None => 0,
    };
    let (cost, route) = budget::lightning_send_cost(amount_msat, route);
    budget::send_within_budget(ctx, cost, move |node| {
        let result = node.unified_qr_payment().send(&uri, route)?;
        let response = payments::unified_send_result_to_proto(&result);
        let payment_id = match &response.payment_result {
            Some(PaymentResult::Txid(id))
            | Some(PaymentResult::Bolt11PaymentId(id))
            | Some(PaymentResult::Bolt12PaymentId(id)) => id.clone(),
            None => String::new(),
        };
        Ok((response, payment_id))
    })
    .await
}
