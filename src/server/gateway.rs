//! The tower layer in front of the gRPC service.
//!
//! It answers `GET /metrics` itself, has every call [admitted](super::admission) (path,
//! deadline, throttling, `x-auth`, body limits, framing) before tonic decodes anything, applies
//! the deadline, and counts and logs each call. Failures leave as Trailers-Only gRPC responses,
//! which every standard gRPC client reads.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::BoxFuture;
use http::{Request, Response};
use tonic::body::Body;
use tonic::Status;
use tower_layer::Layer;
use tower_service::Service;

use super::admission::{self, Admitted};
use super::body_budget::BodyBudget;
use super::throttle::AuthThrottle;
use crate::config::Limits;
use crate::keys::{Caller, Keyring};
use crate::metrics::rpc::code_name;
use crate::metrics::Metrics;
use crate::server::metrics_endpoint::scrape_response;

pub use super::admission::parse_grpc_timeout;
pub use super::body::MAX_REQUEST_BODY_BYTES;

/// Path of the Prometheus scrape endpoint on the gRPC listener.
pub const METRICS_PATH: &str = "/metrics";

/// What the gateway needs to decide on a request.
pub struct GatewayState {
    /// The keys requests may be signed with, and what each may call.
    pub keyring: Arc<Keyring>,
    /// Metrics to serve and to count auth failures in.
    pub metrics: Arc<Metrics>,
    /// Serve `/metrics` at all (`[metrics] enabled`).
    pub metrics_enabled: bool,
    /// The exact `Authorization` value `/metrics` requires, when Basic auth is configured.
    pub metrics_authorization: Option<String>,
    /// Transport limits (`[limits]`).
    pub limits: Limits,
    /// Failed authentications by source address.
    pub throttle: Arc<AuthThrottle>,
    /// Request-body bytes held before their signature is verified.
    pub body_budget: Arc<BodyBudget>,
}

impl GatewayState {
    /// The state for `keyring` under `limits`.
    pub fn new(keyring: Arc<Keyring>, limits: Limits, metrics: Arc<Metrics>) -> Self {
        Self {
            keyring,
            metrics,
            metrics_enabled: false,
            metrics_authorization: None,
            throttle: Arc::new(AuthThrottle::new(
                limits.auth_failures_burst,
                limits.auth_failures_per_minute,
            )),
            body_budget: BodyBudget::new(
                limits.unauthenticated_body_bytes,
                limits.unauthenticated_body_bytes_per_address,
            ),
            limits,
        }
    }
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
            if request.uri().path() == METRICS_PATH {
                return Ok(metrics_response(&state, &request));
            }
            let method = rpc_method(request.uri().path()).to_owned();
            let started = std::time::Instant::now();
            let (result, caller, admitted) = match admission::admit(&state, request).await {
                Ok(admitted) => {
                    let caller = admitted.caller.clone();
                    (call(&mut inner, admitted).await, Some(caller), true)
                }
                Err(refused) => (Ok(refused.status.into_http()), refused.caller, false),
            };
            if let Ok(response) = &result {
                let code = response_code(response);
                if let (true, Some(caller), tonic::Code::PermissionDenied) =
                    (admitted, &caller, code)
                {
                    // A handler refused the key (its budget); admission counts its own refusals.
                    state
                        .metrics
                        .record_permission_denied(&caller.key().name, &method);
                }
                let elapsed = started.elapsed();
                let key = caller.as_ref().map(|caller| caller.key().name.as_str());
                state.metrics.rpc.observe(&method, key, code, elapsed);
                log_call(&method, caller.as_ref(), code, response, elapsed);
            }
            result
        })
    }
}

/// Calls the service, within the call's deadline if it has one.
async fn call<S>(inner: &mut S, admitted: Admitted) -> Result<Response<Body>, S::Error>
where
    S: Service<Request<Body>, Response = Response<Body>>,
{
    let Admitted {
        request, deadline, ..
    } = admitted;
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

/// The method name of a gRPC path (`/api.LightningNode/GetNodeInfo` → `GetNodeInfo`).
pub fn rpc_method(path: &str) -> &str {
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
/// `GRPC_CODE`, `DURATION_MS`, `GRPC_MESSAGE`, and `API_KEY_ID` and `API_KEY_NAME` once the
/// caller is authenticated): successes at debug, failures at info, server faults at warn. A
/// response without `grpc-status` in its headers carries OK (or a stream) and ends in trailers.
fn log_call(
    method: &str,
    caller: Option<&Caller>,
    code: tonic::Code,
    response: &Response<Body>,
    elapsed: Duration,
) {
    let duration_ms = elapsed.as_secs_f64() * 1_000.0;
    let grpc_message = response
        .headers()
        .get("grpc-message")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let grpc_code = code_name(code);
    let status_code = code as i32;
    let api_key_id = caller.map(|caller| caller.key().id.to_hex());
    let api_key_id = api_key_id.as_deref().unwrap_or("");
    let api_key_name = caller
        .map(|caller| caller.key().name.as_str())
        .unwrap_or("");
    match code {
        tonic::Code::Ok => tracing::debug!(
            rpc_method = method,
            status_code,
            grpc_code,
            duration_ms,
            api_key_id,
            api_key_name,
            "rpc"
        ),
        tonic::Code::Internal => tracing::warn!(
            rpc_method = method,
            status_code,
            grpc_code,
            duration_ms,
            grpc_message,
            api_key_id,
            api_key_name,
            "rpc failed"
        ),
        _ => tracing::info!(
            rpc_method = method,
            status_code,
            grpc_code,
            duration_ms,
            grpc_message,
            api_key_id,
            api_key_name,
            "rpc failed"
        ),
    }
}

fn deadline_exceeded() -> Status {
    Status::deadline_exceeded("deadline exceeded: the call outlived its grpc-timeout")
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
