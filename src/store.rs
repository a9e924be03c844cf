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
//! The API is synchronous: async callers run it on `spawn_blocking`.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prost::Message;
use rusqlite::{params, Connection, Params, Transaction, TransactionBehavior};

use crate::error::ApiError;
use crate::proto::types::{ForwardedPayment, PageToken, Payment, PaymentStatus};

/// Name of the store's file inside the network directory (upstream's name).
pub const STORE_FILE_NAME: &str = "ldk_server_data.sqlite";

/// The `PRAGMA user_version` this code writes and understands; a higher one is refused.
pub const SCHEMA_VERSION: i32 = 1;

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

/// Upstream's table and index, plus our page index (harmless to upstream, which ignores it).
/// `DEFAULT ''` is the same literal upstream spells `DEFAULT ""`.
const CREATE_SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS ldk_paginated_data (
        primary_namespace TEXT NOT NULL,
        secondary_namespace TEXT NOT NULL DEFAULT '',
        key TEXT NOT NULL CHECK (key <> ''),
        creation_time INTEGER NOT NULL,
        value BLOB,
        PRIMARY KEY (primary_namespace, secondary_namespace, key)
    );
    CREATE INDEX IF NOT EXISTS idx_creation_time ON ldk_paginated_data (creation_time);
    CREATE INDEX IF NOT EXISTS idx_namespace_creation_time
        ON ldk_paginated_data (primary_namespace, secondary_namespace, creation_time DESC, key);
