//! UnifiedSend: pays whatever a user pastes. A bare BOLT 11 invoice, a bare BOLT 12 offer
//! (either with an optional `lightning:` prefix) and a bare on-chain address are dispatched
//! onto the Bolt11Send, Bolt12Send and OnchainSend handlers with the request's amount and
//! route; a BIP 21 `bitcoin:` URI goes to ldk-node's unified payment, which prefers its BOLT 12
//! offer, then its BOLT 11 invoice, then the address.
//!
//! BIP 353 names (`₿user@domain`, `user@domain`) are refused: resolving one safely means
//! validating its DNSSEC proof up to the DNS root, and no resolver here does that yet (see
//! the README).

use super::{bolt11, bolt12, onchain, ApiContext};
use crate::convert::bounds::{self, Unit};
use crate::convert::parse;
use crate::convert::payments;
use crate::error::{ApiError, ApiResult};
use crate::keys::budget;
use crate::proto::api::unified_send_response::PaymentResult;
use crate::proto::api::*;

/// What the `uri` field holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A BOLT 11 invoice (without any `lightning:` prefix).
    Bolt11(String),
    /// A BOLT 12 offer (without any `lightning:` prefix).
    Bolt12(String),
    /// A BIP 21 `bitcoin:` URI.
    Bip21(String),
    /// A BIP 353 human-readable name, `user@domain` (without the `₿`).
    Bip353(String),
    /// Anything else: tried as an on-chain address.
    Address(String),
}

/// Classifies the text of `uri` (already trimmed and non-empty).
pub fn classify(text: &str) -> Destination {
    let lower = text.to_ascii_lowercase();
    if lower.starts_with("bitcoin:") {
        return Destination::Bip21(text.to_owned());
    }
    let (body, lower_body) = match lower.strip_prefix("lightning:") {
        Some(rest) => (&text["lightning:".len()..], rest),
        None => (text, lower.as_str()),
    };
    if lower_body.starts_with("lno1") {
        return Destination::Bolt12(body.to_owned());
    }
    if lower_body.starts_with("ln") {
        return Destination::Bolt11(body.to_owned());
    }
    let name = text.strip_prefix('₿').unwrap_or(text);
    if name.contains('@') {
        return Destination::Bip353(name.to_owned());
    }
    Destination::Address(text.to_owned())
}

/// UnifiedSend.
pub async fn send(ctx: &ApiContext, request: UnifiedSendRequest) -> ApiResult<UnifiedSendResponse> {
    let text = request.uri.trim();
    if text.is_empty() {
        return Err(ApiError::missing_field("uri"));
    }
    let amount_msat =
        bounds::optional_positive_amount("amount_msat", request.amount_msat, Unit::Msat)?;
    let route = request.route_parameters;
    let result = match classify(text) {
        Destination::Bolt11(invoice) => {
            let request = Bolt11SendRequest {
                invoice,
                amount_msat,
                route_parameters: route,
            };
            let sent = bolt11::send(ctx, request).await.map_err(rename_field)?;
            PaymentResult::Bolt11PaymentId(sent.payment_id)
        }
        Destination::Bolt12(offer) => {
            let request = Bolt12SendRequest {
                offer,
                amount_msat,
                quantity: None,
                payer_note: None,
                route_parameters: route,
            };
            let sent = bolt12::send(ctx, request).await.map_err(rename_field)?;
            PaymentResult::Bolt12PaymentId(sent.payment_id)
        }
        Destination::Address(address) => {
            parse::onchain_address("uri", &address, ctx.network).map_err(|_| unknown_form(text))?;
            let sats = whole_sats(amount_msat)?;
            let request = OnchainSendRequest {
                address,
                amount: Some(onchain_send_request::Amount::AmountSats(sats)),
                fee_rate_sat_per_vb: None,
            };
            let sent = onchain::send(ctx, request).await.map_err(rename_field)?;
            PaymentResult::Txid(sent.txid)
        }
        Destination::Bip21(uri) => return send_bip21(ctx, uri, amount_msat, route).await,
        Destination::Bip353(name) => {
            return Err(ApiError::bad_field(
                "uri",
                format!(
                    "{name:?} is a BIP 353 name, which this server cannot resolve safely yet \
                     (it needs a DNSSEC proof validated up to the DNS root); pay the invoice, \
                     offer or address the name stands for"
                ),
            ))
        }
    };
    Ok(UnifiedSendResponse {
        payment_result: Some(result),
    })
}

/// On chain the amount is whole satoshis, and there is no amount in a bare address.
fn whole_sats(amount_msat: Option<u64>) -> ApiResult<u64> {
    match amount_msat {
        None => Err(ApiError::invalid(
            "missing required field `amount_msat`: a bare address carries no amount",
        )),
        Some(msat) if msat % 1_000 != 0 => Err(ApiError::bad_field(
            "amount_msat",
            format!("{msat} msat is not a whole number of satoshis, as an on-chain payment needs"),
        )),
        Some(msat) => Ok(msat / 1_000),
    }
}

