//! Transport abuse against a running regtest node: unauthenticated 10 MiB bodies on many
//! streams, a flood of malformed HEADERS, slowloris, stalled TLS handshakes and 2,000
//! simultaneous connections, one after the other. Throughout, a legitimate client on
//! 127.0.0.1 calls GetNodeInfo every 20 ms; the attackers come from other loopback addresses.
//!
//! For each attack: the legitimate client never fails and its worst latency stays under
//! 250 ms; the server's RSS stays under 200 MB and returns within 20 % of its baseline; its
//! open file descriptors return to their baseline. Every figure is printed.

mod common;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::pin::Pin;
use std::time::{Duration, Instant};

use common::attack::{
    frame_header, grpc_request, h2_from, malformed_headers_block, open_fds, push_body,
    raise_open_file_limit, rss_bytes, start_h2, tcp_from, tls_from, wait_for_goaway,
    LegitimateClient, RssSampler,
};
use common::chain::{Chain, TestNode};
use common::ServerProcess;
use ldk_server::auth;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MAX_LATENCY: Duration = Duration::from_millis(250);
const MAX_RSS_BYTES: u64 = 200 * 1024 * 1024;
const IDLE_TIMEOUT_SECS: u64 = 3;
const HANDSHAKE_TIMEOUT_SECS: u64 = 2;

fn attacker(last_octet: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last_octet))
}

type Attack<'a> = Pin<Box<dyn Future<Output = String> + 'a>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attacks_neither_slow_a_legitimate_client_nor_grow_the_server() {
    let Some(chain) = Chain::start("transport_abuse") else {
        return;
    };
    raise_open_file_limit();
    let limits = format!(
        "[limits]\nidle_timeout_secs = {IDLE_TIMEOUT_SECS}\ntls_handshake_timeout_secs = {HANDSHAKE_TIMEOUT_SECS}\n"
    );
    let node = TestNode::start(&chain, "target", &limits).await;
    let server = &node.server;
    let pid = server.pid();
    // Warm up: the legitimate client's connection and a few calls, then let things settle.
    let warmup = LegitimateClient::start(server);
    tokio::time::sleep(Duration::from_secs(2)).await;
    warmup.stop();
    tokio::time::sleep(Duration::from_secs(IDLE_TIMEOUT_SECS + 2)).await;
    let baseline_rss = rss_bytes(pid);
    let baseline_fds = open_fds(pid);
    println!(
        "baseline: RSS {:.1} MB, {baseline_fds} open fds",
        mb(baseline_rss)
    );

    let attacks: Vec<(&str, Attack<'_>)> = vec![
        (
            "unauthenticated 10 MiB bodies",
            Box::pin(unauthenticated_bodies(server)),
        ),
        (
            "malformed HEADERS flood",
            Box::pin(malformed_headers_flood(server)),
        ),
        ("slowloris", Box::pin(slowloris(server))),
        (
            "stalled TLS handshakes",
            Box::pin(stalled_handshakes(server)),
        ),
        (
            "2,000 simultaneous connections",
            Box::pin(many_connections(server)),
        ),
    ];
    let mut report = Vec::new();
    for (name, attack) in attacks {
        let legitimate = LegitimateClient::start(server);
        let sampler = RssSampler::start(pid);
        let detail = attack.await;
        let peak = sampler.stop();
        let seen = legitimate.stop();
        let (rss_after, fds_after) = settle(pid, baseline_rss, baseline_fds).await;
        let line = format!(
            "{name}: {detail}; legitimate client {} calls, {} failed, median {:?}, worst {:?}; \
             RSS peak {:.1} MB, after {:.1} MB (baseline {:.1} MB); fds after {fds_after} (baseline {baseline_fds})",
            seen.calls,
            seen.failures.len(),
            seen.median(),
            seen.worst(),
            mb(peak),
            mb(rss_after),
            mb(baseline_rss)
        );
        println!("{line}");
        assert!(seen.failures.is_empty(), "{line}: {:?}", seen.failures);
        assert!(seen.calls >= 50, "{line}: the attack must last for seconds");
        assert!(seen.worst() < MAX_LATENCY, "{line}");
        assert!(peak < MAX_RSS_BYTES, "{line}");
        assert!(rss_after as f64 <= baseline_rss as f64 * 1.2, "{line}");
        assert!(fds_after <= baseline_fds, "{line}");
        report.push(line);
    }
    assert!(!server.log().contains("panicked"), "{}", server.log());
    // The node still follows the chain after it all.
    chain.mine(2);
    node.wait_for_height(chain.height()).await;
    println!("\n{}", report.join("\n"));
}

