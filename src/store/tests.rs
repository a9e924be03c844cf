//! Tests of the history store: layout, pagination, durability settings and decoding errors.

use super::*;
use crate::proto::types::{payment_kind, Bolt11, HtlcLocator, PaymentDirection, PaymentKind};
use std::collections::HashSet;

/// Name of our extra index serving the page queries.
const PAGE_INDEX: &str = "idx_namespace_creation_time";

/// An inbound BOLT 11 payment numbered `number`, updated at second `number`.
pub(crate) fn payment(number: u64, status: PaymentStatus) -> Payment {
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

/// A store in a fresh temporary directory.
pub(crate) fn open_temp() -> (tempfile::TempDir, PaymentStore) {
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
        .prepare("SELECT name, type, \"notnull\", pk FROM pragma_table_info('ldk_paginated_data')")
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
                params![
                    payment_id(3),
                    payment(3, PaymentStatus::Failed).encode_to_vec()
                ],
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
