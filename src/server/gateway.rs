//! The tower layer in front of the gRPC service.
//!
//! It answers `GET /metrics` itself, bounds request bodies to 10 MiB, and checks the HMAC
//! `x-auth` signature over the raw body before tonic decodes anything. Failures leave as
//! Trailers-Only gRPC responses, which every standard gRPC client reads.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{header, HeaderValue, Request, Response};
use http_body_util::{BodyExt, Full, Limited};
use tonic::body::Body;
use tonic::Status;
use tower_layer::Layer;
use tower_service::Service;

use crate::auth::{self, ApiKey, AUTH_HEADER};
use crate::metrics::rpc::code_name;
use crate::metrics::Metrics;
use crate::server::metrics_endpoint::scrape_response;

/// Largest request body accepted, as upstream: 10 MiB.
pub const MAX_REQUEST_BODY_BYTES: usize = 10 * 1024 * 1024;
/// Path of the Prometheus scrape endpoint on the gRPC listener.
pub const METRICS_PATH: &str = "/metrics";
/// Path of the one streaming RPC, which `grpc-timeout` does not apply to.
const SUBSCRIBE_EVENTS_PATH: &str = "/api.LightningNode/SubscribeEvents";
/// The gRPC deadline header.
const GRPC_TIMEOUT: &str = "grpc-timeout";

/// What the gateway needs to decide on a request.
pub struct GatewayState {
    /// The API key requests must be signed with.
    pub api_key: ApiKey,
    /// Reject signatures that do not cover the request body.
    pub require_body_signature: bool,
    /// Metrics to serve and to count auth failures in.
    pub metrics: Arc<Metrics>,
    /// Serve `/metrics` at all (`[metrics] enabled`).
    pub metrics_enabled: bool,
    /// The exact `Authorization` value `/metrics` requires, when Basic auth is configured.
    pub metrics_authorization: Option<String>,
}

/// Layer that wraps the gRPC routes in a [`Gateway`].
#[derive(Clone)]
pub struct GatewayLayer {
    state: Arc<GatewayState>,
}

impl GatewayLayer {
    /// Creates the layer.
    pub fn new(state: Arc<GatewayState>) -> Self {
        Self { state }
    }
}

impl<S> Layer<S> for GatewayLayer {
    type Service = Gateway<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Gateway {
            inner,
            state: Arc::clone(&self.state),
        }
    }
}

/// See the module documentation.
#[derive(Clone)]
pub struct Gateway<S> {
    inner: S,
    state: Arc<GatewayState>,
}

impl<S> Service<Request<Body>> for Gateway<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        // The clone that was driven to readiness serves this call; keep a fresh clone for the next.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let state = Arc::clone(&self.state);
        Box::pin(async move {
            let mut request = request;
            if request.uri().path() == METRICS_PATH {
                return Ok(metrics_response(&state, &request));
            }
            let method = rpc_method(request.uri().path()).to_owned();
            let started = std::time::Instant::now();
            let result = async {
                let deadline = match call_deadline(&mut request) {
                    Ok(deadline) => deadline,
                    Err(status) => return Ok(status.into_http()),
                };
                let request = match authenticate(&state, request).await {
                    Ok(request) => request,
                    Err(status) => return Ok(status.into_http()),
                };
                let Some(deadline) = deadline else {
                    return inner.call(request).await;
                };
                if tokio::time::Instant::now() >= deadline {
                    return Ok(deadline_exceeded().into_http());
                }
                match tokio::time::timeout_at(deadline, inner.call(request)).await {
                    Ok(response) => response,
                    Err(_) => Ok(deadline_exceeded().into_http()),
                }
            }
            .await;
            if let Ok(response) = &result {
                let code = response_code(response);
                let elapsed = started.elapsed();
                state.metrics.rpc.observe(&method, code, elapsed);
                log_call(&method, code, response, elapsed);
            }
            result
        })
    }
}