/// The inner handlers name their own field (`invoice`, `offer`, `address`); the caller
/// gave `uri`.
fn rename_field(error: ApiError) -> ApiError {
    match error {
        ApiError::InvalidArgument(message) => ApiError::InvalidArgument(
            message
                .replace("`invoice`", "`uri`")
                .replace("`offer`", "`uri`")
                .replace("`address`", "`uri`"),
        ),
        other => other,
    }
}

fn unknown_form(text: &str) -> ApiError {
    let shown: String = text.chars().take(40).collect();
    ApiError::bad_field(
        "uri",
        format!(
            "{shown:?} is none of what UnifiedSend pays: a BOLT 11 invoice (lnbc…), a BOLT 12 \
             offer (lno…), an on-chain address of this network, or a BIP 21 `bitcoin:` URI"
        ),
    )
}

/// A BIP 21 URI, paid by ldk-node's unified payment. An `amount_msat` is written into a URI
/// that has none (whole satoshis), and must agree with one that has.
async fn send_bip21(
    ctx: &ApiContext,
    uri: String,
    amount_msat: Option<u64>,
    route: Option<crate::proto::types::RouteParametersConfig>,
) -> ApiResult<UnifiedSendResponse> {
    let uri_sats = parse::bip21_amount_sats("uri", &uri)?;
    let (uri, sats) = match (uri_sats, amount_msat) {
        (Some(sats), None) => (uri, Some(sats)),
        (Some(sats), Some(msat)) if msat == sats.saturating_mul(1_000) => (uri, Some(sats)),
        (Some(sats), Some(msat)) => {
            return Err(ApiError::bad_field(
                "amount_msat",
                format!("{msat} msat disagrees with the URI's amount of {sats} sat"),
            ))
        }
        (None, Some(msat)) => {
            let sats = whole_sats(Some(msat))?;
            (with_amount(&uri, sats), Some(sats))
        }
        (None, None) => (uri, None),
    };
    let route = parse::route_parameters(route)?;
    let amount_msat = match sats {
        Some(sats) => sats.saturating_mul(1_000),
        None if budget::caller_has_budget() => {
            return Err(ApiError::PermissionDenied(
                "a key with a budget can only pay URIs that carry an amount (`amount=` or \
                 `amount_msat`)"
                    .to_owned(),
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

/// `uri` with `amount=<sats in BTC>` added.
fn with_amount(uri: &str, sats: u64) -> String {
    let btc = ldk_node::bitcoin::Amount::from_sat(sats)
        .to_string_in(ldk_node::bitcoin::Denomination::Bitcoin);
    let separator = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{separator}amount={btc}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_is_told_apart() {
        assert_eq!(
            classify("lnbcrt10u1pxyz"),
            Destination::Bolt11("lnbcrt10u1pxyz".into())
        );
        assert_eq!(
            classify("LNBC1PXYZ"),
            Destination::Bolt11("LNBC1PXYZ".into())
        );
        assert_eq!(
            classify("lightning:lnbcrt1pxyz"),
            Destination::Bolt11("lnbcrt1pxyz".into())
        );
        assert_eq!(classify("lno1qgsq"), Destination::Bolt12("lno1qgsq".into()));
        assert_eq!(
            classify("LIGHTNING:LNO1QGSQ"),
            Destination::Bolt12("LNO1QGSQ".into())
        );
        assert_eq!(
            classify("bitcoin:bcrt1qxyz?amount=0.001"),
            Destination::Bip21("bitcoin:bcrt1qxyz?amount=0.001".into())
        );
        assert_eq!(
            classify("BITCOIN:BCRT1Q"),
            Destination::Bip21("BITCOIN:BCRT1Q".into())
        );
        assert_eq!(
            classify("₿alice@example.com"),
            Destination::Bip353("alice@example.com".into())
        );
        assert_eq!(
            classify("alice@example.com"),
            Destination::Bip353("alice@example.com".into())
        );
        assert_eq!(
            classify("bcrt1qxyz"),
            Destination::Address("bcrt1qxyz".into())
        );
    }

    #[test]
    fn an_amount_is_written_into_a_uri_without_one() {
        assert_eq!(
            with_amount("bitcoin:bcrt1q", 150_000),
            "bitcoin:bcrt1q?amount=0.0015"
        );
        assert_eq!(
            with_amount("bitcoin:bcrt1q?lightning=lnbc1", 1),
            "bitcoin:bcrt1q?lightning=lnbc1&amount=0.00000001"
        );
        assert_eq!(whole_sats(Some(5_000)).unwrap(), 5);
        assert!(whole_sats(Some(5_001))
            .unwrap_err()
            .to_string()
            .contains("amount_msat"));
        assert!(whole_sats(None)
            .unwrap_err()
            .to_string()
            .contains("amount_msat"));
    }
}
