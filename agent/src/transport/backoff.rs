//! Reconnect delays: capped exponential backoff with full jitter.
//!
//! After a hub restart thousands of agents reconnect at once; full jitter (a uniformly random
//! delay between zero and the exponential ceiling) spreads them over the whole window instead
//! of synchronising them into waves.

use std::time::Duration;

/// First ceiling.
pub const BASE: Duration = Duration::from_secs(1);
/// Largest ceiling.
pub const CAP: Duration = Duration::from_secs(300);

/// The delay before reconnect attempt `attempt` (0-based): `unit` × min(cap, base × 2^attempt),
/// with `unit` uniform in `[0, 1)`. Pure, so the schedule is testable.
pub fn full_jitter(base: Duration, cap: Duration, attempt: u32, unit: f64) -> Duration {
    let ceiling = base
        .checked_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX))
        .unwrap_or(cap)
        .min(cap);
    ceiling.mul_f64(unit.clamp(0.0, 1.0))
}

/// Reconnect schedule of one agent: [`Backoff::next_delay`] after each failure,
/// [`Backoff::reset`] once a connection was welcomed.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(BASE, CAP)
    }
}

impl Backoff {
    /// A schedule from `base` up to `cap`.
    pub fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap,
            attempt: 0,
        }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let delay = full_jitter(self.base, self.cap, self.attempt, rand::random::<f64>());
        self.attempt = self.attempt.saturating_add(1);
        delay
    }

    /// Back to the shortest delays.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_until_the_cap() {
        let at = |attempt| full_jitter(BASE, CAP, attempt, 0.999_999);
        assert!(at(0) < Duration::from_secs(1) && at(0) > Duration::from_millis(999));
        assert!(at(3) > Duration::from_millis(7999) && at(3) < Duration::from_secs(8));
        assert!(at(8) < CAP && at(8) > Duration::from_millis(255_999));
        assert!(at(9) <= CAP && at(9) > Duration::from_millis(299_999));
        assert!(at(200) <= CAP);
        assert!(at(u32::MAX) <= CAP);
    }

    #[test]
    fn jitter_spans_zero_to_the_ceiling() {
        assert_eq!(full_jitter(BASE, CAP, 5, 0.0), Duration::ZERO);
        assert_eq!(full_jitter(BASE, CAP, 5, 0.5), Duration::from_secs(16));
        assert_eq!(full_jitter(BASE, CAP, 5, 7.0), Duration::from_secs(32));
    }

    #[test]
    fn schedule_grows_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(40));
        for _ in 0..10 {
            assert!(backoff.next_delay() < Duration::from_millis(40));
        }
        backoff.reset();
        assert!(backoff.next_delay() < Duration::from_millis(10));
    }
}
