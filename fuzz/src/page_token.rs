//! `page_token`: client-supplied page tokens of ListPayments and ListForwardedPayments, against
//! a real SQLite store.
//!
//! The input is decoded as a `types.PageToken` (inputs that are not one are refused by the
//! codec long before the store, which the `api_request` target covers). The store, in a
//! temporary directory, holds [`stored_rows`]: 230 payments whose creation times include
//! `i64::MIN`, `-1`, `0`, `i64::MAX` and one second holding 120 rows, so that a page ends inside
//! a second; and a few forwarded payments.
//!
//! Invariants: no token makes the store fail or panic; a page holds exactly the rows that come
//! after the cursor in page order (`creation_time` descending, then key ascending), at most
//! `PAGE_SIZE` of them, with a token for the next page when it is not empty; following the
//! tokens from any cursor returns every later row once and ends.

use std::sync::OnceLock;

use ldk_server::proto::types::{ForwardedPayment, PageToken, Payment, PaymentStatus};
use ldk_server::store::{Page, PaymentStore, PAGE_SIZE};
use prost::Message;
use tempfile::TempDir;

/// Number of stored payments.
const PAYMENTS: usize = 230;
/// Number of stored forwarded payments.
const FORWARDS: usize = 3;
/// The busy second: 120 payments, more than a page.
pub const BUSY_SECOND: i64 = 1_700_000_000;

/// A stored payment as the page order sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Unix second of the first write.
    pub creation_time: i64,
    /// The payment id, the row's key.
    pub key: String,
}

impl Row {
    fn is_after(&self, cursor: &PageToken) -> bool {
        self.creation_time < cursor.index
            || (self.creation_time == cursor.index && self.key.as_str() > cursor.token.as_str())
    }

    fn token(&self) -> PageToken {
        PageToken {
            token: self.key.clone(),
            index: self.creation_time,
        }
    }
}

/// The stored payments, in page order.
pub fn stored_rows() -> Vec<Row> {
    let mut rows: Vec<Row> = (0..PAYMENTS)
        .map(|i| {
            // 97 is odd, so `i * 97 mod 256` differs for every i < 256: distinct keys whose
            // order is not the insertion order.
            let byte = u8::try_from(i * 97 % 256).expect("below 256");
            Row {
                creation_time: creation_time(i),
                key: hex::encode([byte; 32]),
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        b.creation_time
            .cmp(&a.creation_time)
            .then_with(|| a.key.cmp(&b.key))
    });
    rows
}

fn creation_time(i: usize) -> i64 {
    let offset = i64::try_from(i).expect("small");
    match i {
        0..120 => BUSY_SECOND,
        120..150 => BUSY_SECOND + 1,
        150..200 => offset - 150,
        200..210 => -1,
        210..220 => i64::MIN,
        _ => i64::MAX,
    }
}

struct History {
    store: PaymentStore,
    rows: Vec<Row>,
    _dir: TempDir,
}

impl History {
    fn open() -> Self {
        let dir = tempfile::tempdir().expect("a temporary store directory");
        let store = PaymentStore::open(dir.path()).expect("opening the store");
        let rows = stored_rows();
        let payments: Vec<(Payment, i64)> = rows
            .iter()
            .map(|row| (payment(&row.key), row.creation_time))
            .collect();
        store
            .upsert_payments_at(&payments)
            .expect("storing payments");
        for _ in 0..FORWARDS {
            store
                .insert_forwarded_payment(&ForwardedPayment::default())
                .expect("storing a forward");
        }
        let history = Self {
            store,
            rows,
            _dir: dir,
        };
        let first = history.list(None);
        history.assert_page(&first, &history.rows, "the first page");
        history
    }

    fn list(&self, cursor: Option<PageToken>) -> Page<Payment> {
        self.store
            .list_payments(cursor.clone())
            .unwrap_or_else(|error| panic!("ListPayments after {cursor:?} failed: {error}"))
    }

    /// Panics unless `page` is the first page of `rows`.
    fn assert_page(&self, page: &Page<Payment>, rows: &[Row], what: &str) {
        let expected = &rows[..rows.len().min(PAGE_SIZE)];
        let ids: Vec<&str> = page.items.iter().map(|p| p.id.as_str()).collect();
        let keys: Vec<&str> = expected.iter().map(|row| row.key.as_str()).collect();
        assert_eq!(ids, keys, "{what}");
        assert_eq!(
            page.next_page_token,
            expected.last().map(Row::token),
            "{what}: next page token"
        );
    }
}

fn payment(id: &str) -> Payment {
    Payment {
        id: id.to_owned(),
        amount_msat: Some(1_000),
        status: PaymentStatus::Succeeded.into(),
        ..Payment::default()
    }
}

fn history() -> &'static History {
    static HISTORY: OnceLock<History> = OnceLock::new();
    HISTORY.get_or_init(History::open)
}

/// Runs the checks on one fuzz input.
pub fn check(data: &[u8]) {
    let Ok(cursor) = PageToken::decode(data) else {
        return;
    };
    let history = history();
    let later: Vec<Row> = history
        .rows
        .iter()
        .filter(|row| row.is_after(&cursor))
        .cloned()
        .collect();
    let page = history.list(Some(cursor.clone()));
    history.assert_page(&page, &later, &format!("the page after {cursor:?}"));
    assert_following_pages_return_the_rest(history, page, &later, &cursor);
    assert_forwards_page_is_well_formed(history, cursor);
}

fn assert_following_pages_return_the_rest(
    history: &History,
    first: Page<Payment>,
    later: &[Row],
    cursor: &PageToken,
) {
    let max_pages = PAYMENTS / PAGE_SIZE + 2;
    let mut ids: Vec<String> = first.items.into_iter().map(|p| p.id).collect();
    let mut next = first.next_page_token;
    let mut pages = 1;
    while let Some(token) = next {
        pages += 1;
        assert!(pages <= max_pages, "paging from {cursor:?} does not end");
        let page = history.list(Some(token));
        ids.extend(page.items.into_iter().map(|p| p.id));
        next = page.next_page_token;
    }
    let keys: Vec<&str> = later.iter().map(|row| row.key.as_str()).collect();
    assert_eq!(ids, keys, "every row after {cursor:?}, once, in order");
}

fn assert_forwards_page_is_well_formed(history: &History, cursor: PageToken) {
    let page = history
        .store
        .list_forwarded_payments(Some(cursor.clone()))
        .unwrap_or_else(|error| panic!("ListForwardedPayments after {cursor:?} failed: {error}"));
    assert!(page.items.len() <= FORWARDS, "{cursor:?}");
    assert_eq!(
        page.next_page_token.is_some(),
        !page.items.is_empty(),
        "a forwards page after {cursor:?} has a token exactly when it is not empty"
    );
}
