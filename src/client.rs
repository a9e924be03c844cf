//! A client for the LDK Server API: TLS pinned to the server's certificate, every request signed.
//!
//! The HMAC covers the raw request body (and, in the default v2 form, the method path and a
//! fresh nonce), so signing is a tower layer under the generated tonic client (an interceptor
//! never sees the encoded body). The same channel serves the key management client.

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{HeaderValue, Request};
use http_body_util::{BodyExt, Full};
use tonic::body::Body;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tower_service::Service;

use crate::auth::{self, ApiKey, AUTH_HEADER};
use crate::proto::api::lightning_node_client::LightningNodeClient;
use crate::server::gateway::MAX_REQUEST_BODY_BYTES;

/// What a client fills in when its user gives nothing, as upstream's clients do.
pub mod defaults {
    /// Invoice expiry: one day.
    pub const DEFAULT_EXPIRY_SECS: u32 = 86_400;
    /// Most blocks a route may lock a payment for.
    pub const DEFAULT_MAX_TOTAL_CLTV_EXPIRY_DELTA: u32 = 1_008;
    /// Most paths a multi-path payment may split into.
    pub const DEFAULT_MAX_PATH_COUNT: u32 = 10;
    /// Largest share of a channel's capacity to use, as a power of 1/2.
    pub const DEFAULT_MAX_CHANNEL_SATURATION_POWER_OF_HALF: u32 = 2;
}

/// The generated client over a signing, certificate-pinned channel.
pub type LdkServerClient = LightningNodeClient<SigningService<Channel>>;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How to reach and authenticate to a server.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// `host:port` or `https://host:port` of the gRPC listener.
    pub base_url: String,
    /// The server's API key.
    pub api_key: ApiKey,
    /// The server's certificate (PEM); it is the only trusted root.
    pub tls_cert_pem: Vec<u8>,
    /// Which `x-auth` form to send.
    pub signing: Signing,
}

impl ClientOptions {
    /// Options for `base_url` with `api_key`, trusting `tls_cert_pem`, signing in the v2 form.
    pub fn new(base_url: impl Into<String>, api_key: ApiKey, tls_cert_pem: Vec<u8>) -> Self {
        Self {
            base_url: base_url.into(),
            api_key,
            tls_cert_pem,
            signing: Signing::V2,
        }
    }
}

/// The `x-auth` form a client sends (see [`crate::auth`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Signing {
    /// `HMAC <ts>:<hex>` over the timestamp alone (upstream's documented form; admin key only).
    Timestamp,
    /// `HMAC <ts>:<hex>` over timestamp and body (upstream's client; admin key only).
    Body,
    /// `HMAC <key id>:<ts>:<hex>` over timestamp and body (upstream PR #144's form).
    KeyId,
    /// `HMAC2 <key id>:<ts>:<nonce>:<hex>` over timestamp, nonce, method path and body.
    #[default]
    V2,
}

impl Signing {
    /// The `x-auth` value for a request to `path` with the framed `body`, at `timestamp`.
    pub fn header(self, key: &ApiKey, timestamp: u64, path: &str, body: &[u8]) -> String {
        match self {
            Signing::Timestamp => auth::sign(key, timestamp, None),
            Signing::Body => auth::sign(key, timestamp, Some(body)),
            Signing::KeyId => auth::sign_keyed(key, timestamp, Some(body)),
            Signing::V2 => auth::sign_v2(key, timestamp, &auth::random_nonce(), path, body),
        }
    }
}

/// Why a connection could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The base URL is not a valid URI.
    #[error("invalid base URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// Why it is invalid.
        reason: String,
    },
    /// Connecting or the TLS handshake failed.
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// The URL given.
        url: String,
        /// The transport error.
        source: tonic::transport::Error,
    },
}

/// Connects to the server and returns a ready client.
pub async fn connect(options: ClientOptions) -> Result<LdkServerClient, ClientError> {
    let channel = channel(&options).await?;
    let signing = SigningService::with_signing(channel, options.api_key, options.signing);
    Ok(LightningNodeClient::new(signing)
        .max_decoding_message_size(MAX_REQUEST_BODY_BYTES)
        .max_encoding_message_size(MAX_REQUEST_BODY_BYTES))
}

