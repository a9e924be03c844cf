//! JSON-RPC 2.0 envelopes, one message per line (MCP's stdio transport).
//!
//! A line is a request (it has an `id`), a notification (no `id`: never answered), or not a
//! request at all, which is answered with the JSON-RPC error it deserves.

use serde_json::{json, Map, Value};

/// The line is not JSON.
pub const PARSE_ERROR: i64 = -32700;
/// The JSON is not a request object.
pub const INVALID_REQUEST: i64 = -32600;
/// No such method.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// The method's parameters are wrong (an unknown tool among them).
pub const INVALID_PARAMS: i64 = -32602;
/// A fault of ours.
pub const INTERNAL_ERROR: i64 = -32603;

/// One line, classified.
#[derive(Debug, PartialEq)]
pub enum Incoming {
    /// A request, to be answered with its `id`.
    Request {
        /// The request's id (a string or a number).
        id: Value,
        /// The method name.
        method: String,
        /// The parameters (an empty object when absent).
        params: Value,
    },
    /// A notification: handled, never answered.
    Notification {
        /// The method name.
        method: String,
        /// The parameters (an empty object when absent).
        params: Value,
    },
    /// Not a request: answered with this error (and `id` when one could be read).
    Invalid(ErrorReply),
}

/// An error answer, before it is written.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorReply {
    /// The request's id, or null when it could not be read.
    pub id: Value,
    /// The JSON-RPC error code.
    pub code: i64,
    /// What went wrong.
    pub message: String,
}

impl ErrorReply {
    /// An error for the request `id`.
    pub fn new(id: Value, code: i64, message: impl Into<String>) -> Self {
        Self {
            id,
            code,
            message: message.into(),
        }
    }

    /// The JSON-RPC error response.
    pub fn to_json(&self) -> Value {
        json!({
            "jsonrpc": "2.0",
            "id": self.id,
            "error": {"code": self.code, "message": self.message},
        })
    }
}

/// The JSON-RPC result response for `id`.
pub fn result(id: Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// Classifies one line of input.
pub fn parse_line(line: &str) -> Incoming {
    let value: Value = match serde_json::from_str(line) {
        Ok(value) => value,
        Err(error) => {
            return Incoming::Invalid(ErrorReply::new(
                Value::Null,
                PARSE_ERROR,
                format!("Parse error: {error}"),
            ))
        }
    };
    match value {
        Value::Object(object) => classify(object),
        Value::Array(_) => Incoming::Invalid(ErrorReply::new(
            Value::Null,
            INVALID_REQUEST,
            "Invalid Request: batches are not supported by MCP; send one message per line",
        )),
        _ => Incoming::Invalid(ErrorReply::new(
            Value::Null,
            INVALID_REQUEST,
            "Invalid Request: expected a JSON object",
        )),
    }
}

fn classify(mut object: Map<String, Value>) -> Incoming {
    let id = object.remove("id");
    let reply_id = match &id {
        Some(id @ (Value::String(_) | Value::Number(_))) => id.clone(),
        _ => Value::Null,
    };
    let invalid = |message: &str| {
        Incoming::Invalid(ErrorReply::new(
            reply_id.clone(),
            INVALID_REQUEST,
            format!("Invalid Request: {message}"),
        ))
    };
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return invalid("`jsonrpc` must be \"2.0\"");
    }
    let Some(Value::String(method)) = object.remove("method") else {
        // A response from the client (to a request we never send) or garbage.
        return invalid("`method` must be a string");
    };
    let params = match object.remove("params") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(params @ Value::Object(_)) => params,
        Some(_) => {
            return Incoming::Invalid(ErrorReply::new(
                reply_id,
                INVALID_PARAMS,
                "Invalid params: `params` must be an object",
            ))
        }
    };
    match id {
        None => Incoming::Notification { method, params },
        Some(Value::String(_) | Value::Number(_)) => Incoming::Request {
            id: reply_id,
            method,
            params,
        },
        Some(_) => invalid("`id` must be a string or a number"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_code(line: &str) -> i64 {
        match parse_line(line) {
            Incoming::Invalid(error) => error.code,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn requests_and_notifications_are_told_apart() {
        assert_eq!(
            parse_line(r#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#),
            Incoming::Request {
                id: json!(7),
                method: "ping".into(),
                params: json!({}),
            }
        );
        assert_eq!(
            parse_line(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            Incoming::Notification {
                method: "notifications/initialized".into(),
                params: json!({}),
            }
        );
    }

    #[test]
    fn malformed_lines_get_the_error_they_deserve() {
        assert_eq!(error_code("{not json"), PARSE_ERROR);
        assert_eq!(error_code("[1,2]"), INVALID_REQUEST);
        assert_eq!(error_code("42"), INVALID_REQUEST);
        assert_eq!(error_code(r#"{"id":1,"method":"ping"}"#), INVALID_REQUEST);
        assert_eq!(
            error_code(r#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#),
            INVALID_REQUEST
        );
        assert_eq!(
            error_code(r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":[1]}"#),
            INVALID_PARAMS
        );
        match parse_line(r#"{"jsonrpc":"2.0","id":"x","method":5}"#) {
            Incoming::Invalid(error) => assert_eq!(error.id, json!("x")),
            other => panic!("{other:?}"),
        }
    }
}
