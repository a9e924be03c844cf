//! HMAC request authentication: the `x-auth` header forms, their signatures and key ids.
//!
//! The HMAC key is the API key as its lowercase hex string. Three header forms:
//! - `HMAC <unix_ts>:<hex>` (upstream's): the admin key, signing `ts_be8` (the documented
//!   form) or `ts_be8 || raw request body` (what upstream's client sends);
//! - `HMAC <key_id>:<unix_ts>:<hex>` (upstream PR #144): any key, named by its [`KeyId`],
//!   signed as above;
//! - `HMAC2 <key_id>:<unix_ts>:<nonce>:<hex>` (v2): signs `ts_be8 || nonce || method path ||
//!   framed body`, so a signature is good for one method, one body and (with the server's nonce
//!   cache) one call.

use std::fs;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

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

/// A key's public name on the wire: the first 8 bytes of SHA-256 of the key string (its
/// lowercase hex text), written as 16 hex digits (the form of upstream PR #144).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 8]);

impl KeyId {
    /// The id of `key`.
    pub fn of(key: &ApiKey) -> Self {
        let digest = Sha256::digest(key.as_hex().as_bytes());
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        Self(id)
    }

    /// Parses 16 hex digits.
    pub fn parse(text: &str) -> Option<Self> {
        let mut id = [0u8; 8];
        hex::decode_to_slice(text, &mut id).ok()?;
        Some(Self(id))
    }

    /// The 16 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl std::fmt::Debug for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// Generates a new API key: 32 random bytes as 64 lowercase hex digits.
pub fn generate_key() -> Result<ApiKey, String> {
    let mut bytes = [0u8; GENERATED_KEY_LEN];
    getrandom::fill(&mut bytes).map_err(|e| format!("generating a key: {e}"))?;
    Ok(ApiKey::from_file_bytes(&bytes))
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
    /// The key id names no key this server knows.
    #[error("unknown API key id")]
    UnknownKey,
    /// The key was revoked.
    #[error("API key revoked")]
    KeyRevoked,
    /// The key's expiry has passed.
    #[error("API key expired")]
    KeyExpired,
    /// A v2 signature whose nonce was already used within the timestamp window.
    #[error("replayed request: this nonce was already used")]
    Replayed,
    /// An older form while `[auth] require_v2 = true`.
    #[error("x-auth must use the v2 form: `HMAC2 <key id>:<unix seconds>:<nonce>:<hex>`")]
    V2Required,
}

/// The `reason` label of requests refused because their source address failed too often.
pub const THROTTLED_REASON: &str = "throttled";

impl AuthError {
    /// Every [`AuthError::reason`], for metrics to start each at zero.
    pub const REASONS: [&'static str; 11] = [
        THROTTLED_REASON,
        "missing",
        "malformed",
        "expired",
        "bad_signature",
        "body_not_signed",
        "unknown_key",
        "revoked",
        "key_expired",
        "replayed",
        "v2_required",
    ];

    /// A short, stable label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed => "malformed",
            Self::Expired => "expired",
            Self::BadSignature => "bad_signature",
            Self::BodyNotSigned => "body_not_signed",
            Self::UnknownKey => "unknown_key",
            Self::KeyRevoked => "revoked",
            Self::KeyExpired => "key_expired",
            Self::Replayed => "replayed",
            Self::V2Required => "v2_required",
        }
    }
}

/// A parsed `x-auth` value: the client's timestamp and its HMAC tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Unix seconds the client signed.
    pub timestamp: u64,
    /// The HMAC-SHA256 tag.
    pub signature: [u8; 32],
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
    parse_credentials(timestamp, signature)
}

/// The prefix of the v2 form.
pub const V2_PREFIX: &str = "HMAC2 ";
/// Length in bytes of a v2 nonce (written as 32 hex digits).
pub const NONCE_LEN: usize = 16;

/// A v2 nonce: 16 bytes the client chose at random, never used twice within the clock window.
pub type Nonce = [u8; NONCE_LEN];

