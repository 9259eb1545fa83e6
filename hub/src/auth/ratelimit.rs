//! In-memory rate limiting: requests per API token (a fixed window per key), and login
//! failures ([`LoginLimiter`]).
//!
//! One hub process answers for its own limits; with several replicas each enforces its own
//! share, which is enough to stop password guessing and runaway scripts.
//!
//! Logins count *failures*, never attempts, so a correct password is never refused for
//! having been tried often. Failures are kept three ways, each against one attack:
//!
//! - per (email, client address): guessing one account from one place. After
//!   [`PAIR_FREE_FAILURES`] the pair must wait, twice as long after each further failure
//!   ([`PAIR_FIRST_WAIT`] up to [`MAX_WAIT`]), answered 429 with `Retry-After` before any
//!   password is checked. Only that pair waits: the account's owner elsewhere is not
//!   refused, and a success clears the pair.
//! - per email, from every address: guessing one account from many places. Past
//!   [`ACCOUNT_FREE_FAILURES`] every attempt on the account is *delayed* before its password
//!   is checked, doubling from [`ACCOUNT_FIRST_DELAY`] but never beyond
//!   [`ACCOUNT_MAX_DELAY`]: a delay, not a refusal, so an attacker can slow the real user
//!   down by a few seconds but never lock them out.
//! - per client address, across emails: spraying many accounts from one place. Past
//!   [`ADDRESS_FREE_FAILURES`] the address waits like a pair, except for the emails that
//!   logged in from it in the last [`KNOWN_GOOD_FOR`], so people who share an address with
//!   the sprayer (an office, or every client when no `--trusted-proxies` are configured and
//!   the ingress is the peer) keep logging in.
//!
//! Attempts in flight count as failures until they end, so a burst of parallel guesses
//! cannot slip past a limit before the first of them fails. Failures are forgotten
//! [`FORGET_AFTER`] after the last one.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::ApiRateLimit;

/// Failures one (email, address) pair may make before it must wait: room for a user's own
/// typos, few guesses for anyone else.
pub const PAIR_FREE_FAILURES: u32 = 5;
/// A pair's first wait once past its free failures; it doubles with each failure after.
pub const PAIR_FIRST_WAIT: Duration = Duration::from_secs(1);
/// The longest wait: an attacker at this pace tries four passwords an hour per address.
pub const MAX_WAIT: Duration = Duration::from_secs(15 * 60);
/// Failures on one account from all addresses before its attempts are delayed: more than
/// one person's typos, so a normal day never sees a delay.
pub const ACCOUNT_FREE_FAILURES: u32 = 10;
/// An account's first delay past its free failures; it doubles with each failure after.
pub const ACCOUNT_FIRST_DELAY: Duration = Duration::from_millis(250);
/// The longest an account's attempt is delayed: what an attack may cost its real owner.
pub const ACCOUNT_MAX_DELAY: Duration = Duration::from_secs(3);
/// Failures from one address across emails before it must wait: an office mistyping all
/// morning stays below it, a password spray of any size does not.
pub const ADDRESS_FREE_FAILURES: u32 = 50;
/// An address's first wait once past its free failures; it doubles like a pair's.
pub const ADDRESS_FIRST_WAIT: Duration = Duration::from_secs(1);
/// Failures are forgotten this long after the last one: longer than [`MAX_WAIT`], so an
/// attacker at the slowest pace never starts over.
pub const FORGET_AFTER: Duration = Duration::from_secs(3600);
/// How long a successful login exempts its (email, address) from the address's spraying
/// limit.
pub const KNOWN_GOOD_FOR: Duration = Duration::from_secs(7 * 24 * 3600);
/// Keys kept before stale ones are dropped, so the maps cannot grow without bound.
const MAX_KEYS: usize = 100_000;

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
        if windows.len() > MAX_KEYS {
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

/// `first` doubled `steps` times, at most `max`.
fn doubled(first: Duration, steps: u32, max: Duration) -> Duration {
    first
        .checked_mul(1 << steps.min(30))
        .map_or(max, |wait| wait.min(max))
}

/// Recent failures of one key, and attempts of it in flight.
#[derive(Debug, Default)]
struct Failures {
    count: u32,
    in_flight: u32,
    last: Option<Instant>,
}

impl Failures {
    /// Starts over once the last failure is [`FORGET_AFTER`] old.
    fn forget_stale(&mut self, now: Instant) {
        if self
            .last
            .is_some_and(|last| now.duration_since(last) >= FORGET_AFTER)
        {
            self.count = 0;
            self.last = None;
        }
    }

    fn is_stale(&self, now: Instant) -> bool {
        self.in_flight == 0
            && self
                .last
                .is_none_or(|last| now.duration_since(last) >= FORGET_AFTER)
    }

    /// How long the key must wait before another attempt, if it must: `free` failures
    /// cost nothing, then `first` doubling; attempts in flight count as failures (over
    /// the free ones, one at a time).
    fn wait(&self, free: u32, first: Duration, now: Instant) -> Option<Duration> {
        if self.count >= free
            && let Some(last) = self.last
        {
            let until = last + doubled(first, self.count - free, MAX_WAIT);
            if until > now {
                return Some(until - now);
            }
        }
        let allowed_in_flight = free.saturating_sub(self.count).max(1);
        (self.in_flight >= allowed_in_flight).then_some(first)
    }

    fn fail(&mut self, now: Instant) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.count = self.count.saturating_add(1);
        self.last = Some(now);
    }
}

