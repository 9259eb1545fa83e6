//! [`WebhookSender`]: the worker that sends due deliveries, one attempt each, records every
//! attempt and schedules the next by the [`RetryPolicy`]. It runs under a lease
//! ([`crate::replica::SingleHolder`]), so with several hub replicas one sends. Receivers are
//! reached only where the egress policy allows ([`super::egress`]); a refused one is a failed
//! attempt, recorded like any other.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;

use super::egress::{PolicyResolver, refusal_in, refused_literal};
use super::webhook::{
    DELIVERY_HEADER, EVENT_HEADER, RetryPolicy, SIGNATURE_HEADER, secret_context, sign,
};
use crate::pull::EgressPolicy;
use crate::seal::Keyring;
use crate::store::{DeliveryOutcome, DeliveryStatus, DueDelivery, Store, StoreError};
use crate::workers::{Worker, WorkerError};

/// The worker's name in the workers status.
pub const WEBHOOK_WORKER: &str = "webhooks";

/// Deliveries sent per tick at most; the rest wait for the next.
const BATCH: u32 = 100;

/// How deliveries are sent.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    /// Time between ticks: how soon a queued delivery goes out.
    pub every: Duration,
    /// Longest an attempt may take.
    pub timeout: Duration,
    /// Retries.
    pub retry: RetryPolicy,
    /// Which addresses receivers may have: `serve` passes its pull-mode policy
    /// (`--pull-allow-loopback`, `--pull-allowed-networks`).
    pub egress: Arc<EgressPolicy>,
}

impl Default for SenderConfig {
    fn default() -> Self {
        Self {
            every: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            egress: Arc::new(EgressPolicy::default()),
        }
    }
}

/// Sends webhook deliveries.
#[derive(Clone)]
pub struct WebhookSender {
    store: Store,
    keyring: Keyring,
    client: reqwest::Client,
    config: SenderConfig,
}

impl fmt::Debug for WebhookSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSender")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl WebhookSender {
    /// A sender over `store`, opening secrets with `keyring`. Redirects are not followed: a
    /// receiver answers where it was registered (a redirect would also leave the policy's
    /// literal-address check behind). Names resolve through the egress policy, and no proxy
    /// is used (the policy judges the receiver, not a proxy).
    pub fn new(store: Store, keyring: Keyring, config: SenderConfig) -> Self {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(PolicyResolver::new(config.egress.clone())))
            .user_agent(concat!("kubeworkz-hub/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a client without custom TLS roots always builds");
        Self {
            store,
            keyring,
            client,
            config,
        }
    }

    /// Sends every delivery due now (at most a batch); returns how many were attempted.
    pub async fn send_due(&self) -> Result<usize, StoreError> {
        let due = self.store.due_deliveries(Utc::now(), BATCH, None).await?;
        let n = due.len();
        for delivery in due {
            self.attempt(&delivery, false).await?;
        }
        Ok(n)
    }

    /// Makes one attempt of `delivery`, records it and schedules what follows; with `last`
    /// a failure is final (a test send reports at once instead of retrying).
    pub async fn attempt(
        &self,
        delivery: &DueDelivery,
        last: bool,
    ) -> Result<DeliveryOutcome, StoreError> {
        let attempt = delivery.attempts + 1;
        let at = Utc::now();
        let started = Instant::now();
        let (status_code, error) = if delivery.enabled {
            self.post(delivery).await
        } else {
            (None, Some("endpoint is disabled".to_owned()))
        };
        let delivered = error.is_none();
        let give_up = last || !delivery.enabled || attempt >= self.config.retry.max_attempts;
        let (status, next) = if delivered {
            (DeliveryStatus::Delivered, at)
        } else if give_up {
            (DeliveryStatus::Failed, at)
        } else {
            let delay = self.config.retry.delay(attempt, rand::random::<f64>());
            let delay = chrono::TimeDelta::from_std(delay).unwrap_or(chrono::TimeDelta::hours(1));
            (DeliveryStatus::Pending, at + delay)
        };
        let outcome = DeliveryOutcome {
            attempt,
            at,
            status_code,
            error,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            status,
            next_attempt_at: next,
        };
        self.store
            .record_delivery_attempt(delivery.id, &outcome)
            .await?;
        if let Some(error) = &outcome.error {
            tracing::warn!(
                delivery = %delivery.id,
                endpoint = %delivery.endpoint_id,
                attempt,
                error = %error,
                "webhook delivery attempt failed"
            );
        }
        Ok(outcome)
    }

    /// POSTs the signed body: the receiver's status and, unless it was 2xx, why it failed.
    /// Errors name neither the URL (it may hold a token, as Slack's do) nor the secret.
    async fn post(&self, delivery: &DueDelivery) -> (Option<u16>, Option<String>) {
        // A literal address never reaches the resolver: judged here, before anything is sent.
        match reqwest::Url::parse(&delivery.url) {
            Ok(url) => {
                if let Some(refused) = refused_literal(&self.config.egress, &url) {
                    return (None, Some(refused.0));
                }
            }
            Err(_) => return (None, Some("the endpoint's URL is not a valid URL".into())),
        }
        let secret = match self.keyring.open(
            &delivery.secret_sealed,
            &secret_context(delivery.endpoint_id),
        ) {
            Ok(secret) => secret,
            Err(err) => return (None, Some(format!("cannot open the signing secret: {err}"))),
        };
        let signature = sign(&secret, Utc::now().timestamp(), delivery.body.as_bytes());
        let sent = self
            .client
            .post(&delivery.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .header(DELIVERY_HEADER, delivery.id.to_string())
            .header(EVENT_HEADER, &delivery.event)
            .body(delivery.body.clone())
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => {
                (Some(response.status().as_u16()), None)
            }
            Ok(response) => {
                let code = response.status().as_u16();
                (Some(code), Some(format!("receiver answered {code}")))
            }
            Err(err) => (None, Some(describe(err))),
        }
    }
}

/// A send error in words, with its causes but without the URL.
fn describe(err: reqwest::Error) -> String {
    // The policy's refusal says all there is: nothing was contacted.
    if let Some(refused) = refusal_in(&err) {
        return refused.0.clone();
    }
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let err = err.without_url();
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    causes.dedup();
    if causes.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {}", causes.join(": "))
    }
}

#[async_trait]
impl Worker for WebhookSender {
    fn name(&self) -> String {
        WEBHOOK_WORKER.into()
    }

    fn interval(&self) -> Duration {
        self.config.every
    }

    fn under_lease(&mut self, fence: crate::store::Fence) {
        self.store = self.store.under_lease(fence);
    }

    async fn tick(&mut self) -> Result<(), WorkerError> {
        // A full batch: more are due; send them now rather than a tick later.
        while self.send_due().await? == BATCH as usize {}
        Ok(())
    }
}
