//! API keys against the real binary over TLS, with no bitcoind: the node never starts, so a
//! call that passes authentication and its scope answers UNAVAILABLE (or INVALID_ARGUMENT for
//! an empty request the boundary refuses), which is distinguishable from PERMISSION_DENIED (7)
//! and UNAUTHENTICATED (16).
//!
//! Keys are provisioned here as files in the key directory (as an operator or the NixOS module
//! would), which also proves that the directory is re-read live.

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use common::raw_codec::RawCodec;
use common::{descriptor_methods, plain_channel, unreachable_chain_config, ServerProcess};
use ldk_server::auth::{self, ApiKey, KeyId};
use ldk_server::client::{Signing, SigningService};
use ldk_server::keys::scope::{scope_of, Scope};
use prost::Message;
use tonic::transport::Channel;
use tonic::{Code, Status};

#[test]
fn the_narrow_scopes_partition_the_service_as_the_descriptor_has_it() {
    let methods = descriptor_methods();
    assert_eq!(methods.len(), 39);
    let names: BTreeSet<&str> = methods.iter().map(|(name, _)| name.as_str()).collect();
    let ours: BTreeSet<&str> = ldk_server::api::RPC_METHODS.iter().copied().collect();
    assert_eq!(names, ours);
    for (method, _) in &methods {
        // `scope_of` is a function: each method has exactly one scope, never admin.
        let scope = scope_of(method).unwrap_or_else(|| panic!("{method} has no scope"));
        assert_ne!(scope, Scope::Admin, "{method}");
    }
    let narrow = [
        Scope::Read,
        Scope::Receive,
        Scope::Send,
        Scope::Channels,
        Scope::Sign,
    ];
    let covered: usize = narrow
        .iter()
        .map(|scope| {
            methods
                .iter()
                .filter(|(m, _)| scope_of(m) == Some(*scope))
                .count()
        })
        .sum();
    assert_eq!(covered, 39);
}

fn start(extra: &str) -> ServerProcess {
    ServerProcess::start(&unreachable_chain_config(extra))
}

fn keys_dir(server: &ServerProcess) -> PathBuf {
    server.storage().join(&server.network).join("api_keys")
}

/// Writes a key file (mode 0600) with `body` after the secret; returns the key.
fn provision(server: &ServerProcess, name: &str, body: &str) -> ApiKey {
    let secret = hex::encode(name.repeat(32).as_bytes().get(..32).unwrap());
    let path = keys_dir(server).join(format!("{name}.toml"));
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, format!("secret = \"{secret}\"\n{body}\n")).unwrap();
    std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::rename(&temporary, &path).unwrap();
    ApiKey::from_hex(&secret)
}

/// Waits for the key directory to be re-read (the server promises within a second).
async fn reload() {
    tokio::time::sleep(Duration::from_millis(1_000)).await;
}

/// Calls `path` with `message` (unframed protobuf), signed by `key` in `signing`; returns the
/// status code (OK for a stream that opened).
async fn call(
    channel: &Channel,
    key: &ApiKey,
    signing: Signing,
    path: &str,
    message: Bytes,
    streaming: bool,
) -> Status {
    let signed = SigningService::with_signing(channel.clone(), key.clone(), signing);
    raw(signed, path, message, streaming).await
}

/// [`call`] with an empty message, unary.
async fn empty_call(channel: &Channel, key: &ApiKey, signing: Signing, path: &str) -> Status {
    call(channel, key, signing, path, Bytes::new(), false).await
}

async fn raw<S>(service: S, path: &str, message: Bytes, streaming: bool) -> Status
where
    S: tonic::client::GrpcService<tonic::body::Body> + Clone,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::ResponseBody: http_body::Body<Data = Bytes> + Send + 'static,
    <S::ResponseBody as http_body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut grpc = tonic::client::Grpc::new(service);
    if let Err(error) = grpc.ready().await {
        return Status::unknown(error.into().to_string());
    }
    let path: http::uri::PathAndQuery = path.parse().unwrap();
    let request = tonic::Request::new(message);
    let outcome = if streaming {
        grpc.server_streaming(request, path, RawCodec)
            .await
            .map(|_| ())
    } else {
        grpc.unary(request, path, RawCodec).await.map(|_| ())
    };
    match outcome {
        Ok(()) => Status::ok(""),
        Err(status) => status,
    }
}