/// Waits up to 15 s for RSS to return within 20 % of the baseline and fds to the baseline,
/// and at least 4 s: the server trims freed memory 2 s after the last connection closed, and
/// that trim belongs to this attack, not to the next one.
async fn settle(pid: u32, baseline_rss: u64, baseline_fds: usize) -> (u64, usize) {
    tokio::time::sleep(Duration::from_secs(4)).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (rss, fds) = (rss_bytes(pid), open_fds(pid));
        let settled = rss as f64 <= baseline_rss as f64 * 1.2 && fds <= baseline_fds;
        if settled || Instant::now() > deadline {
            return (rss, fds);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_000_000.0
}

/// For 6 s, waves of 4 connections × 32 streams, each from one of 4 source addresses, each
/// stream trying to send 10 MiB with no, an expired or a wrong (body-covering) signature.
async fn unauthenticated_bodies(server: &ServerProcess) -> String {
    let until = Instant::now() + Duration::from_secs(6);
    let expired = auth::sign(&server.api_key(), auth::unix_now() - 3_600, None);
    let mut sent_total = 0;
    let mut streams = 0;
    let mut codes = std::collections::BTreeMap::<String, usize>::new();
    while Instant::now() < until {
        let mut tasks = Vec::new();
        for connection in 0..4u8 {
            let source = attacker(20 + connection);
            let Some(sender) = h2_from(server, source).await else {
                continue;
            };
            for stream in 0..32 {
                let x_auth = match (connection as usize + stream) % 3 {
                    0 => None,
                    1 => Some(expired.clone()),
                    _ => Some(format!("HMAC {}:{}", auth::unix_now(), "cd".repeat(32))),
                };
                tasks.push(tokio::spawn(one_unauthenticated_body(
                    sender.clone(),
                    x_auth,
                    until,
                )));
            }
        }
        for task in tasks {
            if let Ok(Some((sent, code))) = task.await {
                sent_total += sent;
                streams += 1;
                *codes.entry(code).or_default() += 1;
            }
        }
    }
    assert!(
        !codes.contains_key("0"),
        "an unauthenticated stream succeeded: {codes:?}"
    );
    format!(
        "{:.1} MB sent on {streams} streams from 4 addresses, statuses {codes:?}",
        mb(sent_total as u64)
    )
}

/// One stream: as much of 10 MiB as the server takes, then its status.
async fn one_unauthenticated_body(
    sender: h2::client::SendRequest<bytes::Bytes>,
    x_auth: Option<String>,
    until: Instant,
) -> Option<(usize, String)> {
    let mut sender = sender.ready().await.ok()?;
    let request = grpc_request("/api.LightningNode/GetBalances", x_auth.as_deref());
    let (response, mut body) = sender.send_request(request, false).ok()?;
    let sent = push_body(&mut body, 10 << 20, until).await;
    let code = match tokio::time::timeout(Duration::from_secs(10), response).await {
        Ok(Ok(response)) => response
            .headers()
            .get("grpc-status")
            .map(|v| v.to_str().unwrap_or("?").to_owned())
            .unwrap_or_else(|| "none".to_owned()),
        _ => "reset".to_owned(),
    };
    Some((sent, code))
}

/// Connections one after the other for 5 s, each sending malformed HEADERS until the server
/// sends GOAWAY; once the address has been throttled for them, its connections are refused.
async fn malformed_headers_flood(server: &ServerProcess) -> String {
    let mut frames_sent = 0u32;
    let (mut goaways, mut connections, mut refused) = (0, 0, 0);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        let Ok(tls) = tls_from(server, attacker(3)).await else {
            refused += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        connections += 1;
        let (reader, mut writer) = tokio::io::split(tls);
        let goaway = tokio::spawn(wait_for_goaway(reader));
        if start_h2(&mut writer).await.is_err() {
            continue;
        }
        let block = malformed_headers_block();
        for stream_id in (1..40_000u32).step_by(2) {
            let header = frame_header(block.len(), 0x1, 0x5, stream_id);
            if writer.write_all(&header).await.is_err() || writer.write_all(&block).await.is_err() {
                break;
            }
            frames_sent += 1;
            if goaway.is_finished() {
                break;
            }
        }
        if let Ok(Ok(true)) = tokio::time::timeout(Duration::from_secs(5), goaway).await {
            goaways += 1;
        }
    }
    assert_eq!(
        goaways, connections,
        "every flooding connection gets GOAWAY"
    );
    assert!(connections >= 20, "the burst of the address's bucket");
    assert!(refused > 0, "the flooding address is never refused");
    format!(
        "{frames_sent} malformed HEADERS frames on {connections} connections, {goaways} GOAWAY, \
         then {refused} connections refused at accept"
    )
}

/// 200 connections that complete TLS and the preface, then trickle a HEADERS frame one byte
/// every 200 ms; the idle timeout must close them.
async fn slowloris(server: &ServerProcess) -> String {
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let Ok(mut tls) = tls_from(server, attacker(4)).await else {
            continue;
        };
        tasks.push(tokio::spawn(async move {
            if start_h2(&mut tls).await.is_err() {
                return None;
            }
            let started = Instant::now();
            let mut frame = frame_header(200, 0x1, 0x4, 1).to_vec();
            frame.extend_from_slice(&[0u8; 200]);
            let mut buffer = [0u8; 1024];
            for byte in frame {
                if tls.write_all(&[byte]).await.is_err() {
                    return Some(started.elapsed());
                }
                // Read what the server sends meanwhile; EOF means it closed the connection.
                match tokio::time::timeout(Duration::from_millis(200), tls.read(&mut buffer)).await
                {
                    Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
                    _ => {}
                }
                if started.elapsed() > Duration::from_secs(30) {
                    break;
                }
            }
            None
        }));
    }
    let mut closed = Vec::new();
    let mut opened = 0;
    for task in tasks {
        opened += 1;
        if let Ok(Some(after)) = task.await {
            closed.push(after);
        }
    }
    closed.sort();
    assert_eq!(
        closed.len(),
        opened,
        "every slowloris connection is closed by the server"
    );
    let worst = closed.last().copied().unwrap_or_default();
    assert!(
        worst < Duration::from_secs(IDLE_TIMEOUT_SECS + 12),
        "{worst:?}"
    );
    format!("{opened} connections, all closed by the server, the last after {worst:?}")
}

