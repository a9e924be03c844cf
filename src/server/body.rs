//! Reading a request body into memory: within the size limit, within the time limit, and,
//! while the signature is not verified yet, within the [`BodyBudget`](super::body_budget).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body::Body as _;
use http_body_util::BodyExt;
use tonic::body::Body;
use tonic::Status;

use super::body_budget::{OverBudget, Reservation};

/// Largest request body accepted, as upstream: 10 MiB.
pub const MAX_REQUEST_BODY_BYTES: usize = 10 * 1024 * 1024;

/// Reads the whole body. `reservation`, when given, is grown by every chunk before it is kept.
pub async fn read(
    body: Body,
    reservation: Option<&mut Reservation>,
    timeout: Duration,
) -> Result<Bytes, Status> {
    match tokio::time::timeout(timeout, collect(body, reservation)).await {
        Ok(result) => result,
        Err(_) => Err(Status::deadline_exceeded(format!(
            "the request body did not arrive within {} s ([limits] body_read_timeout_secs)",
            timeout.as_secs()
        ))),
    }
}

/// Most bytes of an unread body consumed after an early answer.
const FINISH_MAX_BYTES: usize = 64 * 1024;
/// Longest wait for the rest of an unread body after an early answer.
const FINISH_MAX_WAIT: Duration = Duration::from_secs(1);

/// Lets the client finish sending a body the server will not use (the call was refused before
/// reading it), discarding it in the background, within [`FINISH_MAX_BYTES`] and
/// [`FINISH_MAX_WAIT`].
///
/// Dropping an unfinished body makes HTTP/2 reset the stream. h2 remembers only 50 reset streams
/// per connection for a second; DATA arriving for a forgotten one (a client sends its body right
/// after its headers) is answered with a `STREAM_CLOSED` reset that counts against the
/// connection's local-error-reset limit, and at 256 of those the whole connection is closed
/// (`ENHANCE_YOUR_CALM`). Refused calls would then cost a new TLS connection every few hundred.
/// A body larger or slower than the bounds is dropped as before.
pub fn finish_in_background(body: Body) {
    if body.is_end_stream() {
        return;
    }
    tokio::spawn(async move {
        let _ = tokio::time::timeout(FINISH_MAX_WAIT, discard(body, FINISH_MAX_BYTES)).await;
    });
}

/// Reads and drops frames until the body ends or `limit` bytes have gone by.
async fn discard(mut body: Body, limit: usize) {
    let mut seen = 0usize;
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(chunk) = frame.into_data() {
            seen = seen.saturating_add(chunk.len());
            if seen > limit {
                return;
            }
        }
    }
}

/// Refuses a body whose declared length is over the limit before reading any of it.
pub fn check_declared_length(length: Option<u64>) -> Result<(), Status> {
    match length {
        Some(length) if length > MAX_REQUEST_BODY_BYTES as u64 => Err(too_large()),
        _ => Ok(()),
    }
}

async fn collect(
    mut body: Body,
    mut reservation: Option<&mut Reservation>,
) -> Result<Bytes, Status> {
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut length = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| {
            Status::invalid_argument(format!("failed to read the request body: {error}"))
        })?;
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        length = length.saturating_add(chunk.len());
        if length > MAX_REQUEST_BODY_BYTES {
            return Err(too_large());
        }
        if let Some(reservation) = reservation.as_deref_mut() {
            reservation.grow(chunk.len()).map_err(over_budget)?;
        }
        chunks.push(chunk);
    }
    Ok(join(chunks, length))
}

/// One buffer of exactly `length` bytes (no reallocation while it grows).
fn join(mut chunks: Vec<Bytes>, length: usize) -> Bytes {
    if chunks.len() == 1 {
        return chunks.pop().unwrap_or_default();
    }
    let mut joined = BytesMut::with_capacity(length);
    for chunk in chunks {
        joined.extend_from_slice(&chunk);
    }
    joined.freeze()
}

fn too_large() -> Status {
    Status::invalid_argument(format!(
        "request body too large: the limit is {MAX_REQUEST_BODY_BYTES} bytes (10 MiB)"
    ))
}

/// The status for a request that does not fit the unverified-body budget.
pub fn over_budget(over: OverBudget) -> Status {
    let whose = match over {
        OverBudget::Server => "the server holds as many unverified request bytes as it allows",
        OverBudget::Address => "this address holds as many unverified request bytes as it may",
    };
    Status::resource_exhausted(format!(
        "busy: {whose}; retry shortly, or sign the timestamp only ([limits] unauthenticated_body_bytes)"
    ))
}