/// A call with a hand-made `x-auth` value and an empty message.
async fn call_with_header(channel: &Channel, path: &str, message: Bytes, x_auth: &str) -> Status {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("x-auth", x_auth.parse().unwrap());
    match grpc.unary(request, path.parse().unwrap(), RawCodec).await {
        Ok(_) => Status::ok(""),
        Err(status) => status,
    }
}

fn path(method: &str) -> String {
    format!("/api.LightningNode/{method}")
}

/// The framed form of an unframed message, as the signature covers it.
fn framed(message: &[u8]) -> Vec<u8> {
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(message);
    frame
}

fn allowed(status: &Status) -> bool {
    !matches!(
        status.code(),
        Code::PermissionDenied | Code::Unauthenticated | Code::Unknown
    )
}

#[tokio::test]
async fn every_rpc_with_every_scope_is_allowed_or_denied_as_the_table_says() {
    let server = start("[metrics]\nenabled = true\n");
    let scopes = [
        Scope::Read,
        Scope::Receive,
        Scope::Send,
        Scope::Channels,
        Scope::Sign,
    ];
    let mut keys = Vec::new();
    for scope in scopes {
        let key = provision(
            &server,
            scope.name(),
            &format!("scopes = [\"{}\"]", scope.name()),
        );
        keys.push((scope, key));
    }
    reload().await;
    let channel = plain_channel(&server).await;
    let admin = server.api_key();
    let mut checked = 0;
    for (method, streaming) in descriptor_methods() {
        let needed = scope_of(&method).unwrap();
        for (scope, key) in &keys {
            let status = call(
                &channel,
                key,
                Signing::V2,
                &path(&method),
                Bytes::new(),
                streaming,
            )
            .await;
            if *scope == needed {
                assert!(allowed(&status), "{method} with {scope}: {status:?}");
            } else {
                assert_eq!(
                    status.code(),
                    Code::PermissionDenied,
                    "{method} with {scope}: {status:?}"
                );
                assert!(
                    status
                        .message()
                        .contains(&format!("needs scope `{needed}`")),
                    "{method} with {scope}: {}",
                    status.message()
                );
            }
            checked += 1;
        }
        // The admin key may call everything, in every form.
        for signing in [
            Signing::V2,
            Signing::KeyId,
            Signing::Body,
            Signing::Timestamp,
        ] {
            let status = call(
                &channel,
                &admin,
                signing,
                &path(&method),
                Bytes::new(),
                streaming,
            )
            .await;
            assert!(
                allowed(&status),
                "{method} as admin ({signing:?}): {status:?}"
            );
        }
    }
    assert_eq!(checked, 39 * 5);
    // Explicit method grants, and the key management service is admin only.
    let key = provision(
        &server,
        "picker",
        "scopes = []\nmethods = [\"GetNodeInfo\", \"Bolt11Receive\"]",
    );
    reload().await;
    for (method, expect_allowed) in [
        ("GetNodeInfo", true),
        ("Bolt11Receive", true),
        ("GetBalances", false),
        ("Bolt12Receive", false),
    ] {
        let status = call(
            &channel,
            &key,
            Signing::V2,
            &path(method),
            Bytes::new(),
            false,
        )
        .await;
        assert_eq!(allowed(&status), expect_allowed, "{method}: {status:?}");
    }
    let read_key = &keys[0].1;
    let status = empty_call(
        &channel,
        read_key,
        Signing::V2,
        "/ldk_server.admin.KeyManagement/ListKeys",
    )
    .await;
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(status.message().contains("scope `admin`"), "{status:?}");
    // Every key may inspect itself (by omission or by its own name), and no other key: the
    // refusal comes before any lookup, so an unknown name is refused the same way.
    let inspect = "/ldk_server.admin.KeyManagement/InspectKey";
    let inspect_body = |key: Option<&str>| {
        Bytes::from(
            ldk_server::proto::admin::InspectKeyRequest {
                key: key.map(str::to_owned),
            }
            .encode_to_vec(),
        )
    };
    for own in [None, Some("read")] {
        let status = call(
            &channel,
            read_key,
            Signing::V2,
            inspect,
            inspect_body(own),
            false,
        )
        .await;
        assert_eq!(status.code(), Code::Ok, "{own:?}: {status:?}");
    }
    for other in ["picker", "nobody"] {
        let status = call(
            &channel,
            read_key,
            Signing::V2,
            inspect,
            inspect_body(Some(other)),
            false,
        )
        .await;
        assert_eq!(status.code(), Code::PermissionDenied, "{other}: {status:?}");
        assert!(status.message().contains("only itself"), "{status:?}");
    }

    // Refusals are counted by key and method; calls carry the key's name.
    let (_, metrics) = common::scrape_metrics(&server, None).await;
    let denied = metrics
        .lines()
        .find(|line| {
            line.starts_with("ldk_server_permission_denied_total{")
                && line.contains("key=\"read\"")
                && line.contains("method=\"Bolt11Send\"")
        })
        .unwrap_or_else(|| panic!("no permission_denied series:\n{metrics}"));
    assert!(denied.ends_with(" 1"), "{denied}");
    assert!(
        metrics
            .lines()
            .any(|line| line.starts_with("ldk_server_grpc_requests_total{")
                && line.contains("key=\"send\"")
                && line.contains("code=\"PermissionDenied\"")),
        "{metrics}"
    );
}

