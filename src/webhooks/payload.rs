//! The body of a delivery: one event of the log as JSON.
//!
//! ```json
//! {"webhook":"shop","sequence":42,"recorded_at":1764700000,"kind":"payment_received",
//!  "event":{"payment_received":{"payment":{"id":"…","amount_msat":1000000,…}}}}
//! ```
//!
//! `event` holds the envelope's event as the CLI prints it (field names as in the protos,
//! enums by name, bytes as hex); `sequence` orders deliveries and identifies duplicates: at
//! least once means a receiver may see an event again after a failure or a restart.

use serde::Serialize;

use crate::proto::events::event_envelope::Event;
use crate::store::event_log::LoggedEvent;
use crate::store::StoreError;

#[derive(Serialize)]
struct Delivery<'a> {
    webhook: &'a str,
    sequence: u64,
    recorded_at: i64,
    kind: &'a str,
    event: Option<Event>,
}

/// The JSON body delivering `row` to webhook `webhook`.
pub fn body(webhook: &str, row: &LoggedEvent) -> Result<Vec<u8>, StoreError> {
    let envelope = row.envelope()?;
    let delivery = Delivery {
        webhook,
        sequence: row.sequence,
        recorded_at: row.recorded_at,
        kind: &row.kind,
        event: envelope.event,
    };
    serde_json::to_vec(&delivery).map_err(|error| StoreError::Corrupt {
        namespace: "event_log",
        key: row.sequence.to_string(),
        reason: format!("cannot be rendered as JSON: {error}"),
    })
}
