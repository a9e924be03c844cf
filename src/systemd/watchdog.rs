//! The systemd watchdog: `WATCHDOG=1` at half of `WATCHDOG_USEC`, sent only while every part of
//! the server that must be alive is alive, so that systemd kills and restarts a wedged node.
//!
//! Each long-running task holds an [`AliveGuard`]; the guard is dropped when the task ends or
//! panics. While the node starts, the gRPC server and the start loop must be alive; once it
//! runs, the gRPC server and the event loop must be alive and the node must answer a status
//! query in time.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::notify;
use crate::node::{NodeHandle, NodeState};

/// Whether one part of the server is alive.
#[derive(Clone, Default)]
pub struct Liveness(Arc<AtomicBool>);

/// Keeps a [`Liveness`] alive until dropped.
pub struct AliveGuard(Arc<AtomicBool>);

impl Liveness {
    /// A part that is not alive yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks the part alive until the returned guard is dropped.
    pub fn guard(&self) -> AliveGuard {
        self.0.store(true, Ordering::SeqCst);
        AliveGuard(Arc::clone(&self.0))
    }

    /// Runs `future` with this part alive from now until the future ends or is dropped.
    pub fn track<F: Future>(&self, future: F) -> impl Future<Output = F::Output> {
        let guard = self.guard();
        async move {
            let _alive = guard;
            future.await
        }
    }

    /// Whether a guard is held.
    pub fn is_alive(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// The parts of the server the watchdog watches.
#[derive(Clone, Default)]
pub struct Parts {
    /// The gRPC accept loop and connections (the server task).
    pub grpc_server: Liveness,
    /// The loop that starts the node, with retries.
    pub node_start: Liveness,
    /// The node's event loop.
    pub event_loop: Liveness,
}

impl Parts {
    /// Why the server is not healthy in `state`, judged by the parts alone.
    fn dead_part(&self, state: &NodeState) -> Option<&'static str> {
        if !self.grpc_server.is_alive() {
            return Some("the gRPC server stopped");
        }
        match state {
            NodeState::Starting(_) if !self.node_start.is_alive() => {
                Some("the node start loop stopped")
            }
            NodeState::Running(_) if !self.event_loop.is_alive() => Some("the event loop stopped"),
            NodeState::Faulted { .. } => Some("the node faulted (a panic)"),
            _ => None,
        }
    }
}

/// The watchdog interval systemd asks for (`WATCHDOG_USEC`), halved; `None` when disabled.
pub fn ping_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|timeout| timeout / 2)
}

/// Pings the watchdog every `interval` while the server is healthy, until shutdown.
pub async fn run(
    interval: Duration,
    parts: Parts,
    node: Arc<NodeHandle>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut was_healthy = true;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = crate::shutdown::requested(&mut shutdown) => return,
        }
        match check(&parts, &node, interval).await {
            Ok(()) => {
                if !was_healthy {
                    tracing::info!("healthy again: watchdog pings resume");
                }
                was_healthy = true;
                notify::watchdog();
            }
            Err(reason) => {
                if was_healthy {
                    tracing::error!(%reason, "unhealthy: watchdog pings stop, systemd will restart the service");
                    notify::status(&format!("unhealthy: {reason}"));
                }
                was_healthy = false;
            }
        }
    }
}

/// Whether the server is healthy now; the node must answer within `timeout`.
async fn check(parts: &Parts, node: &NodeHandle, timeout: Duration) -> Result<(), String> {
    let state = node.state();
    if let Some(reason) = parts.dead_part(&state) {
        return Err(reason.to_owned());
    }
    let NodeState::Running(node) = state else {
        return Ok(());
    };
    let status = tokio::task::spawn_blocking(move || node.status().is_running);
    match tokio::time::timeout(timeout, status).await {
        Ok(Ok(true)) => Ok(()),
        Ok(Ok(false)) => Err("the node stopped running".to_owned()),
        Ok(Err(error)) => Err(format!("the node status query failed: {error}")),
        Err(_) => Err(format!(
            "the node did not answer a status query within {} ms",
            timeout.as_millis()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guard_keeps_a_part_alive_until_dropped() {
        let part = Liveness::new();
        assert!(!part.is_alive());
        let guard = part.guard();
        assert!(part.is_alive());
        drop(guard);
        assert!(!part.is_alive());
    }

    #[tokio::test]
    async fn a_tracked_future_keeps_its_part_alive_until_it_ends() {
        let part = Liveness::new();
        let (finish, finished) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(part.track(async move {
            let _ = finished.await;
        }));
        assert!(part.is_alive());
        finish.send(()).unwrap();
        task.await.unwrap();
        assert!(!part.is_alive());
    }

    #[test]
    fn a_panicking_task_drops_its_guard() {
        let part = Liveness::new();
        let guard = part.guard();
        let outcome = std::thread::spawn(move || {
            let _guard = guard;
            panic!("deliberate panic (expected in the test log): a dying task drops its guard");
        })
        .join();
        assert!(outcome.is_err());
        assert!(!part.is_alive());
    }

    #[test]
    fn health_depends_on_the_parts_the_state_needs() {
        let parts = Parts::default();
        let starting = NodeState::Starting("waiting for chain source".to_owned());
        assert_eq!(parts.dead_part(&starting), Some("the gRPC server stopped"));
        let _server = parts.grpc_server.guard();
        assert_eq!(
            parts.dead_part(&starting),
            Some("the node start loop stopped")
        );
        let start = parts.node_start.guard();
        assert_eq!(parts.dead_part(&starting), None);
        drop(start);
        // Once the node runs, the start loop has ended on purpose; stopping needs nothing.
        assert_eq!(parts.dead_part(&NodeState::Stopping), None);
    }

    #[tokio::test]
    async fn a_starting_server_with_live_parts_is_healthy() {
        let parts = Parts::default();
        let handle = NodeHandle::new();
        let _server = parts.grpc_server.guard();
        let _start = parts.node_start.guard();
        assert_eq!(check(&parts, &handle, Duration::from_secs(1)).await, Ok(()));
        drop(_start);
        assert_eq!(
            check(&parts, &handle, Duration::from_secs(1)).await,
            Err("the node start loop stopped".to_owned())
        );
    }
}
