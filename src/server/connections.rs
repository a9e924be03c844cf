//! The accept loop of the gRPC listener: a bounded number of connections, each with a TLS
//! handshake deadline, HTTP/2 with explicit limits, keepalive pings, and an idle timeout that
//! counts an open call (an event stream included) as activity.
//!
//! A connection past `max_connections` is closed as soon as it is accepted (the kernel's
//! backlog never fills with clients we will not serve). On shutdown the listener is closed,
//! every connection gets GOAWAY, and the loop returns once all have finished.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tonic::body::Body;
use tower_service::Service;

use super::activity::Activity;
use super::admission::PeerAddress;
use super::memory_trim::MemoryTrim;
use super::throttle::{self, AuthThrottle};
use crate::config::Limits;
use crate::metrics::transport::{CloseReason, TransportMetrics};

/// How long a connection that was asked to close (idle, shutdown) may take to finish.
const CLOSE_GRACE: Duration = Duration::from_secs(10);
/// Pause after an accept error (e.g. out of file descriptors) before accepting again.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);
/// TLS handshakes in progress at once. A handshake costs CPU (key exchange, signature): a
/// burst of thousands would queue every other task of the runtime behind them; past this
/// many, a new connection waits for its turn (within its handshake timeout).
const MAX_CONCURRENT_HANDSHAKES: usize = 64;
/// TCP keepalive probes find peers that vanished without a FIN.
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);

/// The service that answers every request of a connection (the gateway in front of tonic).
pub trait RequestService:
    Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future = Self::CallFuture>
    + Clone
    + Send
    + Sync
    + 'static
{
    /// The future of one call.
    type CallFuture: Future<Output = Result<Response<Body>, Infallible>> + Send + 'static;
}

impl<S> RequestService for S
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    type CallFuture = S::Future;
}

/// What every connection of the listener shares.
pub struct ConnectionContext<S> {
    /// TLS (ALPN h2 only).
    pub tls: TlsAcceptor,
    /// The service every request goes to.
    pub service: S,
    /// `[limits]`.
    pub limits: Limits,
    /// Connection series.
    pub metrics: Arc<TransportMetrics>,
    /// Told of every closed connection, to give freed memory back after a burst.
    pub memory: Arc<MemoryTrim>,
    /// Failures by source address: abusive connections count, throttled sources are refused.
    pub throttle: Arc<AuthThrottle>,
    /// Turns for TLS handshakes ([`MAX_CONCURRENT_HANDSHAKES`]).
    pub handshakes: Semaphore,
}

/// Accepts connections on `listener` until `shutdown` completes, then drains them.
pub async fn serve<S>(
    listener: TcpListener,
    context: ConnectionContext<S>,
    shutdown: impl Future<Output = ()>,
) where
    S: RequestService,
{
    let context = Arc::new(context);
    let slots = Arc::new(Semaphore::new(context.limits.max_connections as usize));
    let (closing, closing_receiver) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "accepting a connection failed");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        if context
            .throttle
            .throttled(throttle::source_of(peer.ip()), Instant::now())
            .is_some()
        {
            context.metrics.closed(CloseReason::Throttled);
            continue;
        }
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            context.metrics.closed(CloseReason::Limit);
            tracing::debug!(%peer, limit = context.limits.max_connections, "connection limit reached: closing a new connection");
            continue;
        };
        tokio::spawn(serve_connection(
            stream,
            peer,
            slot,
            Arc::clone(&context),
            closing_receiver.clone(),
        ));
    }
    drop(listener);
    let _ = closing.send(true);
    let _ = slots.acquire_many(context.limits.max_connections).await;
}

/// The handshake turns for a listener.
pub fn handshake_turns() -> Semaphore {
    Semaphore::new(MAX_CONCURRENT_HANDSHAKES)
}

