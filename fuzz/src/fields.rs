//! A tiny binary layout for structured fuzz inputs: fixed-width integers and length-prefixed
//! byte strings read front to back, the rest of the input last.
//!
//! Reading never fails: past the end every integer is zero and every byte string empty, so
//! each input libFuzzer makes is a valid one. [`FieldWriter`] writes the same layout, for seeds.

/// Reads fields from the front of a fuzz input.
pub struct FieldReader<'a> {
    rest: &'a [u8],
}

impl<'a> FieldReader<'a> {
    /// Starts at the first byte of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { rest: data }
    }

    /// The next `len` bytes (fewer at the end of the input).
    pub fn take(&mut self, len: usize) -> &'a [u8] {
        let (taken, rest) = self.rest.split_at(len.min(self.rest.len()));
        self.rest = rest;
        taken
    }

    /// One byte.
    pub fn u8(&mut self) -> u8 {
        self.array::<1>()[0]
    }

    /// A little-endian `u16`.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.array())
    }

    /// A little-endian `u64`.
    pub fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.array())
    }

    /// A byte string preceded by its length as one byte.
    pub fn short_bytes(&mut self) -> &'a [u8] {
        let len = self.u8();
        self.take(usize::from(len))
    }

    /// A byte string preceded by its length as a little-endian `u16`.
    pub fn long_bytes(&mut self) -> &'a [u8] {
        let len = self.u16();
        self.take(usize::from(len))
    }

    /// Everything not read yet.
    pub fn rest(self) -> &'a [u8] {
        self.rest
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut bytes = [0u8; N];
        let taken = self.take(N);
        bytes[..taken.len()].copy_from_slice(taken);
        bytes
    }
}

/// Writes fields in the layout [`FieldReader`] reads.
#[derive(Default)]
pub struct FieldWriter {
    bytes: Vec<u8>,
}

impl FieldWriter {
    /// An empty input.
    pub fn new() -> Self {
        Self::default()
    }

    /// One byte.
    pub fn u8(mut self, value: u8) -> Self {
        self.bytes.push(value);
        self
    }

    /// A little-endian `u16`.
    pub fn u16(mut self, value: u16) -> Self {
        self.bytes.extend_from_slice(&value.to_le_bytes());
        self
    }

    /// A little-endian `u64`.
    pub fn u64(mut self, value: u64) -> Self {
        self.bytes.extend_from_slice(&value.to_le_bytes());
        self
    }

    /// A byte string of at most 255 bytes, preceded by its length as one byte.
    pub fn short_bytes(self, value: &[u8]) -> Self {
        let len = u8::try_from(value.len()).expect("a short field holds at most 255 bytes");
        self.u8(len).raw(value)
    }

    /// A byte string of at most 65535 bytes, preceded by its length as a `u16`.
    pub fn long_bytes(self, value: &[u8]) -> Self {
        let len = u16::try_from(value.len()).expect("a long field holds at most 65535 bytes");
        self.u16(len).raw(value)
    }

    /// Bytes without a length (for the last field, read with [`FieldReader::rest`]).
    pub fn raw(mut self, value: &[u8]) -> Self {
        self.bytes.extend_from_slice(value);
        self
    }

    /// The finished input.
    pub fn finish(self) -> Vec<u8> {
        self.bytes
    }
}
