//! Spending budgets: at most `max_send_msat` over any rolling window, per key.
//!
//! [`BudgetSpec`] is the limit (`100000sat/24h`). [`send_within_budget`] enforces it: under
//! the key's lock it adds up what the key's payments in the window count (from the history
//! table `key_payments` and each payment's status in ldk-node: failed ones count nothing), checks
//! that the send's worst case (amount plus routing fee limit) fits, makes the send and records
//! it, so concurrent sends of one key can never together exceed the limit.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use ldk_node::lightning::ln::channelmanager::PaymentId;
use ldk_node::lightning::routing::router::RouteParametersConfig;
use ldk_node::payment::PaymentStatus;

use super::KeyEntry;
use crate::api::ApiContext;
use crate::auth::KeyId;
use crate::error::{ApiError, ApiResult};
use crate::store::key_payments::KeyPayment;
use crate::store::PaymentStore;

/// Most msat a budget may allow: all bitcoin.
const MAX_BUDGET_MSAT: u64 = 21_000_000 * 100_000_000 * 1_000;
/// Longest window or expiry: about 100 years.
const MAX_DURATION_SECS: u64 = 100 * 366 * 86_400;

/// A key's spending limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetSpec {
    /// Most msat over one window (amounts plus routing fee limits).
    pub max_send_msat: u64,
    /// The rolling window.
    pub window: Duration,
}

impl BudgetSpec {
    /// Checks the limit and window (both at least 1, at most all bitcoin and about 100 years).
    pub fn new(max_send_msat: u64, window_secs: u64) -> Result<Self, String> {
        if max_send_msat == 0 || max_send_msat > MAX_BUDGET_MSAT {
            return Err(format!(
                "a budget is 1 msat to 21,000,000 BTC ({MAX_BUDGET_MSAT} msat), not {max_send_msat} msat"
            ));
        }
        if window_secs == 0 || window_secs > MAX_DURATION_SECS {
            return Err(format!(
                "a budget window is 1 s to 100 years, not {window_secs} s"
            ));
        }
        Ok(Self {
            max_send_msat,
            window: Duration::from_secs(window_secs),
        })
    }
}

impl fmt::Display for BudgetSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}msat/{}s", self.max_send_msat, self.window.as_secs())
    }
}

impl FromStr for BudgetSpec {
    type Err = String;

    /// `<amount><sat|msat>/<duration>`, e.g. `100000sat/24h`.
    fn from_str(text: &str) -> Result<Self, String> {
        let malformed = || {
            format!(
                "invalid budget {:?}: expected <amount>sat/<window>, e.g. 100000sat/24h",
                text.chars().take(64).collect::<String>()
            )
        };
        let (amount, window) = text.trim().split_once('/').ok_or_else(malformed)?;
        let digits = amount
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(amount.len());
        let (number, unit) = amount.split_at(digits);
        let number: u64 = number.parse().map_err(|_| malformed())?;
        let msat = match unit {
            "sat" | "sats" => number.checked_mul(1_000).ok_or_else(malformed)?,
            "msat" | "msats" => number,
            _ => return Err(malformed()),
        };
        let window = parse_duration(window)?;
        Self::new(msat, window.as_secs())
    }
}

/// `<n><s|m|h|d>`, e.g. `30d`, `24h`, `90s`: at least 1 s, at most about 100 years.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let malformed = || {
        format!(
            "invalid duration {:?}: expected a number and s, m, h or d, e.g. 30d",
            text.chars().take(64).collect::<String>()
        )
    };
    let unit_at = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(malformed)?;
    let (number, unit) = text.split_at(unit_at);
    let number: u64 = number.parse().map_err(|_| malformed())?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(malformed()),
    };
    let secs = number.checked_mul(unit_secs).ok_or_else(malformed)?;
    if secs == 0 || secs > MAX_DURATION_SECS {
        return Err(format!("a duration is 1 s to 100 years, not {text:?}"));
    }
    Ok(Duration::from_secs(secs))
}

