//! BOLT 12 RPCs: Bolt12Receive (create an offer), Bolt12Send (pay an offer).

use super::ApiContext;
use crate::convert::parse;
use crate::convert::payments::payment_id_hex;
use crate::error::{ApiError, ApiResult};
use crate::proto::api::*;

/// Bolt12Receive: an offer for a fixed amount, or for any amount when none is given.
pub async fn receive(
    ctx: &ApiContext,
    request: Bolt12ReceiveRequest,
) -> ApiResult<Bolt12ReceiveResponse> {
    if request.amount_msat.is_none() && request.quantity.is_some() {
        return Err(ApiError::invalid(
            "`quantity` needs `amount_msat`: a variable-amount offer has no quantity",
        ));
    }
    ctx.blocking(move |node| {
        let payments = node.bolt12_payment();
        let offer = match request.amount_msat {
            Some(amount) => payments.receive(
                amount,
                &request.description,
                request.expiry_secs,
                request.quantity,
            )?,
            None => payments.receive_variable_amount(&request.description, request.expiry_secs)?,
        };
        Ok(Bolt12ReceiveResponse {
            offer: offer.to_string(),
            offer_id: hex::encode(offer.id().0),
        })
    })
    .await
}

/// Bolt12Send: requests an invoice for the offer and pays it.
pub async fn send(ctx: &ApiContext, request: Bolt12SendRequest) -> ApiResult<Bolt12SendResponse> {
    let offer = parse::offer("offer", &request.offer)?;
    let route = parse::route_parameters(request.route_parameters)?;
    ctx.blocking(move |node| {
        let payments = node.bolt12_payment();
        let payment_id = match request.amount_msat {
            Some(amount) => payments.send_using_amount(
                &offer,
                amount,
                request.quantity,
                request.payer_note,
                route,
            )?,
            None => payments.send(&offer, request.quantity, request.payer_note, route)?,
        };
        Ok(Bolt12SendResponse {
            payment_id: payment_id_hex(&payment_id),
        })
    })
    .await
}
