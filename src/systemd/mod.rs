//! Running under systemd: socket activation ([`listeners`]), `sd_notify` status, readiness and
//! shutdown ([`notify`]), and the health-gated watchdog ([`watchdog`]).
//!
//! Everything here also works without systemd: with no `LISTEN_FDS` the configured addresses
//! are bound, and with no `NOTIFY_SOCKET` or `WATCHDOG_USEC` nothing is sent.

pub mod listeners;
pub mod notify;
pub mod watchdog;

use std::sync::Arc;

use tokio::sync::watch;

use crate::node::{NodeHandle, NodeState};

/// `READY=1` with the running node's id as status.
pub fn notify_running(node: &ldk_node::Node) {
    notify::ready(&format!("running: node {}", node.node_id()));
}

/// Reports each change of the node's state to systemd until shutdown: `STATUS=` while it
/// starts (with the reason it waits, e.g. "waiting for chain source: …"), then `READY=1`.
pub async fn report_node_state(node: Arc<NodeHandle>, mut shutdown: watch::Receiver<bool>) {
    let mut changes = node.subscribe();
    loop {
        match node.state() {
            NodeState::Starting(reason) => notify::status(&format!("node starting: {reason}")),
            NodeState::Running(running) => notify_running(&running),
            NodeState::Faulted { reason, .. } => {
                notify::status(&format!("node fault: {reason}; stopping"))
            }
            NodeState::Stopping => return,
        }
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            _ = crate::shutdown::requested(&mut shutdown) => return,
        }
    }
}
