//! `grpc_timeout`: the `grpc-timeout` header parser of the gateway.
//!
//! The input is the raw header value. It takes the path the gateway gives it: bytes that are
//! not a valid header value, or not visible ASCII (`HeaderValue::to_str`), never reach the
//! parser. Invariant: the parser accepts exactly the gRPC grammar `1*8DIGIT unit` with unit one
//! of `H M S m u n`, and the duration is the value times the unit, to the nanosecond.

use http::HeaderValue;
use ldk_server::server::gateway::parse_grpc_timeout;

/// Nanoseconds per unit of the gRPC `TimeoutUnit` grammar.
fn unit_nanos(unit: u8) -> Option<u128> {
    Some(match unit {
        b'H' => 3_600_000_000_000,
        b'M' => 60_000_000_000,
        b'S' => 1_000_000_000,
        b'm' => 1_000_000,
        b'u' => 1_000,
        b'n' => 1,
        _ => return None,
    })
}

/// The timeout the gRPC specification gives `value`, in nanoseconds, or `None` if it is not a
/// valid `TimeoutValue TimeoutUnit`.
fn specified_nanos(value: &[u8]) -> Option<u128> {
    let (unit, digits) = value.split_last()?;
    let valid_digits = (1..=8).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit);
    if !valid_digits {
        return None;
    }
    let amount = digits.iter().fold(0u128, |amount, digit| {
        amount * 10 + u128::from(digit - b'0')
    });
    Some(amount * unit_nanos(*unit)?)
}

/// Runs the check on one fuzz input.
pub fn check(data: &[u8]) {
    let Ok(header) = HeaderValue::from_bytes(data) else {
        return;
    };
    let Ok(text) = header.to_str() else {
        return;
    };
    let parsed = parse_grpc_timeout(text).map(|timeout| timeout.as_nanos());
    assert_eq!(
        parsed,
        specified_nanos(text.as_bytes()),
        "grpc-timeout {text:?}"
    );
}