/// The method name of a gRPC path (`/api.LightningNode/GetNodeInfo` → `GetNodeInfo`).
fn rpc_method(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The status of a response: `grpc-status` in its headers (Trailers-Only), else OK (a normal
/// response, whose status follows in trailers, or a stream).
fn response_code(response: &Response<Body>) -> tonic::Code {
    response
        .headers()
        .get("grpc-status")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<i32>().ok())
        .map(tonic::Code::from_i32)
        .unwrap_or(tonic::Code::Ok)
}

/// One log record per call, with fields journald indexes (`RPC_METHOD`, `STATUS_CODE`,
/// `GRPC_CODE`, `DURATION_MS`, `GRPC_MESSAGE`): successes at debug, failures at info, server faults at warn. A response
/// without `grpc-status` in its headers carries OK (or a stream) and ends in trailers.
fn log_call(method: &str, code: tonic::Code, response: &Response<Body>, elapsed: Duration) {
    let duration_ms = elapsed.as_secs_f64() * 1_000.0;
    let grpc_message = response
        .headers()
        .get("grpc-message")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let grpc_code = code_name(code);
    let status_code = code as i32;
    match code {
        tonic::Code::Ok => tracing::debug!(
            rpc_method = method,
            status_code,
            grpc_code,
            duration_ms,
            "rpc"
        ),
        tonic::Code::Internal => tracing::warn!(
            rpc_method = method,
            status_code,
            grpc_code,
            duration_ms,
            grpc_message,
            "rpc failed"
        ),
        _ => tracing::info!(
            rpc_method = method,
            status_code,
            grpc_code,
            duration_ms,
            grpc_message,
            "rpc failed"
        ),
    }
}

/// Buffers the body within the size limit and verifies its signature.
async fn authenticate(
    state: &GatewayState,
    request: Request<Body>,
) -> Result<Request<Body>, Status> {
    if declared_length(&request).is_some_and(|length| length > MAX_REQUEST_BODY_BYTES as u64) {
        return Err(body_too_large());
    }
    let (parts, body) = request.into_parts();
    let bytes: Bytes = Limited::new(body, MAX_REQUEST_BODY_BYTES)
        .collect()
        .await
        .map_err(|error| {
            if error.is::<http_body_util::LengthLimitError>() {
                body_too_large()
            } else {
                Status::invalid_argument(format!("failed to read the request body: {error}"))
            }
        })?
        .to_bytes();
    let header = parts.headers.get(AUTH_HEADER).map(HeaderValue::as_bytes);
    if let Err(error) = auth::verify(
        &state.api_key,
        header,
        &bytes,
        auth::unix_now(),
        state.require_body_signature,
    ) {
        state.metrics.record_auth_failure(error.reason());
        return Err(Status::unauthenticated(error.to_string()));
    }
    Ok(Request::from_parts(parts, Body::new(Full::new(bytes))))
}

/// The deadline a unary call's `grpc-timeout` sets, taken out of the request so that tonic does
/// not also apply it (tonic reports an expired timeout as CANCELLED; the API contract says
/// DEADLINE_EXCEEDED). Streams ignore the timeout, as upstream.
fn call_deadline(request: &mut Request<Body>) -> Result<Option<tokio::time::Instant>, Status> {
    let Some(value) = request.headers_mut().remove(GRPC_TIMEOUT) else {
        return Ok(None);
    };
    if request.uri().path() == SUBSCRIBE_EVENTS_PATH {
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

fn deadline_exceeded() -> Status {
    Status::deadline_exceeded("deadline exceeded: the call outlived its grpc-timeout")
}

fn declared_length(request: &Request<Body>) -> Option<u64> {
    request
        .headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn body_too_large() -> Status {
    Status::invalid_argument(format!(
        "request body too large: the limit is {MAX_REQUEST_BODY_BYTES} bytes (10 MiB)"
    ))
}

fn metrics_response(state: &GatewayState, request: &Request<Body>) -> Response<Body> {
    scrape_response(
        &state.metrics,
        state.metrics_authorization.as_deref(),
        state.metrics_enabled,
        request.method(),
        request.headers(),
    )
    .map(Body::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_values() {
        assert_eq!(parse_grpc_timeout("1n"), Some(Duration::from_nanos(1)));
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(
            parse_grpc_timeout("99999999S"),
            Some(Duration::from_secs(99_999_999))
        );
        for bad in ["", "S", "123456789S", "10x", "-1S", "1.5S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad}");
        }
    }
}
