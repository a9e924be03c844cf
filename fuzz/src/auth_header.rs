//! `auth_header`: parsing and verification of `x-auth` values.
//!
//! Input layout ([`crate::fields`]): flags (bit 0: the server requires body signatures; bit 1:
//! the key is given as hex text, else as the raw bytes of an `api_key` file), the signing
//! timestamp (`u64`), the server clock's offset from it (`i8` seconds), the key (short bytes),
//! a header mutation (position `u16`, XOR mask `u8`), the request body (long bytes), and
//! last an arbitrary `x-auth` value.
//!
//! Invariants: `verify` never panics; a header it accepts carries the true HMAC of a timestamp
//! within the clock window; a header made by `sign` for the same key, body and time verifies
//! (and is refused with the right reason when it is stale, covers another body, was made with
//! another key, or covers no body while the server requires one); no header means `Missing`.

use ldk_server::auth::{sign, verify, ApiKey, AuthError, MAX_CLOCK_SKEW_SECS};

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
        // A signature over the timestamp alone is the signature over it and an empty body.
        match signed_body.filter(|body| !body.is_empty()) {
            Some(body) if body == self.body => Ok(()),
            Some(_) => Err(AuthError::BadSignature),
            None if self.body.is_empty() || !self.require_body_signature => Ok(()),
            None => Err(AuthError::BodyNotSigned),
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
        let body_optional = !self.require_body_signature || self.body.is_empty();
        assert!(
            tag.eq_ignore_ascii_case(&with_body)
                || (body_optional && tag.eq_ignore_ascii_case(&without_body)),
            "accepted x-auth {text:?} whose HMAC is not the key's"
        );
    }
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
    let over_body = sign(&server.key, ts, Some(server.body));
    assert_eq!(
        server.verify(over_body.as_bytes()),
        server.expected_for_signed(ts, Some(server.body)),
        "{over_body:?} over the body"
    );
    let over_timestamp = sign(&server.key, ts, None);
    assert_eq!(
        server.verify(over_timestamp.as_bytes()),
        server.expected_for_signed(ts, None),
        "{over_timestamp:?} over the timestamp alone"
    );
    let other_body = [server.body, b"!"].concat();
    let over_other_body = sign(&server.key, ts, Some(&other_body));
    assert_eq!(
        server.verify(over_other_body.as_bytes()),
        server.expected_for_signed(ts, Some(&other_body)),
        "{over_other_body:?} over another body"
    );
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

    let mut mutated = over_body.into_bytes();
    let position = usize::from(input.mutation_position) % mutated.len();
    mutated[position] ^= input.mutation_mask;
    check_arbitrary_header(server, &mutated);
}
