//! The `X-Ldk-Server-Signature` header: `t=<unix seconds>,v1=<hex HMAC-SHA256>`, the MAC keyed
//! with the webhook's secret over `"<t>.<body>"`. A receiver recomputes it over the raw body,
//! compares in constant time, and refuses a `t` too far from its clock (replays).

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-ldk-server-signature";

type HmacSha256 = Hmac<Sha256>;

/// The MAC of `"<timestamp>.<body>"` under `secret`.
fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length.
    let mut mac = HmacSha256::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value for `body` sent at `timestamp`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, timestamp, body).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex::encode(tag))
}

/// Why a signature header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The header is not `t=<digits>,v1=<64 hex digits>`.
    #[error("malformed signature header")]
    Malformed,
    /// `t` is further than the tolerance from now.
    #[error("signature timestamp {0} is outside the tolerance")]
    Stale(i64),
    /// The MAC does not match the body.
    #[error("signature does not match")]
    Mismatch,
}

/// Checks `header` against `body`, as a receiver does: well-formed, `t` within `tolerance_secs`
/// of `now`, and any `v1` matching (compared in constant time).
pub fn verify(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut tags = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => {
                timestamp = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| SignatureError::Malformed)?,
                )
            }
            Some(("v1", value)) => {
                tags.push(hex::decode(value).map_err(|_| SignatureError::Malformed)?)
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if tags.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now - timestamp).abs() > tolerance_secs {
        return Err(SignatureError::Stale(timestamp));
    }
    let expected = mac(secret, timestamp, body);
    if tags
        .iter()
        .any(|tag| expected.clone().verify_slice(tag).is_ok())
    {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123";

    #[test]
    fn a_signature_verifies_and_any_change_breaks_it() {
        let header = sign(SECRET, 1_700_000_000, br#"{"sequence":1}"#);
        assert!(header.starts_with("t=1700000000,v1="));
        assert_eq!(header.len(), "t=1700000000,v1=".len() + 64);
        let check =
            |secret: &[u8], header: &str, body: &[u8], now| verify(secret, header, body, now, 300);
        assert_eq!(
            check(SECRET, &header, br#"{"sequence":1}"#, 1_700_000_100),
            Ok(())
        );
        assert_eq!(
            check(SECRET, &header, br#"{"sequence":2}"#, 1_700_000_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check(
                b"another secret 0123",
                &header,
                br#"{"sequence":1}"#,
                1_700_000_000
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check(SECRET, &header, br#"{"sequence":1}"#, 1_700_000_301),
            Err(SignatureError::Stale(1_700_000_000))
        );
        // The timestamp is covered: moving it forward breaks the MAC.
        let moved = header.replacen("t=1700000000", "t=1700000200", 1);
        assert_eq!(
            check(SECRET, &moved, br#"{"sequence":1}"#, 1_700_000_200),
            Err(SignatureError::Mismatch)
        );
        for malformed in ["", "t=1", "v1=00", "t=x,v1=00", "t=1,v1=zz"] {
            assert_eq!(
                check(SECRET, malformed, b"", 1),
                Err(SignatureError::Malformed),
                "{malformed}"
            );
        }
    }

    #[test]
    fn the_mac_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently over the joined message a receiver would build.
        let mut reference = HmacSha256::new_from_slice(b"Jefe").unwrap();
        reference.update(b"42.hello");
        let expected = hex::encode(reference.finalize().into_bytes());
        assert_eq!(sign(b"Jefe", 42, b"hello"), format!("t=42,v1={expected}"));
    }
}
