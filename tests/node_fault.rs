//! Panic containment with a real panic: a server built with the `fault-injection` feature is
//! told (LDK_SERVER_FAULT_INJECTION) to panic inside GetBalances' ldk-node call. The server
//! must log the fault at error with the RPC, answer UNAVAILABLE "node fault: …", stop the node
//! and exit non-zero (so systemd restarts it); a fresh process on the same data then works.

mod common;

use std::time::{Duration, Instant};

use common::chain::{Chain, TestNode};
use ldk_server::proto::api::{GetBalancesRequest, GetNodeInfoRequest};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_an_ldk_node_call_stops_the_server_with_a_failure() {
    if !cfg!(feature = "fault-injection") {
        eprintln!(
            "\n*** SKIPPED node_fault: build with `--features fault-injection` (scripts/test does) ***\n"
        );
        return;
    }
    let Some(chain) = Chain::start("node_fault") else {
        return;
    };
    // Only this test runs in this binary, and the variable is set before any child starts.
    std::env::set_var("LDK_SERVER_FAULT_INJECTION", "GetBalances");
    let mut node = TestNode::start(&chain, "faulty", "").await;
    std::env::remove_var("LDK_SERVER_FAULT_INJECTION");
    let mut client = node.rpc();
    client
        .get_node_info(GetNodeInfoRequest {})
        .await
        .expect("GetNodeInfo before the fault");

    let status = client
        .get_balances(GetBalancesRequest {})
        .await
        .expect_err("GetBalances panics inside ldk-node");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains("node fault") && status.message().contains("injected fault"),
        "{}",
        status.message()
    );

    // No more node RPCs: UNAVAILABLE while the process stops (or the connection is gone).
    if let Err(status) = client.get_node_info(GetNodeInfoRequest {}).await {
        assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    } else {
        panic!("GetNodeInfo answered after the fault");
    }

    let child = node.server.child.as_mut().expect("running");
    let deadline = Instant::now() + Duration::from_secs(45);
    let exit = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the server kept running after a panic"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let log = node.server.log();
    assert!(
        !exit.success(),
        "exit {exit:?}; systemd restarts only on failure\n{log}"
    );
    assert_ne!(
        exit.code(),
        Some(78),
        "78 would keep systemd from restarting it"
    );
    let fault_line = log
        .lines()
        .find(|line| line.contains("node fault: a panic"))
        .unwrap_or_else(|| panic!("no fault record in the log:\n{log}"));
    assert!(fault_line.contains("ERROR"), "{fault_line}");
    assert!(fault_line.contains("GetBalances"), "{fault_line}");
    assert!(
        log.contains("node stopped"),
        "the node is stopped before exit:\n{log}"
    );
    node.server.child = None;

    // A fresh process on the same data serves normally (what systemd's restart gives).
    let mut node = node.restart(&chain).await;
    let balances = node
        .client
        .get_balances(GetBalancesRequest {})
        .await
        .expect("GetBalances after the restart");
    println!(
        "after the restart: {:?} sats on chain",
        balances.into_inner().total_onchain_balance_sats
    );
}
