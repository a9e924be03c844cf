//! Whether a connection is in use: the calls open on it, and since when it has had none.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::sync::watch;
use tokio::time::Instant;
use tonic::body::Body;

/// Open calls on one connection.
pub struct Activity {
    state: watch::Sender<State>,
}

#[derive(Clone, Copy)]
struct State {
    open_calls: usize,
    idle_since: Instant,
}

impl Activity {
    /// A connection with no call yet (idle from now).
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            state: watch::Sender::new(State {
                open_calls: 0,
                idle_since: Instant::now(),
            }),
        })
    }

    /// Counts a call as open until the returned guard is dropped.
    pub fn begin_call(self: &Arc<Self>) -> CallGuard {
        self.state.send_modify(|state| state.open_calls += 1);
        CallGuard {
            activity: Arc::clone(self),
        }
    }

    /// Completes once the connection has had no open call for `timeout`.
    pub async fn idle_for(&self, timeout: Duration) {
        let mut changes = self.state.subscribe();
        loop {
            let state = *changes.borrow_and_update();
            if state.open_calls == 0 {
                tokio::select! {
                    _ = tokio::time::sleep_until(state.idle_since + timeout) => return,
                    changed = changes.changed() => if changed.is_err() { return },
                }
            } else if changes.changed().await.is_err() {
                return;
            }
        }
    }
}

/// One open call.
pub struct CallGuard {
    activity: Arc<Activity>,
}

impl CallGuard {
    /// Keeps the call open until `body` is finished or dropped.
    pub fn hold_until_finished(self, body: Body) -> Body {
        Body::new(TrackedBody {
            inner: body,
            _call: self,
        })
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.activity.state.send_modify(|state| {
            state.open_calls = state.open_calls.saturating_sub(1);
            if state.open_calls == 0 {
                state.idle_since = Instant::now();
            }
        });
    }
}

/// A response body that holds its call's guard.
struct TrackedBody {
    inner: Body,
    _call: CallGuard,
}

impl HttpBody for TrackedBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_open_call_keeps_the_connection_busy() {
        let activity = Activity::new();
        let call = activity.begin_call();
        let idle = tokio::time::timeout(
            Duration::from_secs(60),
            activity.idle_for(Duration::from_secs(5)),
        );
        assert!(idle.await.is_err(), "idle while a call is open");
        drop(call);
        let started = Instant::now();
        activity.idle_for(Duration::from_secs(5)).await;
        assert_eq!(started.elapsed(), Duration::from_secs(5));
    }
}