";

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
    /// Refuses a file whose `user_version` is above [`SCHEMA_VERSION`], without modifying it.
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
        check_schema_version(&writer, &path)?;
        enable_wal(&writer, &path)?;
        writer
            .pragma_update(None, "synchronous", "FULL")
            .map_err(open_error)?;
        create_schema(&mut writer, &path)?;
        let reader = Connection::open(&path).map_err(open_error)?;
        reader.busy_timeout(BUSY_TIMEOUT).map_err(open_error)?;
        Ok(Self {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
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

/// Refuses a database written by a newer schema version, before anything is changed.
fn check_schema_version(connection: &Connection, path: &Path) -> Result<i32, StoreError> {
    let found: i32 = connection
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::UnsupportedVersion {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(found)
}

/// Switches the database to WAL mode (persistent in the file) and checks that SQLite did.
fn enable_wal(connection: &Connection, path: &Path) -> Result<(), StoreError> {
    let mode: String = connection
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
    if mode.eq_ignore_ascii_case("wal") {
        Ok(())
    } else {
        Err(StoreError::NoWal {
            path: path.to_path_buf(),
            mode,
        })
    }
}

/// Creates the table and indexes if missing and stamps a new file with [`SCHEMA_VERSION`],
/// in one transaction (re-checking the version under the write lock).
fn create_schema(connection: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let open_error = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    let transaction = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(open_error)?;
    let found = check_schema_version(&transaction, path)?;
    transaction
        .execute_batch(CREATE_SCHEMA)
        .map_err(open_error)?;
    if found < SCHEMA_VERSION {
        transaction
            .pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(open_error)?;
    }
    transaction.commit().map_err(open_error)
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
mod tests {
    use super::*;
    use crate::proto::types::{payment_kind, Bolt11, HtlcLocator, PaymentDirection, PaymentKind};
    use std::collections::HashSet;

    /// Name of our extra index serving the page queries.
    const PAGE_INDEX: &str = "idx_namespace_creation_time";

    fn payment(number: u64, status: PaymentStatus) -> Payment {
        Payment {
            id: payment_id(number),
            kind: Some(PaymentKind {
                kind: Some(payment_kind::Kind::Bolt11(Bolt11 {
                    hash: format!("{number:064x}"),
                    preimage: None,
                    secret: Some(vec![7; 32]),
                    counterparty_skimmed_fee_msat: None,
                })),
            }),
            amount_msat: Some(number * 1_000),
            fee_paid_msat: None,
            direction: PaymentDirection::Inbound as i32,
            status: status as i32,
            latest_update_timestamp: number,
        }
    }

    /// Ids whose order differs from their numbers, so key order is actually exercised.
    fn payment_id(number: u64) -> String {
        let scrambled = number.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        format!("{scrambled:016x}").repeat(4)
    }

    fn forward(fee: u64) -> ForwardedPayment {
        ForwardedPayment {
            total_fee_earned_msat: Some(fee),
            skimmed_fee_msat: None,
            claim_from_onchain_tx: false,
            outbound_amount_forwarded_msat: Some(fee * 100),
            prev_htlcs: vec![HtlcLocator {
                channel_id: "11".repeat(32),
                user_channel_id: None,
                node_id: None,
            }],
            next_htlcs: vec![],
        }
    }

    fn open_temp() -> (tempfile::TempDir, PaymentStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = PaymentStore::open(dir.path()).unwrap();
        (dir, store)
    }

    /// Every page from the start, including the final empty one.
    fn walk_payments(store: &PaymentStore) -> Vec<Page<Payment>> {
        let mut pages = Vec::new();
        let mut cursor = None;
        loop {
            let page = store.list_payments(cursor).unwrap();
            cursor = page.next_page_token.clone();
            let last = cursor.is_none();
            pages.push(page);
            if last {
                return pages;
            }
        }
    }

    #[test]
    fn store_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<PaymentStore>();
    }

    #[test]
    fn empty_store_lists_an_empty_page_without_token() {
        let (_dir, store) = open_temp();
        let page = store.list_payments(None).unwrap();
        assert!(page.items.is_empty());
        assert_eq!(page.next_page_token, None);
        let forwards = store.list_forwarded_payments(None).unwrap();
        assert!(forwards.items.is_empty());
        assert_eq!(forwards.next_page_token, None);
        assert_eq!(store.count_payments().unwrap(), 0);
        assert_eq!(
            store.count_payments_by_status().unwrap(),
            PaymentStatusCounts::default()
        );
    }

    #[test]
    fn new_file_has_upstream_layout_and_durable_settings() {
        let (dir, store) = open_temp();
        assert_eq!(store.path(), dir.path().join("ldk_server_data.sqlite"));
        let connection = lock(&store.writer);
        let version: i32 = connection
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(version, 1);
        let mode: String = connection
            .pragma_query_value(None, "journal_mode", |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let synchronous: i32 = connection
            .pragma_query_value(None, "synchronous", |row| row.get(0))
            .unwrap();
        assert_eq!(synchronous, 2, "synchronous must be FULL");
        let mut columns = connection
            .prepare(
                "SELECT name, type, \"notnull\", pk FROM pragma_table_info('ldk_paginated_data')",
            )
            .unwrap();
        let columns: Vec<(String, String, bool, i32)> = columns
            .query_map([], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let expected = [
            ("primary_namespace", "TEXT", true, 1),
            ("secondary_namespace", "TEXT", true, 2),
            ("key", "TEXT", true, 3),
            ("creation_time", "INTEGER", true, 0),
            ("value", "BLOB", false, 0),
        ];
        let expected: Vec<(String, String, bool, i32)> = expected
            .iter()
            .map(|(name, kind, not_null, pk)| (name.to_string(), kind.to_string(), *not_null, *pk))
            .collect();
        assert_eq!(columns, expected);
        let indexes: HashSet<String> = connection
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index'")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(indexes.contains("idx_creation_time"));
        assert!(indexes.contains(PAGE_INDEX));
        let empty_key = connection.execute(
            "INSERT INTO ldk_paginated_data (primary_namespace, key, creation_time) VALUES ('payments', '', 1)",
            [],
        );
        assert!(
            empty_key.is_err(),
            "the CHECK(key<>'') constraint is missing"
        );
    }

    #[test]
    fn upsert_keeps_creation_time_and_replaces_value() {
        let (_dir, store) = open_temp();
        store
            .upsert_payments_at(&[(payment(1, PaymentStatus::Pending), 100)])
            .unwrap();
        store
            .upsert_payments_at(&[(payment(2, PaymentStatus::Pending), 150)])
            .unwrap();
        store
            .upsert_payments_at(&[(payment(1, PaymentStatus::Succeeded), 200)])
            .unwrap();

        let page = store.list_payments(None).unwrap();
        let ids: Vec<&str> = page.items.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, [payment_id(2), payment_id(1)]);
        assert_eq!(page.items[1], payment(1, PaymentStatus::Succeeded));
        assert_eq!(
            page.next_page_token,
            Some(PageToken {
                token: payment_id(1),
                index: 100
            })
        );
        assert_eq!(store.count_payments().unwrap(), 2);
    }

    #[test]
    fn upsert_payment_uses_the_clock() {
        let (_dir, store) = open_temp();
        let before = unix_now().unwrap();
        store
            .upsert_payment(&payment(5, PaymentStatus::Failed))
            .unwrap();
        let after = unix_now().unwrap();
        let token = store.list_payments(None).unwrap().next_page_token.unwrap();
        assert!((before..=after).contains(&token.index));
    }

    #[test]
    fn walk_returns_every_payment_once_newest_first() {
        let (_dir, store) = open_temp();
        // 263 payments over four seconds; two seconds hold more rows than a page.
        let seconds = [(1_000, 120), (1_001, 5), (1_002, 131), (1_003, 7)];
        let mut expected: Vec<(i64, String)> = Vec::new();
        let mut number = 0;
        for (second, how_many) in seconds {
            let batch: Vec<(Payment, i64)> = (0..how_many)
                .map(|_| {
                    number += 1;
                    (payment(number, PaymentStatus::Succeeded), second)
                })
                .collect();
            expected.extend(batch.iter().map(|(p, t)| (*t, p.id.clone())));
            store.upsert_payments_at(&batch).unwrap();
        }
        expected.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));

        let pages = walk_payments(&store);
        let sizes: Vec<usize> = pages.iter().map(|p| p.items.len()).collect();
        assert_eq!(sizes, [100, 100, 63, 0]);
        assert_eq!(pages.last().unwrap().next_page_token, None);
        for page in &pages[..3] {
            let last = page.items.last().unwrap();
            let token = page.next_page_token.as_ref().unwrap();
            assert_eq!(token.token, last.id);
        }
        let walked: Vec<String> = pages
            .iter()
            .flat_map(|p| p.items.iter().map(|item| item.id.clone()))
            .collect();
        let expected_ids: Vec<String> = expected.iter().map(|(_, id)| id.clone()).collect();
        assert_eq!(walked, expected_ids);
        let unique: HashSet<&String> = walked.iter().collect();
        assert_eq!(unique.len(), 263);
    }

    #[test]
    fn page_starts_strictly_after_the_token() {
        let (_dir, store) = open_temp();
        let rows: Vec<(Payment, i64)> = (1..=3)
            .map(|n| (payment(n, PaymentStatus::Pending), 50))
            .collect();
        store.upsert_payments_at(&rows).unwrap();
        let mut ids: Vec<String> = (1..=3).map(payment_id).collect();
        ids.sort();
        let page = store
            .list_payments(Some(PageToken {
                token: ids[0].clone(),
                index: 50,
            }))
            .unwrap();
        let listed: Vec<&str> = page.items.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(listed, [ids[1].as_str(), ids[2].as_str()]);
        let older = store
            .list_payments(Some(PageToken {
                token: String::new(),
                index: 50,
            }))
            .unwrap();
        assert_eq!(
            older.items.len(),
            3,
            "an empty token includes the whole second"
        );
        let none = store
            .list_payments(Some(PageToken {
                token: String::new(),
                index: 49,
            }))
            .unwrap();
        assert!(none.items.is_empty());
        assert_eq!(none.next_page_token, None);
    }

    #[test]
    fn forwarded_payments_get_random_ids_and_list_newest_first() {
        let (_dir, store) = open_temp();
        let first = store.insert_forwarded_payment_at(&forward(1), 10).unwrap();
        let second = store.insert_forwarded_payment_at(&forward(2), 20).unwrap();
        let third = store.insert_forwarded_payment(&forward(3)).unwrap();
        for id in [&first, &second, &third] {
            assert_eq!(id.len(), 64);
            assert!(check_payment_id(id).is_ok(), "{id} is not lowercase hex");
        }
        assert_ne!(first, second);
        let page = store.list_forwarded_payments(None).unwrap();
        assert_eq!(page.items, [forward(3), forward(2), forward(1)]);
        assert_eq!(
            page.next_page_token,
            Some(PageToken {
                token: first,
                index: 10
            })
        );
        assert_eq!(store.count_forwarded_payments().unwrap(), 3);
        assert_eq!(store.count_payments().unwrap(), 0);
        let end = store.list_forwarded_payments(page.next_page_token).unwrap();
        assert!(end.items.is_empty());
        assert_eq!(end.next_page_token, None);
    }

    #[test]
    fn reads_see_committed_rows_without_waiting_for_an_open_write() {
        let (_dir, store) = open_temp();
        store
            .upsert_payments_at(&[(payment(1, PaymentStatus::Succeeded), 10)])
            .unwrap();
        let mut writer = lock(&store.writer);
        let transaction = writer
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        let pending = payment(2, PaymentStatus::Pending);
        transaction
            .execute(
                UPSERT_ROW,
                params![PAYMENTS, pending.id, 20, pending.encode_to_vec()],
            )
            .unwrap();
        let started = std::time::Instant::now();
        let page = store.list_payments(None).unwrap();
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(page.items, [payment(1, PaymentStatus::Succeeded)]);
        transaction.commit().unwrap();
        drop(writer);
        assert_eq!(store.list_payments(None).unwrap().items.len(), 2);
    }

    #[test]
    fn reopen_keeps_data() {
        let dir = tempfile::tempdir().unwrap();
        let network_dir = dir.path().join("regtest");
        {
            let store = PaymentStore::open(&network_dir).unwrap();
            store
                .upsert_payments_at(&[(payment(9, PaymentStatus::Succeeded), 77)])
                .unwrap();
            store.insert_forwarded_payment(&forward(4)).unwrap();
        }
        let store = PaymentStore::open(&network_dir).unwrap();
        let page = store.list_payments(None).unwrap();
        assert_eq!(page.items, [payment(9, PaymentStatus::Succeeded)]);
        assert_eq!(page.next_page_token.unwrap().index, 77);
        assert_eq!(
            store.list_forwarded_payments(None).unwrap().items,
            [forward(4)]
        );
    }

    #[test]
    fn newer_schema_version_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STORE_FILE_NAME);
        {
            let connection = Connection::open(&path).unwrap();
            connection.pragma_update(None, "user_version", 2).unwrap();
        }
        let error = match PaymentStore::open(dir.path()) {
            Err(error) => error,
            Ok(_) => panic!("a version 2 database was opened"),
        };
        assert!(matches!(
            error,
            StoreError::UnsupportedVersion {
                found: 2,
                supported: 1,
                ..
            }
        ));
        let message = error.to_string();
        assert!(message.contains("schema version 2"), "{message}");
        assert!(message.contains(STORE_FILE_NAME), "{message}");
        let connection = Connection::open(&path).unwrap();
        let mode: String = connection
            .pragma_query_value(None, "journal_mode", |row| row.get(0))
            .unwrap();
        assert_ne!(mode, "wal", "the refused file was modified");
    }

    #[test]
    fn opens_a_file_written_by_upstream() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STORE_FILE_NAME);
        {
            let connection = Connection::open(&path).unwrap();
            connection
                .execute_batch(
                    "CREATE TABLE ldk_paginated_data (primary_namespace TEXT NOT NULL, \
                     secondary_namespace TEXT NOT NULL DEFAULT \"\", key TEXT NOT NULL \
                     CHECK (key <> ''), creation_time INTEGER NOT NULL, value BLOB, \
                     PRIMARY KEY (primary_namespace, secondary_namespace, key)); \
                     CREATE INDEX idx_creation_time ON ldk_paginated_data (creation_time); \
                     PRAGMA user_version = 1;",
                )
                .unwrap();
            connection
                .execute(
                    "INSERT INTO ldk_paginated_data (primary_namespace, key, creation_time, value) \
                     VALUES ('payments', ?1, 42, ?2)",
                    params![payment_id(3), payment(3, PaymentStatus::Failed).encode_to_vec()],
                )
                .unwrap();
        }
        let store = PaymentStore::open(dir.path()).unwrap();
        let page = store.list_payments(None).unwrap();
        assert_eq!(page.items, [payment(3, PaymentStatus::Failed)]);
        assert_eq!(page.next_page_token.unwrap().index, 42);
    }

    #[test]
    fn undecodable_row_is_an_error_naming_the_key() {
        let (_dir, store) = open_temp();
        lock(&store.writer)
            .execute(
                "INSERT INTO ldk_paginated_data (primary_namespace, key, creation_time, value) \
                 VALUES ('payments', 'badrow', 1, x'ffffffff')",
                [],
            )
            .unwrap();
        let error = store.list_payments(None).unwrap_err();
        assert!(matches!(&error, StoreError::Corrupt { key, .. } if key == "badrow"));
        assert!(error.to_string().contains("badrow"));
        assert!(store.count_payments_by_status().is_err());
    }

    #[test]
    fn malformed_payment_id_is_refused() {
        let (_dir, store) = open_temp();
        for id in ["", "abc", &"AB".repeat(32), &"g0".repeat(32)] {
            let mut bad = payment(1, PaymentStatus::Pending);
            bad.id = id.to_string();
            let error = store.upsert_payment(&bad).unwrap_err();
            assert!(matches!(error, StoreError::InvalidKey { .. }), "{id:?}");
        }
        assert_eq!(store.count_payments().unwrap(), 0);
    }

    #[test]
    fn counts_payments_by_status_across_batches() {
        let (_dir, store) = open_temp();
        let rows: Vec<(Payment, i64)> = (0..2_500u64)
            .map(|n| {
                let status = match n % 5 {
                    0 => PaymentStatus::Failed,
                    1 | 2 => PaymentStatus::Pending,
                    _ => PaymentStatus::Succeeded,
                };
                (payment(n, status), i64::try_from(n / 7).unwrap())
            })
            .collect();
        store.upsert_payments_at(&rows).unwrap();
        let mut odd = payment(99_999, PaymentStatus::Pending);
        odd.status = 17;
        store.upsert_payments_at(&[(odd, 3)]).unwrap();
        let counts = store.count_payments_by_status().unwrap();
        assert_eq!(
            counts,
            PaymentStatusCounts {
                pending: 1_000,
                succeeded: 1_000,
                failed: 500,
                unrecognized: 1,
            }
        );
        assert_eq!(store.count_payments().unwrap(), 2_501);
    }

    /// `EXPLAIN QUERY PLAN` detail lines of a statement.
    fn query_plan(connection: &Connection, sql: &str, parameters: impl Params) -> Vec<String> {
        let mut statement = connection
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        statement
            .query_map(parameters, |row| row.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn page_queries_seek_the_index_without_scan_or_sort() {
        let (_dir, store) = open_temp();
        let rows: Vec<(Payment, i64)> = (0..500u64)
            .map(|n| {
                (
                    payment(n, PaymentStatus::Succeeded),
                    i64::try_from(n / 3).unwrap(),
                )
            })
            .collect();
        store.upsert_payments_at(&rows).unwrap();
        let connection = lock(&store.writer);
        connection.execute_batch("ANALYZE").unwrap();
        let plans = [
            query_plan(
                &connection,
                SELECT_REST_OF_SECOND,
                params![PAYMENTS, 100, "ab", 100],
            ),
            query_plan(
                &connection,
                SELECT_OLDER_SECONDS,
                params![PAYMENTS, 100, 100],
            ),
            query_plan(&connection, COUNT_ROWS, params![PAYMENTS]),
        ];
        for plan in plans {
            let text = plan.join(" | ");
            assert_eq!(plan.len(), 1, "{text}");
            assert!(text.starts_with("SEARCH "), "{text}");
            assert!(text.contains(PAGE_INDEX), "{text}");
            assert!(!text.contains("SCAN"), "{text}");
            assert!(!text.contains("TEMP B-TREE"), "{text}");
        }
    }
}
