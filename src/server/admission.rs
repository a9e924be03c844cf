//! Admission of one gRPC call, cheapest check first: the path, the deadline, the source
//! address's failure budget, the `x-auth` header (and the key it names), and only then the body
//! (within the size, time and unverified-bytes limits), its signature, the key's scope and the
//! framing.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::request::Parts;
use http::{header, HeaderValue, Request};
use http_body_util::Full;
use tonic::body::Body;
use tonic::Status;

use super::gateway::GatewayState;
use super::{body, grpc_frame, routes, throttle};
use crate::auth::{self, AuthError, AUTH_HEADER, THROTTLED_REASON};
use crate::keys::{BodyRefusal, Caller, HeaderOutcome, Keyring};

/// The TCP peer of the connection a request came on (set by the connection loop).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddress(pub SocketAddr);

/// The gRPC deadline header.
const GRPC_TIMEOUT: &str = "grpc-timeout";
/// Path of the one streaming RPC, which `grpc-timeout` does not apply to.
const SUBSCRIBE_EVENTS_PATH: &str = "/api.LightningNode/SubscribeEvents";

/// A call that passed every check, ready for the service.
pub struct Admitted {
    /// The request, its body buffered, its [`Caller`] in its extensions.
    pub request: Request<Body>,
    /// When a unary call's `grpc-timeout` runs out.
    pub deadline: Option<tokio::time::Instant>,
    /// The key that signed it.
    pub caller: Caller,
}

/// A refused call: the status to answer with, and the key if it was authenticated (a call
/// refused for its scope).
pub struct Refused {
    /// The answer.
    pub status: Status,
    /// The authenticated key, if authentication passed.
    pub caller: Option<Caller>,
}

impl From<Status> for Refused {
    fn from(status: Status) -> Self {
        Self {
            status,
            caller: None,
        }
    }
}

/// Runs every check on `request`; the error is the status to answer with.
///
/// A request refused before its body was read has the rest of its body
/// [drained in the background](body::finish_in_background), so that the answer leaves at once
/// and the HTTP/2 stream still closes normally.
pub async fn admit(state: &GatewayState, request: Request<Body>) -> Result<Admitted, Refused> {
    let (mut parts, request_body) = request.into_parts();
    let mut unread = Some(request_body);
    let checked = check(state, &mut parts, &mut unread).await;
    if let Some(request_body) = unread {
        body::finish_in_background(request_body);
    }
    let (bytes, deadline, caller) = checked?;
    parts.extensions.insert(caller.clone());
    Ok(Admitted {
        request: Request::from_parts(parts, Body::new(Full::new(bytes))),
        deadline,
        caller,
    })
}

/// The checks of [`admit`]; takes the body out of `unread` once it starts reading it.
///
/// Authentication comes first (a timestamp-only signature from the header alone, any other
/// once the body is read), then the key's scope, so that nobody learns what a key may do
/// without its secret, and no call outside its scope has its body decoded.
async fn check(
    state: &GatewayState,
    parts: &mut Parts,
    unread: &mut Option<Body>,
) -> Result<(Bytes, Option<tokio::time::Instant>, Caller), Refused> {
    routes::check(parts.uri.path())?;
    let deadline = call_deadline(parts)?;
    let source = source_address(parts);
    if let Some(wait) = state.throttle.throttled(source, Instant::now()) {
        state.metrics.record_auth_failure(THROTTLED_REASON);
        return Err(throttled(wait).into());
    }
    body::check_declared_length(declared_length(parts))?;
    grpc_frame::check_encoding(&parts.headers)?;
    let header = parts.headers.get(AUTH_HEADER).map(HeaderValue::as_bytes);
    let now = auth::unix_now();
    let outcome = state
        .keyring
        .check_header(header, now)
        .map_err(|error| auth_failed(state, source, error))?;
    let (bytes, caller) = match outcome {
        HeaderOutcome::Authenticated(caller) => {
            authorize(state, &caller, parts.uri.path())?;
            let request_body = unread.take().unwrap_or_else(Body::empty);
            let bytes = body::read(request_body, None, state.limits.body_read_timeout).await?;
            (bytes, caller)
        }
        HeaderOutcome::NeedsBody(pending) => {
            let mut reservation = state
                .body_budget
                .reservation(source)
                .map_err(body::over_budget)?;
            let request_body = unread.take().unwrap_or_else(Body::empty);
            let bytes = body::read(
                request_body,
                Some(&mut reservation),
                state.limits.body_read_timeout,
            )
            .await?;
            let caller = state
                .keyring
                .verify_body(pending, parts.uri.path(), &bytes, now)
                .map_err(|refusal| match refusal {
                    BodyRefusal::Auth(error) => auth_failed(state, source, error),
                    BodyRefusal::NonceCacheFull => Status::resource_exhausted(
                        "too many v2-signed calls within the clock window: retry shortly",
                    ),
                })?;
            authorize(state, &caller, parts.uri.path())?;
            (bytes, caller)
        }
    };
    grpc_frame::check_unary(&bytes).map_err(|status| Refused {
        status,
        caller: Some(caller.clone()),
    })?;
    Ok((bytes, deadline, caller))
}