#[tokio::test]
async fn unknown_wrong_revoked_and_expired_keys_are_unauthenticated_live() {
    let server = start("");
    let now = auth::unix_now();
    let shop = provision(&server, "shop", "scopes = [\"read\"]");
    let brief = provision(
        &server,
        "brief",
        &format!("scopes = [\"read\"]\nexpires_at = {}", now + 3),
    );
    reload().await;
    let channel = plain_channel(&server).await;
    let get_balances = path("GetBalances");
    let status = empty_call(&channel, &shop, Signing::V2, &get_balances).await;
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let status = empty_call(&channel, &brief, Signing::KeyId, &get_balances).await;
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");

    // Unknown key id.
    let stranger = ApiKey::from_hex(&"ab".repeat(32));
    let status = empty_call(&channel, &stranger, Signing::V2, &get_balances).await;
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(
        status.message().contains("unknown API key id"),
        "{status:?}"
    );
    // The right key id with a wrong secret.
    let forged = auth::sign_v2(
        &stranger,
        auth::unix_now(),
        &auth::random_nonce(),
        &get_balances,
        &framed(&[]),
    )
    .replace(&KeyId::of(&stranger).to_hex(), &KeyId::of(&shop).to_hex());
    let status = call_with_header(&channel, &get_balances, Bytes::new(), &forged).await;
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("invalid HMAC"), "{status:?}");
    // Another key's secret in upstream's form (which is the admin key's) is refused.
    let status = empty_call(&channel, &shop, Signing::Body, &get_balances).await;
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");

    // Revocation by the file, live: within a second, no restart.
    let file = keys_dir(&server).join("shop.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let temporary = file.with_extension("tmp");
    std::fs::write(
        &temporary,
        format!("{text}revoked_at = {}\n", auth::unix_now()),
    )
    .unwrap();
    std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::rename(&temporary, &file).unwrap();
    reload().await;
    let status = empty_call(&channel, &shop, Signing::V2, &get_balances).await;
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("revoked"), "{status:?}");
    // Deleting the file forgets the key.
    std::fs::remove_file(&file).unwrap();
    reload().await;
    let status = empty_call(&channel, &shop, Signing::V2, &get_balances).await;
    assert!(
        status.message().contains("unknown API key id"),
        "{status:?}"
    );

    // Expiry, live.
    while auth::unix_now() < now + 3 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = empty_call(&channel, &brief, Signing::V2, &get_balances).await;
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("expired"), "{status:?}");

    // The admin key is unaffected.
    let status = call(
        &channel,
        &server.api_key(),
        Signing::V2,
        &get_balances,
        Bytes::new(),
        false,
    )
    .await;
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    // Each call's log record names the key by id (journald: API_KEY_ID), never its secret.
    let log = server.log();
    assert!(
        log.contains(&format!("api_key_id=\"{}\"", KeyId::of(&brief)))
            || log.contains(&format!("api_key_id={}", KeyId::of(&brief))),
        "{log}"
    );
    assert!(!log.contains(brief.as_hex()), "a secret was logged");
}

