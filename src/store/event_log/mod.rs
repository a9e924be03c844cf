//! The durable event log: every envelope streamed to subscribers, numbered.
//!
//! Table `event_log` (ours; upstream ignores it) holds one row per event the server streamed:
//! its `sequence` (strictly increasing from 1, never reused, also after pruning: the table is
//! `AUTOINCREMENT`), the unix second it was recorded, its kind (the envelope's event name, such
//! as `payment_received`), an identity (SHA-256 of ldk-node's own encoding of the event, to
//! recognise a replay of the same event after a crash) and the prost-encoded envelope without
//! its sequence fields. A row is written in the same transaction as the history change the
//! event reports ([`PaymentStore::record_event`]), so the log and the history can never
//! disagree, and both are durable before the event is acknowledged to ldk-node.
//!
//! Pruning ([`PaymentStore::prune_events`]) deletes the oldest rows and raises
//! `event_log_state.pruned_through`, the highest sequence that may have been deleted: a reader
//! asking for events after a sequence below it would miss some, and is told so instead.
//!
//! `webhook_cursors` keeps, per configured webhook name, the sequence delivered through.

use prost::Message;
use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::{
    lock, payment_row, random_id, unix_now, PaymentStore, StoreError, FORWARDED_PAYMENTS,
    INSERT_ROW, PAYMENTS, UPSERT_ROW,
};
use crate::proto::events::EventEnvelope;
use crate::proto::types::{ForwardedPayment, Payment};

/// Most rows one read of the log returns.
pub const MAX_READ_ROWS: usize = 1_000;

/// Rows deleted per pruning transaction, so that pruning never holds the write lock long.
const PRUNE_BATCH: i64 = 10_000;

const INSERT_EVENT: &str = "
    INSERT INTO event_log (recorded_at, kind, identity, envelope) VALUES (?1, ?2, ?3, ?4)";

const SELECT_EVENTS_AFTER: &str = "
    SELECT sequence, recorded_at, kind, envelope FROM event_log
    WHERE sequence > ?1 ORDER BY sequence LIMIT ?2";

const SELECT_LAST_EVENT: &str = "
    SELECT sequence, identity FROM event_log ORDER BY sequence DESC LIMIT 1";

const SELECT_NEWEST_ASSIGNED: &str = "
    SELECT seq FROM sqlite_sequence WHERE name = 'event_log'";

const SELECT_PRUNED_THROUGH: &str = "SELECT pruned_through FROM event_log_state WHERE id = 1";

/// What an event changes in the history, written with its log row.
#[derive(Debug, Clone, PartialEq)]
pub enum HistoryChange {
    /// Nothing (channel events).
    None,
    /// A payment record, upserted under its id.
    Payment(Payment),
    /// A forwarded payment, inserted under a fresh random id.
    Forward(ForwardedPayment),
}

/// A row of the log, as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedEvent {
    /// The sequence number.
    pub sequence: u64,
    /// When it was recorded, unix seconds.
    pub recorded_at: i64,
    /// The envelope's event name (`payment_received`, `channel_state_changed`, …).
    pub kind: String,
    /// The envelope as stored (its sequence fields are set by [`LoggedEvent::envelope`]).
    envelope: Vec<u8>,
}

impl LoggedEvent {
    /// The envelope with its sequence and recording time filled in.
    pub fn envelope(&self) -> Result<EventEnvelope, StoreError> {
        let mut envelope = EventEnvelope::decode(self.envelope.as_slice()).map_err(|error| {
            StoreError::Corrupt {
                namespace: "event_log",
                key: self.sequence.to_string(),
                reason: error.to_string(),
            }
        })?;
        envelope.sequence = self.sequence;
        envelope.recorded_at = self.recorded_at;
        Ok(envelope)
    }
}

/// Where the log stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogBounds {
    /// The oldest sequence still stored (`None` when the log is empty).
    pub oldest: Option<u64>,
    /// The newest sequence ever handed out (0 before the first event).
    pub newest: u64,
    /// The highest sequence that pruning may have deleted (0 if nothing was ever pruned):
    /// reading after a sequence below this would skip events.
    pub pruned_through: u64,
}

/// How pruning went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Rows deleted.
    pub deleted: u64,
    /// Rows deleted that a webhook had not delivered yet (only the count limit does that).
    pub undelivered: u64,
}

