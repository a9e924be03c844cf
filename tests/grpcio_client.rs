//! A grpc-core based client (Python grpcio) reads every status the server sends.
//!
//! Needs `python3` with `grpcio` and `grpcio-tools` (installed by `scripts/test`); without them
//! the test prints SKIPPED loudly.

mod common;

use std::process::Command;

use common::{free_port, ServerProcess};

fn grpcio_available() -> bool {
    Command::new("python3")
        .args(["-c", "import grpc, grpc_tools"])
        .status()
        .is_ok_and(|status| status.success())
}

#[test]
fn python_grpcio_reads_every_status() {
    if !grpcio_available() {
        eprintln!("\n*** SKIPPED python_grpcio_reads_every_status: python3 with grpcio and grpcio-tools not found (pip install grpcio grpcio-tools) ***\n");
        return;
    }
    let config = format!(
        "[node]\nnetwork = \"regtest\"\ngrpc_service_address = \"{{grpc}}\"\n\
         [storage.disk]\ndir_path = \"{{storage}}\"\n\
         [bitcoind]\nrpc_address = \"127.0.0.1:{}\"\nrpc_user = \"u\"\nrpc_password = \"p\"\n\
         [log]\nlog_to_file = false\n",
        free_port()
    );
    let server = ServerProcess::start(&config);
    let manifest = env!("CARGO_MANIFEST_DIR");
    let output = Command::new("python3")
        .arg(format!("{manifest}/tests/python/grpcio_client.py"))
        .arg(format!("localhost:{}", server.grpc_address.port()))
        .arg(server.storage().join("tls.crt"))
        .arg(server.api_key().as_hex())
        .arg(format!("{manifest}/proto"))
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "grpcio client failed:\n{stdout}\n{stderr}"
    );
    assert_eq!(
        stdout
            .lines()
            .filter(|line| line.starts_with("ok "))
            .count(),
        6,
        "{stdout}"
    );
}
