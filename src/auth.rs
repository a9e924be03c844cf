//! HMAC request authentication (`x-auth: HMAC <unix_ts>:<hex>`).
//!
//! The key is the API key as its lowercase hex string. Two signed forms are accepted:
//! `HMAC-SHA256(key, ts_be8)` (the documented form) and
//! `HMAC-SHA256(key, ts_be8 || raw request body)` (what upstream's client sends, which also
//! binds the signature to the request). The server may be told to accept only the second form.

use std::fs;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::secrets::{check_secret_permissions, write_secret_file};

/// Name of the gRPC metadata entry that carries the signature.
pub const AUTH_HEADER: &str = "x-auth";
/// Largest accepted distance between the client's timestamp and the server clock, in seconds.
pub const MAX_CLOCK_SKEW_SECS: u64 = 60;
/// Length in bytes of a generated API key.
const GENERATED_KEY_LEN: usize = 32;

type HmacSha256 = Hmac<Sha256>;

/// The shared secret: the API key as lowercase hex, which is also the HMAC key.
#[derive(Clone)]
pub struct ApiKey(String);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl ApiKey {
    /// Wraps a key given as hex text (e.g. from a command line); it is lowercased.
    pub fn from_hex(hex_key: &str) -> Self {
        Self(hex_key.trim().to_ascii_lowercase())
    }

    /// Makes the key from the raw bytes of an `api_key` file (hex-encoded as upstream does).
    pub fn from_file_bytes(bytes: &[u8]) -> Self {
        Self(hex::encode(bytes))
    }

    /// The hex text that both sides use as the HMAC key.
    pub fn as_hex(&self) -> &str {
        &self.0
    }
}

/// Reads the API key file, or creates it with 32 random bytes (mode 0400) if `generate` allows.
pub fn load_or_generate_api_key(path: &Path, generate: bool) -> Result<ApiKey, String> {
    if !path.exists() && generate {
        let mut bytes = [0u8; GENERATED_KEY_LEN];
        getrandom::fill(&mut bytes).map_err(|e| format!("generating the API key: {e}"))?;
        write_secret_file(path, &bytes)
            .map_err(|e| format!("writing the API key to {}: {e}", path.display()))?;
    }
    check_secret_permissions(path)?;
    let bytes =
        fs::read(path).map_err(|e| format!("reading the API key {}: {e}", path.display()))?;
    if bytes.is_empty() {
        return Err(format!("the API key file {} is empty", path.display()));
    }
    Ok(ApiKey::from_file_bytes(&bytes))
}

/// Why a request was not authenticated; the label is used in metrics and the message is sent
/// to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `x-auth` metadata.
    #[error("missing x-auth metadata")]
    Missing,
    /// The value is not `HMAC <ts>:<hex>`.
    #[error("invalid x-auth format: expected `HMAC <unix seconds>:<hex HMAC-SHA256>`")]
    Malformed,
    /// The timestamp is further than 60 s from the server clock.
    #[error("request timestamp is more than 60 s away from the server clock")]
    Expired,
    /// The signature does not match.
    #[error("invalid HMAC in x-auth")]
    BadSignature,
    /// The signature is valid but does not cover the request body, which this server requires.
    #[error("x-auth must sign the request body (HMAC over timestamp and body)")]
    BodyNotSigned,
}

impl AuthError {
    /// Every [`AuthError::reason`], for metrics to start each at zero.
    pub const REASONS: [&'static str; 5] = [
        "missing",
        "malformed",
        "expired",
        "bad_signature",
        "body_not_signed",
    ];

    /// A short, stable label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed => "malformed",
            Self::Expired => "expired",
            Self::BadSignature => "bad_signature",
            Self::BodyNotSigned => "body_not_signed",
        }
    }
}

/// Checks an `x-auth` value against the raw request body.
pub fn verify(
    key: &ApiKey,
    header: Option<&[u8]>,
    body: &[u8],
    now: u64,
    require_body_signature: bool,
) -> Result<(), AuthError> {
    let header = header.ok_or(AuthError::Missing)?;
    let (timestamp, signature) = parse_header(header)?;
    if now.abs_diff(timestamp) > MAX_CLOCK_SKEW_SECS {
        return Err(AuthError::Expired);
    }
    if mac_for(key, timestamp, Some(body))
        .verify_slice(&signature)
        .is_ok()
    {
        return Ok(());
    }
    if mac_for(key, timestamp, None)
        .verify_slice(&signature)
        .is_ok()
    {
        return if require_body_signature {
            Err(AuthError::BodyNotSigned)
        } else {
            Ok(())
        };
    }
    Err(AuthError::BadSignature)
}

