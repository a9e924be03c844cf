//! Sending without an invoice: SpontaneousSend (keysend). UnifiedSend is in [`super::unified`].

use super::ApiContext;
use crate::convert::bounds::{self, Unit};
use crate::convert::parse;
use crate::convert::payments::payment_id_hex;
use crate::error::ApiResult;
use crate::keys::budget;
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
        let sent = match (preimage, custom_tlvs.is_empty()) {
            (None, true) => payments.send(amount, node_id, route),
            (None, false) => payments.send_with_custom_tlvs(amount, node_id, route, custom_tlvs),
            (Some(preimage), true) => payments.send_with_preimage(amount, node_id, preimage, route),
            (Some(preimage), false) => payments.send_with_preimage_and_custom_tlvs(
                amount,
                node_id,
                custom_tlvs,
                preimage,
                route,
            ),
        };
        let payment_id =
            sent.map_err(|error| super::failure_context::send_failure(node, error, amount))?;
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