/// Any accepted `x-auth` value, parsed (nothing verified yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedHeader {
    /// `HMAC <ts>:<hex>`: the admin key, timestamp or timestamp + body signed.
    Legacy(Credentials),
    /// `HMAC <key id>:<ts>:<hex>`: the key with that id, signed as the legacy form.
    Keyed {
        /// Which key signed.
        key_id: KeyId,
        /// Timestamp and tag.
        credentials: Credentials,
    },
    /// `HMAC2 <key id>:<ts>:<nonce>:<hex>`: signs timestamp, nonce, method path and body.
    V2 {
        /// Which key signed.
        key_id: KeyId,
        /// The request's nonce.
        nonce: Nonce,
        /// Timestamp and tag.
        credentials: Credentials,
    },
}

impl SignedHeader {
    /// The key id the header names; `None` for the legacy form, which means the admin key.
    pub fn key_id(&self) -> Option<KeyId> {
        match self {
            Self::Legacy(_) => None,
            Self::Keyed { key_id, .. } | Self::V2 { key_id, .. } => Some(*key_id),
        }
    }

    /// Timestamp and tag.
    pub fn credentials(&self) -> &Credentials {
        match self {
            Self::Legacy(credentials)
            | Self::Keyed { credentials, .. }
            | Self::V2 { credentials, .. } => credentials,
        }
    }

    /// Whether this is the v2 form.
    pub fn is_v2(&self) -> bool {
        matches!(self, Self::V2 { .. })
    }
}

/// Parses any of the three forms (see [`SignedHeader`]).
pub fn parse_any(header: &[u8]) -> Result<SignedHeader, AuthError> {
    if let Some(rest) = header.strip_prefix(V2_PREFIX.as_bytes()) {
        let text = std::str::from_utf8(rest).map_err(|_| AuthError::Malformed)?;
        let mut fields = text.split(':');
        let (Some(key_id), Some(timestamp), Some(nonce), Some(tag), None) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            return Err(AuthError::Malformed);
        };
        let key_id = parse_key_id(key_id)?;
        let mut nonce_bytes = [0u8; NONCE_LEN];
        hex::decode_to_slice(nonce, &mut nonce_bytes).map_err(|_| AuthError::Malformed)?;
        return Ok(SignedHeader::V2 {
            key_id,
            nonce: nonce_bytes,
            credentials: parse_credentials(timestamp, tag)?,
        });
    }
    let text = std::str::from_utf8(header).map_err(|_| AuthError::Malformed)?;
    let rest = text.strip_prefix("HMAC ").ok_or(AuthError::Malformed)?;
    match rest.split(':').count() {
        2 => parse_header(header).map(SignedHeader::Legacy),
        3 => {
            let (key_id, rest) = rest.split_once(':').ok_or(AuthError::Malformed)?;
            let (timestamp, tag) = rest.split_once(':').ok_or(AuthError::Malformed)?;
            Ok(SignedHeader::Keyed {
                key_id: parse_key_id(key_id)?,
                credentials: parse_credentials(timestamp, tag)?,
            })
        }
        _ => Err(AuthError::Malformed),
    }
}

fn parse_key_id(text: &str) -> Result<KeyId, AuthError> {
    // Exactly 16 hex digits; `decode_to_slice` checks the length.
    KeyId::parse(text).ok_or(AuthError::Malformed)
}

fn parse_credentials(timestamp: &str, tag: &str) -> Result<Credentials, AuthError> {
    if timestamp.is_empty() || !timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AuthError::Malformed);
    }
    let timestamp = timestamp.parse::<u64>().map_err(|_| AuthError::Malformed)?;
    let mut signature = [0u8; 32];
    hex::decode_to_slice(tag, &mut signature).map_err(|_| AuthError::Malformed)?;
    Ok(Credentials {
        timestamp,
        signature,
    })
}

/// Whether `credentials` carry the timestamp-only HMAC of `key` (legacy and key-id forms).
pub fn signs_timestamp_only(key: &ApiKey, credentials: &Credentials) -> bool {
    mac_for(key, credentials.timestamp, None)
        .verify_slice(&credentials.signature)
        .is_ok()
}

