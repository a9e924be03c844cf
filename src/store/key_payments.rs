//! Which API key made which outbound payment, and what it reserved of the key's budget (the
//! amount plus the routing fee limit), so that budgets hold across restarts.

use rusqlite::params;

use super::{lock, PaymentStore, StoreError};

const INSERT_KEY_PAYMENT: &str = "
    INSERT OR REPLACE INTO key_payments (payment_id, key_id, reserved_msat, created_at)
    VALUES (?1, ?2, ?3, ?4)";

const SELECT_KEY_PAYMENTS_SINCE: &str = "
    SELECT payment_id, reserved_msat FROM key_payments
    WHERE key_id = ?1 AND created_at > ?2 ORDER BY created_at";

/// One payment a key made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPayment {
    /// The payment id (64 hex digits; a txid for on-chain sends).
    pub payment_id: String,
    /// What the key's budget reserved for it, msat.
    pub reserved_msat: u64,
}

impl PaymentStore {
    /// Records, durably, that `key_id` made the payment `payment_id` at `created_at` (unix
    /// seconds), reserving `reserved_msat` of its budget.
    pub fn record_key_payment(
        &self,
        payment_id: &str,
        key_id: &str,
        reserved_msat: u64,
        created_at: u64,
    ) -> Result<(), StoreError> {
        let connection = lock(&self.writer);
        connection
            .prepare_cached(INSERT_KEY_PAYMENT)?
            .execute(params![
                payment_id,
                key_id,
                i64::try_from(reserved_msat).unwrap_or(i64::MAX),
                i64::try_from(created_at).unwrap_or(i64::MAX),
            ])?;
        Ok(())
    }

    /// The payments `key_id` made after `since` (unix seconds), oldest first.
    pub fn key_payments_since(
        &self,
        key_id: &str,
        since: u64,
    ) -> Result<Vec<KeyPayment>, StoreError> {
        let connection = lock(&self.reader);
        let mut statement = connection.prepare_cached(SELECT_KEY_PAYMENTS_SINCE)?;
        let rows = statement.query_map(
            params![key_id, i64::try_from(since).unwrap_or(i64::MAX)],
            |row| {
                Ok(KeyPayment {
                    payment_id: row.get(0)?,
                    reserved_msat: u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0),
                })
            },
        )?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}
