//! `SubscribeEvents`: a live stream of node events from the moment of subscription.
//!
//! There is no replay. A subscriber that falls more than the channel capacity behind misses
//! the oldest events (counted in metrics) and the stream goes on. When the server shuts down
//! the stream ends with UNAVAILABLE "server shutting down".

use std::pin::Pin;

use futures_util::{stream, Stream};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch};
use tonic::Status;

use super::ApiContext;
use crate::error::ApiResult;
use crate::proto::events::EventEnvelope;

/// Capacity of the event fan-out channel.
pub const EVENT_CHANNEL_CAPACITY: usize = 1024;

/// The response stream type of `SubscribeEvents`.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<EventEnvelope, Status>> + Send>>;

/// Opens a subscription.
pub fn subscribe(ctx: &ApiContext) -> ApiResult<EventStream> {
    let receiver = ctx.events.subscribe();
    let shutdown = ctx.shutdown.clone();
    let metrics = std::sync::Arc::clone(&ctx.metrics);
    // Lives as long as the stream: `ldk_server_event_subscribers` counts it until it ends.
    let subscriber = metrics.subscriber();
    let on_lag = move |missed: u64| {
        let _counted = &subscriber;
        tracing::warn!(missed, "an event subscriber lagged and missed events");
        metrics.record_events_dropped(missed);
    };
    Ok(Box::pin(event_stream(receiver, shutdown, on_lag)))
}

fn event_stream(
    receiver: broadcast::Receiver<EventEnvelope>,
    shutdown: watch::Receiver<bool>,
    on_lag: impl Fn(u64) + Send + 'static,
) -> impl Stream<Item = Result<EventEnvelope, Status>> + Send {
    stream::unfold(Some((receiver, shutdown, on_lag)), |state| async move {
        let (mut receiver, mut shutdown, on_lag) = state?;
        loop {
            tokio::select! {
                biased;
                _ = crate::shutdown::requested(&mut shutdown) => {
                    return Some((Err(shutting_down()), None));
                }
                received = receiver.recv() => match received {
                    Ok(event) => return Some((Ok(event), Some((receiver, shutdown, on_lag)))),
                    Err(RecvError::Lagged(missed)) => on_lag(missed),
                    Err(RecvError::Closed) => return Some((Err(shutting_down()), None)),
                },
            }
        }
    })
}

fn shutting_down() -> Status {
    Status::unavailable("server shutting down")
}
