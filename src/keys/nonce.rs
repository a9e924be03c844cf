//! The v2 replay cache: every nonce accepted within the clock window, per key, in bounded
//! memory.
//!
//! A v2 request is good while its timestamp is within [`MAX_CLOCK_SKEW_SECS`] of the server
//! clock, so its nonce must be remembered until `timestamp + MAX_CLOCK_SKEW_SECS` has passed;
//! after that the timestamp alone refuses it. Only requests whose signature verified are
//! entered, so filling the cache needs a valid key; once it holds [`MAX_NONCES`] live entries
//! further v2 requests are refused (RESOURCE_EXHAUSTED) rather than forgetting one early.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::auth::{KeyId, Nonce, MAX_CLOCK_SKEW_SECS};

/// Most nonces remembered at once (about 10 MB): 2,000 signed calls a second for the whole
/// 121-second window.
pub const MAX_NONCES: usize = 250_000;

/// Why a nonce was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceError {
    /// Seen before within the window.
    Replayed,
    /// The cache is full of live nonces.
    Full,
}

struct Inner {
    /// `(key, nonce)` → the last second at which its timestamp is still accepted.
    seen: HashMap<(KeyId, Nonce), u64>,
    /// When entries were last swept.
    swept_at: u64,
}

/// See the module documentation.
pub struct NonceCache {
    inner: Mutex<Inner>,
    capacity: usize,
}

impl Default for NonceCache {
    fn default() -> Self {
        Self::with_capacity(MAX_NONCES)
    }
}

impl NonceCache {
    /// A cache holding at most `capacity` live nonces.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                seen: HashMap::new(),
                swept_at: 0,
            }),
            capacity,
        }
    }

    /// Accepts `nonce` of `key` signed at `timestamp` if it was not seen in the window.
    pub fn check_and_insert(
        &self,
        key: KeyId,
        nonce: Nonce,
        timestamp: u64,
        now: u64,
    ) -> Result<(), NonceError> {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // At most one sweep a second, so a full cache costs no more than an empty one.
        if inner.swept_at != now {
            inner.seen.retain(|_, last_good| *last_good >= now);
            inner.swept_at = now;
        }
        let last_good = timestamp.saturating_add(MAX_CLOCK_SKEW_SECS);
        match inner.seen.get(&(key, nonce)) {
            Some(previous) if *previous >= now => return Err(NonceError::Replayed),
            _ => {}
        }
        if inner.seen.len() >= self.capacity {
            return Err(NonceError::Full);
        }
        inner.seen.insert((key, nonce), last_good);
        Ok(())
    }

    /// Nonces held.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .seen
            .len()
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_good_once_per_key_within_the_window() {
        let cache = NonceCache::default();
        let key = KeyId([1; 8]);
        assert_eq!(cache.check_and_insert(key, [7; 16], 100, 100), Ok(()));
        assert_eq!(
            cache.check_and_insert(key, [7; 16], 100, 150),
            Err(NonceError::Replayed)
        );
        assert_eq!(
            cache.check_and_insert(KeyId([2; 8]), [7; 16], 100, 150),
            Ok(())
        );
        // Past the window the timestamp refuses it; the entry is swept.
        assert_eq!(cache.check_and_insert(key, [8; 16], 200, 200), Ok(()));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_full_cache_refuses_instead_of_forgetting() {
        let cache = NonceCache::with_capacity(2);
        let key = KeyId([1; 8]);
        assert_eq!(cache.check_and_insert(key, [1; 16], 100, 100), Ok(()));
        assert_eq!(cache.check_and_insert(key, [2; 16], 100, 100), Ok(()));
        assert_eq!(
            cache.check_and_insert(key, [3; 16], 100, 100),
            Err(NonceError::Full)
        );
        assert_eq!(
            cache.check_and_insert(key, [1; 16], 100, 101),
            Err(NonceError::Replayed)
        );
        assert_eq!(cache.check_and_insert(key, [3; 16], 200, 200), Ok(()));
    }
}