/// 300 TCP connections that never finish the TLS handshake.
async fn stalled_handshakes(server: &ServerProcess) -> String {
    let mut streams = Vec::new();
    for _ in 0..300 {
        if let Ok(mut tcp) = tcp_from(attacker(5), server.grpc_address).await {
            let _ = tcp.write_all(&[0x16, 0x03, 0x01, 0x02]).await;
            streams.push(tcp);
        }
    }
    let started = Instant::now();
    let mut closed = 0;
    let mut buffer = [0u8; 256];
    for tcp in &mut streams {
        let limit = Duration::from_secs(HANDSHAKE_TIMEOUT_SECS + 5);
        let remaining = limit.saturating_sub(started.elapsed());
        if let Ok(Ok(0) | Err(_)) = tokio::time::timeout(remaining, tcp.read(&mut buffer)).await {
            closed += 1;
        }
    }
    assert_eq!(closed, streams.len(), "every stalled handshake is closed");
    format!(
        "{} stalled handshakes, all closed within {:?}",
        streams.len(),
        started.elapsed()
    )
}

/// 2,000 connections at once: TLS, preface, then nothing. Past `max_connections` (1024) they
/// are closed at accept; the rest by the idle timeout.
async fn many_connections(server: &ServerProcess) -> String {
    let mut connecting = Vec::new();
    for index in 0..2_000u32 {
        let source = attacker(6 + (index % 4) as u8);
        let cert_server = server;
        connecting.push(async move {
            let mut tls = tls_from(cert_server, source).await.ok()?;
            start_h2(&mut tls).await.ok()?;
            Some(tls)
        });
    }
    let started = Instant::now();
    let results = futures_util::future::join_all(connecting).await;
    let mut established: Vec<_> = results.into_iter().flatten().collect();
    let count = established.len();
    let mut closed = 0;
    let mut buffer = [0u8; 1024];
    for tls in &mut established {
        let limit = Duration::from_secs(IDLE_TIMEOUT_SECS + 15);
        let remaining = limit.saturating_sub(started.elapsed());
        loop {
            match tokio::time::timeout(remaining, tls.read(&mut buffer)).await {
                Ok(Ok(0)) | Ok(Err(_)) => {
                    closed += 1;
                    break;
                }
                Ok(Ok(_)) => continue,
                Err(_) => break,
            }
        }
    }
    assert_eq!(closed, count, "every connection is closed by the server");
    format!(
        "2000 attempted, {count} completed TLS (the rest refused at the limit), all closed within {:?}",
        started.elapsed()
    )
}
