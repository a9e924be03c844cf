//! From a tool's arguments to a request message, and from a response to the tool's result.
//!
//! The arguments are shaped first ([`prepare`]): an "integer or all" amount becomes its
//! oneof, text for a bytes field becomes the hex the generated types read, and the defaults
//! upstream's clients send (invoice expiry, route limits) are filled in. Then they are read
//! into the request type, refusing unknown fields and naming the one that is wrong.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::schema::{amount_or_all, descriptors};
use super::tool_error::ToolError;
use crate::client::defaults::{
    DEFAULT_EXPIRY_SECS, DEFAULT_MAX_CHANNEL_SATURATION_POWER_OF_HALF, DEFAULT_MAX_PATH_COUNT,
    DEFAULT_MAX_TOTAL_CLTV_EXPIRY_DELTA,
};

/// The arguments of a call to the request message `request` (full name), shaped for
/// [`decode`].
pub fn prepare(request: &str, arguments: Value) -> Result<Value, ToolError> {
    let mut arguments = match arguments {
        Value::Object(object) => object,
        Value::Null => Map::new(),
        other => {
            return Err(ToolError::invalid_argument(format!(
                "`arguments` must be an object, not {}",
                json_kind(&other)
            )))
        }
    };
    let message = descriptors()
        .message(request)
        .ok_or_else(|| ToolError::internal(format!("{request} is not in the descriptors")))?;
    for amount in amount_or_all(message) {
        fold_amount_or_all(&mut arguments, &amount.oneof, &amount.amount_field)?;
    }
    for field in &message.field {
        if field.r#type() == prost_types::field_descriptor_proto::Type::Bytes {
            text_to_hex(&mut arguments, field.name())?;
        }
    }
    fill_defaults(&mut arguments, message);
    Ok(Value::Object(arguments))
}

/// `amount_sats: 5` → `amount: {amount_sats: 5}`; `amount_sats: "all"` (or `all_funds`) →
/// `amount: {all_funds: {}}`.
fn fold_amount_or_all(
    arguments: &mut Map<String, Value>,
    oneof: &str,
    amount_field: &str,
) -> Result<(), ToolError> {
    let all_funds = arguments.remove("all_funds");
    let amount = arguments.remove(amount_field);
    let folded = match (amount, all_funds) {
        (Some(_), Some(_)) => {
            return Err(ToolError::invalid_argument(format!(
                "`{amount_field}` and `all_funds` exclude each other"
            )))
        }
        (Some(Value::String(text)), None) if text.eq_ignore_ascii_case("all") => {
            json!({"all_funds": {}})
        }
        (Some(number @ Value::Number(_)), None) => json!({ amount_field: number }),
        (Some(other), None) => {
            return Err(ToolError::invalid_argument(format!(
                "`{amount_field}` must be an integer or \"all\", not {}",
                json_kind(&other)
            )))
        }
        (None, Some(Value::Bool(true) | Value::Object(_))) => json!({"all_funds": {}}),
        (None, Some(other)) => {
            return Err(ToolError::invalid_argument(format!(
                "`all_funds` must be true or {{}}, not {}",
                json_kind(&other)
            )))
        }
        (None, None) => return Ok(()),
    };
    if arguments.insert(oneof.to_owned(), folded).is_some() {
        return Err(ToolError::invalid_argument(format!(
            "`{amount_field}` and `{oneof}` exclude each other"
        )));
    }
    Ok(())
}

/// A bytes field is given as text: its UTF-8 bytes, in the hex the generated types read.
fn text_to_hex(arguments: &mut Map<String, Value>, field: &str) -> Result<(), ToolError> {
    match arguments.get_mut(field) {
        None => Ok(()),
        Some(Value::String(text)) => {
            *text = hex::encode(text.as_bytes());
            Ok(())
        }
        Some(other) => Err(ToolError::invalid_argument(format!(
            "`{field}` must be text, not {}",
            json_kind(other)
        ))),
    }
}

/// What upstream's clients fill in: an invoice expiry, and route limits left out of a given
/// `route_parameters`.
fn fill_defaults(arguments: &mut Map<String, Value>, message: &prost_types::DescriptorProto) {
    let has_field = |name: &str| message.field.iter().any(|f| f.name() == name);
    if has_field("expiry_secs") && !arguments.contains_key("expiry_secs") {
        arguments.insert("expiry_secs".into(), DEFAULT_EXPIRY_SECS.into());
    }
    if let Some(Value::Object(route)) = arguments.get_mut("route_parameters") {
        for (name, default) in [
            (
                "max_total_cltv_expiry_delta",
                DEFAULT_MAX_TOTAL_CLTV_EXPIRY_DELTA,
            ),
            ("max_path_count", DEFAULT_MAX_PATH_COUNT),
            (
                "max_channel_saturation_power_of_half",
                DEFAULT_MAX_CHANNEL_SATURATION_POWER_OF_HALF,
            ),
        ] {
            route.entry(name).or_insert(default.into());
        }
    }
}

