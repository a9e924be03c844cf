//! `wait_for_event`: wait for the next event of the node (of some kinds, or of one payment)
//! instead of polling, with upstream's SubscribeEvents under it and our event log's resume
//! point, so an agent that passes the last `sequence` it saw misses nothing.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};
use tokio::time::{timeout_at, Instant};
use tonic::Code;

use super::schema::output_schema;
use super::tool_error::ToolError;
use crate::client::LdkServerClient;
use crate::proto::api::{GetPaymentDetailsRequest, SubscribeEventsRequest};
use crate::proto::events::event_envelope::Event;
use crate::proto::events::EventEnvelope;
use crate::proto::types::{payment_kind, Payment, PaymentDirection, PaymentStatus};

/// The tool's name.
pub const TOOL_NAME: &str = "wait_for_event";
/// How long a call waits when `timeout_secs` is not given.
const DEFAULT_TIMEOUT_SECS: u64 = 60;
/// The longest wait one call may ask for.
const MAX_TIMEOUT_SECS: u64 = 600;
/// The event kinds (and groups) SubscribeEvents accepts.
const KINDS: [&str; 9] = [
    "payments",
    "forwards",
    "channels",
    "payment_received",
    "payment_successful",
    "payment_failed",
    "payment_claimable",
    "payment_forwarded",
    "channel_state_changed",
];

/// What the tool says about itself in `tools/list`.
pub fn description() -> &'static str {
    "Wait for the node's next event and return it: a payment received, sent or failed, a \
     forward, a channel state change. Filter by `kinds` and/or `payment_hash`; with a \
     `payment_hash` and no `after_sequence`, a payment that already ended is returned at once \
     (as `payment`). Pass the `sequence` of the last event you saw as `after_sequence` to \
     resume without missing one. Returns `timed_out: true` when nothing came in `timeout_secs`."
}

/// The arguments' schema.
pub fn input_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "kinds": {
                "type": "array",
                "items": {"type": "string", "enum": KINDS},
                "description": "Only these kinds of events (groups or names); empty or absent: all",
            },
            "payment_hash": {
                "type": "string",
                "pattern": "^[0-9a-fA-F]{64}$",
                "description": "Only events of the payment with this hash (32 bytes hex)",
            },
            "after_sequence": {
                "type": "integer",
                "minimum": 0,
                "description": "Replay stored events after this sequence first; absent: from now",
            },
            "timeout_secs": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_TIMEOUT_SECS,
                "description": "How long to wait (default 60)",
            },
        },
        "additionalProperties": false,
    })
}