/// Per-key locks that make "check what is left, send, record" one step: one per key id in the
/// process (a key id names the same key everywhere), created on a key's first budgeted send.
static KEY_LOCKS: LazyLock<Mutex<HashMap<KeyId, Arc<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Most idle locks kept before the idle ones are dropped.
const MAX_IDLE_LOCKS: usize = 1_024;

async fn lock_key(id: KeyId) -> tokio::sync::OwnedMutexGuard<()> {
    let lock = {
        let mut locks = KEY_LOCKS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if locks.len() >= MAX_IDLE_LOCKS {
            locks.retain(|_, lock| Arc::strong_count(lock) > 1);
        }
        Arc::clone(locks.entry(id).or_default())
    };
    lock.lock_owned().await
}

/// LDK's routing fee limit when a request sets none: 1 % of the amount plus 50 sat.
pub fn default_routing_fee_limit_msat(amount_msat: u64) -> u64 {
    (amount_msat / 100).saturating_add(50_000)
}

/// What a send by the calling key may cost at most: its amount plus its routing fee limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendCost {
    /// msat.
    pub msat: u64,
}

/// A Lightning send's worst case for the calling key's budget, and its route parameters with
/// the routing fee limit made explicit when the key has a budget (so what is counted is what
/// LDK enforces: LDK's default limit when the request set none).
pub fn lightning_send_cost(
    amount_msat: u64,
    route: Option<RouteParametersConfig>,
) -> (SendCost, Option<RouteParametersConfig>) {
    if !caller_has_budget() {
        return (SendCost { msat: 0 }, route);
    }
    let mut route = route.unwrap_or_default();
    let fee_limit = route
        .max_total_routing_fee_msat
        .unwrap_or_else(|| default_routing_fee_limit_msat(amount_msat));
    route.max_total_routing_fee_msat = Some(fee_limit);
    (
        SendCost {
            msat: amount_msat.saturating_add(fee_limit),
        },
        Some(route),
    )
}

/// Whether the calling key (see [`super::current_caller`]) has a budget.
pub fn caller_has_budget() -> bool {
    super::current_caller().is_some_and(|caller| caller.key().budget.is_some())
}

/// Makes a send of the calling key within its budget: checks what the key's payments in the
/// window leave, runs `send` (which returns its result and the payment id) on the node and
/// records the payment against the key, all under the key's lock, so concurrent sends of one
/// key never together exceed its budget. A key without a budget (or no key, in tests) sends
/// directly. Over budget is PERMISSION_DENIED saying what is left.
pub async fn send_within_budget<T, F>(ctx: &ApiContext, cost: SendCost, send: F) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce(&ldk_node::Node) -> ApiResult<(T, String)> + Send + 'static,
{
    let Some(caller) = super::current_caller() else {
        return ctx
            .blocking(move |node| send(node).map(|(value, _)| value))
            .await;
    };
    let key = Arc::clone(&caller.0);
    let Some(budget) = key.budget else {
        return ctx
            .blocking(move |node| send(node).map(|(value, _)| value))
            .await;
    };
    let _guard = lock_key(key.id).await;
    let store = Arc::clone(&ctx.store);
    let now = crate::auth::unix_now();
    ctx.blocking(move |node| {
        let key_id = key.id.to_hex();
        let spent = spent_in_window(node, &store, &key_id, budget, now)?;
        let left = budget.max_send_msat.saturating_sub(spent);
        if cost.msat > left {
            return Err(ApiError::PermissionDenied(format!(
                "key `{}` is over its budget: this send may cost up to {} msat (amount plus \
                 routing fee limit) and {left} msat of {} msat per {} s is left",
                key.name,
                cost.msat,
                budget.max_send_msat,
                budget.window.as_secs()
            )));
        }
        let (value, payment_id) = send(node)?;
        if let Err(error) = store.record_key_payment(&payment_id, &key_id, cost.msat, now) {
            // The payment is under way; it must not look like it failed.
            tracing::error!(%error, api_key_id = %key_id, payment_id, "recording a budgeted payment failed");
        }
        Ok(value)
    })
    .await
}

