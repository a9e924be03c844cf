//! Argument types of the CLI: amounts with units, `all`, page tokens, custom TLVs.

use std::fmt;
use std::str::FromStr;

use crate::proto::types;

/// An amount with its unit: `<n>sat`, `<n>sats`, `<n>msat` or `<n>msats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amount {
    msat: u64,
}

impl Amount {
    /// The amount in millisatoshis.
    pub fn msat(self) -> u64 {
        self.msat
    }

    /// The amount in whole satoshis; on-chain amounts cannot carry millisatoshis.
    pub fn whole_sats(self, what: &str) -> Result<u64, String> {
        if self.msat % 1_000 != 0 {
            return Err(format!(
                "{what} must be a whole number of sats (on-chain amounts have no msats)"
            ));
        }
        Ok(self.msat / 1_000)
    }
}

impl FromStr for Amount {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let digits_end = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(digits_end);
        if number.is_empty() {
            return Err(format!(
                "{text:?} is not an amount: write e.g. 50000sat or 50000000msat"
            ));
        }
        let value: u64 = number
            .parse()
            .map_err(|_| format!("{number} is too large"))?;
        let msat = match unit {
            "sat" | "sats" => value
                .checked_mul(1_000)
                .ok_or_else(|| format!("{text} is too large"))?,
            "msat" | "msats" => value,
            "" => return Err(format!("{text:?} needs a unit: {value}sat or {value}msat")),
            other => {
                return Err(format!(
                    "unknown unit {other:?} in {text:?}: use sat, sats, msat or msats"
                ))
            }
        };
        Ok(Self { msat })
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}msat", self.msat)
    }
}

/// An amount, or `all` (everything the wallet can spend).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmountOrAll {
    /// A given amount.
    Amount(Amount),
    /// All spendable funds.
    All,
}

impl FromStr for AmountOrAll {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if text.trim().eq_ignore_ascii_case("all") {
            return Ok(Self::All);
        }
        text.parse()
            .map(Self::Amount)
            .map_err(|e| format!("{e} (or `all`)"))
    }
}

/// A page token as the CLI shows it: `<token>:<index>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageTokenArg(pub types::PageToken);

impl FromStr for PageTokenArg {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let malformed = || {
            format!("{text:?} is not a page token: expected <token>:<index>, as printed by a previous page")
        };
        let (token, index) = text.rsplit_once(':').ok_or_else(malformed)?;
        let index: i64 = index.parse().map_err(|_| malformed())?;
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(malformed());
        }
        Ok(Self(types::PageToken {
            token: token.to_owned(),
            index,
        }))
    }
}

/// Renders a page token the way [`PageTokenArg`] parses it.
pub fn page_token_text(token: &types::PageToken) -> String {
    format!("{}:{}", token.token, token.index)
}

/// A custom TLV record for keysend: `<type>:<hex value>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomTlvArg(pub types::CustomTlvRecord);

impl FromStr for CustomTlvArg {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let malformed =
            || format!("{text:?} is not a TLV record: expected <type number>:<hex value>");
        let (type_num, value) = text.split_once(':').ok_or_else(malformed)?;
        let type_num = type_num.parse().map_err(|_| malformed())?;
        let value = hex::decode(value).map_err(|_| malformed())?;
        Ok(Self(types::CustomTlvRecord { type_num, value }))
    }
}

/// A node id: 33 bytes of hex (a compressed public key); checked before any call.
pub fn node_id(text: &str) -> Result<String, String> {
    let bytes = hex::decode(text)
        .map_err(|_| format!("{text:?} is not a node id: expected 66 hex characters"))?;
    let valid_prefix = matches!(bytes.first(), Some(0x02 | 0x03));
    if bytes.len() != 33 || !valid_prefix {
        return Err(format!(
            "{text:?} is not a node id: expected 66 hex characters starting with 02 or 03"
        ));
    }
    Ok(text.to_ascii_lowercase())
}

/// A 32-byte value in hex (payment hash, preimage, payment id).
pub fn hex32(text: &str) -> Result<String, String> {
    match hex::decode(text) {
        Ok(bytes) if bytes.len() == 32 => Ok(text.to_ascii_lowercase()),
        _ => Err(format!(
            "{text:?} is not 32 bytes of hex (64 hex characters)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_need_a_unit() {
        assert_eq!("50sat".parse::<Amount>().unwrap().msat(), 50_000);
        assert_eq!("50sats".parse::<Amount>().unwrap().msat(), 50_000);
        assert_eq!("1234msat".parse::<Amount>().unwrap().msat(), 1_234);
        assert_eq!("7msats".parse::<Amount>().unwrap().msat(), 7);
        assert!("50".parse::<Amount>().unwrap_err().contains("needs a unit"));
        assert!("50btc"
            .parse::<Amount>()
            .unwrap_err()
            .contains("unknown unit"));
        assert!("sat".parse::<Amount>().is_err());
        assert!("-5sat".parse::<Amount>().is_err());
        assert!("99999999999999999999sat".parse::<Amount>().is_err());
        assert!("1500msat"
            .parse::<Amount>()
            .unwrap()
            .whole_sats("x")
            .unwrap_err()
            .contains("whole"));
        assert_eq!("2sat".parse::<Amount>().unwrap().whole_sats("x"), Ok(2));
        assert_eq!("all".parse::<AmountOrAll>(), Ok(AmountOrAll::All));
        assert!(matches!(
            "3sat".parse::<AmountOrAll>(),
            Ok(AmountOrAll::Amount(_))
        ));
    }

    #[test]
    fn page_tokens_round_trip() {
        let token = "ab12:1700000000".parse::<PageTokenArg>().unwrap().0;
        assert_eq!((token.token.as_str(), token.index), ("ab12", 1_700_000_000));
        assert_eq!(page_token_text(&token), "ab12:1700000000");
        for bad in ["", "abc", "ab12:", ":5", "zz:5", "ab12:x"] {
            assert!(bad.parse::<PageTokenArg>().is_err(), "{bad}");
        }
    }

    #[test]
    fn node_ids_and_tlvs() {
        let id = format!("02{}", "ab".repeat(32));
        assert_eq!(node_id(&id), Ok(id.clone()));
        assert!(node_id("02abcd").is_err());
        assert!(node_id(&format!("04{}", "ab".repeat(32))).is_err());
        let tlv = "65537:cafe".parse::<CustomTlvArg>().unwrap().0;
        assert_eq!((tlv.type_num, tlv.value), (65_537, vec![0xca, 0xfe]));
        assert!("x:cafe".parse::<CustomTlvArg>().is_err());
    }
}