/// The result's schema.
pub fn output_schema_value() -> Value {
    json!({
        "type": "object",
        "properties": {
            "timed_out": {"type": "boolean", "description": "Nothing matching came in time"},
            "event": {"anyOf": [output_schema("events.EventEnvelope"), {"type": "null"}]},
            "payment": {"anyOf": [output_schema("types.Payment"), {"type": "null"}]},
        },
        "required": ["timed_out", "event", "payment"],
        "additionalProperties": false,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WaitArguments {
    #[serde(default)]
    kinds: Vec<String>,
    payment_hash: Option<String>,
    after_sequence: Option<u64>,
    timeout_secs: Option<u64>,
}

/// What the call waits for, checked.
#[derive(Debug)]
struct Wait {
    kinds: Vec<String>,
    payment_hash: Option<String>,
    after_sequence: Option<u64>,
    timeout: Duration,
}

fn parse(arguments: Value) -> Result<Wait, ToolError> {
    let arguments = if arguments.is_null() {
        json!({})
    } else {
        arguments
    };
    let WaitArguments {
        kinds,
        payment_hash,
        after_sequence,
        timeout_secs,
    } = super::arguments::decode(arguments)?;
    let payment_hash = match payment_hash {
        Some(hash) if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Some(hash.to_ascii_lowercase())
        }
        Some(_) => {
            return Err(ToolError::invalid_argument(
                "`payment_hash` must be 32 bytes as 64 hex digits",
            ))
        }
        None => None,
    };
    if let Some(kind) = kinds.iter().find(|kind| !KINDS.contains(&kind.as_str())) {
        return Err(ToolError::invalid_argument(format!(
            "`kinds`: unknown kind {kind:?}: expected some of {}",
            KINDS.join(", ")
        )));
    }
    let timeout_secs = timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS);
    if !(1..=MAX_TIMEOUT_SECS).contains(&timeout_secs) {
        return Err(ToolError::invalid_argument(format!(
            "`timeout_secs` must be 1 to {MAX_TIMEOUT_SECS}, not {timeout_secs}"
        )));
    }
    Ok(Wait {
        kinds,
        payment_hash,
        after_sequence,
        timeout: Duration::from_secs(timeout_secs),
    })
}

/// Runs one call.
pub async fn run(mut client: LdkServerClient, arguments: Value) -> Result<Value, ToolError> {
    let wait = parse(arguments)?;
    let deadline = Instant::now() + wait.timeout;
    let request = SubscribeEventsRequest {
        after_sequence: wait.after_sequence,
        kinds: wait.kinds.clone(),
    };
    let Ok(subscribed) = timeout_at(deadline, client.subscribe_events(request)).await else {
        return Ok(timed_out());
    };
    let mut stream = subscribed?.into_inner();
    // Subscribed first, then looked up: a payment that ends between the two is seen by one.
    if let (Some(hash), None) = (&wait.payment_hash, wait.after_sequence) {
        if let Some(payment) = ended_payment(&mut client, hash, &wait.kinds).await? {
            return Ok(json!({"timed_out": false, "event": null, "payment": payment}));
        }
    }
    loop {
        let Ok(message) = timeout_at(deadline, stream.message()).await else {
            return Ok(timed_out());
        };
        let Some(envelope) = message? else {
            return Err(ToolError {
                code: Code::Unavailable,
                message: "the event stream ended: the server is stopping".into(),
            });
        };
        if wait
            .payment_hash
            .as_deref()
            .is_none_or(|hash| envelope_is_for(&envelope, hash))
        {
            let event = super::arguments::encode(&envelope)?;
            return Ok(json!({"timed_out": false, "event": event, "payment": null}));
        }
    }
}

fn timed_out() -> Value {
    json!({"timed_out": true, "event": null, "payment": null})
}

/// The payment with `hash` as id, if it has already ended in a way `kinds` asks for.
async fn ended_payment(
    client: &mut LdkServerClient,
    hash: &str,
    kinds: &[String],
) -> Result<Option<Value>, ToolError> {
    let request = GetPaymentDetailsRequest {
        payment_id: hash.to_owned(),
    };
    let payment = match client.get_payment_details(request).await {
        Ok(response) => response.into_inner().payment,
        Err(status) if status.code() == Code::NotFound => None,
        Err(status) => return Err(status.into()),
    };
    let Some(payment) = payment else {
        return Ok(None);
    };
    let wanted = ended_kind(&payment)
        .is_some_and(|kind| kinds.is_empty() || kinds.iter().any(|k| k == kind || k == "payments"));
    wanted
        .then(|| super::arguments::encode(&payment))
        .transpose()
}

/// The event an ended payment was announced by; `None` while it is pending.
fn ended_kind(payment: &Payment) -> Option<&'static str> {
    match (payment.status(), payment.direction()) {
        (PaymentStatus::Pending, _) => None,
        (PaymentStatus::Failed, _) => Some("payment_failed"),
        (PaymentStatus::Succeeded, PaymentDirection::Inbound) => Some("payment_received"),
        (PaymentStatus::Succeeded, PaymentDirection::Outbound) => Some("payment_successful"),
    }
}

/// Whether `envelope` reports the payment with `hash` (lowercase hex).
fn envelope_is_for(envelope: &EventEnvelope, hash: &str) -> bool {
    let payment = match &envelope.event {
        Some(Event::PaymentReceived(e)) => e.payment.as_ref(),
        Some(Event::PaymentSuccessful(e)) => e.payment.as_ref(),
        Some(Event::PaymentFailed(e)) => e.payment.as_ref(),
        Some(Event::PaymentClaimable(e)) => e.payment.as_ref(),
        _ => None,
    };
    payment
        .is_some_and(|payment| payment_hash(payment).as_deref() == Some(hash) || payment.id == hash)
}

fn payment_hash(payment: &Payment) -> Option<String> {
    let kind = payment.kind.as_ref()?.kind.as_ref()?;
    let hash = match kind {
        payment_kind::Kind::Bolt11(k) => Some(&k.hash),
        payment_kind::Kind::Spontaneous(k) => Some(&k.hash),
        payment_kind::Kind::Bolt12Offer(k) => k.hash.as_ref(),
        payment_kind::Kind::Bolt12Refund(k) => k.hash.as_ref(),
        payment_kind::Kind::Onchain(_) => None,
    }?;
    Some(hash.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_checked_before_subscribing() {
        for (arguments, named) in [
            (json!({"payment_hash": "abc"}), "payment_hash"),
            (json!({"kinds": ["payment_sent"]}), "kinds"),
            (json!({"timeout_secs": 0}), "timeout_secs"),
            (json!({"timeout_secs": 601}), "timeout_secs"),
            (json!({"timeout": 5}), "timeout"),
            (json!({"after_sequence": -1}), "after_sequence"),
        ] {
            let error = parse(arguments.clone()).unwrap_err();
            assert!(
                error.message.contains(named),
                "{arguments}: {}",
                error.message
            );
        }
        let wait = parse(json!({"payment_hash": "AB".repeat(32)})).unwrap();
        assert_eq!(wait.payment_hash.unwrap(), "ab".repeat(32));
        assert_eq!(parse(Value::Null).unwrap().timeout, Duration::from_secs(60));
    }
}
