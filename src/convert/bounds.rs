//! Bounds on request values, checked before ldk-node sees them.
//!
//! ldk-node (and BDK and LDK beneath it) add and multiply amounts with operators that panic or
//! wrap on overflow, and some of those panics happen while a wallet lock is held. So every
//! amount a request carries must lie within the bitcoin supply (21,000,000 BTC in its unit),
//! every sum or product of request amounts too, and free text no longer than where it goes can
//! carry. Each check fails with INVALID_ARGUMENT naming the field (or the fields of a sum).

use ldk_node::bitcoin::Script;

use crate::error::{ApiError, ApiResult};

/// All the bitcoin there will ever be, in satoshis (21,000,000 BTC).
pub const MAX_MONEY_SATS: u64 = 21_000_000 * 100_000_000;

/// All the bitcoin there will ever be, in millisatoshis.
pub const MAX_MONEY_MSAT: u64 = MAX_MONEY_SATS * 1_000;

/// Highest on-chain fee rate a request may set, in sat/vB. Bitcoin Core's default
/// `-maxfeerate` (0.1 BTC/kvB) refuses to broadcast a transaction paying more, which would
/// leave the wallet holding a transaction that never reaches the network.
pub const MAX_FEE_RATE_SAT_PER_VB: u64 = 10_000;

/// Longest free text, in bytes, that the node passes on to a payer or a peer (BOLT 12 offer
/// descriptions, payer notes, force-close reasons). Lightning messages carry at most 65,535
/// bytes and onion messages less; this keeps every such text well inside them.
pub const MAX_FREE_TEXT_BYTES: usize = 1024;

/// Most bytes that custom TLV records may take, encoded, in a keysend onion: one hop's
/// payload in a 1,300-byte onion packet also carries the amount, CLTV and preimage.
pub const MAX_CUSTOM_TLV_BYTES: usize = 1_100;

/// The unit an amount field is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Satoshis.
    Sat,
    /// Millisatoshis.
    Msat,
}

impl Unit {
    /// The bitcoin supply in this unit.
    pub const fn max_money(self) -> u64 {
        match self {
            Self::Sat => MAX_MONEY_SATS,
            Self::Msat => MAX_MONEY_MSAT,
        }
    }

    const fn symbol(self) -> &'static str {
        match self {
            Self::Sat => "sat",
            Self::Msat => "msat",
        }
    }
}

/// A limit or cap in `unit` (zero allowed) that is at most the bitcoin supply.
pub fn within_supply(field: &str, value: u64, unit: Unit) -> ApiResult<u64> {
    if value > unit.max_money() {
        return Err(ApiError::bad_field(
            field,
            format!(
                "{value} {unit} is more than all bitcoin (21,000,000 BTC = {max} {unit})",
                unit = unit.symbol(),
                max = unit.max_money()
            ),
        ));
    }
    Ok(value)
}

/// An amount to pay, receive or move: at least 1 and at most the bitcoin supply.
pub fn positive_amount(field: &str, value: u64, unit: Unit) -> ApiResult<u64> {
    if value == 0 {
        return Err(ApiError::bad_field(field, "must be greater than 0"));
    }
    within_supply(field, value, unit)
}

/// An optional amount: when set, as [`positive_amount`]. Zero is refused rather than read as
/// "unset", since the request already has a way to say that (leave the field out).
pub fn optional_positive_amount(
    field: &str,
    value: Option<u64>,
    unit: Unit,
) -> ApiResult<Option<u64>> {
    value
        .map(|value| {
            positive_amount(field, value, unit).map_err(|error| match value {
                0 => ApiError::bad_field(
                    field,
                    "must be greater than 0 (leave it unset for no amount)",
                ),
                _ => error,
            })
        })
        .transpose()
}

/// An optional limit or cap: when set, as [`within_supply`].
pub fn optional_within_supply(
    field: &str,
    value: Option<u64>,
    unit: Unit,
) -> ApiResult<Option<u64>> {
    value
        .map(|value| within_supply(field, value, unit))
        .transpose()
}

/// The sum of named amounts in one unit, which must stay within the bitcoin supply.
pub fn checked_sum(parts: &[(&str, u64)], unit: Unit) -> ApiResult<u64> {
    let total = parts
        .iter()
        .try_fold(0u64, |total, (_, value)| total.checked_add(*value))
        .filter(|total| *total <= unit.max_money());
    total.ok_or_else(|| {
        ApiError::invalid(format!(
            "{} together are more than all bitcoin (21,000,000 BTC = {} {})",
            field_list(parts.iter().map(|(field, _)| *field), " + "),
            unit.max_money(),
            unit.symbol()
        ))
    })
}