impl PaymentStore {
    /// Writes `change` and a log row for `envelope` in one durable transaction; returns the
    /// row (sequence and recording time). `identity` names the ldk-node event it came from.
    pub fn record_event(
        &self,
        change: &HistoryChange,
        envelope: &EventEnvelope,
        kind: &str,
        identity: &[u8; 32],
    ) -> Result<LoggedEvent, StoreError> {
        let now = unix_now()?;
        let stored = stored_envelope(envelope);
        let mut connection = lock(&self.writer);
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        match change {
            HistoryChange::None => {}
            HistoryChange::Payment(payment) => {
                let (key, creation_time, value) = payment_row(payment, now)?;
                transaction.prepare_cached(UPSERT_ROW)?.execute(params![
                    PAYMENTS,
                    key,
                    creation_time,
                    value
                ])?;
            }
            HistoryChange::Forward(forward) => {
                transaction.prepare_cached(INSERT_ROW)?.execute(params![
                    FORWARDED_PAYMENTS,
                    random_id()?,
                    now,
                    forward.encode_to_vec()
                ])?;
            }
        }
        transaction.prepare_cached(INSERT_EVENT)?.execute(params![
            now,
            kind,
            identity.as_slice(),
            stored
        ])?;
        let sequence = u64::try_from(transaction.last_insert_rowid()).unwrap_or(0);
        transaction.commit()?;
        Ok(LoggedEvent {
            sequence,
            recorded_at: now,
            kind: kind.to_owned(),
            envelope: stored,
        })
    }

    /// Appends log rows without a history change, each with its recording time; for tests and
    /// benchmarks (the server uses [`PaymentStore::record_event`]).
    pub fn append_events_at(
        &self,
        events: &[(EventEnvelope, &str, i64)],
    ) -> Result<u64, StoreError> {
        let mut connection = lock(&self.writer);
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut last = 0;
        {
            let mut insert = transaction.prepare_cached(INSERT_EVENT)?;
            for (envelope, kind, recorded_at) in events {
                insert.execute(params![
                    recorded_at,
                    kind,
                    [0u8; 32].as_slice(),
                    stored_envelope(envelope)
                ])?;
                last = transaction.last_insert_rowid();
            }
        }
        transaction.commit()?;
        Ok(u64::try_from(last).unwrap_or(0))
    }

    /// The newest row's sequence and identity, if any (to recognise a replayed event).
    pub fn last_logged_identity(&self) -> Result<Option<(u64, [u8; 32])>, StoreError> {
        let connection = lock(&self.log_reader);
        let row: Option<(i64, Vec<u8>)> = connection
            .prepare_cached(SELECT_LAST_EVENT)?
            .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        Ok(row.and_then(|(sequence, identity)| {
            let identity: [u8; 32] = identity.try_into().ok()?;
            Some((u64::try_from(sequence).ok()?, identity))
        }))
    }

