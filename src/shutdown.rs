//! The process-wide shutdown signal: a `watch` channel that turns `true` once.

use tokio::sync::watch;

/// Completes once shutdown has been requested (at once if it already was, or if the sender is
/// gone).
pub async fn requested(receiver: &mut watch::Receiver<bool>) {
    let _ = receiver.wait_for(|stopping| *stopping).await;
}