/// Builds `HMAC <key id>:<ts>:<hex>`; with `body` the signature covers the body too.
pub fn sign_keyed(key: &ApiKey, timestamp: u64, body: Option<&[u8]>) -> String {
    let tag = mac_for(key, timestamp, body).finalize().into_bytes();
    format!("HMAC {}:{timestamp}:{}", KeyId::of(key), hex::encode(tag))
}

/// Builds `HMAC2 <key id>:<ts>:<nonce>:<hex>` over `ts_be8 || nonce || path || body`, where
/// `path` is the gRPC method path (`/api.LightningNode/GetBalances`) and `body` the framed
/// request body (5-byte gRPC header and message).
pub fn sign_v2(key: &ApiKey, timestamp: u64, nonce: &Nonce, path: &str, body: &[u8]) -> String {
    let tag = mac_v2(key, timestamp, nonce, path, body)
        .finalize()
        .into_bytes();
    format!(
        "{V2_PREFIX}{}:{timestamp}:{}:{}",
        KeyId::of(key),
        hex::encode(nonce),
        hex::encode(tag)
    )
}

/// Checks a v2 tag against the request's path and body.
pub fn verify_v2(
    key: &ApiKey,
    credentials: &Credentials,
    nonce: &Nonce,
    path: &str,
    body: &[u8],
) -> Result<(), AuthError> {
    mac_v2(key, credentials.timestamp, nonce, path, body)
        .verify_slice(&credentials.signature)
        .map_err(|_| AuthError::BadSignature)
}

/// Nonces for one signer: a random 8-byte session followed by a big-endian counter, so that the
/// server keeps one small replay window per session instead of one entry per call (see
/// `keys::nonce`). Clones share the session and the counter.
#[derive(Clone, Debug)]
pub struct NonceSequence {
    session: [u8; NONCE_SESSION_LEN],
    counter: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// Bytes of a nonce that name its session; the rest is the counter.
pub const NONCE_SESSION_LEN: usize = 8;

impl Default for NonceSequence {
    fn default() -> Self {
        let mut session = [0u8; NONCE_SESSION_LEN];
        session.copy_from_slice(&random_nonce()[..NONCE_SESSION_LEN]);
        Self {
            session,
            counter: std::sync::Arc::new(std::sync::atomic::AtomicU64::new(1)),
        }
    }
}

impl NonceSequence {
    /// The next nonce of the session; never the same twice.
    pub fn next(&self) -> Nonce {
        let counter = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..NONCE_SESSION_LEN].copy_from_slice(&self.session);
        nonce[NONCE_SESSION_LEN..].copy_from_slice(&counter.to_be_bytes());
        nonce
    }
}

/// A fresh random nonce.
pub fn random_nonce() -> Nonce {
    let mut nonce = [0u8; NONCE_LEN];
    // The OS generator failing is not recoverable; a fixed nonce would only be refused as a
    // replay, never accepted twice.
    let _ = getrandom::fill(&mut nonce);
    nonce
}

