//! Hostile clients for the transport tests: raw TCP, TLS and HTTP/2 connections from a chosen
//! loopback address, the process's RSS and open files, and a legitimate client that keeps
//! calling GetNodeInfo and records every latency.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use ldk_server::proto::api::GetNodeInfoRequest;

use super::ServerProcess;

/// The HTTP/2 connection preface a client sends first.
pub const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Raises this process's open-file soft limit to its hard limit (the tests open thousands),
/// as the server does for itself.
pub fn raise_open_file_limit() {
    ldk_server::process_settings::raise_open_file_limit();
}

/// A TCP connection to `server` from `local` (any port).
pub async fn tcp_from(local: IpAddr, server: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(local, 0))?;
    socket.connect(server).await
}

/// A TLS connection (ALPN h2, pinned certificate) from `local`.
pub async fn tls_from(
    server: &ServerProcess,
    local: IpAddr,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = tcp_from(local, server.grpc_address).await?;
    connector(server)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

fn connector(server: &ServerProcess) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&server.cert_pem()) {
        roots.add(cert.expect("certificate")).expect("trust anchor");
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    TlsConnector::from(Arc::new(config))
}

/// An HTTP/2 client connection from `local`; the connection task runs in the background.
pub async fn h2_from(
    server: &ServerProcess,
    local: IpAddr,
) -> Option<h2::client::SendRequest<Bytes>> {
    let tls = tls_from(server, local).await.ok()?;
    let (sender, connection) = h2::client::Builder::new()
        .initial_window_size(1 << 20)
        .handshake(tls)
        .await
        .ok()?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Some(sender)
}

/// A gRPC POST request for `path` with `x_auth`, if any.
pub fn grpc_request(path: &str, x_auth: Option<&str>) -> http::Request<()> {
    let mut request = http::Request::post(format!("https://localhost{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    if let Some(value) = x_auth {
        request = request.header("x-auth", value);
    }
    request.body(()).unwrap()
}

/// Sends up to `bytes` of body on `stream`, as fast as flow control allows, until the server
/// ends the stream or `until` passes; returns how many bytes went out.
pub async fn push_body(stream: &mut h2::SendStream<Bytes>, bytes: usize, until: Instant) -> usize {
    const CHUNK: usize = 64 * 1024;
    let zeros = Bytes::from(vec![0u8; CHUNK]);
    let mut sent = 0;
    while sent < bytes && Instant::now() < until {
        stream.reserve_capacity(CHUNK.min(bytes - sent));
        let capacity = tokio::time::timeout(
            until.saturating_duration_since(Instant::now()),
            std::future::poll_fn(|cx| stream.poll_capacity(cx)),
        )
        .await;
        let granted = match capacity {
            Ok(Some(Ok(granted))) if granted > 0 => granted,
            _ => break,
        };
        let end = sent + granted >= bytes;
        if stream.send_data(zeros.slice(..granted), end).is_err() {
            break;
        }
        sent += granted;
    }
    sent
}

/// One HTTP/2 frame header: 24-bit length, type, flags, stream id.
pub fn frame_header(length: usize, kind: u8, flags: u8, stream_id: u32) -> [u8; 9] {
    let length = (length as u32).to_be_bytes();
    let id = stream_id.to_be_bytes();
    [
        length[1], length[2], length[3], kind, flags, id[0], id[1], id[2], id[3],
    ]
}

/// A HEADERS block that HPACK-decodes but is a malformed request (a connection-specific
/// header), so the server must reset the stream with a protocol error.
pub fn malformed_headers_block() -> Vec<u8> {
    let mut block = vec![0x83, 0x87]; // :method POST, :scheme https (static table)
    let path = b"/api.LightningNode/GetNodeInfo";
    block.push(0x44); // :path, literal value, indexed name 4
    block.push(path.len() as u8);
    block.extend_from_slice(path);
    // `connection: close`, a literal with a new name, not indexed.
    let (name, value) = (b"connection", b"close");
    block.push(0x00);
    block.push(name.len() as u8);
    block.extend_from_slice(name);
    block.push(value.len() as u8);
    block.extend_from_slice(value);
    block
}

/// Reads frames from `reader` until a GOAWAY arrives (true) or the connection ends (false).
pub async fn wait_for_goaway(reader: impl tokio::io::AsyncRead + Unpin) -> bool {
    read_until_refused(reader, Duration::from_secs(60)).await.0 == Refusal::GoAway
}

/// Writes the client preface and an empty SETTINGS frame.
pub async fn start_h2(writer: &mut (impl tokio::io::AsyncWrite + Unpin)) -> std::io::Result<()> {
    writer.write_all(H2_PREFACE).await?;
    writer.write_all(&frame_header(0, 0x4, 0, 0)).await?;
    writer.flush().await
}

/// Resident memory of `pid` in bytes.
pub fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map(|kib| kib * 1024)
        .unwrap_or(0)
}

/// Open file descriptors of `pid`.
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| dir.count())
        .unwrap_or(0)
}

/// Peak RSS of a process, sampled in the background every 50 ms while kept alive.
pub struct RssSampler {
    peak: Arc<Mutex<u64>>,
    running: Arc<AtomicBool>,
}

