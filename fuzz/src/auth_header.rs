//! `auth_header`: parsing and verification of `x-auth` values.
//!
//! Input layout ([`crate::fields`]): flags (bit 0: the server requires body signatures; bit 1:
//! the key is given as hex text, else as the raw bytes of an `api_key` file), the signing
//! timestamp (`u64`), the server clock's offset from it (`i8` seconds), the key (short bytes),
//! a header mutation (position `u16`, XOR mask `u8`), the request body (long bytes), and
//! last an arbitrary `x-auth` value.
//!
//! Invariants: parsing and verification never panic; `parse_header` accepts exactly
//! `HMAC <1 or more digits>:<64 hex digits>` with a timestamp that fits in a `u64`; a header
//! that `verify` accepts carries the true HMAC of a timestamp within the clock window; a header
//! made by `sign` for the same key, body and time verifies (and is refused with the right
//! reason when it is stale, covers another body, was made with another key, or covers no body
//! while the server requires one); `check_header` settles the timestamp-only form without the
//! body and leaves any other well-formed, fresh header to the body; no header means `Missing`.

use ldk_server::auth::{
    check_header, parse_header, sign, verify, ApiKey, AuthError, HeaderCheck, MAX_CLOCK_SKEW_SECS,
};

use crate::fields::{FieldReader, FieldWriter};

const REQUIRE_BODY_SIGNATURE: u8 = 1;
const KEY_AS_HEX_TEXT: u8 = 2;

/// One decoded fuzz input.
pub struct AuthInput<'a> {
    /// Bit flags, see the module documentation.
    pub flags: u8,
    /// When the client signed.
    pub timestamp: u64,
    /// The server clock minus `timestamp`, in seconds.
    pub clock_offset: i8,
    /// The key material.
    pub key: &'a [u8],
    /// Where to change the signed header.
    pub mutation_position: u16,
    /// How to change that byte (0 leaves the header as signed).
    pub mutation_mask: u8,
    /// The request body.
    pub body: &'a [u8],
    /// An arbitrary `x-auth` value.
    pub header: &'a [u8],
}

impl<'a> AuthInput<'a> {
    /// Decodes the layout above; any byte string is an input.
    pub fn read(data: &'a [u8]) -> Self {
        let mut fields = FieldReader::new(data);
        Self {
            flags: fields.u8(),
            timestamp: fields.u64(),
            clock_offset: fields.u8() as i8,
            key: fields.short_bytes(),
            mutation_position: fields.u16(),
            mutation_mask: fields.u8(),
            body: fields.long_bytes(),
            header: fields.rest(),
        }
    }

    /// Encodes the input (for seeds).
    pub fn write(&self) -> Vec<u8> {
        FieldWriter::new()
            .u8(self.flags)
            .u64(self.timestamp)
            .u8(self.clock_offset as u8)
            .short_bytes(self.key)
            .u16(self.mutation_position)
            .u8(self.mutation_mask)
            .long_bytes(self.body)
            .raw(self.header)
            .finish()
    }

    fn api_key(&self) -> ApiKey {
        if self.flags & KEY_AS_HEX_TEXT != 0 {
            ApiKey::from_hex(&String::from_utf8_lossy(self.key))
        } else {
            ApiKey::from_file_bytes(self.key)
        }
    }
}

/// The server side of one check: key, body, clock and policy.
struct Server<'a> {
    key: ApiKey,
    body: &'a [u8],
    now: u64,
    require_body_signature: bool,
}

