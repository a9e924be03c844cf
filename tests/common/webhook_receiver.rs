//! A real HTTP/1.1 webhook receiver on loopback: records every request it gets (path, headers,
//! body, arrival time) and answers as scripted per path: a status, a redirect, or no answer at
//! all, each after an optional delay. Unscripted requests get 200.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinSet;

/// One answer of the receiver.
#[derive(Debug, Clone)]
pub enum Reply {
    /// This status, empty body.
    Status(u16),
    /// 302 to this location.
    Redirect(String),
    /// Never answer (the request is held until the connection closes).
    Hang,
}

/// A request as received.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The request path.
    pub path: String,
    /// The request headers.
    pub headers: http::HeaderMap,
    /// The raw body.
    pub body: Vec<u8>,
    /// When the body had arrived.
    pub at: Instant,
    /// The status answered (0 for no answer).
    pub status: u16,
}

impl Delivery {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// The `sequence` the body names.
    pub fn sequence(&self) -> u64 {
        self.json()["sequence"].as_u64().expect("a sequence")
    }
}

#[derive(Default)]
struct State {
    scripts: HashMap<String, VecDeque<Reply>>,
    delays: HashMap<String, Duration>,
    deliveries: Vec<Delivery>,
}

/// The receiver; it stops serving when dropped.
pub struct Receiver {
    /// Where it listens.
    pub address: SocketAddr,
    /// With TLS: the PEM certificate of the private CA that issued its certificate (for
    /// `127.0.0.1` and `localhost`).
    pub ca_pem: Option<String>,
    state: Arc<Mutex<State>>,
    arrived: Arc<Notify>,
    tasks: JoinSet<()>,
}

impl Receiver {
    /// Listens on a free loopback port.
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap()).await
    }

    /// Listens on `address` (e.g. the port of an earlier receiver, to come back up).
    pub async fn start_on(address: SocketAddr) -> Self {
        Self::listen(address, None, None).await
    }

    /// Listens on a free loopback port over HTTPS, with a certificate from a fresh private CA
    /// (see [`Receiver::ca_pem`]).
    pub async fn start_tls() -> Self {
        let (ca_pem, acceptor) = private_ca_acceptor();
        Self::listen("127.0.0.1:0".parse().unwrap(), Some(ca_pem), Some(acceptor)).await
    }

    async fn listen(
        address: SocketAddr,
        ca_pem: Option<String>,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Self {
        let listener = TcpListener::bind(address).await.expect("bind the receiver");
        let address = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let arrived = Arc::new(Notify::new());
        let mut tasks = JoinSet::new();
        tasks.spawn(accept(
            listener,
            tls,
            Arc::clone(&state),
            Arc::clone(&arrived),
        ));
        Self {
            address,
            ca_pem,
            state,
            arrived,
            tasks,
        }
    }

    /// The URL of `path` on this receiver.
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.ca_pem.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}{path}", self.address)
    }

    /// The next answers for `path`, in order (then 200s).
    pub fn script(&self, path: &str, replies: Vec<Reply>) {
        let mut state = self.state.lock().unwrap();
        state
            .scripts
            .entry(path.to_owned())
            .or_default()
            .extend(replies);
    }

    /// Drops the answers still scripted for `path` (it answers 200 from now on).
    pub fn clear_script(&self, path: &str) {
        self.state.lock().unwrap().scripts.remove(path);
    }

    /// Delays every answer on `path`.
    pub fn delay(&self, path: &str, delay: Duration) {
        self.state
            .lock()
            .unwrap()
            .delays
            .insert(path.to_owned(), delay);
    }

    /// Every request to `path` so far.
    pub fn deliveries(&self, path: &str) -> Vec<Delivery> {
        let state = self.state.lock().unwrap();
        state
            .deliveries
            .iter()
            .filter(|delivery| delivery.path == path)
            .cloned()
            .collect()
    }

    /// Waits until the requests to `path` satisfy `done`, at most `timeout`; returns them.
    pub async fn wait_for(
        &self,
        path: &str,
        timeout: Duration,
        done: impl Fn(&[Delivery]) -> bool,
    ) -> Vec<Delivery> {
        let deadline = Instant::now() + timeout;
        loop {
            let arrived = self.arrived.notified();
            let deliveries = self.deliveries(path);
            if done(&deliveries) {
                return deliveries;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "{path}: condition not met within {timeout:?}; got sequences {:?}",
                deliveries
                    .iter()
                    .map(|d| (d.header("x-ldk-server-event-sequence"), d.status))
                    .collect::<Vec<_>>()
            );
            let _ = tokio::time::timeout(left.min(Duration::from_millis(200)), arrived).await;
        }
    }

    /// Requests answered 2xx on `path`.
    pub fn accepted(&self, path: &str) -> Vec<Delivery> {
        self.deliveries(path)
            .into_iter()
            .filter(|delivery| (200..300).contains(&delivery.status))
            .collect()
    }
}

/// A CA made for this receiver and a TLS acceptor with a certificate it issued for
/// `127.0.0.1` and `localhost`.
fn private_ca_acceptor() -> (String, tokio_rustls::TlsAcceptor) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let key = rustls_pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![leaf.der().clone()], key)
    .unwrap();
    (ca.pem(), tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

async fn accept(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    state: Arc<Mutex<State>>,
    arrived: Arc<Notify>,
) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let state = Arc::clone(&state);
        let arrived = Arc::clone(&arrived);
        let tls = tls.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                answer(request, Arc::clone(&state), Arc::clone(&arrived))
            });
            let http = hyper::server::conn::http1::Builder::new();
            let _ = match tls {
                // A handshake the client gave up on (an untrusted certificate) is no request.
                Some(tls) => match tls.accept(stream).await {
                    Ok(stream) => {
                        http.serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                            .await
                    }
                    Err(_) => return,
                },
                None => {
                    http.serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await
                }
            };
        });
    }
}

async fn answer(
    request: http::Request<hyper::body::Incoming>,
    state: Arc<Mutex<State>>,
    arrived: Arc<Notify>,
) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    let headers = request.headers().clone();
    // A body cut off (the sender died mid-request) is not a delivery.
    let Ok(collected) = request.into_body().collect().await else {
        let response = http::Response::builder().status(400);
        return Ok(response.body(Full::new(Bytes::new())).unwrap());
    };
    let body = collected.to_bytes().to_vec();
    let at = Instant::now();
    let (reply, delay) = {
        let mut state = state.lock().unwrap();
        let reply = state
            .scripts
            .get_mut(&path)
            .and_then(VecDeque::pop_front)
            .unwrap_or(Reply::Status(200));
        (reply, state.delays.get(&path).copied())
    };
    let status = match &reply {
        Reply::Status(status) => *status,
        Reply::Redirect(_) => 302,
        Reply::Hang => 0,
    };
    state.lock().unwrap().deliveries.push(Delivery {
        path,
        headers,
        body,
        at,
        status,
    });
    arrived.notify_waiters();
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let response = match reply {
        Reply::Status(status) => http::Response::builder().status(status),
        Reply::Redirect(location) => http::Response::builder()
            .status(302)
            .header(http::header::LOCATION, location),
        Reply::Hang => std::future::pending().await,
    };
    Ok(response.body(Full::new(Bytes::new())).unwrap())
}
