//! The dead-letter table: events the event loop gave up on after every retry, kept so that an
//! operator can see what was not recorded and why (`sqlite3 ldk_server_data.sqlite 'SELECT *
//! FROM dead_lettered_events'`). Rows are only ever added.

use rusqlite::params;

use super::{lock, PaymentStore, StoreError};

/// Adds a dead letter.
const INSERT_DEAD_LETTER: &str = "
    INSERT INTO dead_lettered_events (dead_lettered_at, event_kind, event, last_error, attempts)
    VALUES (?1, ?2, ?3, ?4, ?5)";

/// The dead letters, newest first.
const SELECT_DEAD_LETTERS: &str = "
    SELECT id, dead_lettered_at, event_kind, event, last_error, attempts
    FROM dead_lettered_events ORDER BY id DESC LIMIT ?1";

/// An event that could not be processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// When it was given up on, unix seconds.
    pub dead_lettered_at: i64,
    /// The event's variant (`PaymentSuccessful`, `ChannelClosed`, ...).
    pub event_kind: String,
    /// The event's full debug text.
    pub event: String,
    /// The error of the last attempt.
    pub last_error: String,
    /// How many times processing was tried.
    pub attempts: u32,
}

/// A dead letter as stored, with its row id (increasing in the order they were written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDeadLetter {
    /// The row id.
    pub id: i64,
    /// The dead letter.
    pub letter: DeadLetter,
}

impl PaymentStore {
    /// Stores a dead letter, durably, and returns its row id.
    pub fn record_dead_letter(&self, letter: &DeadLetter) -> Result<i64, StoreError> {
        let connection = lock(&self.writer);
        connection
            .prepare_cached(INSERT_DEAD_LETTER)?
            .execute(params![
                letter.dead_lettered_at,
                letter.event_kind,
                letter.event,
                letter.last_error,
                letter.attempts,
            ])?;
        Ok(connection.last_insert_rowid())
    }

