//! Integration tests that need no bitcoind: the real `ldk-server` binary on a temporary
//! directory, configured with a chain source that cannot be reached, so the API is served while
//! the node keeps retrying its start.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use bytes::Bytes;
use common::raw_codec::RawCodec;
use common::{
    free_port, plain_channel, run_to_exit, scrape_metrics, unreachable_chain_config, ServerProcess,
};
use ldk_server::auth::{self, ApiKey};
use ldk_server::client::{connect, SigningService};
use ldk_server::proto::api::lightning_node_client::LightningNodeClient;
use ldk_server::proto::api::*;
use tonic::{Code, Status};

fn start_server(extra: &str) -> ServerProcess {
    ServerProcess::start(&unreachable_chain_config(extra))
}

/// The status code GetNodeInfo fails with (the node never runs in these tests).
async fn node_info_code(client: &mut ldk_server::client::LdkServerClient) -> Code {
    client
        .get_node_info(GetNodeInfoRequest {})
        .await
        .expect_err("the node cannot run")
        .code()
}

/// Calls DecodeInvoice (which needs no running node) with a hand-made `x-auth` value.
async fn call_with_auth(server: &ServerProcess, x_auth: Option<String>) -> Result<(), Status> {
    let mut client = LightningNodeClient::new(plain_channel(server).await);
    let mut request = tonic::Request::new(DecodeOfferRequest {
        offer: "lno1qgsyxjtl6luzd9t3pr62xr7eemp6awnejusgf6gw45q75vcfqqqqqqq".into(),
    });
    if let Some(value) = x_auth {
        request
            .metadata_mut()
            .insert("x-auth", value.parse().unwrap());
    }
    match client.decode_offer(request).await {
        Ok(_) => Ok(()),
        // The offer is junk: INVALID_ARGUMENT proves the request got past authentication.
        Err(status) if status.code() == Code::InvalidArgument => Ok(()),
        Err(status) => Err(status),
    }
}

#[tokio::test]
async fn hmac_forms_and_auth_failures() {
    let server = start_server("[metrics]\nenabled = true\n");
    let key = server.api_key();
    let now = auth::unix_now();

    // The documented form (timestamp only) over a plain tonic client.
    assert!(call_with_auth(&server, Some(auth::sign(&key, now, None)))
        .await
        .is_ok());
    // The body-signing form, as upstream's client and ours send it.
    let mut client = server.client().await;
    let error = client
        .get_node_info(GetNodeInfoRequest {})
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::Unavailable, "{error:?}");
    // And the timestamp-only form through our client too.
    let mut options = server.client_options();
    options.signing = ldk_server::client::Signing::Timestamp;
    let mut client = connect(options).await.unwrap();
    assert_eq!(node_info_code(&mut client).await, Code::Unavailable);

    let unauthenticated = |result: Result<(), Status>, what: &str| {
        let status = result.expect_err(what);
        assert_eq!(status.code(), Code::Unauthenticated, "{what}: {status:?}");
        status.message().to_owned()
    };
    let message = unauthenticated(call_with_auth(&server, None).await, "missing header");
    assert!(message.contains("missing"), "{message}");
    for malformed in ["HMAC", "Bearer abc", "HMAC 12:zz", "HMAC x:00"] {
        let message = unauthenticated(
            call_with_auth(&server, Some(malformed.into())).await,
            malformed,
        );
        assert!(message.contains("format"), "{malformed}: {message}");
    }
    let wrong_key = ApiKey::from_file_bytes(&[9u8; 32]);
    let message = unauthenticated(
        call_with_auth(&server, Some(auth::sign(&wrong_key, now, None))).await,
        "wrong key",
    );
    assert!(message.contains("HMAC"), "{message}");
    for skew in [-61i64, 61] {
        // Sign right after a second begins, so the call reaches the server within that second.
        wait_for_start_of_second().await;
        let ts = (auth::unix_now() as i64 + skew) as u64;
        let message = unauthenticated(
            call_with_auth(&server, Some(auth::sign(&key, ts, None))).await,
            "skewed",
        );
        assert!(message.contains("60 s"), "{message}");
    }

    // Failures are counted by reason.
    let metrics = scrape_metrics(&server, None).await.1;
    assert!(
        metrics.contains("ldk_server_auth_failures_total{reason=\"expired\"} 2"),
        "{metrics}"
    );
}

