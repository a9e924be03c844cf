//! The tower layer in front of the gRPC service.
//!
//! It answers `GET /metrics` itself, bounds request bodies to 10 MiB, and checks the HMAC
//! `x-auth` signature over the raw body before tonic decodes anything. Failures leave as
//! Trailers-Only gRPC responses, which every standard gRPC client reads.

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use tonic::body::Body;
use tonic::Status;
use tower_layer::Layer;
use tower_service::Service;

use crate::auth::{self, ApiKey, AUTH_HEADER};
use crate::metrics::Metrics;

/// Largest request body accepted, as upstream: 10 MiB.
pub const MAX_REQUEST_BODY_BYTES: usize = 10 * 1024 * 1024;
/// Path of the Prometheus scrape endpoint on the gRPC listener.
pub const METRICS_PATH: &str = "/metrics";

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
            if request.uri().path() == METRICS_PATH {
                return Ok(metrics_response(&state, &request));
            }
            match authenticate(&state, request).await {
                Ok(request) => inner.call(request).await,
                Err(status) => Ok(status.into_http()),
            }
        })
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
    if request.method() != Method::GET {
        return plain_response(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    }
    if let Some(expected) = &state.metrics_authorization {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes);
        if !given.is_some_and(|given| constant_time_eq(given, expected.as_bytes())) {
            let mut response = plain_response(StatusCode::UNAUTHORIZED, "Unauthorized");
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"metrics\""),
            );
            return response;
        }
    }
    if !state.metrics_enabled {
        return plain_response(StatusCode::NOT_FOUND, "Not Found");
    }
    let mut response = Response::new(Body::new(Full::new(Bytes::from(state.metrics.render()))));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

fn plain_response(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::new(Full::new(Bytes::from_static(text.as_bytes()))));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// The `Authorization` header value Basic auth expects for `username:password`.
pub fn basic_authorization(username: &str, password: &str) -> String {
    use base64::Engine;
    let credentials = format!("{username}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    )
}