/// `amount × quantity` in one unit, which must stay within the bitcoin supply.
pub fn checked_product(
    (amount_field, amount): (&str, u64),
    (quantity_field, quantity): (&str, u64),
    unit: Unit,
) -> ApiResult<u64> {
    amount
        .checked_mul(quantity)
        .filter(|total| *total <= unit.max_money())
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "{} is more than all bitcoin (21,000,000 BTC = {} {})",
                field_list([amount_field, quantity_field], " × "),
                unit.max_money(),
                unit.symbol()
            ))
        })
}

fn field_list<'a>(fields: impl IntoIterator<Item = &'a str>, separator: &str) -> String {
    fields
        .into_iter()
        .map(|field| format!("`{field}`"))
        .collect::<Vec<_>>()
        .join(separator)
}

/// An optional quantity of items: when set, at least 1.
pub fn optional_quantity(field: &str, value: Option<u64>) -> ApiResult<Option<u64>> {
    match value {
        Some(0) => Err(ApiError::bad_field(
            field,
            "must be at least 1 (leave it unset for a single item)",
        )),
        other => Ok(other),
    }
}

/// An on-chain output amount that the network relays: at least the dust limit of the script
/// it pays to (what BDK and Bitcoin Core's default policy require; 294 sat for P2WPKH, 330 for
/// P2TR, 546 for P2PKH).
pub fn above_dust(field: &str, sats: u64, script: &Script) -> ApiResult<u64> {
    let dust_limit = script.minimal_non_dust().to_sat();
    if sats < dust_limit {
        return Err(ApiError::bad_field(
            field,
            format!(
                "{sats} sat is below the dust limit of {dust_limit} sat for this address; \
                 the network would not relay such an output"
            ),
        ));
    }
    Ok(sats)
}

/// An on-chain fee rate in sat/vB within 1..=[`MAX_FEE_RATE_SAT_PER_VB`].
pub fn fee_rate_sat_per_vb(field: &str, value: u64) -> ApiResult<u64> {
    if value == 0 {
        return Err(ApiError::bad_field(field, "must be at least 1 sat/vB"));
    }
    if value > MAX_FEE_RATE_SAT_PER_VB {
        return Err(ApiError::bad_field(
            field,
            format!(
                "{value} sat/vB is above {MAX_FEE_RATE_SAT_PER_VB} sat/vB, the most Bitcoin \
                 Core relays by default"
            ),
        ));
    }
    Ok(value)
}

/// Text of at most `max_bytes` bytes (UTF-8).
pub fn text_at_most<'a>(field: &str, value: &'a str, max_bytes: usize) -> ApiResult<&'a str> {
    if value.len() > max_bytes {
        return Err(ApiError::bad_field(
            field,
            format!("{} bytes is longer than {max_bytes} bytes", value.len()),
        ));
    }
    Ok(value)
}

