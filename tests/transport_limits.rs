//! The transport's limits, one by one, against the real binary (no bitcoind needed: every check
//! here happens before a request reaches the node): framing statuses, unknown paths, the
//! `x-auth` header checked before any body byte, per-address throttling of failed
//! authentications, the unverified-body budget, the body read timeout, the idle timeout that
//! spares event streams, the TLS handshake timeout, the connection limit, GOAWAY for a flood
//! of malformed HEADERS, and refused calls that never cost the client its connection.

mod common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::attack::{
    frame_header, grpc_request, h2_from, malformed_headers_block, push_body, read_until_refused,
    request_headers_block, start_h2, tcp_from, tls_from, wait_for_goaway, Refusal,
};
use common::chain::metric_value;
use common::raw_h2::{call, frame};
use common::{scrape_metrics, unreachable_chain_config, ServerProcess};
use ldk_server::auth;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
const ATTACKER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

fn start_server(limits: &str) -> ServerProcess {
    ServerProcess::start(&unreachable_chain_config(&format!(
        "[metrics]\nenabled = true\n\n[limits]\n{limits}"
    )))
}

/// Reads until the peer closes; true if it closed (EOF or reset) within `within`.
async fn closed_within(stream: &mut (impl AsyncReadExt + Unpin), within: Duration) -> bool {
    let mut buffer = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline.into(), stream.read(&mut buffer)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

/// A `grpc-message` as sent (percent-encoded), decoded.
fn decoded(message: Option<String>) -> String {
    let message = message.unwrap_or_default();
    percent_encoding::percent_decode_str(&message)
        .decode_utf8_lossy()
        .into_owned()
}

async fn metrics(server: &ServerProcess) -> String {
    scrape_metrics(server, None).await.1
}

#[tokio::test]
async fn framing_faults_and_unknown_paths_have_their_status_and_a_message() {
    let server = start_server("");
    let key = server.api_key();
    let body_with_prefix = |flag: u8, declared: u32, payload: &[u8]| {
        let mut body = vec![flag];
        body.extend_from_slice(&declared.to_be_bytes());
        body.extend_from_slice(payload);
        Bytes::from(body)
    };
    let cases: Vec<(&str, Bytes, &str, &str)> = vec![
        ("empty body", Bytes::new(), "3", "empty request body"),
        (
            "truncated prefix",
            Bytes::from_static(&[0, 0, 0]),
            "3",
            "truncated gRPC frame",
        ),
        (
            "truncated message",
            body_with_prefix(0, 10, b"abc"),
            "3",
            "declares 10 bytes",
        ),
        (
            "over-long frame",
            body_with_prefix(0, 1, b"abc"),
            "3",
            "after the message",
        ),
        (
            "compressed flag 1",
            body_with_prefix(1, 0, b""),
            "12",
            "compressed messages",
        ),
        (
            "compressed flag 2",
            body_with_prefix(2, 0, b""),
            "3",
            "compressed flag 2",
        ),
        (
            "compressed flag 255",
            body_with_prefix(255, 0, b""),
            "3",
            "compressed flag 255",
        ),
    ];
    for (what, body, code, text) in cases {
        let headers = [("x-auth", auth::sign(&key, auth::unix_now(), Some(&body)))];
        let response = call(&server, "/api.LightningNode/DecodeInvoice", &headers, body).await;
        assert_eq!(
            response.status_in_headers.as_deref(),
            Some(code),
            "{what}: {response:?}"
        );
        let message = decoded(response.message_in_headers);
        assert!(message.contains(text), "{what}: {message}");
    }

    let empty = frame(&[]);
    let signed = [
        ("x-auth", auth::sign(&key, auth::unix_now(), Some(&empty))),
        ("grpc-encoding", "gzip".to_owned()),
    ];
    let response = call(
        &server,
        "/api.LightningNode/ListPayments",
        &signed,
        empty.clone(),
    )
    .await;
    assert_eq!(
        response.status_in_headers.as_deref(),
        Some("12"),
        "{response:?}"
    );

    for (path, text) in [
        (
            "/api.LightningNode/StealFunds",
            "unknown method `StealFunds`",
        ),
        (
            "/grpc.health.v1.Health/Check",
            "unknown service `grpc.health.v1.Health`",
        ),
        ("/favicon.ico", "unknown path"),
    ] {
        let response = call(&server, path, &[], empty.clone()).await;
        assert_eq!(response.status_in_headers.as_deref(), Some("12"), "{path}");
        let message = decoded(response.message_in_headers);
        assert!(message.contains(text), "{path}: {message}");
    }
    assert!(!server.log().contains("panicked"), "{}", server.log());
}

#[tokio::test]
async fn the_header_is_refused_before_any_body_byte_is_sent() {
    let server = start_server("body_read_timeout_secs = 30\n");
    let expired = auth::sign(&server.api_key(), auth::unix_now() - 3600, None);
    for x_auth in [None, Some("HMAC nonsense"), Some(expired.as_str())] {
        let mut sender = h2_from(&server, LOCAL).await.expect("h2");
        sender = sender.ready().await.expect("ready");
        // Headers only: the body never comes. A server that read the body first would wait
        // for it (30 s); this one answers from the header alone.
        let request = grpc_request("/api.LightningNode/GetBalances", x_auth);
        let (response, _body_never_sent) = sender.send_request(request, false).expect("send");
        let response = tokio::time::timeout(Duration::from_secs(5), response)
            .await
            .unwrap_or_else(|_| panic!("{x_auth:?}: no answer before the body"))
            .expect("response");
        assert_eq!(
            response
                .headers()
                .get("grpc-status")
                .map(|v| v.to_str().unwrap()),
            Some("16"),
            "{x_auth:?}"
        );
    }
}

/// A call refused from its header alone is answered before its body arrives; the body that
/// the client sends afterwards must not draw resets. A server that reset such streams would
/// answer the late DATA of streams h2 no longer remembers with STREAM_CLOSED resets, count them
/// as protocol errors and GOAWAY the connection after `max_local_error_resets` of them: a
/// client that keeps being refused (here: 3,000 calls, one connection, body after answer)
/// would need a new TLS connection every few hundred calls.
#[tokio::test]
async fn refused_calls_let_the_body_finish_on_a_connection_that_stays_open() {
    let server = start_server("auth_failures_burst = 1\nauth_failures_per_minute = 1\n");
    let mut sender = h2_from(&server, ATTACKER).await.expect("h2");
    let mut codes = std::collections::BTreeMap::<String, usize>::new();
    for call_number in 0..3_000 {
        sender = sender
            .ready()
            .await
            .unwrap_or_else(|error| panic!("call {call_number}: connection lost: {error}"));
        // Outside the clock window: refused from the header alone (then throttled).
        let x_auth = auth::sign(&server.api_key(), auth::unix_now() - 3_600, None);
        let (response, mut body) = sender
            .send_request(
                grpc_request("/api.LightningNode/GetBalances", Some(&x_auth)),
                false,
            )
            .expect("send");
        let response = response
            .await
            .unwrap_or_else(|error| panic!("call {call_number}: {error}"));
        let code = response.headers()["grpc-status"]
            .to_str()
            .unwrap()
            .to_owned();
        *codes.entry(code).or_default() += 1;
        if call_number == 0 {
            // Give a reset time to arrive: none may.
            let reset = tokio::time::timeout(
                Duration::from_millis(300),
                std::future::poll_fn(|cx| body.poll_reset(cx)),
            )
            .await;
            assert!(
                reset.is_err(),
                "the server reset a refused call's stream: {reset:?}"
            );
        }
        body.send_data(frame(&[]), true)
            .unwrap_or_else(|error| panic!("call {call_number}: body after the answer: {error}"));
    }
    println!("3000 refused calls, body after the answer, one connection: {codes:?}");
    assert_eq!(codes.get("16"), Some(&1), "{codes:?}");
    assert_eq!(codes.get("8"), Some(&2_999), "{codes:?}");

    let text = metrics(&server).await;
    for reason in ["protocol_error", "throttled"] {
        let closed = metric_value(
            &text,
            &format!("ldk_server_connections_closed_total{{reason=\"{reason}\"}}"),
        );
        assert_eq!(closed, 0.0, "connections closed for {reason}");
    }
}

#[tokio::test]
async fn failed_authentications_are_throttled_per_source_address() {
    let server = start_server("auth_failures_burst = 5\nauth_failures_per_minute = 6\n");
    let wrong_key = ldk_server::auth::ApiKey::from_hex("00ff");
    let empty = frame(&[]);
    let mut sender = h2_from(&server, ATTACKER).await.expect("h2");
    let mut codes = Vec::new();
    let started = Instant::now();
    for _ in 0..2_000 {
        sender = sender.ready().await.expect("ready");
        let x_auth = auth::sign(&wrong_key, auth::unix_now(), Some(&empty));
        let (response, mut body) = sender
            .send_request(
                grpc_request("/api.LightningNode/GetBalances", Some(&x_auth)),
                false,
            )
            .expect("send");
        let _ = body.send_data(empty.clone(), true);
        let response = response.await.expect("response");
        let code = response
            .headers()
            .get("grpc-status")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        if code == "8" {
            let message = response
                .headers()
                .get("grpc-message")
                .unwrap()
                .to_str()
                .unwrap();
            assert!(message.contains("retry"), "{message}");
        }
        codes.push(code);
    }
    let elapsed = started.elapsed();
    let unauthenticated = codes.iter().filter(|c| *c == "16").count();
    let throttled = codes.iter().filter(|c| *c == "8").count();
    println!(
        "2000 wrong-key calls from {ATTACKER}: {unauthenticated} UNAUTHENTICATED, {throttled} RESOURCE_EXHAUSTED in {elapsed:?}"
    );
    assert_eq!(
        &codes[..5],
        &["16"; 5],
        "the burst is answered UNAUTHENTICATED"
    );
    assert!(throttled >= 1_990, "{codes:?}");
    assert!(
        unauthenticated <= 10,
        "at most the burst plus what refilled: {unauthenticated}"
    );

    // A client at another address is not slowed, and still authenticates.
    let mut client = server.client().await;
    let started = Instant::now();
    let status = client
        .get_balances(ldk_server::proto::api::GetBalancesRequest {})
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(1));

    let text = metrics(&server).await;
    let counted = metric_value(
        &text,
        "ldk_server_auth_failures_total{reason=\"throttled\"}",
    );
    assert!(counted >= throttled as f64, "{counted}");
}