#[derive(Debug, Default)]
struct Pair {
    failures: Failures,
    last_success: Option<Instant>,
}

impl Pair {
    fn known_good(&self, now: Instant) -> bool {
        self.last_success
            .is_some_and(|at| now.duration_since(at) < KNOWN_GOOD_FOR)
    }
}

type PairKey = (String, Option<IpAddr>);

#[derive(Debug, Default)]
struct LoginState {
    pairs: HashMap<PairKey, Pair>,
    accounts: HashMap<String, Failures>,
    addresses: HashMap<Option<IpAddr>, Failures>,
}

impl LoginState {
    fn drop_stale(&mut self, now: Instant) {
        if self.pairs.len() > MAX_KEYS {
            self.pairs
                .retain(|_, pair| !pair.failures.is_stale(now) || pair.known_good(now));
        }
        if self.accounts.len() > MAX_KEYS {
            self.accounts.retain(|_, f| !f.is_stale(now));
        }
        if self.addresses.len() > MAX_KEYS {
            self.addresses.retain(|_, f| !f.is_stale(now));
        }
    }
}

/// Login failures per (email, address), per email and per address; see the module docs.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    state: Mutex<LoginState>,
}

impl LoginLimiter {
    /// Starts an attempt to log in as `email` (normalized) from `address`: refused with how
    /// long to wait, or admitted with a delay to serve before checking the password. The
    /// attempt counts as a failure unless [`LoginAttempt::succeeded`] is called.
    pub fn begin(
        &self,
        email: &str,
        address: Option<IpAddr>,
        now: Instant,
    ) -> Result<LoginAttempt<'_>, Duration> {
        let mut guard = self.state.lock().expect("login limiter lock");
        let state = &mut *guard;
        state.drop_stale(now);
        let key = (email.to_owned(), address);
        let pair = state.pairs.entry(key.clone()).or_default();
        pair.failures.forget_stale(now);
        if let Some(wait) = pair.failures.wait(PAIR_FREE_FAILURES, PAIR_FIRST_WAIT, now) {
            return Err(wait);
        }
        let known_good = pair.known_good(now);
        let from = state.addresses.entry(address).or_default();
        from.forget_stale(now);
        if !known_good && let Some(wait) = from.wait(ADDRESS_FREE_FAILURES, ADDRESS_FIRST_WAIT, now)
        {
            return Err(wait);
        }
        from.in_flight += 1;
        let account = state.accounts.entry(email.to_owned()).or_default();
        account.forget_stale(now);
        let delay = match account.count.checked_sub(ACCOUNT_FREE_FAILURES) {
            Some(over) if !known_good => doubled(ACCOUNT_FIRST_DELAY, over, ACCOUNT_MAX_DELAY),
            _ => Duration::ZERO,
        };
        if let Some(pair) = state.pairs.get_mut(&key) {
            pair.failures.in_flight += 1;
        }
        Ok(LoginAttempt {
            limiter: self,
            key,
            started: now,
            delay,
            succeeded: false,
        })
    }

    /// Ends an attempt; its outcome is dated when it started, so that waits are counted
    /// from the attempts themselves.
    fn end(&self, key: &PairKey, started: Instant, succeeded: bool) {
        let now = started;
        let mut state = self.state.lock().expect("login limiter lock");
        if let Some(from) = state.addresses.get_mut(&key.1) {
            if succeeded {
                from.in_flight = from.in_flight.saturating_sub(1);
            } else {
                from.fail(now);
            }
        }
        if !succeeded {
            state.accounts.entry(key.0.clone()).or_default().fail(now);
        }
        let pair = state.pairs.entry(key.clone()).or_default();
        if succeeded {
            *pair = Pair {
                failures: Failures::default(),
                last_success: Some(now),
            };
        } else {
            pair.failures.fail(now);
        }
    }
}

/// A login attempt admitted by [`LoginLimiter::begin`]; a failure unless it succeeded.
#[derive(Debug)]
pub struct LoginAttempt<'a> {
    limiter: &'a LoginLimiter,
    key: PairKey,
    started: Instant,
    delay: Duration,
    succeeded: bool,
}

impl LoginAttempt<'_> {
    /// How long to wait before checking the password (the account's delay).
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// The password was right: clears the pair's failures.
    pub fn succeeded(mut self) {
        self.succeeded = true;
    }
}

impl Drop for LoginAttempt<'_> {
    fn drop(&mut self) {
        self.limiter.end(&self.key, self.started, self.succeeded);
    }
}

