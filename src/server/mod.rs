//! The listeners: gRPC over TLS (rustls, ALPN h2) behind the [`gateway`] layer, and the
//! plain-HTTP [`metrics_http`] listener.

pub mod gateway;
pub mod metrics_endpoint;
pub mod metrics_http;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};

use crate::api::ApiService;
use crate::proto::api::lightning_node_server::LightningNodeServer;
use crate::tls::TlsIdentity;
use gateway::{GatewayLayer, GatewayState, MAX_REQUEST_BODY_BYTES};

/// Serves the API on `listener` until `shutdown` completes, then drains open calls.
pub async fn serve(
    listener: TcpListener,
    identity: &TlsIdentity,
    gateway: Arc<GatewayState>,
    api: ApiService,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    let tls =
        ServerTlsConfig::new().identity(Identity::from_pem(&identity.cert_pem, &identity.key_pem));
    let service = LightningNodeServer::new(api)
        .max_decoding_message_size(MAX_REQUEST_BODY_BYTES)
        .max_encoding_message_size(usize::MAX);
    Server::builder()
        .tls_config(tls)?
        .layer(GatewayLayer::new(gateway))
        .add_service(service)
        .serve_with_incoming_shutdown(incoming(listener), shutdown)
        .await
}

/// Accepted connections with TCP_NODELAY: a response's last frames (data, then trailers) are
/// small writes that Nagle's algorithm would otherwise hold back for a delayed ACK (~40 ms).
/// Keepalive probes find dead peers of long-lived event streams.
fn incoming(listener: TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .with_keepalive(Some(std::time::Duration::from_secs(60)))
}
