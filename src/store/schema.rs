//! The database layout and its versions.
//!
//! Two versions live in the file. `PRAGMA user_version` is upstream's: it stays at
//! [`SCHEMA_VERSION`] (1), because upstream ldk-server refuses a file whose `user_version` is
//! higher, and an operator must be able to move the data directory back. Tables that only this
//! server uses (upstream ignores them) are versioned in the one-row table `ldk_server_schema`:
//! [`EXTENSION_VERSION`], absent meaning 0. Each step of [`EXTENSION_MIGRATIONS`] upgrades an
//! existing file in place, without touching a row of the tables it already has; a file from a
//! newer server (either version higher than this code knows) is refused before anything in it
//! changes.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use super::StoreError;

/// The `PRAGMA user_version` this code writes and understands (upstream's); a higher one is
/// refused.
pub const SCHEMA_VERSION: i32 = 1;

/// The version of this server's own tables that this code writes and understands; a higher one
/// is refused.
pub const EXTENSION_VERSION: i32 = EXTENSION_MIGRATIONS.len() as i32;

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

/// The table holding [`EXTENSION_VERSION`] (one row, `id = 1`).
const CREATE_VERSION_TABLE: &str = "
    CREATE TABLE IF NOT EXISTS ldk_server_schema (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        version INTEGER NOT NULL
    );
";

/// Step `n` (0-based) takes this server's tables from version `n` to `n + 1`.
const EXTENSION_MIGRATIONS: [&str; 3] = [
    // 1: events that could not be processed after every retry (see `events`).
    "CREATE TABLE dead_lettered_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        dead_lettered_at INTEGER NOT NULL,
        event_kind TEXT NOT NULL,
        event TEXT NOT NULL,
        last_error TEXT NOT NULL,
        attempts INTEGER NOT NULL
    );",
    // 2: which API key made which outbound payment, for budgets (see `keys::budget`).
    "CREATE TABLE key_payments (
        payment_id TEXT PRIMARY KEY,
        key_id TEXT NOT NULL,
        reserved_msat INTEGER NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE INDEX idx_key_payments_key_time ON key_payments (key_id, created_at);",
    // 3: the durable event log, its pruning mark and the webhooks' cursors (see `event_log`).
    // AUTOINCREMENT: a sequence number is never handed out twice, even after the newest rows
    // were pruned.
    "CREATE TABLE event_log (
        sequence INTEGER PRIMARY KEY AUTOINCREMENT,
        recorded_at INTEGER NOT NULL,
        kind TEXT NOT NULL,
        identity BLOB NOT NULL,
        envelope BLOB NOT NULL
    );
    CREATE INDEX idx_event_log_recorded_at ON event_log (recorded_at);
    CREATE TABLE event_log_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        pruned_through INTEGER NOT NULL
    );
    INSERT INTO event_log_state (id, pruned_through) VALUES (1, 0);
    CREATE TABLE webhook_cursors (
        name TEXT PRIMARY KEY,
        delivered_through INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );",
];

/// Refuses a database written by a newer server (either version), before anything is changed;
/// returns the `(user_version, extension version)` found.
pub(super) fn check_versions(
    connection: &Connection,
    path: &Path,
) -> Result<(i32, i32), StoreError> {
    let open_error = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    let found: i32 = connection
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(open_error)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::UnsupportedVersion {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    let extensions = extension_version(connection).map_err(open_error)?;
    if extensions > EXTENSION_VERSION {
        return Err(StoreError::UnsupportedExtensionVersion {
            path: path.to_path_buf(),
            found: extensions,
            supported: EXTENSION_VERSION,
        });
    }
    Ok((found, extensions))
}

/// The version in `ldk_server_schema`, 0 when the table does not exist (a file written by
/// upstream or by a server before the table was introduced).
fn extension_version(connection: &Connection) -> rusqlite::Result<i32> {
    let has_table: bool = connection.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ldk_server_schema')",
        [],
        |row| row.get(0),
    )?;
    if !has_table {
        return Ok(0);
    }
    let version: Option<i32> = connection
        .query_row(
            "SELECT version FROM ldk_server_schema WHERE id = 1",
            [],
            |row| row.get(0),
        )
        .optional()?;
    Ok(version.unwrap_or(0))
}

/// Switches the database to WAL mode (persistent in the file) and checks that SQLite did.
pub(super) fn enable_wal(connection: &Connection, path: &Path) -> Result<(), StoreError> {
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

/// Creates upstream's table and indexes if missing, stamps a new file with [`SCHEMA_VERSION`],
/// and runs the extension migrations the file has not had yet, all in one transaction
/// (re-checking the versions under the write lock): a crash leaves the file as it was or fully
/// upgraded.
pub(super) fn create_schema(connection: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let open_error = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    let transaction = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(open_error)?;
    let (found, extensions) = check_versions(&transaction, path)?;
    transaction
        .execute_batch(CREATE_SCHEMA)
        .map_err(open_error)?;
    if found < SCHEMA_VERSION {
        transaction
            .pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(open_error)?;
    }
    if extensions < EXTENSION_VERSION {
        let done = usize::try_from(extensions).unwrap_or(0);
        for migration in &EXTENSION_MIGRATIONS[done..] {
            transaction.execute_batch(migration).map_err(open_error)?;
        }
        transaction
            .execute_batch(CREATE_VERSION_TABLE)
            .map_err(open_error)?;
        transaction
            .execute(
                "INSERT INTO ldk_server_schema (id, version) VALUES (1, ?1)
                 ON CONFLICT (id) DO UPDATE SET version = excluded.version",
                [EXTENSION_VERSION],
            )
            .map_err(open_error)?;
    }
    transaction.commit().map_err(open_error)
}