/// Reads prepared arguments into a request; the error names the field that is wrong.
pub fn decode<T: DeserializeOwned>(arguments: Value) -> Result<T, ToolError> {
    serde_path_to_error::deserialize(arguments).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if path == "." {
            ToolError::invalid_argument(format!("arguments: {inner}"))
        } else {
            ToolError::invalid_argument(format!("`{path}`: {inner}"))
        }
    })
}

/// A response as the tool's result.
pub fn encode<T: Serialize>(response: &T) -> Result<Value, ToolError> {
    serde_json::to_value(response)
        .map_err(|e| ToolError::internal(format!("cannot write the response as JSON: {e}")))
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::api::{
        onchain_send_request, Bolt11ReceiveRequest, OnchainSendRequest, SignMessageRequest,
    };

    fn onchain_send(arguments: Value) -> Result<OnchainSendRequest, ToolError> {
        decode(prepare("api.OnchainSendRequest", arguments)?)
    }

    #[test]
    fn an_amount_is_an_integer_or_all() {
        let request = onchain_send(json!({"address": "bcrt1q", "amount_sats": 5000})).unwrap();
        assert_eq!(
            request.amount,
            Some(onchain_send_request::Amount::AmountSats(5000))
        );
        let request = onchain_send(json!({"address": "bcrt1q", "amount_sats": "all"})).unwrap();
        assert!(matches!(
            request.amount,
            Some(onchain_send_request::Amount::AllFunds(_))
        ));
        let request = onchain_send(json!({"address": "a", "all_funds": true})).unwrap();
        assert!(matches!(
            request.amount,
            Some(onchain_send_request::Amount::AllFunds(_))
        ));
        // The nested form the results use is read too.
        let request = onchain_send(json!({"address": "a", "amount": {"amount_sats": 7}})).unwrap();
        assert_eq!(
            request.amount,
            Some(onchain_send_request::Amount::AmountSats(7))
        );
    }

    #[test]
    fn wrong_arguments_name_their_field() {
        for (arguments, named) in [
            (json!({"amount_sats": "lots"}), "amount_sats"),
            (json!({"amount_sats": -1}), "amount.amount_sats"),
            (json!({"amount_sats": 1.5}), "amount.amount_sats"),
            (
                json!({"amount_sats": 18446744073709551616u128 as f64}),
                "amount.amount_sats",
            ),
            (json!({"address": 5}), "address"),
            (json!({"adress": "x"}), "adress"),
            (json!({"amount_sats": 1, "all_funds": true}), "all_funds"),
            (
                json!({"amount_sats": 1, "amount": {"amount_sats": 2}}),
                "amount",
            ),
            (json!({"fee_rate_sat_per_vb": "1"}), "fee_rate_sat_per_vb"),
            (json!([1]), "arguments"),
        ] {
            let error = onchain_send(arguments.clone()).unwrap_err();
            assert_eq!(error.code, tonic::Code::InvalidArgument);
            assert!(
                error.message.contains(named),
                "{arguments}: {}",
                error.message
            );
        }
    }

    #[test]
    fn text_becomes_bytes_and_defaults_are_filled() {
        let request: SignMessageRequest =
            decode(prepare("api.SignMessageRequest", json!({"message": "héllo"})).unwrap())
                .unwrap();
        assert_eq!(request.message, "héllo".as_bytes());
        let request: Bolt11ReceiveRequest =
            decode(prepare("api.Bolt11ReceiveRequest", json!({"amount_msat": 1000})).unwrap())
                .unwrap();
        assert_eq!(request.expiry_secs, DEFAULT_EXPIRY_SECS);
        assert_eq!(request.amount_msat, Some(1000));
        let request: Bolt11ReceiveRequest = decode(
            prepare(
                "api.Bolt11ReceiveRequest",
                json!({"expiry_secs": 60, "description": {"kind": {"direct": "coffee"}}}),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(request.expiry_secs, 60);
        assert!(request.description.is_some());
    }

    #[test]
    fn route_parameters_get_upstreams_defaults() {
        let prepared = prepare(
            "api.Bolt11SendRequest",
            json!({"invoice": "lnbcrt1", "route_parameters": {"max_path_count": 3}}),
        )
        .unwrap();
        assert_eq!(prepared["route_parameters"]["max_path_count"], 3);
        assert_eq!(
            prepared["route_parameters"]["max_total_cltv_expiry_delta"],
            DEFAULT_MAX_TOTAL_CLTV_EXPIRY_DELTA
        );
        let request: crate::proto::api::Bolt11SendRequest = decode(prepared).unwrap();
        assert_eq!(request.route_parameters.unwrap().max_path_count, 3);
    }
}