impl Server<'_> {
    fn verify(&self, header: &[u8]) -> Result<(), AuthError> {
        verify(
            &self.key,
            Some(header),
            self.body,
            self.now,
            self.require_body_signature,
        )
    }

    fn in_window(&self, timestamp: u64) -> bool {
        self.now.abs_diff(timestamp) <= MAX_CLOCK_SKEW_SECS
    }

    /// What `verify` must answer for a header that `sign` made over `timestamp` and
    /// `signed_body` (`None`: the timestamp alone) with this server's key.
    fn expected_for_signed(
        &self,
        timestamp: u64,
        signed_body: Option<&[u8]>,
    ) -> Result<(), AuthError> {
        if !self.in_window(timestamp) {
            return Err(AuthError::Expired);
        }
        // A signature over the timestamp and an empty body is the timestamp-only signature.
        match signed_body.filter(|body| !body.is_empty()) {
            None if self.require_body_signature => Err(AuthError::BodyNotSigned),
            None => Ok(()),
            Some(body) if body == self.body => Ok(()),
            Some(_) => Err(AuthError::BadSignature),
        }
    }

    /// What `check_header` must answer, before any body, for a header that `sign` made.
    fn expected_header_check(
        &self,
        timestamp: u64,
        signed_body: Option<&[u8]>,
    ) -> Option<AuthError> {
        let timestamp_only = signed_body.is_none_or(<[u8]>::is_empty);
        match self.expected_for_signed(timestamp, signed_body) {
            Err(AuthError::Expired) => Some(AuthError::Expired),
            Err(AuthError::BodyNotSigned) if timestamp_only => Some(AuthError::BodyNotSigned),
            _ => None,
        }
    }

    /// Panics unless `check_header` on a header that `sign` made settles exactly the
    /// timestamp-only form without the body.
    fn assert_header_check(&self, header: &str, timestamp: u64, signed_body: Option<&[u8]>) {
        let check = check_header(
            &self.key,
            Some(header.as_bytes()),
            self.now,
            self.require_body_signature,
        );
        let timestamp_only = signed_body.is_none_or(<[u8]>::is_empty);
        match (self.expected_header_check(timestamp, signed_body), check) {
            (Some(expected), Err(error)) => assert_eq!(error, expected, "{header:?}"),
            (None, Ok(HeaderCheck::Authenticated)) => {
                assert!(timestamp_only, "{header:?} authenticated without its body")
            }
            (None, Ok(HeaderCheck::NeedsBody(credentials))) => {
                assert!(!timestamp_only, "{header:?} needs a body it does not cover");
                assert_eq!(credentials.timestamp, timestamp, "{header:?}");
            }
            (expected, check) => {
                panic!("{header:?}: check_header gave {check:?}, expected {expected:?}")
            }
        }
    }

    /// Panics unless an accepted `header` is `HMAC <ts>:<hex>` with `ts` in the clock window
    /// and `hex` the true HMAC of `ts` (and the body, unless the policy lets it be left out).
    fn assert_accepted_header_is_genuine(&self, header: &[u8]) {
        let text = std::str::from_utf8(header).expect("an accepted x-auth value is UTF-8");
        // The timestamp is the field before the HMAC, so a `HMAC <key id>:<ts>:<hex>` form
        // would be checked the same way.
        let (fields, tag) = text
            .strip_prefix("HMAC ")
            .and_then(|rest| rest.rsplit_once(':'))
            .unwrap_or_else(|| panic!("accepted x-auth {text:?} is not `HMAC <ts>:<hex>`"));
        let timestamp: u64 = fields
            .rsplit(':')
            .next()
            .and_then(|timestamp| timestamp.parse().ok())
            .unwrap_or_else(|| panic!("accepted x-auth {text:?} has no integer timestamp"));
        assert!(
            self.in_window(timestamp),
            "accepted a stale x-auth {text:?} at {}",
            self.now
        );
        let with_body = tag_of(&sign(&self.key, timestamp, Some(self.body)));
        let without_body = tag_of(&sign(&self.key, timestamp, None));
        let genuine = if self.require_body_signature {
            tag.eq_ignore_ascii_case(&with_body) && !tag.eq_ignore_ascii_case(&without_body)
        } else {
            tag.eq_ignore_ascii_case(&with_body) || tag.eq_ignore_ascii_case(&without_body)
        };
        assert!(
            genuine,
            "accepted x-auth {text:?} whose HMAC is not the key's"
        );
    }
}

/// Whether `header` is `HMAC <digits>:<64 hex digits>` with a timestamp below 2^64.
fn is_well_formed(header: &[u8]) -> bool {
    let Some((timestamp, tag)) = header.strip_prefix(b"HMAC ").and_then(|rest| {
        rest.iter()
            .position(|&b| b == b':')
            .map(|at| rest.split_at(at))
    }) else {
        return false;
    };
    let tag = &tag[1..];
    let digits_fit = !timestamp.is_empty()
        && timestamp.iter().all(u8::is_ascii_digit)
        && timestamp
            .iter()
            .try_fold(0u64, |value, digit| {
                value.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
            })
            .is_some();
    digits_fit && tag.len() == 64 && tag.iter().all(u8::is_ascii_hexdigit)
}

/// The hex HMAC of a header made by `sign`.
fn tag_of(header: &str) -> String {
    header
        .rsplit_once(':')
        .map(|(_, tag)| tag.to_owned())
        .expect("sign makes `HMAC <ts>:<hex>`")
}

/// Runs every check on one fuzz input.
pub fn check(data: &[u8]) {
    let input = AuthInput::read(data);
    let server = Server {
        key: input.api_key(),
        body: input.body,
        now: input
            .timestamp
            .saturating_add_signed(i64::from(input.clock_offset)),
        require_body_signature: input.flags & REQUIRE_BODY_SIGNATURE != 0,
    };
    check_arbitrary_header(&server, input.header);
    check_signed_headers(&server, &input);
}

fn check_arbitrary_header(server: &Server<'_>, header: &[u8]) {
    assert_eq!(
        parse_header(header).is_ok(),
        is_well_formed(header),
        "parse_header on {:?}",
        String::from_utf8_lossy(header)
    );
    if server.verify(header).is_ok() {
        server.assert_accepted_header_is_genuine(header);
    }
    assert_eq!(
        verify(
            &server.key,
            None,
            server.body,
            server.now,
            server.require_body_signature
        ),
        Err(AuthError::Missing)
    );
}

fn check_signed_headers(server: &Server<'_>, input: &AuthInput<'_>) {
    let ts = input.timestamp;
    let other_body = [server.body, b"!"].concat();
    let signed_bodies = [Some(server.body), None, Some(other_body.as_slice())];
    for signed_body in signed_bodies {
        let header = sign(&server.key, ts, signed_body);
        assert_eq!(
            server.verify(header.as_bytes()),
            server.expected_for_signed(ts, signed_body),
            "{header:?} signed over {signed_body:?}"
        );
        server.assert_header_check(&header, ts, signed_body);
    }
    let other_key = ApiKey::from_hex(&format!("{}0", server.key.as_hex()));
    let by_other_key = sign(&other_key, ts, Some(server.body));
    let expected = match server.in_window(ts) {
        true => Err(AuthError::BadSignature),
        false => Err(AuthError::Expired),
    };
    assert_eq!(
        server.verify(by_other_key.as_bytes()),
        expected,
        "another key"
    );

    let mut mutated = sign(&server.key, ts, Some(server.body)).into_bytes();
    let position = usize::from(input.mutation_position) % mutated.len();
    mutated[position] ^= input.mutation_mask;
    check_arbitrary_header(server, &mutated);
}