#[tokio::test]
async fn unverified_body_bytes_are_bounded_per_address() {
    let server = start_server("unauthenticated_body_bytes_per_address = 1048576\n");
    let mut sender = h2_from(&server, ATTACKER).await.expect("h2");
    // A fresh, well-formed timestamp with a tag that can only be checked against the body:
    // the server must hold the body to find out it is wrong.
    let x_auth = format!("HMAC {}:{}", auth::unix_now(), "ab".repeat(32));
    let until = Instant::now() + Duration::from_secs(10);
    let mut streams = Vec::new();
    for _ in 0..4 {
        sender = sender.ready().await.expect("ready");
        let (response, body) = sender
            .send_request(
                grpc_request("/api.LightningNode/GetBalances", Some(&x_auth)),
                false,
            )
            .expect("send");
        streams.push((response, body));
    }
    let mut pushes = Vec::new();
    let mut responses = Vec::new();
    for (response, mut body) in streams {
        pushes.push(tokio::spawn(async move {
            push_body(&mut body, 9 << 20, until).await
        }));
        responses.push(response);
    }
    let mut codes = Vec::new();
    for response in responses {
        let response = tokio::time::timeout(Duration::from_secs(15), response)
            .await
            .expect("answered")
            .expect("response");
        let status = response
            .headers()
            .get("grpc-status")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        codes.push(status);
    }
    for push in pushes {
        let _ = push.await;
    }
    assert!(
        codes.iter().all(|c| c == "8"),
        "{codes:?}: every stream passes 1 MiB and is refused"
    );
}