/// One connection from TLS handshake to close; holds its slot until then.
async fn serve_connection<S>(
    stream: TcpStream,
    peer: SocketAddr,
    slot: OwnedSemaphorePermit,
    context: Arc<ConnectionContext<S>>,
    mut closing: watch::Receiver<bool>,
) where
    S: RequestService,
{
    let _slot = slot;
    let _open = context.metrics.open();
    let _trim_after = TrimOnClose(Arc::clone(&context.memory));
    configure_socket(&stream);
    let handshake = tokio::time::timeout(context.limits.tls_handshake_timeout, async {
        let _turn = context.handshakes.acquire().await;
        context.tls.accept(stream).await
    });
    let tls = match handshake.await {
        Ok(Ok(tls)) => tls,
        Ok(Err(error)) => {
            tracing::debug!(%peer, %error, "TLS handshake failed");
            context.metrics.closed(CloseReason::HandshakeFailed);
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            context.metrics.closed(CloseReason::HandshakeTimeout);
            count_abuse(&context.throttle, peer);
            return;
        }
    };
    let activity = Activity::new();
    let service = request_service(Arc::clone(&context), peer, Arc::clone(&activity));
    let connection = http2_builder(&context.limits).serve_connection(TokioIo::new(tls), service);
    tokio::pin!(connection);
    let mut reason = CloseReason::Client;
    let mut grace: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%peer, %error, "connection ended with an error");
                    if grace.is_none() {
                        reason = CloseReason::ProtocolError;
                    }
                }
                break;
            }
            _ = activity.idle_for(context.limits.idle_timeout), if grace.is_none() => {
                reason = CloseReason::Idle;
                connection.as_mut().graceful_shutdown();
                grace = Some(Box::pin(tokio::time::sleep(CLOSE_GRACE)));
            }
            _ = closing.wait_for(|closing| *closing), if grace.is_none() => {
                reason = CloseReason::Shutdown;
                connection.as_mut().graceful_shutdown();
                grace = Some(Box::pin(tokio::time::sleep(CLOSE_GRACE)));
            }
            _ = async { grace.as_mut().expect("guarded").await }, if grace.is_some() => {
                tracing::debug!(%peer, "connection did not close in time after GOAWAY: dropping it");
                break;
            }
        }
    }
    if reason == CloseReason::ProtocolError {
        count_abuse(&context.throttle, peer);
    }
    context.metrics.closed(reason);
}

/// A connection that ended in abuse counts as a failure of its source address.
fn count_abuse(throttle: &AuthThrottle, peer: SocketAddr) {
    throttle.record_failure(throttle::source_of(peer.ip()), Instant::now());
}

/// The hyper service of one connection: tags each request with the peer and counts it as
/// activity until its response body is finished or dropped.
fn request_service<S>(
    context: Arc<ConnectionContext<S>>,
    peer: SocketAddr,
    activity: Arc<Activity>,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<Body>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<Body>, Infallible>> + Send,
> + Clone
where
    S: RequestService,
{
    hyper::service::service_fn(move |request: Request<Incoming>| {
        let call = activity.begin_call();
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(PeerAddress(peer));
        let response = context.service.clone().call(request);
        async move {
            let response = response.await?;
            Ok(response.map(|body| call.hold_until_finished(body)))
        }
    })
}

/// Tells the trimmer when the connection is gone, however it ends.
struct TrimOnClose(Arc<MemoryTrim>);

impl Drop for TrimOnClose {
    fn drop(&mut self) {
        self.0.connection_closed();
    }
}

fn http2_builder(limits: &Limits) -> http2::Builder<TokioExecutor> {
    let mut builder = http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_concurrent_streams)
        .max_header_list_size(limits.max_header_list_bytes)
        .max_local_error_reset_streams(limits.max_local_error_resets)
        .max_pending_accept_reset_streams(limits.max_pending_accept_resets)
        .keep_alive_interval(limits.keepalive_interval)
        .keep_alive_timeout(limits.keepalive_timeout);
    builder
}

/// TCP_NODELAY: a response's last frames (data, then trailers) are small writes that Nagle's
/// algorithm would otherwise hold back for a delayed ACK (~40 ms). Keepalive probes find dead
/// peers of long-lived event streams.
fn configure_socket(stream: &TcpStream) {
    let _ = stream.set_nodelay(true);
    let keepalive = socket2::TcpKeepalive::new().with_time(TCP_KEEPALIVE);
    let _ = socket2::SockRef::from(stream).set_tcp_keepalive(&keepalive);
}