/// What `key_id`'s payments in the window ending at `now` count against its budget: a failed
/// payment nothing, a successful one its amount plus the fee it paid (at most what it
/// reserved), any other what it reserved.
fn spent_in_window(
    node: &ldk_node::Node,
    store: &PaymentStore,
    key_id: &str,
    budget: BudgetSpec,
    now: u64,
) -> ApiResult<u64> {
    let since = now.saturating_sub(budget.window.as_secs());
    let payments = store
        .key_payments_since(key_id, since)
        .map_err(|error| ApiError::internal(format!("reading the key's payments: {error}")))?;
    Ok(payments
        .iter()
        .map(|payment| counted_msat(node, payment))
        .fold(0u64, u64::saturating_add))
}

fn counted_msat(node: &ldk_node::Node, payment: &KeyPayment) -> u64 {
    let mut id = [0u8; 32];
    if hex::decode_to_slice(&payment.payment_id, &mut id).is_err() {
        return payment.reserved_msat;
    }
    match node.payment(&PaymentId(id)) {
        Some(details) => match details.status {
            PaymentStatus::Failed => 0,
            PaymentStatus::Succeeded => {
                let paid = details
                    .amount_msat
                    .unwrap_or(payment.reserved_msat)
                    .saturating_add(details.fee_paid_msat.unwrap_or(0));
                paid.min(payment.reserved_msat)
            }
            PaymentStatus::Pending => payment.reserved_msat,
        },
        None => payment.reserved_msat,
    }
}

/// What the calling key's budget has taken in the current window (for InspectKey).
pub async fn spent_msat(ctx: &ApiContext, key: &KeyEntry) -> ApiResult<u64> {
    let Some(budget) = key.budget else {
        return Ok(0);
    };
    let store = Arc::clone(&ctx.store);
    let key_id = key.id.to_hex();
    let now = crate::auth::unix_now();
    match ctx.node() {
        Ok(_) => {
            ctx.blocking(move |node| spent_in_window(node, &store, &key_id, budget, now))
                .await
        }
        // Without the node, count every payment at what it reserved.
        Err(_) => tokio::task::spawn_blocking(move || {
            store
                .key_payments_since(&key_id, now.saturating_sub(budget.window.as_secs()))
                .map(|payments| {
                    payments
                        .iter()
                        .map(|payment| payment.reserved_msat)
                        .fold(0u64, u64::saturating_add)
                })
                .map_err(|error| ApiError::internal(error.to_string()))
        })
        .await
        .map_err(|error| ApiError::internal(error.to_string()))?,
    }
}

#[tonic::async_trait]
impl super::service::BudgetReport for ApiContext {
    async fn spent_msat(&self, key: &KeyEntry) -> Result<u64, tonic::Status> {
        spent_msat(self, key).await.map_err(tonic::Status::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_parse_and_print() {
        let budget: BudgetSpec = "100000sat/24h".parse().unwrap();
        assert_eq!(budget.max_send_msat, 100_000_000);
        assert_eq!(budget.window, Duration::from_secs(86_400));
        assert_eq!(budget.to_string(), "100000000msat/86400s");
        assert_eq!(budget.to_string().parse::<BudgetSpec>(), Ok(budget));
        for bad in [
            "",
            "100000/24h",
            "100000sat",
            "0sat/1h",
            "1sat/0s",
            "1sat/1y",
            "99999999999999999999sat/1h",
            "2100000000000001sat/1h",
        ] {
            assert!(bad.parse::<BudgetSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(2_592_000)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        for bad in ["", "d", "5", "5w", "-1d", "0s", "99999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
