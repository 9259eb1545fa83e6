//! What a webhook receives and how it knows the hub sent it: the payloads (generic JSON and
//! Slack's `text` + `blocks`), the `Kubeworkz-Signature` header (HMAC-SHA256 under the
//! endpoint's secret over `<unix time>.<body>`, as Stripe signs, so a captured request cannot
//! be replayed with another time), and the retry schedule (exponential, capped, jittered).

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, Utc};
use rand::RngCore as _;
use ring::hmac;
use serde_json::json;

use crate::store::{Alert, WebhookFormat};

/// The request header that carries the signature: `t=<unix seconds>,v1=<hex HMAC>`.
pub const SIGNATURE_HEADER: &str = "Kubeworkz-Signature";
/// The request header naming the delivery (the same on every attempt, for deduplication).
pub const DELIVERY_HEADER: &str = "Kubeworkz-Delivery";
/// The request header naming the event: `alert` or `test`.
pub const EVENT_HEADER: &str = "Kubeworkz-Event";
/// What a signing secret starts with, so one found in a log or a repository is recognised.
pub const SECRET_PREFIX: &str = "whsec_";

/// A new signing secret: 32 random bytes, URL-safe base64, after [`SECRET_PREFIX`]. The HMAC
/// key is the whole string's bytes, so a receiver uses it as it was shown.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The signature header's value for `body` sent at `unix_secs`.
pub fn sign(secret: &[u8], unix_secs: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(unix_secs.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!("t={unix_secs},v1={}", hex::encode(ctx.sign().as_ref()))
}

/// Whether `header` is a valid signature of `body` under `secret`, made within `tolerance` of
/// `now_secs`: what a receiver does (in constant time), here for the tests and as the
/// reference the docs describe.
pub fn verify(secret: &[u8], header: &str, body: &[u8], now_secs: i64, tolerance: i64) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = value.parse::<i64>().ok(),
            Some(("v1", value)) => v1 = hex::decode(value).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(mac)) = (t, v1) else {
        return false;
    };
    if (now_secs - t).abs() > tolerance {
        return false;
    }
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut message = t.to_string().into_bytes();
    message.push(b'.');
    message.extend_from_slice(body);
    hmac::verify(&key, &message, &mac).is_ok()
}

/// The seal context of an endpoint's secret: a sealed secret copied to another row does not
/// open.
pub fn secret_context(endpoint: uuid::Uuid) -> String {
    format!("webhook:{endpoint}")
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// An alert's payload in `format`.
pub fn alert_payload(alert: &Alert, format: WebhookFormat) -> String {
    match format {
        WebhookFormat::Json => json!({
            "event": "alert",
            "id": alert.id,
            "organization_id": alert.org_id.as_uuid(),
            "kind": alert.kind.as_str(),
            "budget_id": alert.budget_id,
            "scope": {"kind": alert.scope_kind, "key": alert.scope_key},
            "period_start": time(alert.period_start),
            "threshold_pct": alert.threshold_pct,
            "value": alert.value.to_string(),
            "value_nanos": alert.value.0,
            "reference": alert.reference.to_string(),
            "reference_nanos": alert.reference.0,
            "message": alert.message,
            "created_at": time(alert.created_at),
        }),
        WebhookFormat::Slack => slack(&format!(":rotating_light: {}", alert.message)),
    }
    .to_string()
}

/// The payload of a test delivery in `format`.
pub fn test_payload(endpoint_name: &str, format: WebhookFormat, at: DateTime<Utc>) -> String {
    let message = format!("Kubeworkz webhook test for endpoint {endpoint_name:?}");
    match format {
        WebhookFormat::Json => json!({
            "event": "test",
            "message": message,
            "created_at": time(at),
        }),
        WebhookFormat::Slack => slack(&message),
    }
    .to_string()
}

fn slack(text: &str) -> serde_json::Value {
    json!({
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    })
}

/// How deliveries are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The delay after the first failed attempt, doubled after each further one.
    pub base: Duration,
    /// The longest delay between two attempts.
    pub cap: Duration,
    /// Attempts before a delivery is given up.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    /// 30 s, doubling to at most an hour, 12 attempts: about 6 hours from the first to the
    /// last, enough for a receiver's redeploy or an evening's outage.
    fn default() -> Self {
        Self {
            base: Duration::from_secs(30),
            cap: Duration::from_secs(3600),
            max_attempts: 12,
        }
    }
}

impl RetryPolicy {
    /// The delay after failed attempt `attempt` (1 for the first): `base × 2^(attempt-1)`,
    /// at most `cap`, then scaled into its upper half by `jitter` in [0, 1] ("equal jitter":
    /// retries of many deliveries spread out, and none comes sooner than half its step).
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let exponent = attempt.saturating_sub(1).min(30);
        let step = self.base.saturating_mul(1u32 << exponent).min(self.cap);
        step.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_time_dot_body() {
        // Computed outside Rust, as a receiver would:
        // `printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test`.
        let header = sign(b"whsec_test", 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(
            header,
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
        assert!(verify(
            b"whsec_test",
            &header,
            br#"{"a":1}"#,
            1_700_000_100,
            300
        ));
        // Another body, another secret, a stale time or a mangled header do not verify.
        assert!(!verify(
            b"whsec_test",
            &header,
            br#"{"a":2}"#,
            1_700_000_100,
            300
        ));
        assert!(!verify(
            b"whsec_other",
            &header,
            br#"{"a":1}"#,
            1_700_000_100,
            300
        ));
        assert!(!verify(
            b"whsec_test",
            &header,
            br#"{"a":1}"#,
            1_700_000_301,
            300
        ));
        assert!(!verify(
            b"whsec_test",
            "v1=00",
            br#"{"a":1}"#,
            1_700_000_000,
            300
        ));
    }

    #[test]
    fn retries_double_to_the_cap_with_equal_jitter() {
        let policy = RetryPolicy {
            base: Duration::from_secs(10),
            cap: Duration::from_secs(60),
            max_attempts: 5,
        };
        // (attempt, jitter, expected seconds), by hand:
        let cases = [
            (1, 1.0, 10.0), // 10 × 2^0
            (2, 1.0, 20.0), // 10 × 2^1
            (3, 1.0, 40.0),
            (4, 1.0, 60.0), // 80 capped at 60
            (9, 1.0, 60.0),
            (1, 0.0, 5.0),  // half of 10
            (3, 0.5, 30.0), // 40 × 0.75
            (4, 0.0, 30.0), // half of the cap
        ];
        for (attempt, jitter, seconds) in cases {
            assert_eq!(
                policy.delay(attempt, jitter),
                Duration::from_secs_f64(seconds),
                "attempt {attempt} jitter {jitter}"
            );
        }
    }

    #[test]
    fn new_secrets_are_prefixed_and_distinct() {
        let (a, b) = (new_secret(), new_secret());
        assert!(
            a.starts_with(SECRET_PREFIX) && a.len() == SECRET_PREFIX.len() + 43,
            "{a}"
        );
        assert_ne!(a, b);
    }
}
