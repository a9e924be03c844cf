//! ListPayments with a million stored payments: fills a temporary store and prints the insert
//! rate, the latency of the first, a middle and the last page, and the rate of a full walk.
//!
//! Run with `cargo bench --bench list_payments`. `LIST_PAYMENTS_BENCH_ROWS` overrides the row
//! count (default 1,000,000).

use std::time::{Duration, Instant};

use ldk_server::proto::types::{
    payment_kind, Bolt11, PageToken, Payment, PaymentDirection, PaymentKind, PaymentStatus,
};
use ldk_server::store::{PaymentStore, PAGE_SIZE};
use sha2::{Digest, Sha256};

/// Rows written per transaction while filling the store.
const BATCH: usize = 10_000;
/// Payments recorded per second of creation time (so many rows share a second).
const PAYMENTS_PER_SECOND: u64 = 4;
/// Creation time of the oldest payment.
const FIRST_SECOND: i64 = 1_700_000_000;
/// Repetitions of each single-page measurement.
const PAGE_SAMPLES: usize = 300;
/// Single durable upserts timed (one commit and fsync each).
const SINGLE_UPSERTS: u64 = 200;

type BenchResult = Result<(), Box<dyn std::error::Error>>;

fn main() -> BenchResult {
    let rows: u64 = match std::env::var("LIST_PAYMENTS_BENCH_ROWS") {
        Ok(value) => value.parse()?,
        Err(_) => 1_000_000,
    };
    let dir = tempfile::tempdir()?;
    let store = PaymentStore::open(dir.path())?;
    println!(
        "list_payments bench: {rows} payments in {}",
        dir.path().display()
    );

    fill(&store, rows)?;
    single_upserts(&store, rows)?;
    counts(&store)?;
    let cursors = walk(&store)?;
    page_latency("first page", &store, None)?;
    page_latency("middle page", &store, cursors.middle)?;
    page_latency("last page", &store, cursors.last)?;

    let started = Instant::now();
    drop(store);
    let reopened = PaymentStore::open(dir.path())?;
    println!("reopen: {:.1} ms", millis(started.elapsed()));
    let size = std::fs::metadata(reopened.path())?.len();
    println!("database file: {:.1} MiB", size as f64 / (1024.0 * 1024.0));
    Ok(())
}

/// A realistic settled BOLT11 payment with a pseudo-random id.
fn payment(number: u64) -> Payment {
    let id = hex::encode(Sha256::digest(number.to_le_bytes()));
    let hash = hex::encode(Sha256::digest(id.as_bytes()));
    Payment {
        id,
        kind: Some(PaymentKind {
            kind: Some(payment_kind::Kind::Bolt11(Bolt11 {
                hash,
                preimage: Some("ab".repeat(32)),
                secret: Some(vec![0x5a; 32]),
                counterparty_skimmed_fee_msat: None,
            })),
        }),
        amount_msat: Some(1_000 + number),
        fee_paid_msat: Some(number % 1_000),
        direction: if number % 2 == 0 {
            PaymentDirection::Inbound
        } else {
            PaymentDirection::Outbound
        } as i32,
        status: PaymentStatus::Succeeded as i32,
        latest_update_timestamp: number,
    }
}

fn creation_time(number: u64) -> i64 {
    FIRST_SECOND + (number / PAYMENTS_PER_SECOND) as i64
}

/// Fills the store in batched transactions and prints the insert rate.
fn fill(store: &PaymentStore, rows: u64) -> BenchResult {
    let started = Instant::now();
    let mut batch = Vec::with_capacity(BATCH);
    for number in 0..rows {
        batch.push((payment(number), creation_time(number)));
        if batch.len() == BATCH {
            store.upsert_payments_at(&batch)?;
            batch.clear();
        }
    }
    store.upsert_payments_at(&batch)?;
    let elapsed = started.elapsed();
    println!(
        "insert: {rows} rows in {:.1} s = {:.0} rows/s (batches of {BATCH})",
        elapsed.as_secs_f64(),
        rows as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}

/// Times durable one-row upserts, the path a payment event takes.
fn single_upserts(store: &PaymentStore, existing: u64) -> BenchResult {
    let mut samples = Vec::new();
    for number in existing..existing + SINGLE_UPSERTS {
        let record = payment(number);
        let started = Instant::now();
        store.upsert_payment(&record)?;
        samples.push(started.elapsed());
    }
    report("single durable upsert", &mut samples);
    Ok(())
}

fn counts(store: &PaymentStore) -> BenchResult {
    let started = Instant::now();
    let total = store.count_payments()?;
    println!(
        "count_payments: {total} in {:.1} ms",
        millis(started.elapsed())
    );
    let started = Instant::now();
    let by_status = store.count_payments_by_status()?;
    println!(
        "count_payments_by_status: {by_status:?} in {:.1} ms",
        millis(started.elapsed())
    );
    Ok(())
}

/// Cursors of the middle and the last non-empty page, found during a full walk.
struct Cursors {
    middle: Option<PageToken>,
    last: Option<PageToken>,
}

/// Walks every page once and prints the page rate.
fn walk(store: &PaymentStore) -> Result<Cursors, Box<dyn std::error::Error>> {
    let total = store.count_payments()?;
    let middle_page = total / PAGE_SIZE as u64 / 2;
    let mut cursor: Option<PageToken> = None;
    let mut middle = None;
    let mut last = None;
    let mut pages = 0u64;
    let mut rows = 0u64;
    let started = Instant::now();
    loop {
        let page = store.list_payments(cursor.clone())?;
        if page.items.is_empty() {
            break;
        }
        if pages == middle_page {
            middle = cursor.clone();
        }
        last = cursor;
        pages += 1;
        rows += page.items.len() as u64;
        cursor = page.next_page_token;
    }
    let elapsed = started.elapsed();
    if rows != total {
        return Err(format!("walk returned {rows} rows, the store holds {total}").into());
    }
    println!(
        "full walk: {pages} pages, {rows} rows in {:.2} s = {:.0} pages/s",
        elapsed.as_secs_f64(),
        pages as f64 / elapsed.as_secs_f64()
    );
    Ok(Cursors { middle, last })
}

/// Times fetching (and decoding) one page from `cursor`.
fn page_latency(label: &str, store: &PaymentStore, cursor: Option<PageToken>) -> BenchResult {
    let mut samples = Vec::with_capacity(PAGE_SAMPLES);
    for _ in 0..PAGE_SAMPLES {
        let started = Instant::now();
        let page = store.list_payments(cursor.clone())?;
        samples.push(started.elapsed());
        if page.items.is_empty() {
            return Err(format!("{label} is empty").into());
        }
    }
    report(label, &mut samples);
    Ok(())
}

fn report(label: &str, samples: &mut [Duration]) {
    samples.sort();
    let percentile = |p: usize| millis(samples[(samples.len() - 1) * p / 100]);
    println!(
        "{label}: median {:.3} ms, p99 {:.3} ms, max {:.3} ms ({} samples)",
        percentile(50),
        percentile(99),
        percentile(100),
        samples.len()
    );
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1_000.0
}
