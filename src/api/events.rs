//! `SubscribeEvents`: the node's events from a point in the durable event log, then live.
//!
//! With no `after_sequence` (upstream's request) the stream starts at the newest event, as
//! upstream's does; with one it first replays the stored events after it (see
//! [`crate::events::resume`]). Either way a subscriber that falls behind the live buffer reads
//! what it missed back from the log, so a stream never skips an event. Each envelope carries
//! its `sequence`. When the server shuts down the stream ends with UNAVAILABLE "server
//! shutting down"; a start point the log cannot serve is refused with OUT_OF_RANGE before the
//! stream starts, and a stream that falls behind pruning ends with OUT_OF_RANGE.

use std::pin::Pin;
use std::sync::Arc;

use futures_util::{stream, Stream};
use tonic::Status;

use super::ApiContext;
use crate::error::{ApiError, ApiResult};
use crate::events::kinds::KindFilter;
use crate::events::resume::{start_point, FollowEnd, LogFollower};
use crate::proto::api::SubscribeEventsRequest;
use crate::proto::events::EventEnvelope;

/// Live events buffered per subscriber by default (`[events] live_buffer_events`).
pub const EVENT_CHANNEL_CAPACITY: usize = 1024;

/// The response stream type of `SubscribeEvents`.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<EventEnvelope, Status>> + Send>>;

/// Opens a subscription.
pub async fn subscribe(
    ctx: &ApiContext,
    request: SubscribeEventsRequest,
) -> ApiResult<EventStream> {
    let filter =
        KindFilter::parse(&request.kinds).map_err(|error| ApiError::bad_field("kinds", error))?;
    // Subscribed before the start point is read: nothing committed after it can be missed.
    let live = ctx.events.subscribe();
    let after = request.after_sequence;
    let cursor = ctx
        .with_store(move |store| start_point(store, after))
        .await?;
    let follower = LogFollower::new(
        Arc::clone(&ctx.store),
        live,
        ctx.shutdown.clone(),
        filter,
        cursor,
    );
    let metrics = Arc::clone(&ctx.metrics);
    // Lives as long as the stream: `ldk_server_event_subscribers` counts it until it ends.
    let subscriber = metrics.subscriber();
    let on_lag = move |missed: u64| {
        let _counted = &subscriber;
        tracing::info!(
            missed,
            "an event subscriber fell behind the live buffer: it reads on from the event log"
        );
        metrics.record_events_dropped(missed);
    };
    Ok(Box::pin(event_stream(follower, on_lag)))
}

fn event_stream(
    follower: LogFollower,
    on_lag: impl Fn(u64) + Send + Sync + 'static,
) -> impl Stream<Item = Result<EventEnvelope, Status>> + Send {
    stream::unfold(Some((follower, on_lag)), |state| async move {
        let (mut follower, on_lag) = state?;
        match follower.next(&on_lag).await {
            Ok(envelope) => Some((Ok(envelope), Some((follower, on_lag)))),
            Err(FollowEnd::ShuttingDown) => {
                Some((Err(Status::unavailable("server shutting down")), None))
            }
            Err(FollowEnd::Failed(error)) => Some((Err(Status::from(error)), None)),
        }
    })
}
