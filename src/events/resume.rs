//! Reading the event log from a sequence onward, then following live events: the stream behind
//! `SubscribeEvents` (and the model for webhooks).
//!
//! A [`LogFollower`] keeps a cursor: the highest sequence it has examined (delivered or
//! filtered out). It subscribes to the live fan-out *before* it reads the log, so every event
//! committed after that read also arrives live; an event seen both ways is recognised by its
//! sequence and delivered once. It reads the log (catch-up) until a read comes back empty,
//! then takes live events. A live event that does not follow the cursor (the follower lagged
//! past the live buffer, or an event was published out of order) sends it back to the log,
//! which holds everything: nothing is skipped and nothing is delivered twice.
//!
//! The one case that cannot be served is a cursor below the pruning mark: those events are
//! gone. The follower then fails with OUT_OF_RANGE rather than skip them.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch};

use super::kinds::KindFilter;
use crate::error::ApiError;
use crate::proto::events::EventEnvelope;
use crate::store::PaymentStore;

/// Rows read from the log at a time while catching up.
const CATCH_UP_PAGE: usize = 1_000;

/// Where a reader of the log starts: after `after_sequence` if given, else after the newest
/// event (from now on). Refuses a sequence below the pruning mark or above the newest event.
pub fn start_point(store: &PaymentStore, after_sequence: Option<u64>) -> Result<u64, ApiError> {
    let (newest, pruned_through) = store
        .event_log_edges()
        .map_err(|error| ApiError::internal(error.to_string()))?;
    let Some(after) = after_sequence else {
        return Ok(newest);
    };
    if after < pruned_through {
        return Err(too_old(after, pruned_through));
    }
    if after > newest {
        return Err(ApiError::OutOfRange(format!(
            "`after_sequence` {after} is ahead of the newest event, {newest}: sequences come \
             from this node's event log (was the cursor saved from another node or database?)"
        )));
    }
    Ok(after)
}

/// OUT_OF_RANGE for a cursor whose next events were pruned.
fn too_old(after: u64, pruned_through: u64) -> ApiError {
    ApiError::OutOfRange(format!(
        "`after_sequence` {after} is older than the retained event log: events through \
         {pruned_through} were pruned (see [events] retention); start after {pruned_through} \
         or later, and read what happened meanwhile from ListPayments and \
         ListForwardedPayments"
    ))
}

/// What the follower is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Reading the log.
    CatchUp,
    /// Taking live events.
    Live,
}

/// Why a follower stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowEnd {
    /// The server is shutting down.
    ShuttingDown,
    /// The log cannot serve the cursor, or could not be read.
    Failed(ApiError),
}

/// Follows the event log from a cursor: stored events first, then live ones.
pub struct LogFollower {
    store: Arc<PaymentStore>,
    live: broadcast::Receiver<EventEnvelope>,
    shutdown: watch::Receiver<bool>,
    filter: KindFilter,
    cursor: u64,
    mode: Mode,
    ready: VecDeque<EventEnvelope>,
}

impl LogFollower {
    /// A follower that delivers the events after `cursor` that pass `filter`. `live` must have
    /// been subscribed before `cursor` was read (see [`start_point`]).
    pub fn new(
        store: Arc<PaymentStore>,
        live: broadcast::Receiver<EventEnvelope>,
        shutdown: watch::Receiver<bool>,
        filter: KindFilter,
        cursor: u64,
    ) -> Self {
        Self {
            store,
            live,
            shutdown,
            filter,
            cursor,
            mode: Mode::CatchUp,
            ready: VecDeque::new(),
        }
    }