#[tokio::test]
async fn a_body_that_does_not_arrive_times_out() {
    let server = start_server("body_read_timeout_secs = 1\n");
    let mut sender = h2_from(&server, LOCAL).await.expect("h2");
    sender = sender.ready().await.expect("ready");
    let x_auth = auth::sign(&server.api_key(), auth::unix_now(), None);
    let request = grpc_request("/api.LightningNode/GetBalances", Some(&x_auth));
    let (response, _body_never_sent) = sender.send_request(request, false).expect("send");
    let started = Instant::now();
    let response = tokio::time::timeout(Duration::from_secs(10), response)
        .await
        .expect("answered")
        .expect("response");
    assert_eq!(response.headers().get("grpc-status").unwrap(), "4");
    assert!(started.elapsed() >= Duration::from_millis(900));
    let message = response
        .headers()
        .get("grpc-message")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(message.contains("body_read_timeout_secs"), "{message}");
}

#[tokio::test]
async fn idle_connections_are_closed_but_event_streams_are_kept() {
    let server = start_server("idle_timeout_secs = 2\n");
    let mut idle = tls_from(&server, LOCAL).await.expect("tls");
    start_h2(&mut idle).await.expect("preface");
    let mut events = server.client().await;
    let mut stream = events
        .subscribe_events(ldk_server::proto::api::SubscribeEventsRequest::default())
        .await
        .expect("subscribe")
        .into_inner();
    let started = Instant::now();
    assert!(
        closed_within(&mut idle, Duration::from_secs(15)).await,
        "idle connection kept"
    );
    let closed_after = started.elapsed();
    assert!(
        closed_after >= Duration::from_millis(1_500),
        "{closed_after:?}"
    );
    // The event stream's connection outlives several idle timeouts.
    let next = tokio::time::timeout(Duration::from_secs(6), stream.message()).await;
    assert!(next.is_err(), "the event stream ended: {next:?}");
    let text = metrics(&server).await;
    assert!(
        metric_value(
            &text,
            "ldk_server_connections_closed_total{reason=\"idle\"}"
        ) >= 1.0
    );
}