/// An HTTP/2 channel to the server, TLS pinned to its certificate, without signing (for
/// `/metrics`, or to build other clients on).
pub async fn channel(options: &ClientOptions) -> Result<Channel, ClientError> {
    let (endpoint, url) = endpoint(options)?;
    endpoint
        .connect()
        .await
        .map_err(|source| ClientError::Connect { url, source })
}

/// Like [`channel`], but connects on first use (and again after a failure) instead of now,
/// for a long-lived client that must start while the server is down.
pub fn lazy_channel(options: &ClientOptions) -> Result<Channel, ClientError> {
    let (endpoint, _) = endpoint(options)?;
    Ok(endpoint
        .connect_timeout(std::time::Duration::from_secs(10))
        .connect_lazy())
}

/// The endpoint for `options.base_url`, trusting only the server's certificate, and its URL.
fn endpoint(options: &ClientOptions) -> Result<(Endpoint, String), ClientError> {
    let url = https_url(&options.base_url);
    let invalid = |reason: String| ClientError::InvalidUrl {
        url: url.clone(),
        reason,
    };
    let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&options.tls_cert_pem));
    let endpoint = Endpoint::from_shared(url.clone())
        .map_err(|e| invalid(e.to_string()))?
        .tls_config(tls)
        .map_err(|e| invalid(e.to_string()))?;
    Ok((endpoint, url))
}

fn https_url(base_url: &str) -> String {
    if base_url.contains("://") {
        base_url.to_owned()
    } else {
        format!("https://{base_url}")
    }
}

/// The key management client over a signing, certificate-pinned channel.
pub type KeyManagementClient =
    crate::proto::admin::key_management_client::KeyManagementClient<SigningService<Channel>>;

/// Connects to the server's key management service.
pub async fn connect_key_management(
    options: ClientOptions,
) -> Result<KeyManagementClient, ClientError> {
    let channel = channel(&options).await?;
    let signing = SigningService::with_signing(channel, options.api_key, options.signing);
    Ok(crate::proto::admin::key_management_client::KeyManagementClient::new(signing))
}

/// The event log client over a signing, certificate-pinned channel.
pub type EventLogClient =
    crate::proto::event_log::event_log_client::EventLogClient<SigningService<Channel>>;

/// Connects to the server's event log service.
pub async fn connect_event_log(options: ClientOptions) -> Result<EventLogClient, ClientError> {
    let channel = channel(&options).await?;
    let signing = SigningService::with_signing(channel, options.api_key, options.signing);
    Ok(crate::proto::event_log::event_log_client::EventLogClient::new(signing))
}

/// Tower service that adds `x-auth` to every request it forwards.
#[derive(Clone)]
pub struct SigningService<S> {
    inner: S,
    key: Arc<ApiKey>,
    signing: Signing,
    /// v2 nonces: one session for this service and its clones, counting up.
    nonces: auth::NonceSequence,
}

impl<S> SigningService<S> {
    /// Wraps `inner`, signing with `key` in upstream's form: over timestamp and body with
    /// `sign_body`, else over the timestamp alone.
    pub fn new(inner: S, key: ApiKey, sign_body: bool) -> Self {
        let signing = if sign_body {
            Signing::Body
        } else {
            Signing::Timestamp
        };
        Self::with_signing(inner, key, signing)
    }

    /// Wraps `inner`, signing with `key` in the form `signing`.
    pub fn with_signing(inner: S, key: ApiKey, signing: Signing) -> Self {
        Self {
            inner,
            key: Arc::new(key),
            signing,
            nonces: auth::NonceSequence::default(),
        }
    }
}

impl<S, ResBody> Service<Request<Body>> for SigningService<S>
where
    S: Service<Request<Body>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
{
    type Response = http::Response<ResBody>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let key = Arc::clone(&self.key);
        let signing = self.signing;
        let nonces = self.nonces.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            let bytes: Bytes = body.collect().await?.to_bytes();
            let now = auth::unix_now();
            let path = parts.uri.path();
            let signed = match signing {
                Signing::V2 => auth::sign_v2(&key, now, &nonces.next(), path, &bytes),
                other => other.header(&key, now, path, &bytes),
            };
            parts
                .headers
                .insert(AUTH_HEADER, HeaderValue::from_str(&signed)?);
            let request = Request::from_parts(parts, Body::new(Full::new(bytes)));
            inner.call(request).await.map_err(Into::into)
        })
    }
}
