//! Reading a request body into memory: within the size limit, within the time limit, and,
//! while the signature is not verified yet, within the [`BodyBudget`](super::body_budget).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
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
