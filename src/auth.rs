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

/// The `reason` label of requests refused because their source address failed too often.
pub const THROTTLED_REASON: &str = "throttled";

impl AuthError {
    /// Every [`AuthError::reason`], for metrics to start each at zero.
    pub const REASONS: [&'static str; 6] = [
        THROTTLED_REASON,
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

/// A parsed `x-auth` value: the client's timestamp and its HMAC tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Unix seconds the client signed.
    pub timestamp: u64,
    signature: [u8; 32],
}

/// What the `x-auth` header alone establishes, before any byte of the body is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderCheck {
    /// The signature is the timestamp-only form and it is valid: the caller is authenticated.
    Authenticated,
    /// Well-formed and fresh, but not the timestamp-only form: the tag can only be checked
    /// against the body (see [`verify_body`]).
    NeedsBody(Credentials),
}

/// Checks everything the header can prove without the body: presence, format, the clock
/// window and, for the timestamp-only form, the HMAC itself.
pub fn check_header(
    key: &ApiKey,
    header: Option<&[u8]>,
    now: u64,
    require_body_signature: bool,
) -> Result<HeaderCheck, AuthError> {
    let credentials = parse_header(header.ok_or(AuthError::Missing)?)?;
    if now.abs_diff(credentials.timestamp) > MAX_CLOCK_SKEW_SECS {
        return Err(AuthError::Expired);
    }
    let timestamp_only = mac_for(key, credentials.timestamp, None)
        .verify_slice(&credentials.signature)
        .is_ok();
    match (timestamp_only, require_body_signature) {
        (true, true) => Err(AuthError::BodyNotSigned),
        (true, false) => Ok(HeaderCheck::Authenticated),
        (false, _) => Ok(HeaderCheck::NeedsBody(credentials)),
    }
}

/// Checks a tag that [`check_header`] could not settle against the raw request body.
pub fn verify_body(key: &ApiKey, credentials: &Credentials, body: &[u8]) -> Result<(), AuthError> {
    mac_for(key, credentials.timestamp, Some(body))
        .verify_slice(&credentials.signature)
        .map_err(|_| AuthError::BadSignature)
}

/// Checks an `x-auth` value against the raw request body: [`check_header`], then, where the
/// header cannot settle it, [`verify_body`].
pub fn verify(
    key: &ApiKey,
    header: Option<&[u8]>,
    body: &[u8],
    now: u64,
    require_body_signature: bool,
) -> Result<(), AuthError> {
    match check_header(key, header, now, require_body_signature)? {
        HeaderCheck::Authenticated => Ok(()),
        HeaderCheck::NeedsBody(credentials) => verify_body(key, &credentials, body),
    }
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

/// Parses `HMAC <unix seconds>:<64 hex digits>`.
pub fn parse_header(header: &[u8]) -> Result<Credentials, AuthError> {
    let text = std::str::from_utf8(header).map_err(|_| AuthError::Malformed)?;
    let rest = text.strip_prefix("HMAC ").ok_or(AuthError::Malformed)?;
    let (timestamp, signature) = rest.split_once(':').ok_or(AuthError::Malformed)?;
    if timestamp.is_empty() || !timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AuthError::Malformed);
    }
    let timestamp = timestamp.parse::<u64>().map_err(|_| AuthError::Malformed)?;
    let mut tag = [0u8; 32];
    hex::decode_to_slice(signature, &mut tag).map_err(|_| AuthError::Malformed)?;
    Ok(Credentials {
        timestamp,
        signature: tag,
    })
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
    fn the_header_alone_settles_the_timestamp_only_form() {
        let now = 1_000;
        let timestamp_only = sign(&key(), now, None);
        assert_eq!(
            check_header(&key(), Some(timestamp_only.as_bytes()), now, false),
            Ok(HeaderCheck::Authenticated)
        );
        let body_form = sign(&key(), now, Some(b"body"));
        let Ok(HeaderCheck::NeedsBody(credentials)) =
            check_header(&key(), Some(body_form.as_bytes()), now, false)
        else {
            panic!("the body form needs the body");
        };
        assert_eq!(verify_body(&key(), &credentials, b"body"), Ok(()));
        assert_eq!(
            verify_body(&key(), &credentials, b"other"),
            Err(AuthError::BadSignature)
        );
        let signed_plus = format!("HMAC +{now}:{}", "00".repeat(32));
        assert_eq!(
            check_header(&key(), Some(signed_plus.as_bytes()), now, false),
            Err(AuthError::Malformed)
        );
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
