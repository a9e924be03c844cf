//! The payment and forwarding history: `ldk_server_data.sqlite` in the network directory.
//!
//! The file format is upstream ldk-server's, so an operator can move a data directory between
//! the two implementations: one table `ldk_paginated_data` keyed by
//! `(primary_namespace, secondary_namespace, key)`, with the unix second of the first write in
//! `creation_time` and a prost-encoded message in `value`, at `PRAGMA user_version = 1`.
//! Payments live in namespace `payments` (key = payment id, upserted on every payment event) and
//! forwards in `forwarded_payments` (key = a fresh random id, one row per forward). The
//! secondary namespace is always empty.
//!
//! Beyond upstream, the database runs in WAL mode with `synchronous = FULL`, so a write that
//! returns is durable (the server acknowledges an ldk-node event only after that), and an extra
//! index on `(primary_namespace, secondary_namespace, creation_time DESC, key)` serves every
//! page with an index seek: listing stays fast however many rows the store holds.
//!
//! Pages run newest first (`creation_time DESC, key ASC`), [`PAGE_SIZE`] rows at a time. The
//! cursor is a [`PageToken`] holding the key and creation time of the last row returned; the
//! next page holds the rows with `creation_time < index OR (creation_time = index AND key >
//! token)`. A missing token starts at the newest row. Every non-empty page carries a token; the
//! end of the list is an empty page without one.
//!
//! Beyond upstream too, in tables upstream ignores (versioned on their own, see [`schema`]):
//! [`dead_letter`] keeps the events that could not be processed, and [`reconcile`] brings the
//! history up to date with ldk-node's payment store after a crash.
//!
//! The API is synchronous: async callers run it on `spawn_blocking`.

pub mod dead_letter;
pub mod event_log;
pub mod key_payments;
pub mod reconcile;
mod schema;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prost::Message;
use rusqlite::{params, Connection, Params, Transaction, TransactionBehavior};

use crate::error::ApiError;
use crate::proto::types::{ForwardedPayment, PageToken, Payment, PaymentStatus};

use schema::{check_versions, create_schema, enable_wal};
pub use schema::{EXTENSION_VERSION, SCHEMA_VERSION};

/// Name of the store's file inside the network directory (upstream's name).
pub const STORE_FILE_NAME: &str = "ldk_server_data.sqlite";

/// Rows per page of [`PaymentStore::list_payments`] and
/// [`PaymentStore::list_forwarded_payments`] (upstream's fixed page size).
pub const PAGE_SIZE: usize = 100;

/// Namespace of payment records.
const PAYMENTS: &str = "payments";

/// Namespace of forwarded-payment records.
const FORWARDED_PAYMENTS: &str = "forwarded_payments";

/// How long a statement waits for a lock held by another connection before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Rows decoded per lock acquisition when a whole namespace is walked for counting.
const COUNTING_BATCH: usize = 1_000;

/// Inserts a row, or replaces only the value of an existing one (keeping its creation time).
const UPSERT_ROW: &str = "
    INSERT INTO ldk_paginated_data
        (primary_namespace, secondary_namespace, key, creation_time, value)
    VALUES (?1, '', ?2, ?3, ?4)
    ON CONFLICT (primary_namespace, secondary_namespace, key) DO UPDATE SET value = excluded.value";

/// Inserts a row that must be new (a key collision is an error, never an overwrite).
const INSERT_ROW: &str = "
    INSERT INTO ldk_paginated_data
        (primary_namespace, secondary_namespace, key, creation_time, value)
    VALUES (?1, '', ?2, ?3, ?4)";

/// First half of a page: the rest of the cursor's own second (`creation_time = index AND key >
/// token`). `INDEXED BY` makes a missing page index a loud error instead of a silent full scan.
const SELECT_REST_OF_SECOND: &str = "
    SELECT key, creation_time, value FROM ldk_paginated_data
        INDEXED BY idx_namespace_creation_time
    WHERE primary_namespace = ?1 AND secondary_namespace = ''
        AND creation_time = ?2 AND key > ?3
    ORDER BY creation_time DESC, key ASC
    LIMIT ?4";

/// Second half of a page: the rows of older seconds (`creation_time < index`).
const SELECT_OLDER_SECONDS: &str = "
    SELECT key, creation_time, value FROM ldk_paginated_data
        INDEXED BY idx_namespace_creation_time
    WHERE primary_namespace = ?1 AND secondary_namespace = ''
        AND creation_time < ?2
    ORDER BY creation_time DESC, key ASC
    LIMIT ?3";

/// Number of rows in a namespace.
const COUNT_ROWS: &str = "
    SELECT COUNT(*) FROM ldk_paginated_data INDEXED BY idx_namespace_creation_time
    WHERE primary_namespace = ?1 AND secondary_namespace = ''";

