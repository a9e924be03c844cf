//! Per-source throttling of failed authentications: a token bucket for each source address.
//!
//! Every failed authentication takes a token from its address's bucket; the bucket refills at a
//! steady rate up to its burst size. While a bucket is empty, requests from that address are
//! refused before any HMAC is computed or any body byte read, so a key-guessing client costs the
//! server almost nothing, and clients at other addresses are not slowed at all.
//!
//! Connections that end in an HTTP/2 protocol error (a flood of malformed frames) or a stalled
//! TLS handshake count as failures too, and a throttled address's new connections are closed as
//! soon as they are accepted: an abusive client cannot make the server do the work again and
//! again from the same address.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Addresses tracked at once; past this, buckets that have refilled are forgotten first.
const MAX_TRACKED_ADDRESSES: usize = 65_536;

/// Whom traffic from `ip` is accounted to: an IPv4 address (IPv4-mapped IPv6 included) as
/// itself, an IPv6 address as its /64 (one host commonly holds a whole /64).
pub fn source_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
        v4 => v4,
    }
}

/// Failed-authentication buckets by source address.
pub struct AuthThrottle {
    burst: f64,
    refill_per_sec: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl AuthThrottle {
    /// `burst` failures at once, `per_minute` regained every minute.
    pub fn new(burst: u32, per_minute: u32) -> Self {
        Self {
            burst: f64::from(burst),
            refill_per_sec: f64::from(per_minute) / 60.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// How long `address` must wait before it may try again, if its bucket is empty now.
    pub fn throttled(&self, address: IpAddr, now: Instant) -> Option<Duration> {
        let buckets = self.lock();
        let bucket = buckets.get(&address)?;
        let tokens = self.refilled(*bucket, now);
        (tokens < 1.0).then(|| Duration::from_secs_f64((1.0 - tokens) / self.refill_per_sec))
    }

    /// Takes a token from `address`'s bucket for one failed authentication.
    pub fn record_failure(&self, address: IpAddr, now: Instant) {
        let mut buckets = self.lock();
        if buckets.len() >= MAX_TRACKED_ADDRESSES && !buckets.contains_key(&address) {
            self.forget_refilled(&mut buckets, now);
            if buckets.len() >= MAX_TRACKED_ADDRESSES {
                return;
            }
        }
        let fresh = Bucket {
            tokens: self.burst,
            updated: now,
        };
        let bucket = buckets.entry(address).or_insert(fresh);
        bucket.tokens = (self.refilled(*bucket, now) - 1.0).max(0.0);
        bucket.updated = now;
    }

    /// Addresses with a bucket (for tests and metrics).
    pub fn tracked(&self) -> usize {
        self.lock().len()
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        (bucket.tokens + elapsed * self.refill_per_sec).min(self.burst)
    }

    fn forget_refilled(&self, buckets: &mut HashMap<IpAddr, Bucket>, now: Instant) {
        buckets.retain(|_, bucket| self.refilled(*bucket, now) < self.burst);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Bucket>> {
        self.buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn burst_then_throttled_then_refilled() {
        let throttle = AuthThrottle::new(3, 60);
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(throttle.throttled(ip(2), start), None);
            throttle.record_failure(ip(2), start);
        }
        let wait = throttle.throttled(ip(2), start).expect("throttled");
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        assert_eq!(throttle.throttled(ip(1), start), None, "other addresses");
        assert_eq!(
            throttle.throttled(ip(2), start + Duration::from_secs(1)),
            None
        );
    }

    #[test]
    fn refilled_buckets_are_forgotten_when_the_table_is_full() {
        let throttle = AuthThrottle::new(1, 60);
        let start = Instant::now();
        for n in 0..MAX_TRACKED_ADDRESSES as u32 {
            throttle.record_failure(IpAddr::from(n.to_be_bytes()), start);
        }
        assert_eq!(throttle.tracked(), MAX_TRACKED_ADDRESSES);
        let later = start + Duration::from_secs(2);
        throttle.record_failure(ip(1), later);
        assert_eq!(throttle.tracked(), 1);
    }
}