    /// Up to `limit` (at most [`MAX_READ_ROWS`]) rows after `after`, oldest first.
    pub fn events_after(&self, after: u64, limit: usize) -> Result<Vec<LoggedEvent>, StoreError> {
        let limit = limit.min(MAX_READ_ROWS);
        let connection = lock(&self.log_reader);
        let mut statement = connection.prepare_cached(SELECT_EVENTS_AFTER)?;
        let rows = statement.query_map(
            params![
                i64::try_from(after).unwrap_or(i64::MAX),
                super::sql_limit(limit)
            ],
            |row| {
                Ok(LoggedEvent {
                    sequence: u64::try_from(row.get::<_, i64>(0)?).unwrap_or(0),
                    recorded_at: row.get(1)?,
                    kind: row.get(2)?,
                    envelope: row.get(3)?,
                })
            },
        )?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The oldest and newest sequence and the pruning mark (point reads).
    pub fn event_log_bounds(&self) -> Result<LogBounds, StoreError> {
        let connection = lock(&self.log_reader);
        let transaction = connection.unchecked_transaction()?;
        let oldest: Option<i64> =
            transaction.query_row("SELECT MIN(sequence) FROM event_log", [], |row| row.get(0))?;
        let newest: Option<i64> = transaction
            .query_row(SELECT_NEWEST_ASSIGNED, [], |row| row.get(0))
            .optional()?;
        let pruned_through: i64 =
            transaction.query_row(SELECT_PRUNED_THROUGH, [], |row| row.get(0))?;
        transaction.commit()?;
        let unsigned = |value: i64| u64::try_from(value).unwrap_or(0);
        Ok(LogBounds {
            oldest: oldest.map(unsigned),
            newest: newest.map(unsigned).unwrap_or(0),
            pruned_through: unsigned(pruned_through),
        })
    }

    /// Rows in the log (a walk of the table: for metrics, not per event).
    pub fn count_events(&self) -> Result<u64, StoreError> {
        let connection = lock(&self.log_reader);
        let rows: i64 =
            connection.query_row("SELECT COUNT(*) FROM event_log", [], |row| row.get(0))?;
        Ok(u64::try_from(rows).unwrap_or(0))
    }

    /// The newest sequence handed out and the pruning mark, cheaply (two point reads).
    pub fn event_log_edges(&self) -> Result<(u64, u64), StoreError> {
        let connection = lock(&self.log_reader);
        let transaction = connection.unchecked_transaction()?;
        let newest: Option<i64> = transaction
            .query_row(SELECT_NEWEST_ASSIGNED, [], |row| row.get(0))
            .optional()?;
        let pruned_through: i64 =
            transaction.query_row(SELECT_PRUNED_THROUGH, [], |row| row.get(0))?;
        transaction.commit()?;
        let unsigned = |value: i64| u64::try_from(value).unwrap_or(0);
        Ok((newest.map(unsigned).unwrap_or(0), unsigned(pruned_through)))
    }

    /// Deletes rows recorded before `recorded_before` (unix seconds) that no webhook still
    /// needs (`keep_after`: the lowest sequence a webhook delivered through), and beyond that
    /// every row but the newest `keep_rows`, whoever needs it. Works in batches; returns what
    /// it deleted.
    pub fn prune_events(
        &self,
        recorded_before: i64,
        keep_rows: u64,
        keep_after: Option<u64>,
    ) -> Result<Pruned, StoreError> {
        let (newest, _) = self.event_log_edges()?;
        let by_count = newest.saturating_sub(keep_rows);
        let by_age = {
            let connection = lock(&self.log_reader);
            let last_old: Option<i64> = connection.query_row(
                "SELECT MAX(sequence) FROM event_log WHERE recorded_at < ?1",
                [recorded_before],
                |row| row.get(0),
            )?;
            last_old.map_or(0, |value| u64::try_from(value).unwrap_or(0))
        };
        let by_age = keep_after.map_or(by_age, |needed| by_age.min(needed));
        let through = by_age.max(by_count);
        let mut pruned = Pruned::default();
        loop {
            let deleted = self.prune_batch(through)?;
            if deleted == 0 {
                break;
            }
            pruned.deleted += deleted;
        }
        if let Some(needed) = keep_after {
            pruned.undelivered = through.saturating_sub(needed).min(pruned.deleted);
        }
        Ok(pruned)
    }

    /// Deletes up to [`PRUNE_BATCH`] rows with sequence ≤ `through` and raises the mark.
    fn prune_batch(&self, through: u64) -> Result<u64, StoreError> {
        let through = i64::try_from(through).unwrap_or(i64::MAX);
        let mut connection = lock(&self.writer);
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let last: Option<i64> = transaction.query_row(
            "SELECT MAX(sequence) FROM (SELECT sequence FROM event_log WHERE sequence <= ?1
                ORDER BY sequence LIMIT ?2)",
            params![through, PRUNE_BATCH],
            |row| row.get(0),
        )?;
        let Some(last) = last else {
            transaction.commit()?;
            return Ok(0);
        };
        let deleted = transaction.execute("DELETE FROM event_log WHERE sequence <= ?1", [last])?;
        transaction.execute(
            "UPDATE event_log_state SET pruned_through = MAX(pruned_through, ?1) WHERE id = 1",
            [last],
        )?;
        transaction.commit()?;
        Ok(u64::try_from(deleted).unwrap_or(0))
    }

    /// The sequence webhook `name` delivered through, if it has a cursor.
    pub fn webhook_cursor(&self, name: &str) -> Result<Option<u64>, StoreError> {
        let connection = lock(&self.log_reader);
        let through: Option<i64> = connection
            .prepare_cached("SELECT delivered_through FROM webhook_cursors WHERE name = ?1")?
            .query_row([name], |row| row.get(0))
            .optional()?;
        Ok(through.map(|value| u64::try_from(value).unwrap_or(0)))
    }

    /// Records, durably, that webhook `name` delivered everything through `sequence`.
    pub fn set_webhook_cursor(&self, name: &str, sequence: u64) -> Result<(), StoreError> {
        let connection = lock(&self.writer);
        connection
            .prepare_cached(
                "INSERT INTO webhook_cursors (name, delivered_through, updated_at)
                 VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET
                    delivered_through = excluded.delivered_through,
                    updated_at = excluded.updated_at",
            )?
            .execute(params![
                name,
                i64::try_from(sequence).unwrap_or(i64::MAX),
                unix_now()?
            ])?;
        Ok(())
    }
}

/// The envelope as stored: without the fields the log row itself holds.
fn stored_envelope(envelope: &EventEnvelope) -> Vec<u8> {
    let mut stored = envelope.clone();
    stored.sequence = 0;
    stored.recorded_at = 0;
    stored.encode_to_vec()
}

#[cfg(test)]
mod tests;
