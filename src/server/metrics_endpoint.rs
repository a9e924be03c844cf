//! The Prometheus scrape response, shared by the gRPC listener and the plain-HTTP metrics
//! listener: method check, optional Basic auth (compared in constant time), then the text
//! exposition format.

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};
use http_body_util::Full;

use crate::metrics::Metrics;

/// Content type of the Prometheus text exposition format.
const EXPOSITION_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Answers a request for `/metrics`. `authorization` is the exact `Authorization` value
/// required, when Basic auth is configured; `enabled: false` answers 404 (after auth, so that
/// an unauthenticated client learns nothing).
pub fn scrape_response(
    metrics: &Metrics,
    authorization: Option<&str>,
    enabled: bool,
    method: &Method,
    headers: &HeaderMap,
) -> Response<Full<Bytes>> {
    if method != Method::GET {
        return plain_response(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    }
    if let Some(expected) = authorization {
        let given = headers
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
    if !enabled {
        return plain_response(StatusCode::NOT_FOUND, "Not Found");
    }
    let mut response = Response::new(Full::new(Bytes::from(metrics.render())));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(EXPOSITION_CONTENT_TYPE),
    );
    response
}

/// A short `text/plain` response.
pub fn plain_response(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
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