/// An optional text: when set, as [`text_at_most`].
pub fn optional_text_at_most(
    field: &str,
    value: Option<String>,
    max_bytes: usize,
) -> ApiResult<Option<String>> {
    if let Some(text) = &value {
        text_at_most(field, text, max_bytes)?;
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use ldk_node::bitcoin::{Address, Network};

    use super::*;

    fn message(result: ApiResult<impl std::fmt::Debug>) -> String {
        let error = result.expect_err("must be refused");
        assert_eq!(error.code(), tonic::Code::InvalidArgument, "{error}");
        error.to_string()
    }

    #[test]
    fn supply_in_both_units() {
        assert_eq!(MAX_MONEY_SATS, 2_100_000_000_000_000);
        assert_eq!(MAX_MONEY_MSAT, 2_100_000_000_000_000_000);
        assert_eq!(
            within_supply("a", MAX_MONEY_SATS, Unit::Sat).unwrap(),
            MAX_MONEY_SATS
        );
        assert_eq!(within_supply("a", 0, Unit::Sat).unwrap(), 0);
        let text = message(within_supply("amount_sats", MAX_MONEY_SATS + 1, Unit::Sat));
        assert!(
            text.contains("`amount_sats`") && text.contains("21,000,000 BTC"),
            "{text}"
        );
        assert!(within_supply("m", MAX_MONEY_MSAT, Unit::Msat).is_ok());
        assert!(within_supply("m", MAX_MONEY_MSAT + 1, Unit::Msat).is_err());
        assert!(within_supply("m", u64::MAX, Unit::Msat).is_err());
    }

    #[test]
    fn positive_amounts() {
        assert_eq!(positive_amount("a", 1, Unit::Sat).unwrap(), 1);
        let text = message(positive_amount("amount_msat", 0, Unit::Msat));
        assert!(
            text.contains("`amount_msat`") && text.contains("greater than 0"),
            "{text}"
        );
        assert!(positive_amount("a", u64::MAX, Unit::Sat).is_err());

        assert_eq!(
            optional_positive_amount("a", None, Unit::Msat).unwrap(),
            None
        );
        assert_eq!(
            optional_positive_amount("a", Some(5), Unit::Msat).unwrap(),
            Some(5)
        );
        let text = message(optional_positive_amount("amount_msat", Some(0), Unit::Msat));
        assert!(text.contains("leave it unset"), "{text}");
        assert!(optional_positive_amount("a", Some(u64::MAX), Unit::Msat).is_err());
        assert_eq!(
            optional_within_supply("fee", Some(0), Unit::Msat).unwrap(),
            Some(0)
        );
        assert!(optional_within_supply("fee", Some(u64::MAX), Unit::Msat).is_err());
    }

    #[test]
    fn sums_and_products_stay_within_supply() {
        assert_eq!(checked_sum(&[("a", 1), ("b", 2)], Unit::Msat).unwrap(), 3);
        assert_eq!(
            checked_sum(&[("a", MAX_MONEY_MSAT - 1), ("b", 1)], Unit::Msat).unwrap(),
            MAX_MONEY_MSAT
        );
        let text = message(checked_sum(
            &[("amount_msat", MAX_MONEY_MSAT), ("max_fee_msat", 1)],
            Unit::Msat,
        ));
        assert!(text.contains("`amount_msat` + `max_fee_msat`"), "{text}");
        // Overflow of u64 itself is caught, not wrapped.
        assert!(checked_sum(&[("a", u64::MAX), ("b", u64::MAX)], Unit::Sat).is_err());

        assert_eq!(
            checked_product(("amount_msat", 1_000), ("quantity", 3), Unit::Msat).unwrap(),
            3_000
        );
        let text = message(checked_product(
            ("amount_msat", MAX_MONEY_MSAT),
            ("quantity", 2),
            Unit::Msat,
        ));
        assert!(text.contains("`amount_msat` × `quantity`"), "{text}");
        assert!(checked_product(("a", u64::MAX), ("q", u64::MAX), Unit::Msat).is_err());
    }

    #[test]
    fn quantities() {
        assert_eq!(optional_quantity("quantity", None).unwrap(), None);
        assert_eq!(optional_quantity("quantity", Some(1)).unwrap(), Some(1));
        assert!(message(optional_quantity("quantity", Some(0))).contains("`quantity`"));
    }

    #[test]
    fn dust_limits_follow_the_script() {
        let p2wpkh = Address::from_str("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080")
            .unwrap()
            .require_network(Network::Regtest)
            .unwrap()
            .script_pubkey();
        assert_eq!(above_dust("amount_sats", 294, &p2wpkh).unwrap(), 294);
        let text = message(above_dust("amount_sats", 293, &p2wpkh));
        assert!(
            text.contains("`amount_sats`") && text.contains("dust limit of 294 sat"),
            "{text}"
        );
        assert!(above_dust("amount_sats", 0, &p2wpkh).is_err());
        let p2pkh = Address::from_str("mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn")
            .unwrap()
            .require_network(Network::Regtest)
            .unwrap()
            .script_pubkey();
        assert!(above_dust("amount_sats", 545, &p2pkh).is_err());
        assert!(above_dust("amount_sats", 546, &p2pkh).is_ok());
    }

    #[test]
    fn fee_rates() {
        assert_eq!(fee_rate_sat_per_vb("f", 1).unwrap(), 1);
        assert_eq!(
            fee_rate_sat_per_vb("f", MAX_FEE_RATE_SAT_PER_VB).unwrap(),
            MAX_FEE_RATE_SAT_PER_VB
        );
        assert!(message(fee_rate_sat_per_vb("fee_rate_sat_per_vb", 0)).contains("at least 1"));
        let text = message(fee_rate_sat_per_vb(
            "fee_rate_sat_per_vb",
            MAX_FEE_RATE_SAT_PER_VB + 1,
        ));
        assert!(text.contains("`fee_rate_sat_per_vb`"), "{text}");
        assert!(fee_rate_sat_per_vb("f", u64::MAX).is_err());
    }

    #[test]
    fn text_lengths_count_bytes() {
        assert_eq!(text_at_most("t", "abc", 3).unwrap(), "abc");
        // "é" is two bytes.
        let text = message(text_at_most("payer_note", "éé", 3));
        assert!(
            text.contains("`payer_note`") && text.contains("4 bytes"),
            "{text}"
        );
        assert_eq!(optional_text_at_most("t", None, 0).unwrap(), None);
        assert!(optional_text_at_most("t", Some("x".repeat(2_000)), MAX_FREE_TEXT_BYTES).is_err());
    }
}