#[tokio::test]
async fn v2_signatures_are_bound_to_nonce_method_and_body() {
    let server = start("");
    let channel = plain_channel(&server).await;
    let key = server.api_key();
    let get_balances = path("GetBalances");
    let empty = framed(&[]);

    let fresh_header = || {
        auth::sign_v2(
            &key,
            auth::unix_now(),
            &auth::random_nonce(),
            &get_balances,
            &empty,
        )
    };

    // Replay: the same header twice.
    let header = fresh_header();
    let first = call_with_header(&channel, &get_balances, Bytes::new(), &header).await;
    assert_eq!(first.code(), Code::Unavailable, "{first:?}");
    let again = call_with_header(&channel, &get_balances, Bytes::new(), &header).await;
    assert_eq!(again.code(), Code::Unauthenticated, "{again:?}");
    assert!(again.message().contains("replayed"), "{again:?}");

    // Moved to another method with the same (empty) body: GetBalances → OnchainReceive.
    let header = fresh_header();
    let moved = call_with_header(&channel, &path("OnchainReceive"), Bytes::new(), &header).await;
    assert_eq!(moved.code(), Code::Unauthenticated, "{moved:?}");
    assert!(moved.message().contains("invalid HMAC"), "{moved:?}");

    // Moved to another body.
    let decode = path("DecodeInvoice");
    let one = Bytes::from_static(&[0x0a, 0x01, b'a']);
    let other = Bytes::from_static(&[0x0a, 0x01, b'b']);
    let header = auth::sign_v2(
        &key,
        auth::unix_now(),
        &auth::random_nonce(),
        &decode,
        &framed(&one),
    );
    let moved = call_with_header(&channel, &decode, other, &header).await;
    assert_eq!(moved.code(), Code::Unauthenticated, "{moved:?}");
    let right = call_with_header(&channel, &decode, one, &header).await;
    assert_eq!(right.code(), Code::InvalidArgument, "{right:?}");

    // The older forms do not bind the method: that is why v2 exists (and require_v2).
    let legacy = auth::sign(&key, auth::unix_now(), Some(&empty));
    let status = call_with_header(&channel, &path("OnchainReceive"), Bytes::new(), &legacy).await;
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
}

#[tokio::test]
async fn require_v2_refuses_the_older_forms_for_every_key() {
    let server = start("[auth]\nrequire_v2 = true\n");
    let shop = provision(&server, "shop", "scopes = [\"read\"]");
    reload().await;
    let channel = plain_channel(&server).await;
    let get_balances = path("GetBalances");
    for key in [server.api_key(), shop] {
        for signing in [Signing::Timestamp, Signing::Body, Signing::KeyId] {
            let status = empty_call(&channel, &key, signing, &get_balances).await;
            assert_eq!(
                status.code(),
                Code::Unauthenticated,
                "{signing:?}: {status:?}"
            );
            assert!(status.message().contains("v2"), "{signing:?}: {status:?}");
        }
        let status = empty_call(&channel, &key, Signing::V2, &get_balances).await;
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    }
    // Our client uses v2 by default, so it keeps working.
    let mut client = server.client().await;
    let status = client
        .get_balances(ldk_server::proto::api::GetBalancesRequest {})
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
}

