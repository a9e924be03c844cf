//! BOLT 12 RPCs: Bolt12Receive (create an offer), Bolt12Send (pay an offer).

use ldk_node::lightning::offers::offer::{Amount, Offer};

use super::ApiContext;
use crate::convert::bounds::{self, Unit, MAX_FREE_TEXT_BYTES};
use crate::convert::parse;
use crate::convert::payments::payment_id_hex;
use crate::error::{ApiError, ApiResult};
use crate::keys::budget;
use crate::proto::api::*;

/// Bolt12Receive: an offer for a fixed amount, or for any amount when none is given.
pub async fn receive(
    ctx: &ApiContext,
    request: Bolt12ReceiveRequest,
) -> ApiResult<Bolt12ReceiveResponse> {
    bounds::text_at_most("description", &request.description, MAX_FREE_TEXT_BYTES)?;
    let amount_msat =
        bounds::optional_positive_amount("amount_msat", request.amount_msat, Unit::Msat)?;
    let quantity = bounds::optional_quantity("quantity", request.quantity)?;
    match (amount_msat, quantity) {
        (None, Some(_)) => {
            return Err(ApiError::invalid(
                "`quantity` needs `amount_msat`: a variable-amount offer has no quantity",
            ))
        }
        (Some(amount), Some(quantity)) => {
            bounds::checked_product(("amount_msat", amount), ("quantity", quantity), Unit::Msat)?;
        }
        _ => {}
    }
    if request.expiry_secs == Some(0) {
        return Err(ApiError::bad_field(
            "expiry_secs",
            "must be greater than 0 (leave it unset for an offer that does not expire)",
        ));
    }
    ctx.blocking(move |node| {
        let payments = node.bolt12_payment();
        let offer = match amount_msat {
            Some(amount) => {
                payments.receive(amount, &request.description, request.expiry_secs, quantity)?
            }
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
    let offer = parse::payable_offer("offer", &request.offer, ctx.network)?;
    let route = parse::route_parameters(request.route_parameters)?;
    let amount_msat =
        bounds::optional_positive_amount("amount_msat", request.amount_msat, Unit::Msat)?;
    let quantity = offer_quantity(&offer, request.quantity)?;
    let payer_note =
        bounds::optional_text_at_most("payer_note", request.payer_note, MAX_FREE_TEXT_BYTES)?;
    let paid_msat = paid_for_offer(&offer, amount_msat, quantity)?;
    parse::check_amount_and_fee_cap("amount_msat", paid_msat, route.as_ref())?;
    if paid_msat == 0 && budget::caller_has_budget() {
        return Err(ApiError::PermissionDenied(
            "a key with a budget can only pay offers whose amount is in bitcoin".to_owned(),
        ));
    }
    let (cost, route) = budget::lightning_send_cost(paid_msat, route);
    budget::send_within_budget(ctx, cost, move |node| {
        let payments = node.bolt12_payment();
        let sent = match amount_msat {
            Some(amount) => payments.send_using_amount(&offer, amount, quantity, payer_note, route),
            None => payments.send(&offer, quantity, payer_note, route),
        };
        let payment_id =
            sent.map_err(|error| super::failure_context::send_failure(node, error, paid_msat))?;
        let payment_id = payment_id_hex(&payment_id);
        Ok((
            Bolt12SendResponse {
                payment_id: payment_id.clone(),
            },
            payment_id,
        ))
    })
    .await
}

/// The quantity to request: one the offer accepts, and present when the offer needs one.
fn offer_quantity(offer: &Offer, quantity: Option<u64>) -> ApiResult<Option<u64>> {
    match bounds::optional_quantity("quantity", quantity)? {
        Some(quantity) if !offer.is_valid_quantity(quantity) => Err(ApiError::bad_field(
            "quantity",
            format!(
                "{quantity} is not a quantity the offer accepts ({:?})",
                offer.supported_quantity()
            ),
        )),
        None if offer.expects_quantity() => Err(ApiError::invalid(
            "missing required field `quantity`: the offer sells several items",
        )),
        quantity => Ok(quantity),
    }
}

/// What the payment will amount to, in msat (0 when the offer's currency is not bitcoin, which
/// ldk-node refuses on its own); the given amount must cover the offer's amount × quantity.
fn paid_for_offer(
    offer: &Offer,
    amount_msat: Option<u64>,
    quantity: Option<u64>,
) -> ApiResult<u64> {
    match (offer.amount(), amount_msat) {
        (Some(Amount::Bitcoin { amount_msats }), given) => {
            let asked = bounds::checked_product(
                ("offer amount", amount_msats),
                ("quantity", quantity.unwrap_or(1)),
                Unit::Msat,
            )?;
            match given {
                Some(amount) if amount < asked => Err(ApiError::bad_field(
                    "amount_msat",
                    format!("{amount} msat is less than the {asked} msat the offer asks for"),
                )),
                Some(amount) => Ok(amount),
                None => Ok(asked),
            }
        }
        (Some(Amount::Currency { .. }), given) => Ok(given.unwrap_or(0)),
        (None, Some(amount)) => Ok(amount),
        (None, None) => Err(ApiError::invalid(
            "missing required field `amount_msat`: the offer has no amount",
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU64;
    use std::str::FromStr;

    use ldk_node::bitcoin::secp256k1::PublicKey;
    use ldk_node::lightning::offers::offer::{OfferBuilder, Quantity};

    use super::*;

    fn offer(amount_msat: Option<u64>, quantity: Quantity) -> Offer {
        let key = PublicKey::from_str(
            "02eec7245d6b7d2ccb30380bfbe2a3648cd7a942653f5aa340edcea1f283686619",
        )
        .unwrap();
        let builder = OfferBuilder::new(key)
            .description("test".into())
            .supported_quantity(quantity);
        match amount_msat {
            Some(amount) => builder.amount_msats(amount).build().unwrap(),
            None => builder.build().unwrap(),
        }
    }

    fn invalid(result: ApiResult<impl std::fmt::Debug>) -> String {
        let error = result.unwrap_err();
        assert_eq!(error.code(), tonic::Code::InvalidArgument, "{error}");
        error.to_string()
    }

    #[test]
    fn quantities_the_offer_accepts() {
        let three = offer(Some(1_000), Quantity::Bounded(NonZeroU64::new(3).unwrap()));
        assert_eq!(offer_quantity(&three, Some(3)).unwrap(), Some(3));
        assert!(invalid(offer_quantity(&three, Some(4))).contains("`quantity`"));
        assert!(invalid(offer_quantity(&three, Some(0))).contains("at least 1"));
        assert!(invalid(offer_quantity(&three, None)).contains("missing required field"));
        let single = offer(Some(1_000), Quantity::One);
        assert_eq!(offer_quantity(&single, None).unwrap(), None);
        assert!(offer_quantity(&single, Some(2)).is_err());
    }

    #[test]
    fn amounts_cover_the_offer_and_stay_within_supply() {
        let priced = offer(Some(1_000), Quantity::Unbounded);
        assert_eq!(paid_for_offer(&priced, None, Some(3)).unwrap(), 3_000);
        assert_eq!(
            paid_for_offer(&priced, Some(5_000), Some(3)).unwrap(),
            5_000
        );
        let text = invalid(paid_for_offer(&priced, Some(2_999), Some(3)));
        assert!(
            text.contains("`amount_msat`") && text.contains("3000 msat"),
            "{text}"
        );
        let text = invalid(paid_for_offer(&priced, None, Some(u64::MAX)));
        assert!(text.contains("`quantity`"), "{text}");

        let open = offer(None, Quantity::One);
        assert_eq!(paid_for_offer(&open, Some(7), None).unwrap(), 7);
        assert!(invalid(paid_for_offer(&open, None, None)).contains("`amount_msat`"));
    }
}