/// `/metrics` from the plain-HTTP metrics listener: a scrape there never holds a slot of the
/// gRPC listener, so it cannot disturb a count of that listener's connections.
async fn plain_metrics(address: std::net::SocketAddr) -> String {
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect to the metrics listener");
    stream
        .write_all(
            format!("GET /metrics HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .expect("request");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .expect("metrics response in time")
        .expect("metrics response");
    let response = String::from_utf8_lossy(&response).into_owned();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

#[tokio::test]
async fn stalled_handshakes_time_out_and_the_connection_limit_holds() {
    let metrics_address: std::net::SocketAddr = format!("127.0.0.1:{}", common::free_port())
        .parse()
        .unwrap();
    let server = ServerProcess::start(&unreachable_chain_config(&format!(
        "[metrics]\nenabled = true\nlisten_address = \"{metrics_address}\"\n\n\
         [limits]\ntls_handshake_timeout_secs = 4\nmax_connections = 20\n"
    )));
    let open = |text: &str| metric_value(text, "ldk_server_connections_open");
    // The harness's readiness probe may still hold a slot: start from an empty listener.
    let deadline = Instant::now() + Duration::from_secs(10);
    while open(&plain_metrics(metrics_address).await) > 0.0 {
        assert!(Instant::now() < deadline, "connections stay open");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut stalled = Vec::new();
    let opened = Instant::now();
    for _ in 0..20 {
        let mut tcp = tcp_from(ATTACKER, server.grpc_address).await.expect("tcp");
        tcp.write_all(&[0x16, 0x03, 0x01])
            .await
            .expect("a partial ClientHello");
        stalled.push(tcp);
    }
    // Every slot is taken by a stalled handshake once the server has accepted all 20.
    let deadline = Instant::now() + Duration::from_secs(3);
    while open(&plain_metrics(metrics_address).await) < 20.0 {
        assert!(
            Instant::now() < deadline,
            "the 20 stalled handshakes were not all accepted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // One more is closed at once.
    let mut extra = tcp_from(ATTACKER, server.grpc_address).await.expect("tcp");
    assert!(
        closed_within(&mut extra, Duration::from_secs(2)).await,
        "over the limit"
    );
    for tcp in &mut stalled {
        assert!(
            closed_within(tcp, Duration::from_secs(8)).await,
            "stalled handshake kept"
        );
    }
    let elapsed = opened.elapsed();
    assert!(
        elapsed >= Duration::from_secs(3),
        "closed before the timeout: {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    // Slots are free again.
    let mut client = server.client().await;
    let status = client
        .get_node_info(ldk_server::proto::api::GetNodeInfoRequest {})
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    // The server counts a close just after the socket goes: give its bookkeeping a moment.
    let closed = |text: &str, reason: &str| {
        metric_value(
            text,
            &format!("ldk_server_connections_closed_total{{reason=\"{reason}\"}}"),
        )
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = plain_metrics(metrics_address).await;
        if closed(&text, "handshake_timeout") >= 20.0 || Instant::now() > deadline {
            assert_eq!(closed(&text, "limit"), 1.0, "{text}");
            assert_eq!(closed(&text, "handshake_timeout"), 20.0, "{text}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_flood_of_malformed_headers_gets_goaway() {
    let server = start_server("max_local_error_resets = 64\n");
    let tls = tls_from(&server, ATTACKER).await.expect("tls");
    let (reader, mut writer) = tokio::io::split(tls);
    let goaway = tokio::spawn(wait_for_goaway(reader));
    start_h2(&mut writer).await.expect("preface");
    let block = malformed_headers_block();
    let mut sent = 0u32;
    for stream_id in (1..20_000u32).step_by(2) {
        let header = frame_header(block.len(), 0x1, 0x4 | 0x1, stream_id);
        if writer.write_all(&header).await.is_err() || writer.write_all(&block).await.is_err() {
            break;
        }
        sent += 1;
        if goaway.is_finished() {
            break;
        }
    }
    let got_goaway = tokio::time::timeout(Duration::from_secs(10), goaway)
        .await
        .expect("the server answered")
        .expect("reader task");
    assert!(
        got_goaway,
        "no GOAWAY after {sent} malformed HEADERS frames"
    );
    assert!(
        sent < 10_000,
        "the connection stayed open for all {sent} frames"
    );
    println!("GOAWAY after at most {sent} malformed HEADERS frames");
    let text = metrics(&server).await;
    assert!(
        metric_value(
            &text,
            "ldk_server_connections_closed_total{reason=\"protocol_error\"}"
        ) >= 1.0
    );
}

/// Writes `frames` on a fresh TLS connection from the attacker until the server stops reading
/// or `max_bytes` went out; returns how the server answered and how many bytes were sent.
async fn flood(
    server: &ServerProcess,
    mut next_frame: impl FnMut(u32) -> Option<Vec<u8>>,
    max_bytes: usize,
) -> (Refusal, usize, usize) {
    let tls = tls_from(server, ATTACKER).await.expect("tls");
    let (reader, mut writer) = tokio::io::split(tls);
    let answer = tokio::spawn(read_until_refused(reader, Duration::from_secs(20)));
    start_h2(&mut writer).await.expect("preface");
    let mut sent = 0;
    let mut index = 0;
    while sent < max_bytes && !answer.is_finished() {
        let Some(frame) = next_frame(index) else {
            break;
        };
        index += 1;
        let write = tokio::time::timeout(Duration::from_secs(5), writer.write_all(&frame)).await;
        if !matches!(write, Ok(Ok(()))) {
            break;
        }
        sent += frame.len();
    }
    let (refusal, resets) = answer.await.expect("reader");
    (refusal, resets, sent)
}

#[tokio::test]
async fn rapid_reset_is_answered_with_goaway() {
    let server = start_server("");
    let block = request_headers_block();
    let (refusal, _, sent) = flood(
        &server,
        |index| {
            let stream_id = 1 + 2 * index;
            let mut frames = frame_header(block.len(), 0x1, 0x4, stream_id).to_vec();
            frames.extend_from_slice(&block);
            frames.extend_from_slice(&frame_header(4, 0x3, 0, stream_id));
            frames.extend_from_slice(&8u32.to_be_bytes()); // CANCEL
            Some(frames)
        },
        64 << 20,
    )
    .await;
    println!("rapid reset: {refusal:?} after {sent} bytes");
    assert_eq!(refusal, Refusal::GoAway, "after {sent} bytes");
}

#[tokio::test]
async fn an_oversized_header_list_and_a_continuation_flood_are_refused() {
    let server = start_server("");
    // One 1 MiB header value, carried by CONTINUATION frames of 16 KiB.
    let mut first = request_headers_block();
    first.extend_from_slice(&[0x00, 0x07]);
    first.extend_from_slice(b"x-large");
    first.push(0x7f); // 1 MiB value length, HPACK integer with a 7-bit prefix
    let mut rest = (1u32 << 20) - 127;
    while rest >= 128 {
        first.push((rest % 128) as u8 | 0x80);
        rest /= 128;
    }
    first.push(rest as u8);
    let chunk = vec![b'a'; 16 * 1024];
    let (refusal, resets, sent) = flood(
        &server,
        |index| match index {
            0 => {
                let mut frame = frame_header(first.len(), 0x1, 0x1, 1).to_vec();
                frame.extend_from_slice(&first);
                Some(frame)
            }
            n if n <= 64 => {
                let flags = if n == 64 { 0x4 } else { 0 };
                let mut frame = frame_header(chunk.len(), 0x9, flags, 1).to_vec();
                frame.extend_from_slice(&chunk);
                Some(frame)
            }
            _ => None,
        },
        2 << 20,
    )
    .await;
    println!("1 MiB header list: {refusal:?}, {resets} resets, {sent} bytes sent");
    assert!(
        refusal != Refusal::StillOpen || resets > 0,
        "a 1 MiB header list was accepted"
    );

    // CONTINUATION frames that never end the header block.
    let block = request_headers_block();
    let (refusal, _, sent) = flood(
        &server,
        |index| {
            let frame = if index == 0 {
                let mut frame = frame_header(block.len(), 0x1, 0x1, 1).to_vec();
                frame.extend_from_slice(&block);
                frame
            } else {
                let mut frame = frame_header(chunk.len(), 0x9, 0, 1).to_vec();
                frame.extend_from_slice(&chunk);
                frame
            };
            Some(frame)
        },
        64 << 20,
    )
    .await;
    println!("CONTINUATION flood: {refusal:?} after {sent} bytes");
    assert_ne!(
        refusal,
        Refusal::StillOpen,
        "{sent} bytes of CONTINUATION accepted"
    );
    assert!(sent < 64 << 20, "the server read the whole flood");
    let mut client = server.client().await;
    let status = client
        .get_node_info(ldk_server::proto::api::GetNodeInfoRequest {})
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "still serving");
}

#[tokio::test]
async fn http1_and_plaintext_are_refused() {
    let server = start_server("");
    let request = b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n";
    // Plaintext on the TLS listener.
    let mut tcp = tcp_from(LOCAL, server.grpc_address).await.expect("tcp");
    tcp.write_all(request).await.expect("write");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut answer)).await;
    assert!(
        !String::from_utf8_lossy(&answer).contains("HTTP/1.1"),
        "{answer:?}"
    );
    // HTTP/1.1 inside TLS (a client that offers no ALPN).
    let mut tls = tls_without_alpn(&server).await;
    tls.write_all(request).await.expect("write");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut answer)).await;
    assert!(
        !String::from_utf8_lossy(&answer).contains("HTTP/1.1 200"),
        "{answer:?}"
    );
}

async fn tls_without_alpn(
    server: &ServerProcess,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&server.cert_pem()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tcp_from(LOCAL, server.grpc_address).await.expect("tcp");
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(
            rustls_pki_types::ServerName::try_from("localhost").unwrap(),
            tcp,
        )
        .await
        .expect("TLS without ALPN")
}

#[tokio::test]
async fn a_thousand_event_subscribers_on_one_connection_are_all_served() {
    let server = start_server("");
    let client = server.client().await;
    let mut streams = Vec::new();
    for _ in 0..1_000 {
        let mut client = client.clone();
        streams.push(tokio::spawn(async move {
            client
                .subscribe_events(ldk_server::proto::api::SubscribeEventsRequest::default())
                .await
                .map(|response| response.into_inner())
        }));
    }
    let mut open = Vec::new();
    for stream in streams {
        open.push(stream.await.expect("task").expect("subscribed"));
    }
    let text = metrics(&server).await;
    assert_eq!(metric_value(&text, "ldk_server_event_subscribers"), 1_000.0);
    drop(open);
}
