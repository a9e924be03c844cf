//! The v2 replay cache: every nonce accepted within the clock window, per key, in bounded
//! memory.
//!
//! A v2 request is good while its timestamp is within [`MAX_CLOCK_SKEW_SECS`] of the server
//! clock, so its nonce must be remembered until `timestamp + MAX_CLOCK_SKEW_SECS` has passed;
//! after that the timestamp alone refuses it. Only requests whose signature verified are
//! entered, so filling the cache needs a valid key; once it holds [`MAX_NONCES`] live sessions
//! further new sessions are refused (RESOURCE_EXHAUSTED) rather than forgetting one early.
//!
//! A nonce is read as a session (its first [`NONCE_SESSION_LEN`] bytes) and a big-endian
//! counter (the rest). Each session keeps the highest counter seen and a bitmap of the
//! [`WINDOW`] counters below it, as IPsec's anti-replay window does: a counter seen before, or
//! older than the window, is a replay. Our client numbers its nonces within one session
//! ([`NonceSequence`](crate::auth::NonceSequence)), so any call rate costs one entry per client;
//! a client sending random nonces costs one entry per call, as a plain set would.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::auth::{KeyId, Nonce, MAX_CLOCK_SKEW_SECS, NONCE_SESSION_LEN};

/// Most sessions remembered at once (about 10 MB of one-nonce sessions, plus 512 bytes for each
/// session that numbers its nonces): for clients with random nonces, 2,000
/// signed calls a second for the whole 121-second window; for numbered ones, 250,000 clients.
pub const MAX_NONCES: usize = 250_000;

/// Counters below a session's highest that are still told apart: calls of one client may
/// arrive this far out of order (four times the default `[limits] max_concurrent_streams`).
pub const WINDOW: u64 = 4096;
const WINDOW_WORDS: usize = (WINDOW / 64) as usize;

/// One session's replay window.
struct Session {
    /// The highest counter accepted.
    highest: u64,
    /// Bit `i` set: counter `highest - i` was accepted. Made with the session's second nonce,
    /// so that a session of one random nonce costs no bitmap.
    seen: Option<Box<[u64; WINDOW_WORDS]>>,
    /// The last second at which a timestamp of this session is still accepted.
    last_good: u64,
}

impl Session {
    fn new(counter: u64, last_good: u64) -> Self {
        Self {
            highest: counter,
            seen: None,
            last_good,
        }
    }

    /// Records `counter`; false if it was seen or is too old to tell.
    fn accept(&mut self, counter: u64) -> bool {
        let seen = self.seen.get_or_insert_with(|| {
            let mut seen = Box::new([0; WINDOW_WORDS]);
            seen[0] = 1;
            seen
        });
        if counter > self.highest {
            shift(seen, counter - self.highest);
            self.highest = counter;
            seen[0] |= 1;
            return true;
        }
        let offset = self.highest - counter;
        if offset >= WINDOW {
            return false;
        }
        let (word, bit) = ((offset / 64) as usize, offset % 64);
        if seen[word] & (1 << bit) != 0 {
            return false;
        }
        seen[word] |= 1 << bit;
        true
    }
}

/// Moves a window up by `by` counters.
fn shift(seen: &mut [u64; WINDOW_WORDS], by: u64) {
    if by >= WINDOW {
        *seen = [0; WINDOW_WORDS];
        return;
    }
    let (words, bits) = ((by / 64) as usize, by % 64);
    for index in (0..WINDOW_WORDS).rev() {
        let from = index.checked_sub(words);
        let high = from.map_or(0, |from| seen[from] << bits);
        let carry = match from.and_then(|from| from.checked_sub(1)) {
            Some(lower) if bits > 0 => seen[lower] >> (64 - bits),
            _ => 0,
        };
        seen[index] = high | carry;
    }
}

fn split(nonce: &Nonce) -> ([u8; NONCE_SESSION_LEN], u64) {
    let mut session = [0u8; NONCE_SESSION_LEN];
    session.copy_from_slice(&nonce[..NONCE_SESSION_LEN]);
    let mut counter = [0u8; 8];
    counter.copy_from_slice(&nonce[NONCE_SESSION_LEN..]);
    (session, u64::from_be_bytes(counter))
}

/// Why a nonce was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceError {
    /// Seen before within the window.
    Replayed,
    /// The cache is full of live nonces.
    Full,
}

struct Inner {
    /// `(key, session)` → its window.
    seen: HashMap<(KeyId, [u8; NONCE_SESSION_LEN]), Session>,
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
            inner.seen.retain(|_, session| session.last_good >= now);
            inner.swept_at = now;
        }
        let last_good = timestamp.saturating_add(MAX_CLOCK_SKEW_SECS);
        let (session, counter) = split(&nonce);
        if let Some(known) = inner.seen.get_mut(&(key, session)) {
            if known.last_good >= now {
                if !known.accept(counter) {
                    return Err(NonceError::Replayed);
                }
                known.last_good = known.last_good.max(last_good);
                return Ok(());
            }
        }
        if inner.seen.len() >= self.capacity {
            return Err(NonceError::Full);
        }
        inner
            .seen
            .insert((key, session), Session::new(counter, last_good));
        Ok(())
    }

    /// Sessions held.
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

    fn numbered(session: u8, counter: u64) -> Nonce {
        let mut nonce = [session; 16];
        nonce[NONCE_SESSION_LEN..].copy_from_slice(&counter.to_be_bytes());
        nonce
    }

    #[test]
    fn a_numbered_session_is_one_entry_and_refuses_every_replay() {
        let cache = NonceCache::with_capacity(1);
        let key = KeyId([1; 8]);
        // 100,000 calls of one client, arriving up to 2,000 out of order.
        for block in 0..50u64 {
            for counter in (block * 2_000..block * 2_000 + 2_000).rev() {
                assert_eq!(
                    cache.check_and_insert(key, numbered(9, counter), 100, 100),
                    Ok(()),
                    "{counter}"
                );
            }
        }
        assert_eq!(cache.len(), 1);
        for counter in [99_999, 99_950, 99_800, 99_744, 96_000] {
            assert_eq!(
                cache.check_and_insert(key, numbered(9, counter), 100, 100),
                Err(NonceError::Replayed),
                "{counter} again"
            );
        }
        // Older than the window: refused, it cannot be told from a replay.
        assert_eq!(
            cache.check_and_insert(key, numbered(9, 99_999 - WINDOW), 100, 100),
            Err(NonceError::Replayed)
        );
        // A jump beyond the window forgets what lies below it, and counts on from there.
        assert_eq!(
            cache.check_and_insert(key, numbered(9, 1_000_000), 100, 100),
            Ok(())
        );
        assert_eq!(
            cache.check_and_insert(key, numbered(9, 999_990), 100, 100),
            Ok(())
        );
        assert_eq!(
            cache.check_and_insert(key, numbered(9, 999_990), 100, 100),
            Err(NonceError::Replayed)
        );
        // Another session of the same key needs a second entry: the cache is full.
        assert_eq!(
            cache.check_and_insert(key, numbered(8, 1), 100, 100),
            Err(NonceError::Full)
        );
    }

    #[test]
    fn the_window_shifts_bits_across_words() {
        let mut session = Session::new(10, 0);
        for counter in [11, 75, 140, 200] {
            assert!(session.accept(counter));
        }
        for counter in [10, 11, 75, 140, 200] {
            assert!(!session.accept(counter), "{counter} is a replay");
        }
        for counter in [12, 74, 76, 139, 199] {
            assert!(session.accept(counter), "{counter} is new");
        }
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
