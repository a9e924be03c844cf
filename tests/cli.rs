//! `ldk-server-cli` without bitcoind: the command tree covers every RPC of the contract, every
//! argument is explained, bad arguments fail before any call, and the CLI talks to a live
//! server (JSON output, error lines, exit codes, config discovery, metrics).

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{free_port, ServerProcess};
use prost::Message;

const CLI: &str = env!("CARGO_BIN_EXE_ldk-server-cli");

fn cli(args: &[&str]) -> Output {
    Command::new(CLI)
        .args(args)
        .env_remove("LDK_SERVER_CONFIG")
        .env("HOME", "/nonexistent")
        .output()
        .expect("run the CLI")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// kebab-case of an RPC name: `Bolt11ReceiveForHash` → `bolt11-receive-for-hash`.
fn kebab(rpc: &str) -> String {
    let mut out = String::new();
    for (i, c) in rpc.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Every RPC of the compiled contract, from the descriptor set.
fn contract_rpcs() -> Vec<String> {
    let set =
        prost_types::FileDescriptorSet::decode(ldk_server::proto::FILE_DESCRIPTOR_SET).unwrap();
    set.file
        .iter()
        .flat_map(|f| &f.service)
        .flat_map(|s| &s.method)
        .map(|m| m.name().to_owned())
        .collect()
}

#[test]
fn every_rpc_has_a_subcommand_with_explained_arguments() {
    let tree = ldk_server::cli::command();
    let rpcs = contract_rpcs();
    assert_eq!(rpcs.len(), 39);
    for rpc in rpcs {
        // UnifiedSend is `pay`, as upstream's CLI calls it.
        let name = if rpc == "UnifiedSend" {
            "pay".to_owned()
        } else {
            kebab(&rpc)
        };
        let sub = tree
            .find_subcommand(&name)
            .unwrap_or_else(|| panic!("no subcommand for {rpc} ({name})"));
        assert!(sub.get_about().is_some(), "{name} has no description");
        for arg in sub.get_arguments() {
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            assert!(
                !help.trim().is_empty(),
                "{name}: argument {} is not explained",
                arg.get_id()
            );
        }
        let output = cli(&[&name, "--help"]);
        assert!(output.status.success(), "{name} --help failed");
        assert!(
            stdout(&output).contains("Usage: ldk-server-cli"),
            "{name} --help"
        );
    }
    for extra in ["subscribe-events", "metrics", "completions"] {
        assert!(tree.find_subcommand(extra).is_some(), "{extra}");
    }
    let help = stdout(&cli(&["bolt11-send", "--help"]));
    assert!(
        help.contains("50sat or 50000msat"),
        "amount units are explained:\n{help}"
    );
}

#[test]
fn bad_arguments_fail_before_any_call() {
    // The base URL points at a closed port: reaching the server would give exit code 8.
    let nowhere = format!("127.0.0.1:{}", free_port());
    let key = "00".repeat(32);
    let base = [
        "-b",
        nowhere.as_str(),
        "-a",
        key.as_str(),
        "-t",
        "/dev/null",
    ];
    let node = format!("02{}", "11".repeat(32));
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["bolt11-receive", "5000"], "needs a unit"),
        (vec!["spontaneous-send", &node, "12btc"], "unknown unit"),
        (
            vec!["list-payments", "--page-token", "nocolon"],
            "not a page token",
        ),
        (
            vec!["list-payments", "--page-token", "zz:12"],
            "not a page token",
        ),
        (vec!["spontaneous-send", "02abcd", "5sat"], "not a node id"),
        (vec!["graph-get-node", "hello"], "not a node id"),
        (vec!["bolt11-fail-for-hash", "1234"], "64 hex"),
        (
            vec!["onchain-send", "bcrt1qxyz", "1500msat"],
            "whole number of sats",
        ),
        (vec!["connect-peer", &node], "address is missing"),
        (
            vec!["update-channel-config", "1", &node],
            "at least one setting",
        ),
    ];
    for (args, expected) in cases {
        let mut all: Vec<&str> = base.to_vec();
        all.extend(&args);
        let output = cli(&all);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(expected),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

fn regtest_server(extra: &str) -> ServerProcess {
    ServerProcess::start(&format!(
        "[node]\nnetwork = \"regtest\"\ngrpc_service_address = \"{{grpc}}\"\n\
         [storage.disk]\ndir_path = \"{{storage}}\"\n\
         [bitcoind]\nrpc_address = \"127.0.0.1:{}\"\nrpc_user = \"u\"\nrpc_password = \"p\"\n\
         [log]\nlog_to_file = false\n{extra}",
        free_port()
    ))
}

fn run(server: &ServerProcess, args: &[&str]) -> Output {
    let mut all = server.cli_flags();
    all.extend(args.iter().map(|a| a.to_string()));
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    cli(&refs)
}

#[test]
fn talks_to_a_live_server() {
    let server = regtest_server("[metrics]\nenabled = true\n");

    // A node RPC while the node waits for its chain source: UNAVAILABLE, exit 6.
    let output = run(&server, &["get-node-info"]);
    assert_eq!(output.status.code(), Some(6), "{}", stderr(&output));
    assert!(
        stderr(&output).starts_with("error: UNAVAILABLE: node starting"),
        "{}",
        stderr(&output)
    );

    // JSON results: an empty history page, pretty and as one line.
    let output = run(&server, &["list-payments"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let page: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(
        page,
        serde_json::json!({"payments": [], "next_page_token": null})
    );
    let mut args = server.cli_flags();
    args.extend([
        "-o".into(),
        "json-lines".into(),
        "list-forwarded-payments".into(),
    ]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = cli(&refs);
    assert_eq!(
        stdout(&output),
        "{\"forwarded_payments\":[],\"next_page_token\":null}\n"
    );

    // Decode and verify need no running node.
    let offer = ldk_node::lightning::offers::offer::OfferBuilder::new(fixed_key().1)
        .description("tea".into())
        .amount_msats(5_000)
        .build()
        .unwrap()
        .to_string();
    let output = run(&server, &["decode-offer", &offer]);
    let decoded: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("offer JSON");
    assert_eq!(decoded["description"], "tea");
    assert_eq!(decoded["issuer_signing_pubkey"], fixed_key().1.to_string());
    let signature = ldk_node::lightning::util::message_signing::sign(b"hello", &fixed_key().0);
    let output = run(
        &server,
        &[
            "verify-signature",
            "hello",
            &signature,
            &fixed_key().1.to_string(),
        ],
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&stdout(&output)).unwrap(),
        serde_json::json!({"valid": true})
    );
    let output = run(
        &server,
        &[
            "verify-signature",
            "bye",
            &signature,
            &fixed_key().1.to_string(),
        ],
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&stdout(&output)).unwrap(),
        serde_json::json!({"valid": false})
    );

    // Error classes: invalid argument 3, unimplemented 7, auth 4, connection 8.
    let output = run(&server, &["decode-invoice", "lnbcrt1garbage"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(
        stderr(&output).starts_with("error: INVALID_ARGUMENT: invalid `invoice`"),
        "{}",
        stderr(&output)
    );
    let output = run(&server, &["bolt11-send-underpaying", "lnbcrt1x", "5sat"]);
    assert_eq!(output.status.code(), Some(7), "{}", stderr(&output));
    assert!(
        stderr(&output).starts_with("error: UNIMPLEMENTED:"),
        "{}",
        stderr(&output)
    );
    let mut args = server.cli_flags();
    args[3] = "ab".repeat(32);
    args.push("list-payments".into());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = cli(&refs);
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    assert!(
        stderr(&output).starts_with("error: UNAUTHENTICATED:"),
        "{}",
        stderr(&output)
    );
    let mut args = server.cli_flags();
    args[1] = format!("127.0.0.1:{}", free_port());
    args.push("list-payments".into());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(cli(&refs).status.code(), Some(8));

    // Metrics as the server serves them.
    let output = run(&server, &["metrics"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("\nldk_server_total_channels_count 0\n"),
        "{}",
        stdout(&output)
    );

    // Completions.
    let output = cli(&["completions", "bash"]);
    assert!(stdout(&output).contains("ldk-server-cli"));
}

fn fixed_key() -> (
    ldk_node::bitcoin::secp256k1::SecretKey,
    ldk_node::bitcoin::secp256k1::PublicKey,
) {
    use ldk_node::bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
    let secret = SecretKey::from_slice(&[0x22; 32]).unwrap();
    (
        secret,
        PublicKey::from_secret_key(&Secp256k1::new(), &secret),
    )
}

#[test]
fn finds_the_server_from_its_config_file_and_credentials() {
    let server =
        regtest_server("[metrics]\nenabled = true\nusername = \"prom\"\npassword = \"pw\"\n");
    let config = server.config_path.display().to_string();
    // -c alone: address, key and certificate all come from the server's configuration.
    let output = cli(&["-c", &config, "list-payments"]);
    assert!(output.status.success(), "{}", stderr(&output));
    // The metrics Basic-auth credentials too.
    let output = cli(&["-c", &config, "metrics"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("ldk_server_total_peers_count"));
    // Environment variables work like the flags.
    let output = Command::new(CLI)
        .env("LDK_SERVER_CONFIG", &config)
        .env("HOME", "/nonexistent")
        .args(["list-payments"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    // A systemd credential directory's api_key wins over the key file.
    let credentials = tempfile::tempdir().unwrap();
    write_mode_0400(&credentials.path().join("api_key"), &[7u8; 32]);
    let output = Command::new(CLI)
        .env("CREDENTIALS_DIRECTORY", credentials.path())
        .env("HOME", "/nonexistent")
        .args(["-c", &config, "list-payments"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(4),
        "the server's key differs: {}",
        stderr(&output)
    );
    // No configuration and no key at all: a setup error naming what is missing.
    let output = Command::new(CLI)
        .env("HOME", "/nonexistent")
        .args(["-b", "127.0.0.1:1", "list-payments"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(9), "{}", stderr(&output));
    assert!(stderr(&output).contains("API key"), "{}", stderr(&output));
}

fn write_mode_0400(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o400)
        .open(path)
        .unwrap();
    file.write_all(bytes).unwrap();
}