async fn wait_for_start_of_second() {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let into_second = since_epoch.subsec_millis() as u64;
    if into_second > 100 {
        tokio::time::sleep(Duration::from_millis(1_000 - into_second + 5)).await;
    }
}

#[tokio::test]
async fn require_body_signature_rejects_the_timestamp_only_form() {
    let server = start_server("[auth]\nrequire_body_signature = true\n");
    let now = auth::unix_now();
    let status = call_with_auth(&server, Some(auth::sign(&server.api_key(), now, None)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let mut client = server.client().await;
    assert_eq!(node_info_code(&mut client).await, Code::Unavailable);
}

#[tokio::test]
async fn tls_requires_the_pinned_certificate() {
    let server = start_server("");
    // A client that trusts some other certificate must fail the handshake.
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let mut options = server.client_options();
    options.tls_cert_pem = other.cert.pem().into_bytes();
    let result = connect(options).await;
    assert!(
        result.is_err(),
        "a client pinned to another certificate connected"
    );
    // The pinned certificate works, also by host name.
    let mut options = server.client_options();
    options.base_url = format!("localhost:{}", server.grpc_address.port());
    let mut client = connect(options).await.expect("pinned connection by name");
    assert_eq!(node_info_code(&mut client).await, Code::Unavailable);
}

#[tokio::test]
async fn secrets_are_created_owner_read_only() {
    let server = start_server("");
    for path in [
        server.api_key_path(),
        server.storage().join("tls.key"),
        server.storage().join("keys_mnemonic"),
    ] {
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o400, "{}", path.display());
    }
    assert_eq!(std::fs::read(server.api_key_path()).unwrap().len(), 32);
    let key = std::fs::read_to_string(server.storage().join("tls.key")).unwrap();
    assert!(
        key.starts_with("-----BEGIN PRIVATE KEY-----"),
        "PKCS#8 PEM expected"
    );
}

#[tokio::test]
async fn node_rpcs_are_unavailable_while_the_chain_source_is_down() {
    let mut server = start_server("");
    let mut client = server.client().await;
    let status = client
        .get_balances(GetBalancesRequest {})
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert!(
        status.message().starts_with("node starting"),
        "{}",
        status.message()
    );
    // Still retrying a few seconds later, with the reason.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let status = client
        .list_channels(ListChannelsRequest {})
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert!(
        status.message().contains("retrying"),
        "{}",
        status.message()
    );
    // SIGTERM while starting still exits cleanly.
    let exit = server.stop().expect("exit status");
    assert!(exit.success(), "exit status {exit:?}:\n{}", server.log());
}

#[tokio::test]
async fn transport_errors_have_the_right_status() {
    let server = start_server("");
    let status = raw_call(&server, "/api.LightningNode/NoSuchMethod", Bytes::new())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");

    // Field 1 of DecodeInvoiceRequest is a string; a varint there is not valid protobuf for it.
    let garbage = Bytes::from_static(&[0x08, 0x96, 0x01, 0xff, 0xff]);
    let status = raw_call(&server, "/api.LightningNode/DecodeInvoice", garbage)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("malformed"),
        "{}",
        status.message()
    );

    let huge = Bytes::from(vec![0u8; 11 * 1024 * 1024]);
    let status = raw_call(&server, "/api.LightningNode/DecodeInvoice", huge)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("too large"),
        "{}",
        status.message()
    );

    // A generous deadline does not get in the way.
    let mut client = server.client().await;
    let mut request = tonic::Request::new(ListPaymentsRequest { page_token: None });
    request.set_timeout(Duration::from_secs(30));
    client
        .list_payments(request)
        .await
        .expect("list payments within its deadline");

    // Bolt11SendUnderpaying cannot work on ldk-node 0.7 and says so.
    let mut client = server.client().await;
    let status = client
        .bolt11_send_underpaying(Bolt11SendUnderpayingRequest {
            invoice: "x".into(),
            amount_msat: 1,
            route_parameters: None,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    assert!(
        status.message().contains("ldk-node 0.7"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn metrics_endpoint_with_and_without_basic_auth() {
    let open = start_server("[metrics]\nenabled = true\npoll_metrics_interval = 1\n");
    let (status, body) = scrape_metrics(&open, None).await;
    assert_eq!(status, 200);
    for name in [
        "ldk_server_total_peers_count",
        "ldk_server_total_payments_count",
        "ldk_server_total_pending_payments_count",
        "ldk_server_total_successful_payments_count",
        "ldk_server_total_failed_payments_count",
        "ldk_server_total_channels_count",
        "ldk_server_total_public_channels_count",
        "ldk_server_total_private_channels_count",
        "ldk_server_total_onchain_balance_sats",
        "ldk_server_spendable_onchain_balance_sats",
        "ldk_server_total_anchor_channels_reserve_sats",
        "ldk_server_total_lightning_balance_sats",
    ] {
        assert!(
            body.contains(&format!("\n{name} 0\n")),
            "{name} missing:\n{body}"
        );
    }
    assert!(
        body.contains("# TYPE ldk_server_total_payments_count counter"),
        "{body}"
    );

    let guarded =
        start_server("[metrics]\nenabled = true\nusername = \"prom\"\npassword = \"s3cret\"\n");
    let (status, _) = scrape_metrics(&guarded, None).await;
    assert_eq!(status, 401);
    let (status, _) = scrape_metrics(&guarded, Some("Basic cHJvbTp3cm9uZw==")).await;
    assert_eq!(status, 401);
    let good = ldk_server::server::metrics_endpoint::basic_authorization("prom", "s3cret");
    let (status, body) = scrape_metrics(&guarded, Some(&good)).await;
    assert_eq!(status, 200);
    assert!(body.contains("ldk_server_total_channels_count"));

    let disabled = start_server("");
    assert_eq!(scrape_metrics(&disabled, None).await.0, 404);
}

#[tokio::test]
async fn decode_and_verify_known_vectors() {
    use ldk_node::bitcoin::hashes::{sha256, Hash};
    use ldk_node::bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
    use ldk_node::lightning_invoice::{Currency, InvoiceBuilder};

    let server = start_server("");
    let mut client = server.client().await;
    let secp = Secp256k1::new();
    let secret = SecretKey::from_slice(&[0x11; 32]).unwrap();
    let public = PublicKey::from_secret_key(&secp, &secret);

    // A BOLT 11 invoice made with a fixed key, hash and time.
    let payment_hash = sha256::Hash::from_slice(&[0x01; 32]).unwrap();
    let invoice = InvoiceBuilder::new(Currency::Regtest)
        .description("coffee".into())
        .payment_hash(payment_hash)
        .payment_secret(ldk_node::lightning_types::payment::PaymentSecret(
            [0x02; 32],
        ))
        .duration_since_epoch(Duration::from_secs(1_700_000_000))
        .expiry_time(Duration::from_secs(600))
        .min_final_cltv_expiry_delta(144)
        .amount_milli_satoshis(123_456)
        .build_signed(|hash| secp.sign_ecdsa_recoverable(hash, &secret))
        .unwrap();
    let decoded = client
        .decode_invoice(DecodeInvoiceRequest {
            invoice: invoice.to_string(),
        })
        .await
        .expect("decode invoice")
        .into_inner();
    assert_eq!(decoded.destination, public.to_string());
    assert_eq!(decoded.payment_hash, hex::encode([0x01; 32]));
    assert_eq!(decoded.payment_secret, hex::encode([0x02; 32]));
    assert_eq!(decoded.amount_msat, Some(123_456));
    assert_eq!(decoded.timestamp, 1_700_000_000);
    assert_eq!(decoded.expiry, 600);
    assert_eq!(decoded.description.as_deref(), Some("coffee"));
    assert_eq!(decoded.min_final_cltv_expiry_delta, 144);
    assert_eq!(decoded.currency, "regtest");
    assert!(decoded.is_expired);
    assert!(
        decoded
            .features
            .get(&14)
            .or(decoded.features.get(&15))
            .is_some(),
        "payment_secret feature"
    );

    let bad = client
        .decode_invoice(DecodeInvoiceRequest {
            invoice: "lnbc1garbage".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);

    // A BOLT 12 offer made with a fixed signing key.
    let offer = ldk_node::lightning::offers::offer::OfferBuilder::new(public)
        .description("tea".into())
        .amount_msats(5_000)
        .issuer("shop".into())
        .build()
        .unwrap();
    let decoded = client
        .decode_offer(DecodeOfferRequest {
            offer: offer.to_string(),
        })
        .await
        .expect("decode offer")
        .into_inner();
    assert_eq!(decoded.description.as_deref(), Some("tea"));
    assert_eq!(decoded.issuer.as_deref(), Some("shop"));
    assert_eq!(decoded.issuer_signing_pubkey, Some(public.to_string()));
    assert_eq!(decoded.offer_id, hex::encode(offer.id().0));
    assert!(!decoded.is_expired);
    let bad = client
        .decode_offer(DecodeOfferRequest {
            offer: "lno1nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);

    // VerifySignature against a signature made with the same key.
    let message = b"ldk-server signs this".to_vec();
    let signature = ldk_node::lightning::util::message_signing::sign(&message, &secret);
    let verify = |message: Vec<u8>, signature: String| VerifySignatureRequest {
        message,
        signature,
        public_key: public.to_string(),
    };
    let ok = client
        .verify_signature(verify(message.clone(), signature.clone()))
        .await
        .unwrap()
        .into_inner();
    assert!(ok.valid);
    let tampered = client
        .verify_signature(verify(b"something else".to_vec(), signature))
        .await
        .unwrap()
        .into_inner();
    assert!(!tampered.valid);
    let status = client
        .verify_signature(VerifySignatureRequest {
            message,
            signature: "x".into(),
            public_key: "02zz".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("public_key"),
        "{}",
        status.message()
    );
}

const UPSTREAM_STYLE_CONFIG: &str = r#"
# Every section an upstream ldk-server config uses, with upstream's key names.
[node]
network = "regtest"
listening_addresses = ["127.0.0.1:{p2p}"]
announcement_addresses = ["127.0.0.1:{p2p}"]
grpc_service_address = "{grpc}"
alias = "upstream-style"
pathfinding_scores_source_url = ""

[storage.disk]
dir_path = "{storage}"

[bitcoind]
rpc_address = "localhost:{rpc}"
rpc_user = "polaruser"
rpc_password = "polarpass"

[log]
level = "Debug"
log_to_file = false
max_size_mb = 50
rotation_interval_hours = 24
max_files = 5

[tls]
hosts = ["example.com", "10.0.0.1"]

[liquidity.lsps2_service]
advertise_service = false
channel_opening_fee_ppm = 1000
channel_over_provisioning_ppm = 500000
min_channel_opening_fee_msat = 10000000
min_channel_lifetime = 4320
max_client_to_self_delay = 1440
min_payment_size_msat = 10000000
max_payment_size_msat = 25000000000
client_trusts_lsp = true
disable_client_reserve = false

[metrics]
enabled = true
poll_metrics_interval = 60
"#;

#[tokio::test]
async fn an_upstream_style_config_file_is_accepted_as_is() {
    let config = UPSTREAM_STYLE_CONFIG
        .replace("{p2p}", &free_port().to_string())
        .replace("{rpc}", &free_port().to_string());
    let server = ServerProcess::start(&config);
    let mut client = server.client().await;
    assert_eq!(node_info_code(&mut client).await, Code::Unavailable);
    let cert = std::fs::read_to_string(server.storage().join("tls.crt")).unwrap();
    assert!(cert.contains("BEGIN CERTIFICATE"));
}

#[test]
fn bad_configuration_exits_78_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("[node]\nnetwork = \"regtest\"\nfrobnicate = 1\n", "frobnicate"),
        ("[node]\nnetwork = \"regtest\"\n[esplora]\nserver_url = \"http://127.0.0.1:1\"\n[tor]\nproxy_address = \"127.0.0.1:9050\"\n", "tor"),
        ("[node]\nnetwork = \"regtest\"\nenable_zero_fee_commitments = true\n[esplora]\nserver_url = \"http://127.0.0.1:1\"\n", "enable_zero_fee_commitments"),
        ("[node]\nnetwork = \"nonet\"\n", "node.network"),
        ("[node]\nnetwork = \"regtest\"\n", "chain source"),
    ];
    for (body, key) in cases {
        let path = dir.path().join("config.toml");
        std::fs::write(&path, body).unwrap();
        let (code, stderr) = run_to_exit(&[path.to_str().unwrap()], dir.path());
        assert_eq!(code, 78, "{body}\n{stderr}");
        assert!(
            stderr.to_lowercase().contains(&key.to_lowercase()),
            "{key} not named in: {stderr}"
        );
        assert_eq!(
            stderr.trim().lines().count(),
            1,
            "one line expected: {stderr}"
        );
    }
}

#[tokio::test]
async fn log_file_is_written_and_reopened_on_sighup() {
    let config = unreachable_chain_config("").replace("log_to_file = false", "log_to_file = true");
    let server = ServerProcess::start(&config);
    let log_path = server.storage().join("regtest").join("ldk-server.log");
    let wait_for = |path: std::path::PathBuf, needle: &'static str| async move {
        for _ in 0..100 {
            if std::fs::read_to_string(&path).is_ok_and(|text| text.contains(needle)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{needle:?} never appeared in {}", path.display());
    };
    wait_for(log_path.clone(), "serving the gRPC API").await;
    // Every call is logged with its method, status code and duration.
    let mut client = server.client().await;
    assert_eq!(node_info_code(&mut client).await, Code::Unavailable);
    wait_for(log_path.clone(), "status_code=14").await;
    let log = std::fs::read_to_string(&log_path).unwrap();
    let line = log.lines().find(|l| l.contains("status_code=14")).unwrap();
    assert!(
        line.contains("GetNodeInfo") && line.contains("duration_ms="),
        "{line}"
    );
    // logrotate-style: move the file away, send SIGHUP, and the server writes a new one.
    let moved = server.storage().join("regtest").join("ldk-server.log.1");
    std::fs::rename(&log_path, &moved).unwrap();
    let pid = server.child.as_ref().unwrap().id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    wait_for(log_path, "log file reopened").await;
}

#[tokio::test]
async fn errors_are_trailers_only_and_deadlines_are_deadline_exceeded() {
    use common::raw_h2::{call, frame};
    let server = start_server("");
    let key = server.api_key();
    let empty = frame(&[]);
    let signed = |body: &[u8]| auth::sign(&key, auth::unix_now(), Some(body));

    // Unauthenticated: status and message in the one HEADERS frame that ends the stream.
    let response = call(
        &server,
        "/api.LightningNode/ListPayments",
        &[],
        empty.clone(),
    )
    .await;
    assert_eq!(response.http_status, 200);
    assert_eq!(
        response.status_in_headers.as_deref(),
        Some("16"),
        "{response:?}"
    );
    assert!(response.headers_ended_stream, "{response:?}");
    assert!(response
        .message_in_headers
        .is_some_and(|m| m.contains("missing")));

    // UNAVAILABLE from a handler, the same way.
    let headers = [("x-auth", signed(&empty))];
    let response = call(
        &server,
        "/api.LightningNode/GetNodeInfo",
        &headers,
        empty.clone(),
    )
    .await;
    assert_eq!(
        response.status_in_headers.as_deref(),
        Some("14"),
        "{response:?}"
    );
    assert!(response.headers_ended_stream);

    // grpc-timeout: already past when the call is dispatched → DEADLINE_EXCEEDED (not
    // CANCELLED); malformed → INVALID_ARGUMENT; generous → success, with one message frame
    // and status 0 in the trailers.
    let list_payments_within = |timeout: &'static str| {
        let headers = [
            ("x-auth", signed(&empty)),
            ("grpc-timeout", timeout.to_owned()),
        ];
        let server = &server;
        let body = empty.clone();
        async move { call(server, "/api.LightningNode/ListPayments", &headers, body).await }
    };
    let response = list_payments_within("1n").await;
    assert_eq!(
        response.status_in_headers.as_deref(),
        Some("4"),
        "{response:?}"
    );
    let response = list_payments_within("soon").await;
    assert_eq!(
        response.status_in_headers.as_deref(),
        Some("3"),
        "{response:?}"
    );
    let response = list_payments_within("10S").await;
    assert_eq!(response.status_in_headers, None, "{response:?}");
    assert_eq!(
        response.status_in_trailers.as_deref(),
        Some("0"),
        "{response:?}"
    );
    assert_eq!(
        response.body.len(),
        5,
        "an empty ListPaymentsResponse is one 5-byte frame"
    );
}

#[tokio::test]
async fn shutdown_ends_event_streams_with_unavailable_and_exits_zero() {
    let mut server = start_server("");
    let mut client = server.client().await;
    let mut events = client
        .subscribe_events(SubscribeEventsRequest::default())
        .await
        .expect("subscribe while the node starts")
        .into_inner();
    let exit = tokio::task::spawn_blocking(move || {
        let status = server.stop();
        (status, server.log())
    });
    let ended = tokio::time::timeout(Duration::from_secs(30), events.message())
        .await
        .expect("the stream ends on shutdown");
    let status = ended.expect_err("the stream ends with a status");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(status.message(), "server shutting down");
    let (exit, log) = exit.await.unwrap();
    assert!(exit.expect("exit status").success(), "{log}");
}

#[test]
fn init_creates_the_files_a_client_needs_and_serves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let grpc_port = free_port();
    let config = unreachable_chain_config("")
        .replace("{grpc}", &format!("127.0.0.1:{grpc_port}"))
        .replace("{storage}", &dir.path().join("data").display().to_string());
    let config_path = dir.path().join("config.toml");
    std::fs::write(&config_path, config).unwrap();
    let config_arg = config_path.to_str().unwrap();

    let (code, stderr) = run_to_exit(&["--init", config_arg], dir.path());
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("initialised"), "{stderr}");
    let data = dir.path().join("data");
    for file in ["tls.crt", "tls.key", "keys_mnemonic", "regtest/api_key"] {
        assert!(data.join(file).is_file(), "{file} missing after --init");
    }
    let key = std::fs::read(data.join("regtest/api_key")).unwrap();
    let cert = std::fs::read(data.join("tls.crt")).unwrap();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", grpc_port)).is_err(),
        "--init must not serve"
    );

    // Idempotent: a second run keeps the key and certificate.
    let (code, stderr) = run_to_exit(&["--init", config_arg], dir.path());
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(std::fs::read(data.join("regtest/api_key")).unwrap(), key);
    assert_eq!(std::fs::read(data.join("tls.crt")).unwrap(), cert);
}

async fn raw_call(server: &ServerProcess, path: &str, body: Bytes) -> Result<Bytes, Status> {
    let signing = SigningService::new(plain_channel(server).await, server.api_key(), true);
    let mut grpc = tonic::client::Grpc::new(signing).max_encoding_message_size(64 * 1024 * 1024);
    grpc.ready()
        .await
        .map_err(|e| Status::unknown(e.to_string()))?;
    let path: http::uri::PathAndQuery = path.parse().unwrap();
    grpc.unary(tonic::Request::new(body), path, RawCodec)
        .await
        .map(|r| r.into_inner())
}