/// Why the history store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The network directory could not be created.
    #[error("cannot create directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The database file could not be opened or set up.
    #[error("cannot open payment history database {path}: {source}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The file was written by a newer version of the software.
    #[error(
        "payment history database {path} has schema version {found}, but this ldk-server \
         only understands version {supported} or older; refusing to open it (was it written \
         by a newer ldk-server?)"
    )]
    UnsupportedVersion {
        /// The database file.
        path: PathBuf,
        /// The `user_version` found in the file.
        found: i32,
        /// The highest version this code understands.
        supported: i32,
    },
    /// The file holds tables of a newer version of this server (table `ldk_server_schema`).
    #[error(
        "payment history database {path} has ldk-server table version {found} \
         (ldk_server_schema), but this ldk-server only understands version {supported} or \
         older; refusing to open it (was it written by a newer ldk-server?)"
    )]
    UnsupportedExtensionVersion {
        /// The database file.
        path: PathBuf,
        /// The version found in `ldk_server_schema`.
        found: i32,
        /// The highest version this code understands.
        supported: i32,
    },
    /// SQLite would not switch the database to WAL mode.
    #[error("payment history database {path} stays in journal mode {mode:?} instead of WAL")]
    NoWal {
        /// The database file.
        path: PathBuf,
        /// The journal mode SQLite reported.
        mode: String,
    },
    /// A read or write failed.
    #[error("payment history database error: {0}")]
    Database(#[from] rusqlite::Error),
    /// A record cannot be stored under the key it carries.
    #[error("cannot store {namespace} record under key {key:?}: {reason}")]
    InvalidKey {
        /// The namespace written to.
        namespace: &'static str,
        /// The offending key.
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A stored row does not hold a valid encoded record.
    #[error("stored {namespace} record {key} cannot be decoded: {reason}")]
    Corrupt {
        /// The namespace read from.
        namespace: &'static str,
        /// The key of the bad row.
        key: String,
        /// The decoding error, or why there was nothing to decode.
        reason: String,
    },
    /// The system clock reads before 1970, so no creation time can be recorded.
    #[error("the system clock is set before 1970")]
    ClockBeforeEpoch,
    /// The OS random source failed while drawing a fresh record id.
    #[error("cannot draw a random record id: {0}")]
    Random(getrandom::Error),
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        ApiError::internal(error.to_string())
    }
}

/// One page of a listing, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The records of this page (at most [`PAGE_SIZE`]).
    pub items: Vec<T>,
    /// Cursor for the next page: set whenever `items` is non-empty, `None` at the end.
    pub next_page_token: Option<PageToken>,
}

/// How many stored payments are in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PaymentStatusCounts {
    /// Payments in status `PENDING`.
    pub pending: u64,
    /// Payments in status `SUCCEEDED`.
    pub succeeded: u64,
    /// Payments in status `FAILED`.
    pub failed: u64,
    /// Payments whose status value this code does not know.
    pub unrecognized: u64,
}

/// A stored row as read by the page queries.
struct StoredRow {
    key: String,
    creation_time: i64,
    value: Option<Vec<u8>>,
}

/// The payment and forwarding history store. `Send + Sync`: share it behind an `Arc`.
///
/// Writes and reads use separate connections: in WAL mode a page read never waits for a
/// durable write's fsync, and a write never waits for a page read.
pub struct PaymentStore {
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    /// Reads of the event log (replaying subscribers, webhooks) never wait for a page of
    /// ListPayments, nor it for them.
    log_reader: Mutex<Connection>,
    path: PathBuf,
}

