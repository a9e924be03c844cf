//! Spending budgets: at most `max_send_msat` over any rolling window, per key.
//!
//! [`BudgetSpec`] is the limit (`100000sat/24h`). The ledger that enforces it lives in
//! [`Budgets`]: a send reserves its worst case (amount plus routing fee limit) under the
//! key's lock before ldk-node sees it, so concurrent sends of one key can never together
//! exceed the limit.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

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

/// The spending ledgers of every key with a budget.
#[derive(Default)]
pub struct Budgets {}

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