/// Builds an `x-auth` value; with `body` the signature covers the request body too.
pub fn sign(key: &ApiKey, timestamp: u64, body: Option<&[u8]>) -> String {
    let tag = mac_for(key, timestamp, body).finalize().into_bytes();
    format!("HMAC {timestamp}:{}", hex::encode(tag))
}

/// Seconds since the Unix epoch by the system clock.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn mac_for(key: &ApiKey, timestamp: u64, body: Option<&[u8]>) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(key.as_hex().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(&timestamp.to_be_bytes());
    if let Some(body) = body {
        mac.update(body);
    }
    mac
}

fn parse_header(header: &[u8]) -> Result<(u64, Vec<u8>), AuthError> {
    let text = std::str::from_utf8(header).map_err(|_| AuthError::Malformed)?;
    let rest = text.strip_prefix("HMAC ").ok_or(AuthError::Malformed)?;
    let (timestamp, signature) = rest.split_once(':').ok_or(AuthError::Malformed)?;
    let timestamp = timestamp.parse::<u64>().map_err(|_| AuthError::Malformed)?;
    let signature = hex::decode(signature).map_err(|_| AuthError::Malformed)?;
    if signature.len() != 32 {
        return Err(AuthError::Malformed);
    }
    Ok((timestamp, signature))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_is_listed_for_metrics() {
        for error in [
            AuthError::Missing,
            AuthError::Malformed,
            AuthError::Expired,
            AuthError::BadSignature,
            AuthError::BodyNotSigned,
        ] {
            assert!(AuthError::REASONS.contains(&error.reason()), "{error:?}");
        }
    }

    fn key() -> ApiKey {
        ApiKey::from_file_bytes(&[7u8; 32])
    }

    #[test]
    fn both_signed_forms_verify() {
        let body = [0u8, 0, 0, 0, 0];
        let with_body = sign(&key(), 1_000, Some(&body));
        let without_body = sign(&key(), 1_000, None);
        assert_eq!(
            verify(&key(), Some(with_body.as_bytes()), &body, 1_010, false),
            Ok(())
        );
        assert_eq!(
            verify(&key(), Some(without_body.as_bytes()), &body, 990, false),
            Ok(())
        );
        assert_eq!(
            verify(&key(), Some(without_body.as_bytes()), &body, 1_000, true),
            Err(AuthError::BodyNotSigned)
        );
    }

    #[test]
    fn body_signature_binds_the_body() {
        let header = sign(&key(), 1_000, Some(b"one"));
        assert_eq!(
            verify(&key(), Some(header.as_bytes()), b"two", 1_000, false),
            Err(AuthError::BadSignature)
        );
    }

    #[test]
    fn clock_window_is_sixty_seconds_both_ways() {
        let header = sign(&key(), 1_000, None);
        assert_eq!(
            verify(&key(), Some(header.as_bytes()), b"", 1_060, false),
            Ok(())
        );
        assert_eq!(
            verify(&key(), Some(header.as_bytes()), b"", 940, false),
            Ok(())
        );
        assert_eq!(
            verify(&key(), Some(header.as_bytes()), b"", 1_061, false),
            Err(AuthError::Expired)
        );
        assert_eq!(
            verify(&key(), Some(header.as_bytes()), b"", 939, false),
            Err(AuthError::Expired)
        );
    }

    #[test]
    fn malformed_headers_are_rejected() {
        for header in [
            "",
            "HMAC",
            "HMAC 12",
            "Bearer 1:00",
            "HMAC x:00",
            "HMAC 1:zz",
            "HMAC 1:0011",
        ] {
            assert_eq!(
                verify(&key(), Some(header.as_bytes()), b"", 1, false),
                Err(AuthError::Malformed),
                "{header}"
            );
        }
        assert_eq!(verify(&key(), None, b"", 1, false), Err(AuthError::Missing));
    }

    #[test]
    fn wrong_key_is_rejected() {
        let header = sign(&ApiKey::from_hex("00"), 5, None);
        assert_eq!(
            verify(&key(), Some(header.as_bytes()), b"", 5, false),
            Err(AuthError::BadSignature)
        );
    }
}