/// PERMISSION_DENIED, naming the scope needed, unless `caller` may call `path`.
fn authorize(state: &GatewayState, caller: &Caller, path: &str) -> Result<(), Refused> {
    Keyring::authorize(caller, path).map_err(|message| {
        state
            .metrics
            .record_permission_denied(&caller.key().name, super::gateway::rpc_method(path));
        Refused {
            status: Status::permission_denied(message),
            caller: Some(caller.clone()),
        }
    })
}

/// Counts a failed authentication against its source and says why it failed.
fn auth_failed(state: &GatewayState, source: IpAddr, error: AuthError) -> Status {
    state.metrics.record_auth_failure(error.reason());
    state.throttle.record_failure(source, Instant::now());
    Status::unauthenticated(error.to_string())
}

fn throttled(wait: Duration) -> Status {
    Status::resource_exhausted(format!(
        "too many failed authentications from this address: retry in {} s",
        wait.as_secs().max(1)
    ))
}

/// Whom a request is accounted to (see [`throttle::source_of`]). A request that did not come
/// through the connection loop (none in production) shares one bucket.
fn source_address(parts: &Parts) -> IpAddr {
    match parts.extensions.get::<PeerAddress>() {
        Some(peer) => throttle::source_of(peer.0.ip()),
        None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    }
}

/// The deadline a unary call's `grpc-timeout` sets, taken out of the request so that tonic does
/// not also apply it (tonic reports an expired timeout as CANCELLED; the API contract says
/// DEADLINE_EXCEEDED). Streams ignore the timeout, as upstream.
fn call_deadline(parts: &mut Parts) -> Result<Option<tokio::time::Instant>, Status> {
    let Some(value) = parts.headers.remove(GRPC_TIMEOUT) else {
        return Ok(None);
    };
    if parts.uri.path() == SUBSCRIBE_EVENTS_PATH {
        return Ok(None);
    }
    let timeout = value
        .to_str()
        .ok()
        .and_then(parse_grpc_timeout)
        .ok_or_else(|| Status::invalid_argument("invalid grpc-timeout header"))?;
    Ok(Some(tokio::time::Instant::now() + timeout))
}

/// Parses a `grpc-timeout` value: 1 to 8 digits and a unit (H, M, S, m, u, n).
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    if !value.is_ascii() {
        return None;
    }
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    match unit {
        "H" => Some(Duration::from_secs(amount * 3600)),
        "M" => Some(Duration::from_secs(amount * 60)),
        "S" => Some(Duration::from_secs(amount)),
        "m" => Some(Duration::from_millis(amount)),
        "u" => Some(Duration::from_micros(amount)),
        "n" => Some(Duration::from_nanos(amount)),
        _ => None,
    }
}

fn declared_length(parts: &Parts) -> Option<u64> {
    parts
        .headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts() -> Parts {
        Request::new(Body::empty()).into_parts().0
    }

    fn from_peer(peer: &str) -> IpAddr {
        let mut parts = parts();
        parts.extensions.insert(PeerAddress(peer.parse().unwrap()));
        source_address(&parts)
    }

    #[test]
    fn sources_are_addresses_and_ipv6_prefixes() {
        assert_eq!(from_peer("127.0.0.2:5000"), IpAddr::from([127, 0, 0, 2]));
        assert_eq!(
            from_peer("[2001:db8:1:2:aaaa::1]:5000"),
            from_peer("[2001:db8:1:2:bbbb::9]:6000")
        );
        assert_ne!(
            from_peer("[2001:db8:1:2::1]:5000"),
            from_peer("[2001:db8:1:3::1]:5000")
        );
        assert_eq!(
            from_peer("[::ffff:10.0.0.1]:5000"),
            IpAddr::from([10, 0, 0, 1])
        );
        assert_eq!(source_address(&parts()), IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    }

    #[test]
    fn grpc_timeout_values() {
        assert_eq!(parse_grpc_timeout("1n"), Some(Duration::from_nanos(1)));
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(
            parse_grpc_timeout("99999999S"),
            Some(Duration::from_secs(99_999_999))
        );
        for bad in ["", "S", "123456789S", "10x", "-1S", "1.5S", "1é", "é"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad}");
        }
    }
}