fn mac_v2(key: &ApiKey, timestamp: u64, nonce: &Nonce, path: &str, body: &[u8]) -> HmacSha256 {
    // The fields cannot run into each other: the timestamp and nonce have fixed lengths, a
    // path is printable ASCII and a gRPC frame begins with its flag byte, 0 or 1.
    let mut mac = HmacSha256::new_from_slice(key.as_hex().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(&timestamp.to_be_bytes());
    mac.update(nonce);
    mac.update(path.as_bytes());
    mac.update(body);
    mac
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
            AuthError::UnknownKey,
            AuthError::KeyRevoked,
            AuthError::KeyExpired,
            AuthError::Replayed,
            AuthError::V2Required,
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

    #[test]
    fn key_ids_are_the_first_eight_bytes_of_sha256_of_the_key_string() {
        let key = ApiKey::from_hex("00");
        // SHA-256("00") = f1534392279bddbf9d43dde8701cb5be14b82f76ec6607bf8d6ad557f60f304e
        assert_eq!(KeyId::of(&key).to_hex(), "f1534392279bddbf");
        assert_eq!(KeyId::parse("f1534392279bddbf"), Some(KeyId::of(&key)));
        assert_eq!(KeyId::parse("f1534392279bddb"), None);
    }

    #[test]
    fn all_three_forms_parse() {
        let key = key();
        let legacy = sign(&key, 5, None);
        assert!(matches!(
            parse_any(legacy.as_bytes()),
            Ok(SignedHeader::Legacy(_))
        ));
        let keyed = sign_keyed(&key, 5, Some(b"x"));
        let parsed = parse_any(keyed.as_bytes()).unwrap();
        assert_eq!(parsed.key_id(), Some(KeyId::of(&key)));
        assert!(!signs_timestamp_only(&key, parsed.credentials()));
        assert!(signs_timestamp_only(
            &key,
            parse_any(sign_keyed(&key, 5, None).as_bytes())
                .unwrap()
                .credentials()
        ));
        let v2 = sign_v2(
            &key,
            5,
            &[1; NONCE_LEN],
            "/api.LightningNode/GetBalances",
            b"",
        );
        let SignedHeader::V2 {
            key_id,
            nonce,
            credentials,
        } = parse_any(v2.as_bytes()).unwrap()
        else {
            panic!("v2");
        };
        assert_eq!(key_id, KeyId::of(&key));
        assert_eq!(nonce, [1; NONCE_LEN]);
        assert_eq!(credentials.timestamp, 5);
        for bad in [
            "HMAC2 ",
            "HMAC2 00:1:00:00",
            "HMAC2 f1534392279bddbf:1:0101:00",
            "HMAC f1534392279bddbf:1:2:00",
            "HMAC f1534392279bddb:1:00",
            "HMAC2 f1534392279bddbf:x:01010101010101010101010101010101:00",
        ] {
            assert_eq!(
                parse_any(bad.as_bytes()),
                Err(AuthError::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn v2_binds_method_path_body_and_nonce() {
        let key = key();
        let nonce = [3; NONCE_LEN];
        let path = "/api.LightningNode/GetBalances";
        let body = [0u8, 0, 0, 0, 0];
        let header = sign_v2(&key, 9, &nonce, path, &body);
        let SignedHeader::V2 { credentials, .. } = parse_any(header.as_bytes()).unwrap() else {
            panic!("v2");
        };
        assert_eq!(verify_v2(&key, &credentials, &nonce, path, &body), Ok(()));
        let other_path = "/api.LightningNode/OnchainReceive";
        assert_eq!(
            verify_v2(&key, &credentials, &nonce, other_path, &body),
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            verify_v2(&key, &credentials, &nonce, path, &[0, 0, 0, 0, 1, 0]),
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            verify_v2(&key, &credentials, &[4; NONCE_LEN], path, &body),
            Err(AuthError::BadSignature)
        );
    }

    /// The values of the README's worked examples (printed with `--nocapture`).
    #[test]
    fn readme_worked_examples() {
        let key =
            ApiKey::from_hex("8f1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9");
        let ts = 1_767_225_600;
        let body = [0u8, 0, 0, 0, 0];
        let nonce: Nonce = hex::decode("00112233445566778899aabbccddeeff")
            .unwrap()
            .try_into()
            .unwrap();
        let path = "/api.LightningNode/GetBalances";
        let forms = [
            sign(&key, ts, None),
            sign(&key, ts, Some(&body)),
            sign_keyed(&key, ts, Some(&body)),
            sign_v2(&key, ts, &nonce, path, &body),
        ];
        for form in &forms {
            println!("{form}");
        }
        assert_eq!(KeyId::of(&key).to_hex(), "064f7d3cd31bd2db");
        assert_eq!(
            forms,
            [
                "HMAC 1767225600:813b7618b8be9e6c27056b0eb9763db72482faa4ebd1009293c50487f1c7199f",
                "HMAC 1767225600:ece55e73ba001c17169e359e4a3a2fb84c9d8918737aace3046412220db10daa",
                "HMAC 064f7d3cd31bd2db:1767225600:ece55e73ba001c17169e359e4a3a2fb84c9d8918737aace3046412220db10daa",
                "HMAC2 064f7d3cd31bd2db:1767225600:00112233445566778899aabbccddeeff:140c397c095ce40566c55f10312dec36a759ba1d407504bc0b5f1c9d3b9a6253",
            ]
        );
    }
}
