//! Bringing the payment history up to date with ldk-node's payment store, and the point reads
//! and conditional writes the event loop needs for payments ldk-node does not know.
//!
//! ldk-node's store is the authority for the payments it knows; the history's copy of one is
//! outdated when ldk-node's copy was updated later, or when both carry the same update time but
//! differ. A history copy updated *later* than ldk-node's is kept: it is a resolution the server
//! recorded itself (see `events::orphans`). A payment the history lacks is added once it is
//! resolved (succeeded or failed); a pending one (a send in flight, an unpaid invoice) is not,
//! as the history records a payment from its first event and such a payment has had none.

use std::cmp::Ordering;

use prost::Message;
use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::{check_payment_id, lock, unix_now, PaymentStore, StoreError, PAYMENTS, UPSERT_ROW};
use crate::proto::types::{Payment, PaymentStatus};

/// Payments compared per read transaction (and written per write transaction).
const RECONCILE_BATCH: usize = 1_000;

/// The stored value of one payment.
const SELECT_PAYMENT: &str = "
    SELECT value FROM ldk_paginated_data
    WHERE primary_namespace = ?1 AND secondary_namespace = '' AND key = ?2";

/// What a reconciliation changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconcileOutcome {
    /// Payments compared.
    pub checked: usize,
    /// Resolved payments the history did not have.
    pub added: usize,
    /// Payments whose stored copy was outdated.
    pub updated: usize,
}

/// Whether the history's copy `stored` must be replaced by ldk-node's `current`.
pub fn is_outdated(stored: &Payment, current: &Payment) -> bool {
    match stored
        .latest_update_timestamp
        .cmp(&current.latest_update_timestamp)
    {
        Ordering::Less => true,
        Ordering::Equal => stored != current,
        Ordering::Greater => false,
    }
}

impl PaymentStore {
    /// The stored copy of a payment, if any.
    pub fn payment(&self, payment_id: &str) -> Result<Option<Payment>, StoreError> {
        let connection = lock(&self.reader);
        let value = read_value(&connection, payment_id)?;
        value
            .map(|bytes| decode_payment(payment_id, &bytes))
            .transpose()
    }

    /// Upserts every payment of `current` (ldk-node's payments) whose stored copy is outdated,
    /// or missing while the payment is resolved, and leaves the others alone. Unchanged payments cost one primary-key read and a
    /// byte comparison (no decoding); only changed rows are written, a batch per transaction.
    /// A payment new to the history gets its last update time as creation time.
    pub fn reconcile_payments(&self, current: &[Payment]) -> Result<ReconcileOutcome, StoreError> {
        let now = unix_now()?;
        let mut outcome = ReconcileOutcome {
            checked: current.len(),
            ..ReconcileOutcome::default()
        };
        for batch in current.chunks(RECONCILE_BATCH) {
            let changed = self.outdated_in(batch, &mut outcome)?;
            let rows = changed
                .into_iter()
                .map(|(payment, encoded)| {
                    let updated = i64::try_from(payment.latest_update_timestamp).unwrap_or(now);
                    (payment.id.clone(), updated.min(now), encoded)
                })
                .collect::<Vec<_>>();
            if !rows.is_empty() {
                self.write_rows(UPSERT_ROW, PAYMENTS, &rows)?;
            }
        }
        Ok(outcome)
    }

    /// Stores `payment` unless the history already holds a resolved (succeeded or failed) copy
    /// of it; returns whether it was written. The read and the write are one transaction, so a
    /// resolution the event loop records meanwhile is never overwritten.
    pub fn record_unless_resolved(&self, payment: &Payment) -> Result<bool, StoreError> {
        check_payment_id(&payment.id)?;
        let now = unix_now()?;
        let mut connection = lock(&self.writer);
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some(bytes) = read_value(&transaction, &payment.id)? {
            let stored = decode_payment(&payment.id, &bytes)?;
            if stored.status != PaymentStatus::Pending as i32 {
                return Ok(false);
            }
        }
        transaction.prepare_cached(UPSERT_ROW)?.execute(params![
            PAYMENTS,
            payment.id,
            now,
            payment.encode_to_vec()
        ])?;
        transaction.commit()?;
        Ok(true)
    }

    /// The payments of `batch` whose stored copy is missing or outdated, encoded; counts them
    /// into `outcome`.
    fn outdated_in<'a>(
        &self,
        batch: &'a [Payment],
        outcome: &mut ReconcileOutcome,
    ) -> Result<Vec<(&'a Payment, Vec<u8>)>, StoreError> {
        let mut connection = lock(&self.reader);
        let transaction = connection.transaction()?;
        let mut changed = Vec::new();
        for payment in batch {
            check_payment_id(&payment.id)?;
            let encoded = payment.encode_to_vec();
            match read_value(&transaction, &payment.id)? {
                None if payment.status == PaymentStatus::Pending as i32 => continue,
                None => outcome.added += 1,
                Some(stored) if stored == encoded => continue,
                Some(stored) => {
                    if !is_outdated(&decode_payment(&payment.id, &stored)?, payment) {
                        continue;
                    }
                    outcome.updated += 1;
                }
            }
            changed.push((payment, encoded));
        }
        transaction.commit()?;
        Ok(changed)
    }
}

/// The raw stored value of a payment.
fn read_value(
    connection: &rusqlite::Connection,
    payment_id: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    let value: Option<Option<Vec<u8>>> = connection
        .prepare_cached(SELECT_PAYMENT)?
        .query_row(params![PAYMENTS, payment_id], |row| row.get(0))
        .optional()?;
    Ok(value.map(Option::unwrap_or_default))
}