impl std::fmt::Debug for PaymentStore {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PaymentStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl PaymentStore {
    /// Opens (creating if needed) `ldk_server_data.sqlite` in `network_dir`, which is created too.
    ///
    /// Upgrades an older file in place (see [`schema`]). Refuses a file whose `user_version` is
    /// above [`SCHEMA_VERSION`] or whose own tables are above [`EXTENSION_VERSION`], without
    /// modifying it.
    pub fn open(network_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(network_dir).map_err(|source| StoreError::CreateDir {
            path: network_dir.to_path_buf(),
            source,
        })?;
        let path = network_dir.join(STORE_FILE_NAME);
        let open_error = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        let mut writer = Connection::open(&path).map_err(open_error)?;
        writer.busy_timeout(BUSY_TIMEOUT).map_err(open_error)?;
        check_versions(&writer, &path)?;
        enable_wal(&writer, &path)?;
        writer
            .pragma_update(None, "synchronous", "FULL")
            .map_err(open_error)?;
        create_schema(&mut writer, &path)?;
        let reader = Connection::open(&path).map_err(open_error)?;
        reader.busy_timeout(BUSY_TIMEOUT).map_err(open_error)?;
        let log_reader = Connection::open(&path).map_err(open_error)?;
        log_reader.busy_timeout(BUSY_TIMEOUT).map_err(open_error)?;
        Ok(Self {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            log_reader: Mutex::new(log_reader),
            path,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stores a payment under its id, durably. A new id records the current time as its
    /// creation time; a known id keeps its creation time and gets the new value.
    pub fn upsert_payment(&self, payment: &Payment) -> Result<(), StoreError> {
        let row = payment_row(payment, unix_now()?)?;
        self.write_rows(UPSERT_ROW, PAYMENTS, &[row])
    }

    /// Stores several payments in one transaction, each with the creation time (unix seconds)
    /// to record if its id is new. Meant for imports, tests and benchmarks; the server uses
    /// [`PaymentStore::upsert_payment`].
    pub fn upsert_payments_at(&self, payments: &[(Payment, i64)]) -> Result<(), StoreError> {
        let rows = payments
            .iter()
            .map(|(payment, creation_time)| payment_row(payment, *creation_time))
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.write_rows(UPSERT_ROW, PAYMENTS, &rows)
    }

    /// Records a forwarded payment under a fresh random id, durably, and returns that id.
    pub fn insert_forwarded_payment(
        &self,
        forwarded: &ForwardedPayment,
    ) -> Result<String, StoreError> {
        self.insert_forwarded_payment_at(forwarded, unix_now()?)
    }

    /// One page of payments, newest first, starting after `page` (from the newest if `None`).
    pub fn list_payments(&self, page: Option<PageToken>) -> Result<Page<Payment>, StoreError> {
        self.list(PAYMENTS, page, PAGE_SIZE)
    }

    /// One page of forwarded payments, newest first, starting after `page` (from the newest if
    /// `None`).
    pub fn list_forwarded_payments(
        &self,
        page: Option<PageToken>,
    ) -> Result<Page<ForwardedPayment>, StoreError> {
        self.list(FORWARDED_PAYMENTS, page, PAGE_SIZE)
    }

    /// Number of stored payments (an index count, no decoding).
    pub fn count_payments(&self) -> Result<u64, StoreError> {
        self.count(PAYMENTS)
    }

    /// Number of stored forwarded payments (an index count, no decoding).
    pub fn count_forwarded_payments(&self) -> Result<u64, StoreError> {
        self.count(FORWARDED_PAYMENTS)
    }

    /// Counts the stored payments by status. This decodes every payment (in batches, without
    /// holding the store for the whole walk), so call it once, at startup.
    pub fn count_payments_by_status(&self) -> Result<PaymentStatusCounts, StoreError> {
        let mut counts = PaymentStatusCounts::default();
        let mut cursor = None;
        loop {
            let page: Page<Payment> = self.list(PAYMENTS, cursor, COUNTING_BATCH)?;
            for payment in &page.items {
                match PaymentStatus::try_from(payment.status) {
                    Ok(PaymentStatus::Pending) => counts.pending += 1,
                    Ok(PaymentStatus::Succeeded) => counts.succeeded += 1,
                    Ok(PaymentStatus::Failed) => counts.failed += 1,
                    Err(_) => counts.unrecognized += 1,
                }
            }
            match page.next_page_token {
                Some(token) => cursor = Some(token),
                None => return Ok(counts),
            }
        }
    }

    /// Totals over the stored forwarding history (count, amount forwarded out, fees earned).
    /// This decodes every record in batches: call it once, at startup.
    pub fn forwarding_totals(&self) -> Result<crate::metrics::node::ForwardingTotals, StoreError> {
        let mut totals = crate::metrics::node::ForwardingTotals::default();
        let mut cursor = None;
        loop {
            let page: Page<ForwardedPayment> =
                self.list(FORWARDED_PAYMENTS, cursor, COUNTING_BATCH)?;
            for forwarded in &page.items {
                totals.count += 1;
                totals.amount_msat = totals
                    .amount_msat
                    .saturating_add(forwarded.outbound_amount_forwarded_msat.unwrap_or(0));
                totals.fees_msat = totals
                    .fees_msat
                    .saturating_add(forwarded.total_fee_earned_msat.unwrap_or(0));
            }
            match page.next_page_token {
                Some(token) => cursor = Some(token),
                None => return Ok(totals),
            }
        }
    }

    /// [`PaymentStore::insert_forwarded_payment`] with the creation time given.
    fn insert_forwarded_payment_at(
        &self,
        forwarded: &ForwardedPayment,
        creation_time: i64,
    ) -> Result<String, StoreError> {
        let id = random_id()?;
        let rows = [(id.clone(), creation_time, forwarded.encode_to_vec())];
        self.write_rows(INSERT_ROW, FORWARDED_PAYMENTS, &rows)?;
        Ok(id)
    }

    /// Runs `statement` for each `(key, creation_time, value)` row in one durable transaction.
    fn write_rows(
        &self,
        statement: &str,
        namespace: &str,
        rows: &[(String, i64, Vec<u8>)],
    ) -> Result<(), StoreError> {
        let mut connection = lock(&self.writer);
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut statement = transaction.prepare_cached(statement)?;
            for (key, creation_time, value) in rows {
                statement.execute(params![namespace, key, creation_time, value])?;
            }
        }
        transaction.commit()?;
        Ok(())
    }

    /// Up to `limit` decoded records of `namespace` after the cursor `page`.
    fn list<T: Message + Default>(
        &self,
        namespace: &'static str,
        page: Option<PageToken>,
        limit: usize,
    ) -> Result<Page<T>, StoreError> {
        let rows = self.read_page(namespace, page, limit)?;
        let next_page_token = rows.last().map(|last| PageToken {
            token: last.key.clone(),
            index: last.creation_time,
        });
        let items = rows
            .into_iter()
            .map(|row| decode_row(namespace, row))
            .collect::<Result<Vec<T>, StoreError>>()?;
        Ok(Page {
            items,
            next_page_token,
        })
    }

    /// Up to `limit` raw rows of `namespace` after the cursor, in page order. The cursor
    /// predicate is split into two index seeks (rest of the cursor's second, then older
    /// seconds) so no query ever scans rows before the cursor.
    fn read_page(
        &self,
        namespace: &str,
        page: Option<PageToken>,
        limit: usize,
    ) -> Result<Vec<StoredRow>, StoreError> {
        let (after_key, before_time) = match page {
            Some(token) => (token.token, token.index),
            None => (String::new(), i64::MAX),
        };
        let mut connection = lock(&self.reader);
        let transaction = connection.transaction()?;
        let mut rows = query_rows(
            &transaction,
            SELECT_REST_OF_SECOND,
            params![namespace, before_time, after_key, sql_limit(limit)],
        )?;
        let remaining = limit.saturating_sub(rows.len());
        if remaining > 0 {
            rows.extend(query_rows(
                &transaction,
                SELECT_OLDER_SECONDS,
                params![namespace, before_time, sql_limit(remaining)],
            )?);
        }
        transaction.commit()?;
        Ok(rows)
    }

    /// Number of rows in `namespace`.
    fn count(&self, namespace: &str) -> Result<u64, StoreError> {
        let connection = lock(&self.reader);
        let count: i64 = connection
            .prepare_cached(COUNT_ROWS)?
            .query_row([namespace], |row| row.get(0))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }
}

/// Takes a connection. A panic while it was held cannot have left it inside a transaction
/// (the transaction guard rolls back on unwind), so a poisoned lock is safe to take over.
fn lock(connection: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    connection.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs a page query and collects its rows.
fn query_rows(
    transaction: &Transaction<'_>,
    sql: &str,
    parameters: impl Params,
) -> Result<Vec<StoredRow>, StoreError> {
    let mut statement = transaction.prepare_cached(sql)?;
    let rows = statement.query_map(parameters, |row| {
        Ok(StoredRow {
            key: row.get(0)?,
            creation_time: row.get(1)?,
            value: row.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Decodes a stored row's value, naming the row if it is not a valid record.
fn decode_row<T: Message + Default>(
    namespace: &'static str,
    row: StoredRow,
) -> Result<T, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        namespace,
        key: row.key.clone(),
        reason,
    };
    let value = row
        .value
        .as_deref()
        .ok_or_else(|| corrupt("the value is NULL".to_string()))?;
    T::decode(value).map_err(|error| corrupt(error.to_string()))
}

/// The `(key, creation_time, value)` row of a payment, after checking its id.
fn payment_row(
    payment: &Payment,
    creation_time: i64,
) -> Result<(String, i64, Vec<u8>), StoreError> {
    check_payment_id(&payment.id)?;
    Ok((payment.id.clone(), creation_time, payment.encode_to_vec()))
}

/// Payment ids are stored as upstream does: 32 bytes as 64 lowercase hex digits.
fn check_payment_id(id: &str) -> Result<(), StoreError> {
    let is_lower_hex = |byte: &u8| byte.is_ascii_digit() || (b'a'..=b'f').contains(byte);
    if id.len() == 64 && id.as_bytes().iter().all(is_lower_hex) {
        Ok(())
    } else {
        Err(StoreError::InvalidKey {
            namespace: PAYMENTS,
            key: id.to_string(),
            reason: "a payment id must be 64 lowercase hex digits",
        })
    }
}

/// A fresh random 32-byte id as 64 lowercase hex digits.
fn random_id() -> Result<String, StoreError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(StoreError::Random)?;
    Ok(hex::encode(bytes))
}

/// The current time in unix seconds.
fn unix_now() -> Result<i64, StoreError> {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| StoreError::ClockBeforeEpoch)?;
    Ok(i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX))
}

/// A row count as an SQL `LIMIT` value.
fn sql_limit(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