impl RssSampler {
    /// Starts sampling `pid`.
    pub fn start(pid: u32) -> Self {
        let peak = Arc::new(Mutex::new(rss_bytes(pid)));
        let running = Arc::new(AtomicBool::new(true));
        let (peak_in, running_in) = (Arc::clone(&peak), Arc::clone(&running));
        std::thread::spawn(move || {
            while running_in.load(Ordering::Relaxed) {
                let rss = rss_bytes(pid);
                let mut peak = peak_in.lock().unwrap();
                *peak = (*peak).max(rss);
                drop(peak);
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        Self { peak, running }
    }

    /// Stops sampling and returns the peak.
    pub fn stop(self) -> u64 {
        self.running.store(false, Ordering::Relaxed);
        *self.peak.lock().unwrap()
    }
}

/// What the legitimate client saw while an attack ran.
#[derive(Debug, Default, Clone)]
pub struct LegitimateCalls {
    /// Calls made.
    pub calls: usize,
    /// Calls that failed, with their status.
    pub failures: Vec<String>,
    /// Every latency.
    pub latencies: Vec<Duration>,
}

impl LegitimateCalls {
    /// The worst latency.
    pub fn worst(&self) -> Duration {
        self.latencies.iter().copied().max().unwrap_or_default()
    }

    /// The median latency.
    pub fn median(&self) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        sorted.get(sorted.len() / 2).copied().unwrap_or_default()
    }
}

/// A client on 127.0.0.1 that calls GetNodeInfo every 20 ms on one connection until stopped.
/// It runs on its own thread and runtime, so the attack traffic this test process makes does
/// not delay it: what it measures is the server.
pub struct LegitimateClient {
    running: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<LegitimateCalls>,
}

impl LegitimateClient {
    /// Connects, makes one call, and keeps calling in the background.
    pub fn start(server: &ServerProcess) -> Self {
        let options = server.client_options();
        let running = Arc::new(AtomicBool::new(true));
        let keep_going = Arc::clone(&running);
        let (connected, ready) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let mut client = ldk_server::client::connect(options)
                    .await
                    .expect("legitimate client connects");
                client
                    .get_node_info(GetNodeInfoRequest {})
                    .await
                    .expect("first GetNodeInfo");
                let _ = connected.send(());
                let mut seen = LegitimateCalls::default();
                while keep_going.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let result = client.get_node_info(GetNodeInfoRequest {}).await;
                    seen.latencies.push(started.elapsed());
                    seen.calls += 1;
                    if let Err(status) = result {
                        seen.failures
                            .push(format!("{:?}: {}", status.code(), status.message()));
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                seen
            })
        });
        ready
            .recv_timeout(Duration::from_secs(30))
            .expect("legitimate client ready");
        Self { running, thread }
    }

    /// Stops and returns what it saw.
    pub fn stop(self) -> LegitimateCalls {
        self.running.store(false, Ordering::Relaxed);
        self.thread.join().expect("legitimate client thread")
    }
}

/// A HEADERS block for a well-formed gRPC request to GetNodeInfo (no dynamic-table entries, so
/// the same block can be sent again and again).
pub fn request_headers_block() -> Vec<u8> {
    let mut block = vec![0x83, 0x87]; // :method POST, :scheme https
    push_literal(&mut block, 0x04, b"/api.LightningNode/GetNodeInfo"); // :path
    push_literal(&mut block, 0x01, b"localhost"); // :authority
    block.extend_from_slice(&[0x0f, 0x10]); // content-type (index 31), literal value:
    block.push(16);
    block.extend_from_slice(b"application/grpc");
    block
}

/// A literal header field without indexing, its name from static-table entry `index` (< 15).
fn push_literal(block: &mut Vec<u8>, index: u8, value: &[u8]) {
    block.push(index);
    block.push(value.len() as u8);
    block.extend_from_slice(value);
}

/// How the server answered a stream of hostile frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A GOAWAY frame.
    GoAway,
    /// The connection ended without one.
    Closed,
    /// Still open when the reader was stopped.
    StillOpen,
}

/// Reads frames until GOAWAY or the end of the connection; counts RST_STREAM frames on the way.
pub async fn read_until_refused(
    mut reader: impl tokio::io::AsyncRead + Unpin,
    within: Duration,
) -> (Refusal, usize) {
    let mut resets = 0;
    let deadline = Instant::now() + within;
    let mut header = [0u8; 9];
    loop {
        let read = tokio::time::timeout_at(deadline.into(), reader.read_exact(&mut header)).await;
        match read {
            Err(_) => return (Refusal::StillOpen, resets),
            Ok(Err(_)) => return (Refusal::Closed, resets),
            Ok(Ok(_)) => {}
        }
        let length = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
        let mut payload = vec![0u8; length];
        if reader.read_exact(&mut payload).await.is_err() {
            return (Refusal::Closed, resets);
        }
        match header[3] {
            0x3 => resets += 1,
            0x7 => return (Refusal::GoAway, resets),
            _ => {}
        }
    }
}
