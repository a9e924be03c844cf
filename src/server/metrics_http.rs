//! The plain-HTTP metrics listener (`[metrics] listen_address`, or the socket-activated
//! `metrics` socket), for a Prometheus on the same host: `GET /metrics` and `GET /healthz`,
//! nothing else. HTTP/1.1 only; a slow client gets 10 s to send its request head.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::metrics_endpoint::{plain_response, scrape_response};
use crate::metrics::Metrics;
use crate::node::{NodeHandle, NodeState};

/// Path of the scrape endpoint.
pub const METRICS_PATH: &str = "/metrics";
/// Path of the health endpoint: 200 once the node runs, 503 before and while stopping.
pub const HEALTH_PATH: &str = "/healthz";
/// Time a client has to send its request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// What the listener serves.
pub struct MetricsHttp {
    /// The metrics to render.
    pub metrics: Arc<Metrics>,
    /// The exact `Authorization` value `/metrics` requires, when Basic auth is configured.
    pub authorization: Option<String>,
    /// The node, for `/healthz`.
    pub node: Arc<NodeHandle>,
}

/// Serves `listener` until shutdown.
pub async fn serve(
    listener: TcpListener,
    state: Arc<MetricsHttp>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = crate::shutdown::requested(&mut shutdown) => return,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of fds or similar: back off briefly instead of spinning.
                tracing::warn!(%error, "metrics listener: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let state = Arc::clone(&state);
                async move { Ok::<_, Infallible>(respond(&state, &request)) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(error) = connection.await {
                tracing::debug!(%error, %peer, "metrics listener: connection ended with an error");
            }
        });
    }
}

fn respond(state: &MetricsHttp, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    match request.uri().path() {
        METRICS_PATH => scrape_response(
            &state.metrics,
            state.authorization.as_deref(),
            true,
            request.method(),
            request.headers(),
        ),
        HEALTH_PATH if request.method() != Method::GET => {
            plain_response(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
        }
        HEALTH_PATH => match state.node.state() {
            NodeState::Running(_) => plain_response(StatusCode::OK, "ok\n"),
            NodeState::Starting(_) => plain_response(StatusCode::SERVICE_UNAVAILABLE, "starting\n"),
            NodeState::Faulted { .. } => {
                plain_response(StatusCode::SERVICE_UNAVAILABLE, "node fault\n")
            }
            NodeState::Stopping => plain_response(StatusCode::SERVICE_UNAVAILABLE, "stopping\n"),
        },
        _ => plain_response(StatusCode::NOT_FOUND, "Not Found"),
    }
}