    /// The highest sequence examined so far.
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// The next event that passes the filter; `on_lag` is told how far the live buffer ran
    /// ahead whenever the follower has to go back to the log.
    pub async fn next(
        &mut self,
        on_lag: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<EventEnvelope, FollowEnd> {
        loop {
            if let Some(envelope) = self.ready.pop_front() {
                return Ok(envelope);
            }
            if *self.shutdown.borrow() {
                return Err(FollowEnd::ShuttingDown);
            }
            match self.mode {
                Mode::CatchUp => self.catch_up().await?,
                Mode::Live => self.take_live(on_lag).await?,
            }
        }
    }

    /// Reads one page of the log after the cursor; an empty page switches to live events.
    async fn catch_up(&mut self) -> Result<(), FollowEnd> {
        let store = Arc::clone(&self.store);
        let after = self.cursor;
        let page = tokio::task::spawn_blocking(move || {
            let rows = store.events_after(after, CATCH_UP_PAGE)?;
            // An empty page or one that does not follow the cursor may mean pruning took the
            // events after it.
            let follows = rows.first().is_some_and(|row| row.sequence == after + 1);
            let pruned_through = if follows {
                0
            } else {
                store.event_log_edges()?.1
            };
            Ok::<_, crate::store::StoreError>((rows, pruned_through))
        })
        .await
        .map_err(|error| FollowEnd::Failed(ApiError::internal(error.to_string())))?;
        let (rows, pruned_through) =
            page.map_err(|error| FollowEnd::Failed(ApiError::internal(error.to_string())))?;
        if pruned_through > after {
            return Err(FollowEnd::Failed(too_old(after, pruned_through)));
        }
        if rows.is_empty() {
            self.mode = Mode::Live;
            return Ok(());
        }
        for row in rows {
            self.cursor = row.sequence;
            if self.filter.allows(&row.kind) {
                let envelope = row
                    .envelope()
                    .map_err(|error| FollowEnd::Failed(ApiError::internal(error.to_string())))?;
                self.ready.push_back(envelope);
            }
        }
        Ok(())
    }

    /// Waits for the next live event and takes it if it follows the cursor.
    async fn take_live(&mut self, on_lag: &(dyn Fn(u64) + Send + Sync)) -> Result<(), FollowEnd> {
        let received = tokio::select! {
            biased;
            _ = crate::shutdown::requested(&mut self.shutdown) => {
                return Err(FollowEnd::ShuttingDown);
            }
            received = self.live.recv() => received,
        };
        match received {
            Ok(envelope) if envelope.sequence <= self.cursor => {}
            Ok(envelope) if envelope.sequence == self.cursor + 1 => {
                self.cursor = envelope.sequence;
                let name = crate::convert::events::envelope_event_name(&envelope);
                if self.filter.allows(name) {
                    self.ready.push_back(envelope);
                }
            }
            Ok(_) => self.mode = Mode::CatchUp,
            Err(RecvError::Lagged(missed)) => {
                on_lag(missed);
                self.mode = Mode::CatchUp;
            }
            Err(RecvError::Closed) => return Err(FollowEnd::ShuttingDown),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use crate::proto::events::{event_envelope, ChannelStateChanged};
    use crate::store::event_log::HistoryChange;

    fn channel_event() -> EventEnvelope {
        EventEnvelope {
            event: Some(event_envelope::Event::ChannelStateChanged(
                ChannelStateChanged::default(),
            )),
            ..Default::default()
        }
    }

    /// Records an event as the event loop does, and publishes it with its sequence.
    fn record_and_publish(store: &PaymentStore, live: &broadcast::Sender<EventEnvelope>) -> u64 {
        let mut envelope = channel_event();
        let logged = store
            .record_event(
                &HistoryChange::None,
                &envelope,
                "channel_state_changed",
                &[0; 32],
            )
            .unwrap();
        envelope.sequence = logged.sequence;
        let _ = live.send(envelope);
        logged.sequence
    }

    async fn next(follower: &mut LogFollower, lagged: &AtomicU64) -> u64 {
        let on_lag = |missed: u64| {
            lagged.fetch_add(missed, Ordering::Relaxed);
        };
        tokio::time::timeout(std::time::Duration::from_secs(5), follower.next(&on_lag))
            .await
            .expect("an event in time")
            .expect("no end")
            .sequence
    }

    #[tokio::test]
    async fn a_follower_that_lags_past_the_live_buffer_reads_on_from_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(PaymentStore::open(dir.path()).unwrap());
        let (live, _) = broadcast::channel(2);
        let (_stop, shutdown) = watch::channel(false);
        let receiver = live.subscribe();
        let start = start_point(&store, None).unwrap();
        let mut follower = LogFollower::new(
            Arc::clone(&store),
            receiver,
            shutdown,
            KindFilter::default(),
            start,
        );
        let lagged = AtomicU64::new(0);

        // Caught up (an empty log): the follower waits on the live buffer.
        let idle = tokio::time::timeout(
            std::time::Duration::from_millis(100),
            follower.next(&|_| {}),
        )
        .await;
        assert!(idle.is_err(), "nothing to deliver yet");
        // One event comes through the live path.
        let first = record_and_publish(&store, &live);
        assert_eq!(next(&mut follower, &lagged).await, first);
        // Ten events while the follower is not polled: the buffer of two overflows.
        let published: Vec<u64> = (0..10).map(|_| record_and_publish(&store, &live)).collect();
        let mut got = Vec::new();
        for _ in 0..10 {
            got.push(next(&mut follower, &lagged).await);
        }
        assert_eq!(got, published, "every event once, in order");
        assert_eq!(
            lagged.load(Ordering::Relaxed),
            8,
            "the live buffer was overrun"
        );
        // And live again afterwards.
        let after = record_and_publish(&store, &live);
        assert_eq!(next(&mut follower, &lagged).await, after);
    }

    #[tokio::test]
    async fn events_committed_around_the_start_point_arrive_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(PaymentStore::open(dir.path()).unwrap());
        let (live, _) = broadcast::channel(64);
        let (_stop, shutdown) = watch::channel(false);
        for _ in 0..3 {
            record_and_publish(&store, &live);
        }
        // Subscribed, then two more events before the log is read: they are both in the log
        // and in the live buffer.
        let receiver = live.subscribe();
        let seam: Vec<u64> = (0..2).map(|_| record_and_publish(&store, &live)).collect();
        let mut follower = LogFollower::new(
            Arc::clone(&store),
            receiver,
            shutdown,
            KindFilter::default(),
            1,
        );
        let lagged = AtomicU64::new(0);
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(next(&mut follower, &lagged).await);
        }
        assert_eq!(got, [2, 3, seam[0], seam[1]]);
        let later = record_and_publish(&store, &live);
        assert_eq!(
            next(&mut follower, &lagged).await,
            later,
            "no duplicate of the seam"
        );
    }

    #[tokio::test]
    async fn a_follower_behind_pruning_ends_with_out_of_range() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(PaymentStore::open(dir.path()).unwrap());
        let (live, _) = broadcast::channel(4);
        let (_stop, shutdown) = watch::channel(false);
        let receiver = live.subscribe();
        let mut follower = LogFollower::new(
            Arc::clone(&store),
            receiver,
            shutdown,
            KindFilter::default(),
            0,
        );
        for _ in 0..10 {
            record_and_publish(&store, &live);
        }
        store.prune_events(i64::MAX, 5, None).unwrap();
        let ended = follower.next(&|_| {}).await.unwrap_err();
        match ended {
            FollowEnd::Failed(ApiError::OutOfRange(message)) => {
                assert!(message.contains("pruned"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            start_point(&store, Some(2)),
            Err(ApiError::OutOfRange(_))
        ));
    }
}
