//! Retry delays: exponential from one second, capped at five minutes, with full jitter (a
//! uniformly random delay below the exponential ceiling), so that many webhooks failing at once
//! do not retry in lockstep.

use std::time::Duration;

/// The ceiling of the first retry.
const BASE: Duration = Duration::from_secs(1);
/// No retry waits longer than this.
const CAP: Duration = Duration::from_secs(300);
/// No retry comes sooner than this, whatever the draw.
const FLOOR: Duration = Duration::from_millis(100);

/// The delays of one run of failures; [`Backoff::reset`] after a success.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    /// The ceiling after `failures` failures in a row: 1 s, 2 s, 4 s … 300 s.
    pub fn ceiling(failures: u32) -> Duration {
        let doubled = BASE.saturating_mul(2u32.saturating_pow(failures.saturating_sub(1)));
        doubled.min(CAP)
    }

    /// Counts a failure and returns how long to wait before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let ceiling = Self::ceiling(self.failures);
        let drawn = ceiling.mul_f64(random_fraction());
        drawn.max(FLOOR)
    }

    /// Failures in a row so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// After a success: the next failure starts again from one second.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

/// A uniform draw in [0, 1) from the operating system's generator (a fixed midpoint if it
/// cannot be read, which only loses the jitter).
fn random_fraction() -> f64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_from_one_second_to_the_cap() {
        let ceilings: Vec<u64> = (1..=11).map(|n| Backoff::ceiling(n).as_secs()).collect();
        assert_eq!(ceilings, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(Backoff::ceiling(u32::MAX), CAP);
    }

    #[test]
    fn delays_are_jittered_below_the_ceiling_and_reset() {
        let mut backoff = Backoff::default();
        let mut delays = Vec::new();
        for failures in 1..=12 {
            let delay = backoff.next_delay();
            assert!(delay >= FLOOR && delay <= Backoff::ceiling(failures).max(FLOOR));
            delays.push(delay);
        }
        assert_eq!(backoff.failures(), 12);
        // Twelve draws, the last three below a 300 s ceiling: all equal would mean no jitter.
        assert!(delays[9..].windows(2).any(|pair| pair[0] != pair[1]));
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_secs(1));
    }
}