#[tokio::test]
async fn keys_are_managed_with_the_cli_and_take_effect_at_once() {
    let server = start("");
    let admin = server.api_key();
    let (code, created, stderr) = cli(
        &server,
        &admin,
        &[
            "keys",
            "create",
            "--name",
            "shop",
            "--scopes",
            "read,receive",
            "--expires-in",
            "30d",
            "--budget",
            "100000sat/24h",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let secret = created["api_key"].as_str().expect("api_key").to_owned();
    let shop = ApiKey::from_hex(&secret);
    assert_eq!(created["name"], "shop");
    assert_eq!(created["key_id"], KeyId::of(&shop).to_hex());
    assert_eq!(created["scopes"], serde_json::json!(["read", "receive"]));
    assert_eq!(created["budget"]["max_send_msat"], 100_000_000);
    let expires_at = created["expires_at"].as_u64().unwrap();
    assert!(expires_at >= auth::unix_now() + 30 * 86_400 - 5);
    let file = keys_dir(&server).join("shop.toml");
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Usable at once, by the CLI, within its scopes.
    let (code, _, stderr) = cli(&server, &shop, &["get-balances"]);
    assert_eq!(code, 6, "unavailable (node not running): {stderr}");
    let (code, _, stderr) = cli(&server, &shop, &["onchain-send", "bcrt1qxyz", "1000sat"]);
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("PERMISSION_DENIED") && stderr.contains("scope `send`"),
        "{stderr}"
    );
    let (code, _, stderr) = cli(&server, &shop, &["keys", "list"]);
    assert_eq!(code, 4, "only the admin manages keys: {stderr}");

    // Listing never shows a secret; showing tells what the key may do.
    let (code, listed, stderr) = cli(&server, &admin, &["keys", "list"]);
    assert_eq!(code, 0, "{stderr}");
    let text = listed.to_string();
    assert!(
        !text.contains(&secret) && !text.contains(admin.as_hex()),
        "{text}"
    );
    let names: Vec<&str> = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "shop"]);
    let (code, shown, stderr) = cli(&server, &admin, &["keys", "show", "shop"]);
    assert_eq!(code, 0, "{stderr}");
    let allowed = shown["allowed_methods"].as_array().unwrap();
    assert_eq!(allowed.len(), 24, "{shown}");
    assert_eq!(shown["budget_left_msat"], 100_000_000, "{shown}");
    assert_eq!(shown["budget_spent_msat"], 0, "{shown}");
    let (code, _, _) = cli(&server, &admin, &["keys", "show", "nobody"]);
    assert_ne!(code, 0);

    // Bad requests are refused before anything is written.
    for bad in [
        vec!["--name", "Shop!", "--scopes", "read"],
        vec!["--name", "admin", "--scopes", "read"],
        vec!["--name", "x", "--scopes", "root"],
        vec!["--name", "shop", "--scopes", "read"],
    ] {
        let mut args = vec!["keys", "create"];
        args.extend(bad.iter().copied());
        let (code, _, stderr) = cli(&server, &admin, &args);
        assert_ne!(code, 0, "{bad:?}: {stderr}");
    }

    // Revocation takes effect within a second, without a restart.
    let (code, revoked, stderr) = cli(&server, &admin, &["keys", "revoke", "shop"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(revoked["key"]["status"], "revoked");
    let (code, _, stderr) = cli(&server, &shop, &["get-balances"]);
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("revoked"), "{stderr}");
    let (code, _, stderr) = cli(&server, &admin, &["keys", "revoke", "admin"]);
    assert_ne!(code, 0, "the admin key cannot be revoked: {stderr}");
    assert!(!server.log().contains(&secret), "a secret was logged");
}

const CLI: &str = env!("CARGO_BIN_EXE_ldk-server-cli");

/// Runs the CLI against `server`; the key comes in `LDK_SERVER_API_KEY` (never argv).
fn cli(server: &ServerProcess, key: &ApiKey, args: &[&str]) -> (i32, serde_json::Value, String) {
    let output = std::process::Command::new(CLI)
        .args(["-b", &server.grpc_address.to_string()])
        .args([
            "-t",
            &server.storage().join("tls.crt").display().to_string(),
        ])
        .args(args)
        .env("LDK_SERVER_API_KEY", key.as_hex())
        .env_remove("LDK_SERVER_CONFIG")
        .env("HOME", "/nonexistent")
        .output()
        .expect("run the CLI");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let json = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    (
        output.status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
