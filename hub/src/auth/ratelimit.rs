//! In-memory rate limiting: a fixed window per key (an IP, an email, an API token).
//!
//! One hub process answers for its own limits; with several replicas each enforces its own
//! share, which is enough to stop password guessing and runaway scripts.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::ApiRateLimit;

/// At most `max` hits per `window` per key; `max` 0 means unlimited.
#[derive(Debug)]
pub struct RateLimiter {
    max: u32,
    window: Duration,
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

impl RateLimiter {
    /// A limiter of `max` hits per `window`.
    pub fn new(max: u32, window: Duration) -> Self {
        Self {
            max,
            window,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a hit for `key` at `now`. `Err(retry_after)` when over the limit.
    pub fn hit(&self, key: &str, now: Instant) -> Result<(), Duration> {
        if self.max == 0 {
            return Ok(());
        }
        let mut windows = self.windows.lock().expect("rate limiter lock");
        if windows.len() > 100_000 {
            // Forget finished windows so the map cannot grow without bound.
            let window = self.window;
            windows.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let entry = windows.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.max {
            let retry = self.window.saturating_sub(now.duration_since(entry.0));
            return Err(retry.max(Duration::from_secs(1)));
        }
        entry.1 += 1;
        Ok(())
    }
}

/// The hub's limits.
#[derive(Debug)]
pub struct RateLimits {
    /// Login attempts per client IP.
    pub login_per_ip: RateLimiter,
    /// Login attempts per email.
    pub login_per_user: RateLimiter,
    /// Requests per API token.
    pub per_token: RateLimiter,
}

impl RateLimits {
    /// The login limits with `api` requests per minute per token (the operator's knob,
    /// `KUBEWORKZ_API_RATE_LIMIT_PER_MINUTE`). Logins stay limited whatever `api` says.
    pub fn with_api_limit(api: ApiRateLimit) -> Self {
        Self {
            login_per_ip: RateLimiter::new(20, Duration::from_secs(60)),
            login_per_user: RateLimiter::new(5, Duration::from_secs(60)),
            per_token: RateLimiter::new(api.per_minute().unwrap_or(0), Duration::from_secs(60)),
        }
    }
}

impl Default for RateLimits {
    fn default() -> Self {
        Self::with_api_limit(ApiRateLimit::DEFAULT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_over_its_limit_waits_for_the_next_window() {
        let limiter = RateLimiter::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(limiter.hit("a", t0).is_ok());
        assert!(limiter.hit("a", t0).is_ok());
        let retry = limiter.hit("a", t0 + Duration::from_secs(15)).unwrap_err();
        assert_eq!(retry, Duration::from_secs(45));
        assert!(limiter.hit("b", t0).is_ok(), "keys are independent");
        assert!(limiter.hit("a", t0 + Duration::from_secs(60)).is_ok());
    }

    #[test]
    fn a_zero_api_limit_is_off_but_logins_stay_limited() {
        let limits = RateLimits::with_api_limit(ApiRateLimit::OFF);
        let t0 = Instant::now();
        for _ in 0..10_000 {
            assert!(limits.per_token.hit("token", t0).is_ok());
        }
        for _ in 0..5 {
            assert!(limits.login_per_user.hit("a@b", t0).is_ok());
        }
        assert!(limits.login_per_user.hit("a@b", t0).is_err());
        let limited = RateLimits::with_api_limit("3".parse().unwrap());
        for _ in 0..3 {
            assert!(limited.per_token.hit("token", t0).is_ok());
        }
        assert!(limited.per_token.hit("token", t0).is_err());
    }
}
