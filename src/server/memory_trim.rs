//! Gives freed connection memory back to the kernel after a burst of connections has ended.
//!
//! Connection buffers are small allocations that land in the allocator's per-thread arenas,
//! which glibc does not shrink by itself: after thousands of hostile connections close, the
//! process would stay tens of MB larger. Once connections have closed and things are quiet
//! for [`QUIET_PERIOD`], the free memory is trimmed; an idle server never trims.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::process_settings::release_free_memory;

/// How long after the last closed connection the trim waits.
const QUIET_PERIOD: Duration = Duration::from_secs(2);

/// Signals closed connections to the trimming task.
#[derive(Default)]
pub struct MemoryTrim {
    closed: Notify,
}

impl MemoryTrim {
    /// A trimmer; run [`MemoryTrim::run`] on it.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Records that a connection ended.
    pub fn connection_closed(&self) {
        self.closed.notify_one();
    }

    /// Trims after each burst of closed connections; runs until aborted.
    pub async fn run(self: Arc<Self>) {
        loop {
            self.closed.notified().await;
            // Wait until no connection has closed for a quiet period.
            while tokio::time::timeout(QUIET_PERIOD, self.closed.notified())
                .await
                .is_ok()
            {}
            let _ = tokio::task::spawn_blocking(release_free_memory).await;
        }
    }
}
