//! BOLT 11 RPCs: receive (fixed, variable, for a hash, via a JIT channel), claim/fail held
//! payments, send.

use ldk_node::NodeError;

use super::ApiContext;
use crate::convert::bounds::{self, Unit};
use crate::convert::parse;
use crate::convert::payments::{payment_hash_hex, payment_id_hex, payment_to_proto};
use crate::error::{ApiError, ApiResult};
use crate::keys::budget;
use crate::proto::api::*;

/// Invoice expiry used when a request leaves `expiry_secs` at 0 (one day, as upstream's CLI).
pub const DEFAULT_INVOICE_EXPIRY_SECS: u32 = 86_400;

fn expiry_or_default(expiry_secs: u32) -> u32 {
    if expiry_secs == 0 {
        DEFAULT_INVOICE_EXPIRY_SECS
    } else {
        expiry_secs
    }
}

/// Bolt11Receive: an invoice for a fixed amount, or for any amount when none is given.
pub async fn receive(
    ctx: &ApiContext,
    request: Bolt11ReceiveRequest,
) -> ApiResult<Bolt11ReceiveResponse> {
    let description = parse::bolt11_description("description", request.description.as_ref())?;
    let expiry = expiry_or_default(request.expiry_secs);
    let amount_msat =
        bounds::optional_positive_amount("amount_msat", request.amount_msat, Unit::Msat)?;
    ctx.blocking(move |node| {
        let payments = node.bolt11_payment();
        let invoice = match amount_msat {
            Some(amount) => payments.receive(amount, &description, expiry)?,
            None => payments.receive_variable_amount(&description, expiry)?,
        };
        Ok(Bolt11ReceiveResponse {
            invoice: invoice.to_string(),
            payment_hash: payment_hash_hex(&ldk_node::lightning_types::payment::PaymentHash(
                *invoice.payment_hash().as_ref(),
            )),
            payment_secret: hex::encode(invoice.payment_secret().0),
        })
    })
    .await
}

/// Bolt11ReceiveForHash: a "hodl" invoice whose preimage the caller holds; the payment waits
/// in PaymentClaimable until Bolt11ClaimForHash or Bolt11FailForHash.
pub async fn receive_for_hash(
    ctx: &ApiContext,
    request: Bolt11ReceiveForHashRequest,
) -> ApiResult<Bolt11ReceiveForHashResponse> {
    let description = parse::bolt11_description("description", request.description.as_ref())?;
    let payment_hash = parse::payment_hash("payment_hash", &request.payment_hash)?;
    let expiry = expiry_or_default(request.expiry_secs);
    let amount_msat =
        bounds::optional_positive_amount("amount_msat", request.amount_msat, Unit::Msat)?;
    ctx.blocking(move |node| {
        let payments = node.bolt11_payment();
        let invoice = match amount_msat {
            Some(amount) => {
                payments.receive_for_hash(amount, &description, expiry, payment_hash)?
            }
            None => {
                payments.receive_variable_amount_for_hash(&description, expiry, payment_hash)?
            }
        };
        Ok(Bolt11ReceiveForHashResponse {
            invoice: invoice.to_string(),
        })
    })
    .await
}

/// Bolt11ClaimForHash: settles a held payment with its preimage.
pub async fn claim_for_hash(
    ctx: &ApiContext,
    request: Bolt11ClaimForHashRequest,
) -> ApiResult<Bolt11ClaimForHashResponse> {
    let preimage = parse::payment_preimage("preimage", &request.preimage)?;
    let hash_of_preimage = parse::payment_hash_of(&preimage);
    if let Some(given) = request.payment_hash.as_deref() {
        if parse::payment_hash("payment_hash", given)? != hash_of_preimage {
            return Err(ApiError::invalid(
                "`payment_hash` is not the SHA-256 of `preimage`",
            ));
        }
    }
    // Without an amount, accept whatever is claimable (ldk-node checks a lower bound only).
    let claimable = bounds::optional_within_supply(
        "claimable_amount_msat",
        request.claimable_amount_msat,
        Unit::Msat,
    )?
    .unwrap_or(u64::MAX);
    ctx.blocking(move |node| {
        node.bolt11_payment()
            .claim_for_hash(hash_of_preimage, claimable, preimage)
            .map_err(held_payment_error)?;
        Ok(Bolt11ClaimForHashResponse {})
    })
    .await
}

/// The errors of claiming or failing a held payment, in the request's terms.
fn held_payment_error(error: NodeError) -> ApiError {
    match error {
        NodeError::InvalidPaymentHash => ApiError::invalid(
            "`payment_hash`: no payment is registered for this hash (Bolt11ReceiveForHash \
             registers one)",
        ),
        NodeError::InvalidAmount => ApiError::invalid(
            "`claimable_amount_msat` is below the amount of the payment's invoice",
        ),
        other => other.into(),
    }
}