fn decode_payment(payment_id: &str, bytes: &[u8]) -> Result<Payment, StoreError> {
    Payment::decode(bytes).map_err(|error| StoreError::Corrupt {
        namespace: PAYMENTS,
        key: payment_id.to_owned(),
        reason: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::types::PaymentDirection;
    use crate::store::tests::open_temp;

    fn payment(number: u64, status: PaymentStatus, updated: u64) -> Payment {
        Payment {
            direction: PaymentDirection::Outbound as i32,
            latest_update_timestamp: updated,
            ..crate::store::tests::payment(number, status)
        }
    }

    #[test]
    fn outdated_means_missing_older_or_different_at_the_same_time() {
        let pending = payment(1, PaymentStatus::Pending, 100);
        let succeeded = payment(1, PaymentStatus::Succeeded, 105);
        assert!(is_outdated(&pending, &succeeded));
        assert!(!is_outdated(&succeeded, &pending), "a later copy is kept");
        assert!(!is_outdated(&pending, &pending));
        let same_second = payment(1, PaymentStatus::Succeeded, 100);
        assert!(is_outdated(&pending, &same_second));
        let mut fee_changed = same_second.clone();
        fee_changed.fee_paid_msat = Some(3);
        assert!(is_outdated(&same_second, &fee_changed));
    }

    #[test]
    fn reconcile_writes_only_missing_and_outdated_payments() {
        let (_dir, store) = open_temp();
        let kept = payment(1, PaymentStatus::Succeeded, 50);
        let stale = payment(2, PaymentStatus::Pending, 60);
        let resolved_later = payment(3, PaymentStatus::Failed, 90);
        store
            .upsert_payments_at(&[
                (kept.clone(), 10),
                (stale.clone(), 20),
                (resolved_later.clone(), 30),
            ])
            .unwrap();

        let node = [
            kept.clone(),
            payment(2, PaymentStatus::Succeeded, 70),
            payment(3, PaymentStatus::Pending, 80),
            payment(4, PaymentStatus::Failed, 1_000),
            payment(5, PaymentStatus::Pending, 1_100),
        ];
        let outcome = store.reconcile_payments(&node).unwrap();
        assert_eq!(
            outcome,
            ReconcileOutcome {
                checked: 5,
                added: 1,
                updated: 1
            }
        );
        assert_eq!(
            store.payment(&node[4].id).unwrap(),
            None,
            "a pending payment the history never had stays out"
        );
        assert_eq!(store.payment(&kept.id).unwrap(), Some(kept));
        assert_eq!(store.payment(&stale.id).unwrap(), Some(node[1].clone()));
        assert_eq!(
            store.payment(&resolved_later.id).unwrap(),
            Some(resolved_later),
            "the server's own later resolution is kept"
        );
        assert_eq!(store.payment(&node[3].id).unwrap(), Some(node[3].clone()));
        // The missing payment is filed at its last update time; the stale one keeps its own.
        let page = store.list_payments(None).unwrap();
        let order: Vec<&str> = page.items.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(order, [&node[3].id, &node[2].id, &node[1].id, &node[0].id]);

        let again = store.reconcile_payments(&node).unwrap();
        assert_eq!(
            (again.added, again.updated),
            (0, 0),
            "a second run is a no-op"
        );
    }

    #[test]
    fn reconcile_handles_many_payments_in_batches() {
        let (_dir, store) = open_temp();
        let node: Vec<Payment> = (0..2_500u64)
            .map(|n| payment(n, PaymentStatus::Succeeded, 1_000 + n))
            .collect();
        let first = store.reconcile_payments(&node).unwrap();
        assert_eq!(first.added, 2_500);
        assert_eq!(store.count_payments().unwrap(), 2_500);
        let mut changed = node.clone();
        changed[1_234].status = PaymentStatus::Failed as i32;
        changed[1_234].latest_update_timestamp += 1;
        let started = std::time::Instant::now();
        let second = store.reconcile_payments(&changed).unwrap();
        assert_eq!(
            second,
            ReconcileOutcome {
                checked: 2_500,
                added: 0,
                updated: 1
            }
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert_eq!(
            store.payment(&changed[1_234].id).unwrap(),
            Some(changed[1_234].clone())
        );
    }

    #[test]
    fn record_unless_resolved_never_overwrites_a_resolution() {
        let (_dir, store) = open_temp();
        let failed = payment(7, PaymentStatus::Failed, 500);
        assert!(store.record_unless_resolved(&failed).unwrap(), "new id");
        let pending = payment(8, PaymentStatus::Pending, 10);
        store.upsert_payment(&pending).unwrap();
        let failed_eight = payment(8, PaymentStatus::Failed, 600);
        assert!(store.record_unless_resolved(&failed_eight).unwrap());
        assert_eq!(store.payment(&pending.id).unwrap(), Some(failed_eight));
        let succeeded = payment(9, PaymentStatus::Succeeded, 10);
        store.upsert_payment(&succeeded).unwrap();
        assert!(!store
            .record_unless_resolved(&payment(9, PaymentStatus::Failed, 700))
            .unwrap());
        assert_eq!(store.payment(&succeeded.id).unwrap(), Some(succeeded));
        assert_eq!(store.payment(&"ab".repeat(32)).unwrap(), None);
    }
}