/// The hub's limits.
#[derive(Debug)]
pub struct RateLimits {
    /// Login failures.
    pub login: LoginLimiter,
    /// Requests per API token.
    pub per_token: RateLimiter,
}

impl RateLimits {
    /// The login limits with `api` requests per minute per token (the operator's knob,
    /// `KUBEWORKZ_API_RATE_LIMIT_PER_MINUTE`). Logins stay limited whatever `api` says.
    pub fn with_api_limit(api: ApiRateLimit) -> Self {
        Self {
            login: LoginLimiter::default(),
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

    const ANN: &str = "ann@example.com";

    fn at(ip: &str) -> Option<IpAddr> {
        Some(ip.parse().unwrap())
    }

    fn fail(limiter: &LoginLimiter, email: &str, from: Option<IpAddr>, now: Instant) {
        drop(limiter.begin(email, from, now).expect("admitted"));
    }

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
    fn a_zero_api_limit_is_off() {
        let limits = RateLimits::with_api_limit(ApiRateLimit::OFF);
        let t0 = Instant::now();
        for _ in 0..10_000 {
            assert!(limits.per_token.hit("token", t0).is_ok());
        }
        let limited = RateLimits::with_api_limit("3".parse().unwrap());
        for _ in 0..3 {
            assert!(limited.per_token.hit("token", t0).is_ok());
        }
        assert!(limited.per_token.hit("token", t0).is_err());
    }

    #[test]
    fn a_pair_waits_twice_as_long_after_each_failure_past_the_free_ones() {
        let limiter = LoginLimiter::default();
        let t0 = Instant::now();
        for _ in 0..PAIR_FREE_FAILURES {
            fail(&limiter, ANN, at("192.0.2.1"), t0);
        }
        assert_eq!(
            limiter.begin(ANN, at("192.0.2.1"), t0).unwrap_err(),
            PAIR_FIRST_WAIT
        );
        assert!(
            limiter.begin(ANN, at("192.0.2.2"), t0).is_ok(),
            "other addresses are not refused"
        );
        let t1 = t0 + PAIR_FIRST_WAIT;
        fail(&limiter, ANN, at("192.0.2.1"), t1);
        assert_eq!(
            limiter.begin(ANN, at("192.0.2.1"), t1).unwrap_err(),
            2 * PAIR_FIRST_WAIT
        );
        let t2 = t1 + 2 * PAIR_FIRST_WAIT;
        limiter.begin(ANN, at("192.0.2.1"), t2).unwrap().succeeded();
        assert!(
            limiter.begin(ANN, at("192.0.2.1"), t2).is_ok(),
            "a success clears the pair"
        );
        assert_eq!(doubled(PAIR_FIRST_WAIT, 40, MAX_WAIT), MAX_WAIT);
    }

    #[test]
    fn attempts_in_flight_count_until_they_end() {
        let limiter = LoginLimiter::default();
        let t0 = Instant::now();
        let held: Vec<_> = (0..PAIR_FREE_FAILURES)
            .map(|_| limiter.begin(ANN, at("192.0.2.1"), t0).unwrap())
            .collect();
        assert!(
            limiter.begin(ANN, at("192.0.2.1"), t0).is_err(),
            "no sixth in parallel"
        );
        drop(held);
        assert!(
            limiter.begin(ANN, at("192.0.2.1"), t0).is_err(),
            "five failures now"
        );
    }

    #[test]
    fn an_attacked_account_is_delayed_a_little_never_refused() {
        let limiter = LoginLimiter::default();
        let t0 = Instant::now();
        for i in 0..40 {
            fail(&limiter, ANN, at(&format!("198.51.100.{i}")), t0);
        }
        let attempt = limiter
            .begin(ANN, at("203.0.113.1"), t0)
            .expect("never refused");
        assert_eq!(attempt.delay(), ACCOUNT_MAX_DELAY);
        attempt.succeeded();
        let after = limiter.begin(ANN, at("203.0.113.1"), t0).unwrap();
        assert_eq!(
            after.delay(),
            Duration::ZERO,
            "its owner's address is known good"
        );
        let later = t0 + FORGET_AFTER;
        let fresh = limiter.begin(ANN, at("203.0.113.2"), later).unwrap();
        assert_eq!(fresh.delay(), Duration::ZERO, "failures are forgotten");
    }

    #[test]
    fn a_spraying_address_waits_except_for_its_known_good_logins() {
        let limiter = LoginLimiter::default();
        let t0 = Instant::now();
        limiter.begin(ANN, at("192.0.2.9"), t0).unwrap().succeeded();
        for i in 0..ADDRESS_FREE_FAILURES {
            fail(
                &limiter,
                &format!("made-up-{i}@example.com"),
                at("192.0.2.9"),
                t0,
            );
        }
        assert!(
            limiter
                .begin("bob@example.com", at("192.0.2.9"), t0)
                .is_err()
        );
        assert!(limiter.begin(ANN, at("192.0.2.9"), t0).is_ok());
        assert!(
            limiter
                .begin("bob@example.com", at("192.0.2.10"), t0)
                .is_ok()
        );
    }
}