/// Bolt11FailForHash: fails a held payment back to the payer.
///
/// ldk-node marks the payment failed but emits no event on the receiving side, so the
/// payment history (last written at PaymentClaimable, as pending) is updated here.
pub async fn fail_for_hash(
    ctx: &ApiContext,
    request: Bolt11FailForHashRequest,
) -> ApiResult<Bolt11FailForHashResponse> {
    let payment_hash = parse::payment_hash("payment_hash", &request.payment_hash)?;
    let failed = ctx
        .blocking(move |node| {
            node.bolt11_payment()
                .fail_for_hash(payment_hash)
                .map_err(held_payment_error)?;
            let payment_id = ldk_node::lightning::ln::channelmanager::PaymentId(payment_hash.0);
            Ok(node.payment(&payment_id).as_ref().map(payment_to_proto))
        })
        .await?;
    if let Some(payment) = failed {
        ctx.with_store(move |store| Ok(store.upsert_payment(&payment)?))
            .await?;
    }
    Ok(Bolt11FailForHashResponse {})
}

/// Bolt11ReceiveViaJitChannel: an invoice payable through the configured LSPS2 LSP, which
/// opens a channel on the fly.
pub async fn receive_via_jit_channel(
    ctx: &ApiContext,
    request: Bolt11ReceiveViaJitChannelRequest,
) -> ApiResult<Bolt11ReceiveViaJitChannelResponse> {
    let description = parse::bolt11_description("description", request.description.as_ref())?;
    let expiry = expiry_or_default(request.expiry_secs);
    bounds::positive_amount("amount_msat", request.amount_msat, Unit::Msat)?;
    bounds::optional_within_supply(
        "max_total_lsp_fee_limit_msat",
        request.max_total_lsp_fee_limit_msat,
        Unit::Msat,
    )?;
    ctx.blocking(move |node| {
        let invoice = node.bolt11_payment().receive_via_jit_channel(
            request.amount_msat,
            &description,
            expiry,
            request.max_total_lsp_fee_limit_msat,
        )?;
        Ok(Bolt11ReceiveViaJitChannelResponse {
            invoice: invoice.to_string(),
        })
    })
    .await
}

/// Bolt11ReceiveVariableAmountViaJitChannel: as above, for any amount.
pub async fn receive_variable_amount_via_jit_channel(
    ctx: &ApiContext,
    request: Bolt11ReceiveVariableAmountViaJitChannelRequest,
) -> ApiResult<Bolt11ReceiveVariableAmountViaJitChannelResponse> {
    let description = parse::bolt11_description("description", request.description.as_ref())?;
    let expiry = expiry_or_default(request.expiry_secs);
    ctx.blocking(move |node| {
        let invoice = node
            .bolt11_payment()
            .receive_variable_amount_via_jit_channel(
                &description,
                expiry,
                request.max_proportional_lsp_fee_limit_ppm_msat,
            )?;
        Ok(Bolt11ReceiveVariableAmountViaJitChannelResponse {
            invoice: invoice.to_string(),
        })
    })
    .await
}

/// Bolt11Send: pays an invoice; `amount_msat` is required for zero-amount ones and may pay
/// more than a fixed-amount one asks.
pub async fn send(ctx: &ApiContext, request: Bolt11SendRequest) -> ApiResult<Bolt11SendResponse> {
    let invoice = parse::payable_bolt11_invoice("invoice", &request.invoice, ctx.network)?;
    let route = parse::route_parameters(request.route_parameters)?;
    let amount_msat =
        bounds::optional_positive_amount("amount_msat", request.amount_msat, Unit::Msat)?;
    let paid_msat = match (amount_msat, invoice.amount_milli_satoshis()) {
        (None, None) => {
            return Err(ApiError::invalid(
                "missing required field `amount_msat`: the invoice has no amount",
            ))
        }
        (Some(amount), Some(asked)) if amount < asked => {
            return Err(ApiError::bad_field(
                "amount_msat",
                format!("{amount} msat is less than the {asked} msat the invoice asks for"),
            ))
        }
        (Some(amount), _) | (None, Some(amount)) => amount,
    };
    bounds::within_supply("invoice", paid_msat, Unit::Msat)?;
    parse::check_amount_and_fee_cap("amount_msat", paid_msat, route.as_ref())?;
    if invoice.is_expired() {
        return Err(ApiError::Lightning(format!(
            "the invoice expired {} s after its creation",
            invoice.expiry_time().as_secs()
        )));
    }
    let (cost, route) = budget::lightning_send_cost(paid_msat, route);
    budget::send_within_budget(ctx, cost, move |node| {
        let payments = node.bolt11_payment();
        let sent = match amount_msat {
            Some(amount) => payments.send_using_amount(&invoice, amount, route),
            None => payments.send(&invoice, route),
        };
        let payment_id =
            sent.map_err(|error| super::failure_context::send_failure(node, error, paid_msat))?;
        let payment_id = payment_id_hex(&payment_id);
        Ok((
            Bolt11SendResponse {
                payment_id: payment_id.clone(),
            },
            payment_id,
        ))
    })
    .await
}

/// Bolt11SendUnderpaying: not possible on ldk-node 0.7, which has no underpaying send.
pub async fn send_underpaying(
    _ctx: &ApiContext,
    _request: Bolt11SendUnderpayingRequest,
) -> ApiResult<Bolt11SendUnderpayingResponse> {
    Err(ApiError::Unimplemented(
        "Bolt11SendUnderpaying is not supported: ldk-node 0.7 cannot send less than an \
         invoice's amount; use Bolt11Send"
            .to_owned(),
    ))
}
