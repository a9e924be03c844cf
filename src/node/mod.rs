//! The ldk-node instance and its lifecycle: starting (with retries), running, stopping.
//!
//! The API is served before the node runs. Until then, and after shutdown begins, every RPC
//! that needs the node gets UNAVAILABLE with the reason, so a client can tell "starting" from
//! "broken".

use std::sync::{Arc, RwLock};
use std::time::Duration;

pub mod builder;
pub mod chain_probe;

use ldk_node::Node;
use tokio::sync::watch;

use crate::error::{ApiError, ApiResult};

/// First wait between two start attempts.
const FIRST_RETRY_DELAY: Duration = Duration::from_secs(1);
/// Longest wait between two start attempts.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

/// Where the node is in its life.
#[derive(Clone)]
pub enum NodeState {
    /// Not running yet; the text says what it is waiting for.
    Starting(String),
    /// Running and serving.
    Running(Arc<Node>),
    /// A panic happened: the node's state cannot be trusted; the server is stopping.
    Faulted {
        /// What panicked.
        reason: String,
        /// The node, if it was running, for the server to stop.
        node: Option<Arc<Node>>,
    },
    /// Shutting down or stopped.
    Stopping,
}

/// Shared, cheap-to-read handle on the node state.
pub struct NodeHandle {
    state: RwLock<NodeState>,
    /// The first panic's description, kept once the state moves on to `Stopping`.
    fault: std::sync::OnceLock<String>,
    changes: watch::Sender<u64>,
}

impl Default for NodeHandle {
    fn default() -> Self {
        Self::new()
    }
}

impl NodeHandle {
    /// A handle in the `Starting` state.
    pub fn new() -> Self {
        Self {
            state: RwLock::new(NodeState::Starting(
                "building the node and checking its chain source".to_owned(),
            )),
            fault: std::sync::OnceLock::new(),
            changes: watch::channel(0).0,
        }
    }

    /// The running node, or UNAVAILABLE saying why there is none.
    pub fn running(&self) -> ApiResult<Arc<Node>> {
        match &*self.read() {
            NodeState::Running(node) => Ok(Arc::clone(node)),
            NodeState::Starting(reason) => {
                Err(ApiError::Unavailable(format!("node starting: {reason}")))
            }
            NodeState::Faulted { reason, .. } => Err(fault_error(reason)),
            NodeState::Stopping => Err(match self.fault.get() {
                Some(reason) => fault_error(reason),
                None => ApiError::Unavailable("server shutting down".to_owned()),
            }),
        }
    }

    /// Whether a panic has marked the node faulted.
    pub fn is_faulted(&self) -> bool {
        matches!(&*self.read(), NodeState::Faulted { .. })
    }

    /// A copy of the current state.
    pub fn state(&self) -> NodeState {
        self.read().clone()
    }

    /// Records why the node is not running yet.
    pub fn set_starting(&self, reason: impl Into<String>) {
        self.replace(NodeState::Starting(reason.into()));
    }

    /// Publishes the running node.
    pub fn set_running(&self, node: Arc<Node>) {
        self.replace(NodeState::Running(node));
    }

    /// Marks the node faulted (after a panic); the first reason is kept.
    pub fn set_faulted(&self, reason: String) {
        let _ = self.fault.set(reason.clone());
        let mut state = self
            .state
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let node = match &*state {
            NodeState::Faulted { .. } | NodeState::Stopping => return,
            NodeState::Running(node) => Some(Arc::clone(node)),
            NodeState::Starting(_) => None,
        };
        *state = NodeState::Faulted { reason, node };
        drop(state);
        self.changes.send_modify(|generation| *generation += 1);
    }

    /// Enters `Stopping` and hands back the node, if it was running, for the caller to stop.
    pub fn begin_shutdown(&self) -> Option<Arc<Node>> {
        match self.replace(NodeState::Stopping) {
            NodeState::Running(node) => Some(node),
            NodeState::Faulted { node, .. } => node,
            _ => None,
        }
    }

    /// A receiver that changes whenever the state does.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, NodeState> {
        self.state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn replace(&self, new_state: NodeState) -> NodeState {
        let old = {
            let mut state = self
                .state
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            std::mem::replace(&mut *state, new_state)
        };
        self.changes.send_modify(|generation| *generation += 1);
        old
    }
}

fn fault_error(reason: &str) -> ApiError {
    ApiError::Unavailable(format!(
        "node fault: {reason}; the server is stopping so that a fresh process starts"
    ))
}

/// Why a start attempt failed, and whether trying again can help.
#[derive(Debug)]
pub enum StartFailure {
    /// The environment may recover (chain source down, peer unreachable): retry.
    Transient(String),
    /// Retrying cannot help (bad configuration, corrupt data): give up.
    Fatal(String),
}

/// Builds and starts the node, retrying transient failures with exponential backoff until it
/// runs or `shutdown` fires. `attempt` does the blocking work and runs off the async reactor.
pub async fn start_with_retry<F>(
    handle: &NodeHandle,
    mut shutdown: watch::Receiver<bool>,
    attempt: F,
) -> Result<Option<Arc<Node>>, String>
where
    F: Fn() -> Result<Arc<Node>, StartFailure> + Send + Sync + Clone + 'static,
{
    let mut delay = FIRST_RETRY_DELAY;
    loop {
        let attempt = attempt.clone();
        let outcome = tokio::task::spawn_blocking(attempt)
            .await
            .map_err(|join_error| format!("node start task failed: {join_error}"))?;
        match outcome {
            Ok(_) if handle.is_faulted() => {
                return Err("a panic happened while the node started".to_owned())
            }
            Ok(node) => {
                handle.set_running(Arc::clone(&node));
                return Ok(Some(node));
            }
            Err(StartFailure::Fatal(reason)) => return Err(reason),
            Err(StartFailure::Transient(reason)) => {
                tracing::warn!(%reason, retry_in_secs = delay.as_secs(), "node could not start");
                handle.set_starting(format!("{reason} (retrying in {}s)", delay.as_secs()));
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = crate::shutdown::requested(&mut shutdown) => return Ok(None),
        }
        delay = (delay * 2).min(MAX_RETRY_DELAY);
    }
}
