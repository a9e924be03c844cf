//! On-chain wallet RPCs: OnchainReceive, OnchainSend.

use super::ApiContext;
use crate::convert::bounds::{self, Unit};
use crate::convert::parse;
use crate::error::{ApiError, ApiResult};
use crate::keys::budget;
use crate::proto::api::onchain_send_request::Amount;
use crate::proto::api::*;

/// OnchainReceive: a fresh address of the node's wallet.
pub async fn receive(
    ctx: &ApiContext,
    _request: OnchainReceiveRequest,
) -> ApiResult<OnchainReceiveResponse> {
    ctx.blocking(|node| {
        Ok(OnchainReceiveResponse {
            address: node.onchain_payment().new_address()?.to_string(),
        })
    })
    .await
}

/// OnchainSend: an amount, or everything spendable (keeping anchor reserves), to an address.
///
/// The amount must lie between the address's dust limit and 21,000,000 BTC: BDK's coin
/// selection panics on amounts it cannot add up (while holding the wallet lock), and refuses
/// dust with an error that says nothing about the amount.
pub async fn send(ctx: &ApiContext, request: OnchainSendRequest) -> ApiResult<OnchainSendResponse> {
    let address = parse::onchain_address("address", &request.address, ctx.network)?;
    let fee_rate = parse::fee_rate_sat_per_vb("fee_rate_sat_per_vb", request.fee_rate_sat_per_vb)?;
    let amount = request
        .amount
        .ok_or_else(|| ApiError::missing_field("amount_sats or all_funds"))?;
    if let Amount::AmountSats(sats) = amount {
        bounds::positive_amount("amount_sats", sats, Unit::Sat)?;
        bounds::above_dust("amount_sats", sats, &address.script_pubkey())?;
    }
    // A budget counts the amount sent; the on-chain fee is not known before the send.
    let cost = match amount {
        Amount::AmountSats(sats) => budget::SendCost {
            msat: sats.saturating_mul(1_000),
        },
        Amount::AllFunds(_) if budget::caller_has_budget() => {
            return Err(ApiError::PermissionDenied(
                "a key with a budget cannot send all funds: give `amount_sats`".to_owned(),
            ))
        }
        Amount::AllFunds(_) => budget::SendCost { msat: 0 },
    };
    budget::send_within_budget(ctx, cost, move |node| {
        let wallet = node.onchain_payment();
        let (sent, asked) = match amount {
            Amount::AmountSats(sats) => {
                (wallet.send_to_address(&address, sats, fee_rate), Some(sats))
            }
            Amount::AllFunds(_) => (wallet.send_all_to_address(&address, true, fee_rate), None),
        };
        let txid =
            sent.map_err(|error| super::failure_context::onchain_failure(node, error, asked))?;
        let txid = txid.to_string();
        Ok((OnchainSendResponse { txid: txid.clone() }, txid))
    })
    .await
}
