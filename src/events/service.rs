//! `ldk_server.events.EventLog`: pages of the durable event log (`ListEvents`).

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::kinds::KindFilter;
use super::resume::start_point;
use crate::error::ApiError;
use crate::proto::event_log::event_log_server::EventLog;
use crate::proto::event_log::{ListEventsRequest, ListEventsResponse};
use crate::store::event_log::MAX_READ_ROWS;
use crate::store::PaymentStore;

/// Events per page when the request sets no limit.
const DEFAULT_LIMIT: u32 = 100;

/// The event log service over the history store.
#[derive(Clone)]
pub struct EventLogService {
    store: Arc<PaymentStore>,
}

impl EventLogService {
    /// A service reading `store`'s event log.
    pub fn new(store: Arc<PaymentStore>) -> Self {
        Self { store }
    }
}

#[tonic::async_trait]
impl EventLog for EventLogService {
    async fn list_events(
        &self,
        request: Request<ListEventsRequest>,
    ) -> Result<Response<ListEventsResponse>, Status> {
        let request = request.into_inner();
        let store = Arc::clone(&self.store);
        let page = tokio::task::spawn_blocking(move || list_events(&store, request))
            .await
            .map_err(|error| Status::internal(format!("event log task failed: {error}")))?;
        page.map(Response::new).map_err(Status::from)
    }
}

/// One page: up to `limit` matching events after the start, reading at most
/// [`MAX_READ_ROWS`] rows of the log (so a narrow filter over a long log still answers fast;
/// `next_after_sequence` says where to go on).
pub fn list_events(
    store: &PaymentStore,
    request: ListEventsRequest,
) -> Result<ListEventsResponse, ApiError> {
    let filter =
        KindFilter::parse(&request.kinds).map_err(|error| ApiError::bad_field("kinds", error))?;
    let limit = request.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit as usize > MAX_READ_ROWS {
        return Err(ApiError::bad_field(
            "limit",
            format!("{limit} is not between 1 and {MAX_READ_ROWS}"),
        ));
    }
    let after = match request.after_sequence {
        Some(after) => start_point(store, Some(after))?,
        None => 0,
    };
    let internal = |error: crate::store::StoreError| ApiError::internal(error.to_string());
    let bounds = store.event_log_bounds().map_err(internal)?;
    let after = if request.after_sequence.is_none() {
        bounds.pruned_through.max(after)
    } else {
        after
    };
    let rows = store.events_after(after, MAX_READ_ROWS).map_err(internal)?;
    let mut events = Vec::new();
    let mut next_after_sequence = after;
    for row in rows {
        if events.len() == limit as usize {
            break;
        }
        next_after_sequence = row.sequence;
        if filter.allows(&row.kind) {
            events.push(row.envelope().map_err(internal)?);
        }
    }
    Ok(ListEventsResponse {
        events,
        next_after_sequence,
        oldest_sequence: bounds.oldest.unwrap_or(0),
        newest_sequence: bounds.newest,
    })
}
