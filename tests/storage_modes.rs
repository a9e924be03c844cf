//! The storage is private whatever umask the server is started with (by hand, `cargo run`, a
//! container without systemd's `UMask=`): directories 0700, databases, logs and keys 0600 or
//! 0400, the TLS certificate alone public. Looser storage left by an earlier start or by
//! upstream LDK Server is tightened and logged, not refused.
//!
//! The first two tests need no bitcoind; the last runs a real regtest node so that ldk-node's
//! own files are covered (SKIPPED without bitcoind).

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::chain::{wait_until, Chain};
use common::{free_port, unreachable_chain_config, ServerProcess, SERVER_BIN};
use ldk_server::proto::api::GetNodeInfoRequest;

/// The umask of a typical login shell.
const PERMISSIVE_UMASK: libc::mode_t = 0o022;

/// Makes the spawned server start with [`PERMISSIVE_UMASK`].
fn with_permissive_umask(command: &mut Command) {
    // SAFETY: umask is async-signal-safe and touches only the child's own mask.
    unsafe {
        command.pre_exec(|| {
            libc::umask(PERMISSIVE_UMASK);
            Ok(())
        });
    }
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Every entry below `root` (itself included) with its mode.
fn tree_modes(root: &Path) -> Vec<(PathBuf, u32, bool)> {
    let mut found = vec![(root.to_path_buf(), mode(root), true)];
    for entry in fs::read_dir(root).unwrap().map(Result::unwrap) {
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            found.extend(tree_modes(&entry.path()));
        } else {
            found.push((entry.path(), mode(&entry.path()), false));
        }
    }
    found
}

/// Fails naming every entry below `storage` that group or others may reach, other than the
/// public certificate (0644); returns how many entries were checked.
fn assert_private(storage: &Path) -> usize {
    let certificate = storage.join("tls.crt");
    let entries = tree_modes(storage);
    let open: Vec<_> = entries
        .iter()
        .filter(|(path, mode, is_dir)| {
            if *path == certificate {
                *mode != 0o644
            } else if *is_dir {
                *mode != 0o700
            } else {
                mode & 0o077 != 0
            }
        })
        .map(|(path, mode, _)| format!("{} {mode:04o}", path.display()))
        .collect();
    assert!(open.is_empty(), "storage not private: {open:#?}");
    entries.len()
}

/// Writes an unreachable-chain config with the log file on; returns its path.
fn write_config(dir: &Path) -> PathBuf {
    let config = unreachable_chain_config("")
        .replace("log_to_file = false", "log_to_file = true")
        .replace("{grpc}", &format!("127.0.0.1:{}", free_port()))
        .replace("{storage}", &dir.join("data").display().to_string());
    let path = dir.join("config.toml");
    fs::write(&path, config).unwrap();
    path
}

fn init(dir: &Path, config: &Path) -> (i32, String) {
    let mut command = Command::new(SERVER_BIN);
    command
        .arg("--init")
        .arg(config)
        .current_dir(dir)
        .env("HOME", dir)
        .env_remove("LDK_SERVER_NODE_NETWORK");
    with_permissive_umask(&mut command);
    let output = command.output().expect("run ldk-server --init");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_fresh_start_under_umask_022_creates_private_storage() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let (code, stderr) = init(dir.path(), &config);
    assert_eq!(code, 0, "{stderr}");
    let data = dir.path().join("data");
    for file in [
        "regtest/ldk_server_data.sqlite",
        "regtest/ldk-server.log",
        "regtest/api_key",
        "keys_mnemonic",
        "tls.key",
    ] {
        assert!(data.join(file).is_file(), "{file} missing:\n{stderr}");
    }
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("regtest")), 0o700);
    assert_eq!(mode(&data.join("regtest/ldk_server_data.sqlite")), 0o600);
    assert_eq!(mode(&data.join("regtest/ldk-server.log")), 0o600);
    assert_eq!(
        mode(&data.join("tls.crt")),
        0o644,
        "the certificate is public"
    );
    let checked = assert_private(&data);
    assert!(checked >= 8, "only {checked} entries");
    assert!(
        !stderr.contains("tightened"),
        "nothing to tighten on a fresh start:\n{stderr}"
    );
}

#[test]
fn loose_storage_from_an_earlier_start_is_tightened_and_logged() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let data = dir.path().join("data");
    let network = data.join("regtest");
    fs::create_dir_all(network.join("logs")).unwrap();
    let loose = [
        (data.clone(), 0o755),
        (network.clone(), 0o755),
        (network.join("logs"), 0o775),
    ];
    let files = [
        (network.join("ldk_node_data.sqlite"), 0o644),
        (network.join("ldk-server.log"), 0o644),
        (network.join("logs/ldk_node.log.1"), 0o664),
    ];
    for (path, bits) in &files {
        fs::write(path, b"").unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(*bits)).unwrap();
    }
    for (path, bits) in &loose {
        fs::set_permissions(path, fs::Permissions::from_mode(*bits)).unwrap();
    }

    let (code, stderr) = init(dir.path(), &config);
    assert_eq!(code, 0, "{stderr}");

    assert_private(&data);
    for (path, _) in loose.iter().chain(&files) {
        let name = path.display().to_string();
        assert!(
            stderr
                .lines()
                .any(|line| line.contains("tightened its mode") && line.contains(&name)),
            "no log line for {name}:\n{stderr}"
        );
    }
    assert!(
        stderr.contains("was=0755") && stderr.contains("now=0700"),
        "{stderr}"
    );

    let (code, stderr) = init(dir.path(), &config);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        !stderr.contains("tightened"),
        "second start changes nothing:\n{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_running_node_keeps_every_file_private() {
    let Some(chain) = Chain::start("storage_modes") else {
        return;
    };
    let config = chain
        .node_config("modes", free_port(), "")
        .replace("log_to_file = false", "log_to_file = true");
    let dir = tempfile::tempdir().unwrap();
    let grpc = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut server = ServerProcess::spawn(dir, grpc, &config, with_permissive_umask);
    server.wait_for_files();
    let client = server.client().await;
    wait_until("the node runs", Duration::from_secs(60), || {
        let mut client = client.clone();
        async move { client.get_node_info(GetNodeInfoRequest {}).await.ok() }
    })
    .await;
    let storage = server.storage();
    let network = storage.join("regtest");
    assert!(
        fs::read_dir(&network).unwrap().count() >= 4,
        "ldk-node's and the server's files: {:?}",
        fs::read_dir(&network).unwrap().collect::<Vec<_>>()
    );
    let checked = assert_private(&storage);
    assert_eq!(
        server.stop().map(|s| s.success()),
        Some(true),
        "{}",
        server.log()
    );
    let after_stop = assert_private(&storage);
    eprintln!("{checked} entries private while running, {after_stop} after a clean stop");
}
