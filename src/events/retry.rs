//! Bounded retries with exponential backoff, interrupted by shutdown.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

/// How often, and how patiently, a failing step is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// Pause after the first failure; each later pause doubles, up to `max_delay`.
    pub first_delay: Duration,
    /// The longest pause.
    pub max_delay: Duration,
}

/// Processing one event: 5 attempts, pausing 0.5, 1, 2 and 4 s (7.5 s in all) before the
/// event goes to the dead-letter table.
pub const EVENT_RETRIES: RetryPolicy = RetryPolicy {
    attempts: 5,
    first_delay: Duration::from_millis(500),
    max_delay: Duration::from_secs(8),
};

/// Writing a dead letter: until it is stored (or shutdown), at most every 30 s. An event is
/// never acknowledged without a durable record of it somewhere.
pub const DEAD_LETTER_WRITES: RetryPolicy = RetryPolicy {
    attempts: u32::MAX,
    first_delay: Duration::from_secs(1),
    max_delay: Duration::from_secs(30),
};

impl RetryPolicy {
    /// The pause after failed attempt number `attempt` (1-based).
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.first_delay
            .saturating_mul(1 << doublings)
            .min(self.max_delay)
    }

    /// All pauses together, from the first failure to giving up.
    pub fn total_delay(&self) -> Duration {
        let mut total = Duration::ZERO;
        for attempt in 1..self.attempts {
            let delay = self.delay_after(attempt);
            if delay == self.max_delay {
                let remaining = self.attempts - attempt;
                return total.saturating_add(delay.saturating_mul(remaining));
            }
            total += delay;
        }
        total
    }
}

/// How a retried step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retried<T> {
    /// It succeeded.
    Done(T),
    /// Every attempt failed.
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// The error of the last one.
        last_error: String,
    },
    /// Shutdown was requested during a pause.
    ShutDown,
}

/// Runs `attempt` until it succeeds, `policy` gives up, or shutdown is requested during a pause.
/// Each failure that will be retried is logged at warn, naming `what`.
pub async fn with_retries<T, F, Fut>(
    policy: &RetryPolicy,
    what: &str,
    shutdown: &mut watch::Receiver<bool>,
    mut attempt: F,
) -> Retried<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let mut attempts = 0;
    loop {
        attempts += 1;
        let error = match attempt().await {
            Ok(value) => return Retried::Done(value),
            Err(error) if attempts >= policy.attempts => {
                return Retried::GaveUp {
                    attempts,
                    last_error: error,
                }
            }
            Err(error) => error,
        };
        let delay = policy.delay_after(attempts);
        tracing::warn!(
            what,
            attempt = attempts,
            %error,
            retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            "failed; will retry"
        );
        tokio::select! {
            biased;
            _ = crate::shutdown::requested(shutdown) => return Retried::ShutDown,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    const QUICK: RetryPolicy = RetryPolicy {
        attempts: 4,
        first_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(2),
    };

    #[test]
    fn event_retries_are_bounded_well_under_thirty_seconds() {
        assert_eq!(EVENT_RETRIES.attempts, 5);
        let delays: Vec<Duration> = (1..5).map(|n| EVENT_RETRIES.delay_after(n)).collect();
        assert_eq!(
            delays,
            [500, 1_000, 2_000, 4_000].map(Duration::from_millis)
        );
        assert_eq!(EVENT_RETRIES.total_delay(), Duration::from_millis(7_500));
        assert!(EVENT_RETRIES.total_delay() < Duration::from_secs(30));
    }

    #[test]
    fn delays_stop_growing_at_the_maximum() {
        assert_eq!(DEAD_LETTER_WRITES.delay_after(1), Duration::from_secs(1));
        assert_eq!(DEAD_LETTER_WRITES.delay_after(6), Duration::from_secs(30));
        assert_eq!(
            DEAD_LETTER_WRITES.delay_after(u32::MAX),
            Duration::from_secs(30)
        );
        assert!(DEAD_LETTER_WRITES.total_delay() > Duration::from_secs(86_400 * 365));
    }

    #[tokio::test]
    async fn gives_up_after_the_last_attempt_with_its_error() {
        let (_sender, mut shutdown) = watch::channel(false);
        let calls = Cell::new(0);
        let outcome: Retried<()> = with_retries(&QUICK, "test", &mut shutdown, || {
            calls.set(calls.get() + 1);
            let error = format!("failure {}", calls.get());
            async move { Err(error) }
        })
        .await;
        assert_eq!(
            outcome,
            Retried::GaveUp {
                attempts: 4,
                last_error: "failure 4".into()
            }
        );
        assert_eq!(calls.get(), 4);
    }

    #[tokio::test]
    async fn stops_at_the_first_success() {
        let (_sender, mut shutdown) = watch::channel(false);
        let calls = Cell::new(0);
        let outcome = with_retries(&QUICK, "test", &mut shutdown, || {
            calls.set(calls.get() + 1);
            let result = if calls.get() < 3 {
                Err("not yet".to_owned())
            } else {
                Ok(calls.get())
            };
            async move { result }
        })
        .await;
        assert_eq!(outcome, Retried::Done(3));
    }

    #[tokio::test]
    async fn shutdown_interrupts_a_pause() {
        let (sender, mut shutdown) = watch::channel(false);
        sender.send(true).unwrap();
        let calls = Cell::new(0);
        let outcome: Retried<()> = with_retries(&DEAD_LETTER_WRITES, "test", &mut shutdown, || {
            calls.set(calls.get() + 1);
            async { Err("disk full".to_owned()) }
        })
        .await;
        assert_eq!(outcome, Retried::ShutDown);
        assert_eq!(calls.get(), 1);
    }
}
