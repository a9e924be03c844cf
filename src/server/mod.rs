//! The listeners: gRPC over TLS (rustls, ALPN h2) through the [`connections`] loop and the
//! [`gateway`] layer, and the plain-HTTP [`metrics_http`] listener.
//!
//! Parts of the gRPC path, in the order a request meets them: [`connections`] (connection
//! limit, TLS handshake deadline, HTTP/2 limits, idle timeout, [`activity`]), [`gateway`]
//! (metrics, deadline, per-call metrics and logs) and [`admission`] ([`routes`],
//! [`throttle`], `x-auth`, [`body`] within the [`body_budget`], [`grpc_frame`]).

pub mod activity;
pub mod admission;
pub mod body;
pub mod body_budget;
pub mod connections;
pub mod gateway;
pub mod grpc_frame;
pub mod memory_trim;
pub mod metrics_endpoint;
pub mod metrics_http;
pub mod routes;
pub mod throttle;

use std::future::Future;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower_layer::Layer;

use crate::api::ApiService;
use crate::events::service::EventLogService;
use crate::keys::service::KeyService;
use crate::proto::admin::key_management_server::KeyManagementServer;
use crate::proto::api::lightning_node_server::LightningNodeServer;
use crate::proto::event_log::event_log_server::EventLogServer;
use crate::tls::TlsIdentity;
use connections::ConnectionContext;
use gateway::{GatewayLayer, GatewayState, MAX_REQUEST_BODY_BYTES};

/// The gRPC services the listener serves.
pub struct Services {
    /// `api.LightningNode`.
    pub api: ApiService,
    /// `ldk_server.admin.KeyManagement`.
    pub keys: KeyService,
    /// `ldk_server.events.EventLog`.
    pub event_log: EventLogService,
}

/// Serves `services` on `listener` until `shutdown` completes, then drains open connections.
pub async fn serve(
    listener: TcpListener,
    identity: &TlsIdentity,
    gateway: Arc<GatewayState>,
    services: Services,
    shutdown: impl Future<Output = ()>,
) -> Result<(), String> {
    let tls = tls_acceptor(identity)?;
    let grpc = LightningNodeServer::new(services.api)
        .max_decoding_message_size(MAX_REQUEST_BODY_BYTES)
        .max_encoding_message_size(usize::MAX);
    let key_management =
        KeyManagementServer::new(services.keys).max_decoding_message_size(MAX_REQUEST_BODY_BYTES);
    let event_log = EventLogServer::new(services.event_log)
        .max_decoding_message_size(MAX_REQUEST_BODY_BYTES)
        .max_encoding_message_size(usize::MAX);
    let routes = tonic::service::Routes::new(grpc)
        .add_service(key_management)
        .add_service(event_log)
        .prepare();
    let memory = memory_trim::MemoryTrim::new();
    let trimming = tokio::spawn(Arc::clone(&memory).run());
    let context = ConnectionContext {
        tls,
        memory,
        throttle: Arc::clone(&gateway.throttle),
        handshakes: connections::handshake_turns(),
        limits: gateway.limits.clone(),
        metrics: Arc::clone(&gateway.metrics.transport),
        service: GatewayLayer::new(gateway).layer(routes),
    };
    connections::serve(listener, context, shutdown).await;
    trimming.abort();
    Ok(())
}

/// rustls with the ring provider, TLS 1.2 and 1.3, ALPN `h2` only.
fn tls_acceptor(identity: &TlsIdentity) -> Result<TlsAcceptor, String> {
    let certificates = CertificateDer::pem_slice_iter(&identity.cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("TLS certificate: {error}"))?;
    let key = PrivateKeyDer::from_pem_slice(&identity.key_pem)
        .map_err(|error| format!("TLS private key: {error}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|error| format!("TLS: {error}"))?
        .with_no_client_auth()
        .with_single_cert(certificates, key)
        .map_err(|error| format!("TLS certificate and key: {error}"))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