    /// The newest `limit` dead letters, newest first.
    pub fn dead_letters(&self, limit: usize) -> Result<Vec<StoredDeadLetter>, StoreError> {
        let connection = lock(&self.reader);
        let mut statement = connection.prepare_cached(SELECT_DEAD_LETTERS)?;
        let rows = statement.query_map([super::sql_limit(limit)], |row| {
            Ok(StoredDeadLetter {
                id: row.get(0)?,
                letter: DeadLetter {
                    dead_lettered_at: row.get(1)?,
                    event_kind: row.get(2)?,
                    event: row.get(3)?,
                    last_error: row.get(4)?,
                    attempts: row.get(5)?,
                },
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Number of dead letters.
    pub fn count_dead_letters(&self) -> Result<u64, StoreError> {
        let connection = lock(&self.reader);
        let count: i64 = connection
            .prepare_cached("SELECT COUNT(*) FROM dead_lettered_events")?
            .query_row([], |row| row.get(0))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{EXTENSION_VERSION, SCHEMA_VERSION, STORE_FILE_NAME};
    use rusqlite::Connection;

    fn letter(kind: &str, attempts: u32) -> DeadLetter {
        DeadLetter {
            dead_lettered_at: 1_700_000_000 + i64::from(attempts),
            event_kind: kind.to_owned(),
            event: format!("{kind} {{ payment_id: None }}"),
            last_error: "payment event carries no payment id".to_owned(),
            attempts,
        }
    }

    #[test]
    fn dead_letters_are_stored_durably_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = PaymentStore::open(dir.path()).unwrap();
            assert_eq!(store.count_dead_letters().unwrap(), 0);
            let first = store
                .record_dead_letter(&letter("PaymentSuccessful", 5))
                .unwrap();
            let second = store
                .record_dead_letter(&letter("PaymentFailed", 6))
                .unwrap();
            assert!(second > first);
        }
        let store = PaymentStore::open(dir.path()).unwrap();
        assert_eq!(store.count_dead_letters().unwrap(), 2);
        let letters = store.dead_letters(10).unwrap();
        let stored: Vec<&DeadLetter> = letters.iter().map(|l| &l.letter).collect();
        assert_eq!(
            stored,
            [&letter("PaymentFailed", 6), &letter("PaymentSuccessful", 5)]
        );
        assert_eq!(store.dead_letters(1).unwrap().len(), 1);
        assert_eq!(
            store.count_payments().unwrap(),
            0,
            "no payment row was made"
        );
    }

    /// A file as the previous release wrote it: upstream's layout at `user_version` 1, with no
    /// table of ours.
    fn write_version_one_file(path: &std::path::Path) {
        let connection = Connection::open(path).unwrap();
        connection
            .execute_batch(
                "CREATE TABLE ldk_paginated_data (primary_namespace TEXT NOT NULL, \
                 secondary_namespace TEXT NOT NULL DEFAULT '', key TEXT NOT NULL \
                 CHECK (key <> ''), creation_time INTEGER NOT NULL, value BLOB, \
                 PRIMARY KEY (primary_namespace, secondary_namespace, key)); \
                 CREATE INDEX idx_creation_time ON ldk_paginated_data (creation_time); \
                 PRAGMA user_version = 1;",
            )
            .unwrap();
        for n in 0..250 {
            connection
                .execute(
                    "INSERT INTO ldk_paginated_data (primary_namespace, key, creation_time, value) \
                     VALUES ('payments', ?1, ?2, x'')",
                    params![format!("{n:064x}"), n],
                )
                .unwrap();
        }
    }

    #[test]
    fn a_version_one_file_is_upgraded_in_place_keeping_every_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STORE_FILE_NAME);
        write_version_one_file(&path);

        let store = PaymentStore::open(dir.path()).unwrap();
        assert_eq!(store.count_payments().unwrap(), 250);
        let page = store.list_payments(None).unwrap();
        assert_eq!(page.items.len(), crate::store::PAGE_SIZE);
        assert_eq!(page.next_page_token.unwrap().index, 150, "newest first");
        store
            .record_dead_letter(&letter("ChannelClosed", 5))
            .unwrap();
        drop(store);

        let connection = Connection::open(&path).unwrap();
        let user_version: i32 = connection
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(user_version, SCHEMA_VERSION, "upstream's version is kept");
        let ours: i32 = connection
            .query_row("SELECT version FROM ldk_server_schema", [], |row| {
                row.get(0)
            })
            .unwrap();
        assert_eq!(ours, EXTENSION_VERSION);
        let rows: i64 = connection
            .query_row("SELECT COUNT(*) FROM ldk_paginated_data", [], |row| {
                row.get(0)
            })
            .unwrap();
        assert_eq!(rows, 250);
        drop(connection);

        // Opening again is a no-op: no migration runs twice.
        let store = PaymentStore::open(dir.path()).unwrap();
        assert_eq!(store.count_dead_letters().unwrap(), 1);
        assert_eq!(store.count_payments().unwrap(), 250);
    }

    #[test]
    fn newer_extension_version_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STORE_FILE_NAME);
        write_version_one_file(&path);
        {
            let connection = Connection::open(&path).unwrap();
            connection
                .execute_batch(
                    "CREATE TABLE ldk_server_schema (id INTEGER PRIMARY KEY, version INTEGER); \
                     INSERT INTO ldk_server_schema VALUES (1, 99);",
                )
                .unwrap();
        }
        let error = PaymentStore::open(dir.path()).unwrap_err();
        assert!(
            matches!(
                error,
                StoreError::UnsupportedExtensionVersion {
                    found: 99,
                    supported: EXTENSION_VERSION,
                    ..
                }
            ),
            "{error}"
        );
        assert!(error.to_string().contains("ldk_server_schema"), "{error}");
        let connection = Connection::open(&path).unwrap();
        let has_dead_letters: bool = connection
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'dead_lettered_events')",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert!(!has_dead_letters, "the refused file was modified");
        let mode: String = connection
            .pragma_query_value(None, "journal_mode", |row| row.get(0))
            .unwrap();
        assert_ne!(mode, "wal", "the refused file was modified");
    }
}
