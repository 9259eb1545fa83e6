//! Webhook delivery against a real HTTP receiver on loopback: the signature verifies with
//! the secret shown at creation, a 500 is retried with the same delivery id until a 2xx, a
//! receiver that is down (port closed) gets the delivery once it is up, even from a hub
//! restarted in between (the queue is in the store), and every attempt is recorded. The
//! senders here allow loopback (the operator's `--pull-allow-loopback`), where the receivers
//! run; without it, a receiver on loopback, by address or by a name resolving there, is a
//! recorded failed attempt that contacted nothing.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use chrono::{TimeZone, Utc};
use kubeworkz_hub::alerts::webhook::{
    DELIVERY_HEADER, SIGNATURE_HEADER, alert_payload, new_secret, secret_context, verify,
};
use kubeworkz_hub::alerts::{RetryPolicy, SenderConfig, WebhookSender};
use kubeworkz_hub::cost::NanoDollars;
use kubeworkz_hub::pull::EgressPolicy;
use kubeworkz_hub::seal::{Keyring, MasterKey};
use kubeworkz_hub::store::{
    AlertKind, DeliveryStatus, NewAlert, Store, WebhookEndpoint, WebhookFormat,
};
use kubeworkz_shared::ids::OrgId;
use uuid::Uuid;

use crate::harness::TestStore;

/// What the receiver saw: each request's headers and body.
#[derive(Clone, Default)]
struct Receiver {
    seen: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    /// Answers 500 to this many requests first.
    failures: Arc<Mutex<u32>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    r.seen.lock().unwrap().push((headers, body));
    let mut failures = r.failures.lock().unwrap();
    if *failures > 0 {
        *failures -= 1;
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    }
}

/// Serves `receiver` on `addr` (port 0: any free port); returns the bound address.
async fn serve(receiver: Receiver, addr: SocketAddr) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let bound = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(receiver);
    tokio::spawn(async move { axum::serve(listener, app).await });
    bound
}

fn fast() -> SenderConfig {
    SenderConfig {
        every: Duration::from_millis(20),
        timeout: Duration::from_secs(2),
        retry: RetryPolicy {
            base: Duration::from_millis(100),
            cap: Duration::from_millis(400),
            max_attempts: 6,
        },
        egress: Arc::new(EgressPolicy::allowing_loopback()),
    }
}

/// An endpoint at `addr` with a fresh secret, sealed as the API seals it.
async fn endpoint(
    store: &Store,
    keyring: &Keyring,
    org: OrgId,
    name: &str,
    addr: SocketAddr,
) -> (Uuid, String) {
    endpoint_at(store, keyring, org, name, &format!("http://{addr}/hook")).await
}

/// An endpoint at `url` with a fresh secret, sealed as the API seals it.
async fn endpoint_at(
    store: &Store,
    keyring: &Keyring,
    org: OrgId,
    name: &str,
    url: &str,
) -> (Uuid, String) {
    let id = Uuid::now_v7();
    let secret = new_secret();
    let now = Utc::now();
    store
        .create_webhook(&WebhookEndpoint {
            id,
            org_id: org,
            name: name.into(),
            url: url.to_owned(),
            format: WebhookFormat::Json,
            secret_sealed: keyring.seal(secret.as_bytes(), &secret_context(id)),
            enabled: true,
            created_at: now,
            updated_at: now,
        })
        .await
        .unwrap();
    (id, secret)
}

async fn fire(store: &Store, org: OrgId, key: &str) -> Uuid {
    let alert = NewAlert {
        dedup_key: key.into(),
        kind: AlertKind::BudgetActual,
        budget_id: Some(Uuid::now_v7()),
        scope_kind: "team".into(),
        scope_key: "payments".into(),
        period_start: Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap(),
        threshold_pct: Some(100),
        value: NanoDollars(1_200_000_000_000),
        reference: NanoDollars(1_000_000_000_000),
        message: format!("alert {key}"),
    };
    let recorded = store
        .record_alerts(org, &[alert], Utc::now(), &alert_payload)
        .await
        .unwrap();
    recorded[0].id
}

/// The alert's (one) delivery as recorded.
async fn delivery_of(store: &Store, org: OrgId, alert: Uuid) -> kubeworkz_hub::store::Delivery {
    store
        .deliveries(org, Some(alert), None)
        .await
        .unwrap()
        .remove(0)
}

/// Runs the sender until the alert's delivery is no longer pending (or 10 s passed).
async fn until_settled(
    sender: &WebhookSender,
    store: &Store,
    org: OrgId,
    alert: Uuid,
) -> kubeworkz_hub::store::Delivery {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        sender.send_due().await.unwrap();
        let d = delivery_of(store, org, alert).await;
        if d.status != DeliveryStatus::Pending || tokio::time::Instant::now() > deadline {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn webhooks_are_signed_retried_and_reach_a_receiver_that_comes_up(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization("hooks").await.unwrap().id;
    let keyring = Keyring::new(MasterKey::generate().0, vec![]);

    // A receiver that fails twice, then takes the delivery.
    let flaky = Receiver::default();
    *flaky.failures.lock().unwrap() = 2;
    let addr = serve(flaky.clone(), "127.0.0.1:0".parse().unwrap()).await;
    let (_, secret) = endpoint(store, &keyring, org, "flaky", addr).await;
    let alert = fire(store, org, "one").await;
    let sender = WebhookSender::new(store.clone(), keyring.clone(), fast());
    let d = until_settled(&sender, store, org, alert).await;
    assert_eq!(d.status, DeliveryStatus::Delivered, "{d:?}");
    let codes: Vec<Option<u16>> = d.attempt_log.iter().map(|a| a.status_code).collect();
    assert_eq!(codes, [Some(500), Some(500), Some(204)]);
    assert_eq!(
        d.attempt_log[0].error.as_deref(),
        Some("receiver answered 500")
    );
    // Retries waited: the second attempt at least half the base (100 ms) after the first.
    assert!(d.attempt_log[1].at - d.attempt_log[0].at >= chrono::TimeDelta::milliseconds(50));
    let seen = flaky.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    let now = Utc::now().timestamp();
    for (headers, body) in &seen {
        let signature = headers[SIGNATURE_HEADER].to_str().unwrap();
        assert!(
            verify(secret.as_bytes(), signature, body, now, 300),
            "{signature}"
        );
        assert!(!verify(b"whsec_wrong", signature, body, now, 300));
        assert_eq!(headers[DELIVERY_HEADER].to_str().unwrap(), d.id.to_string());
        let json: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(json["id"], alert.to_string());
        assert_eq!(json["value"], "1200.00");
        assert_eq!(json["kind"], "budget_actual");
    }
    assert!(!String::from_utf8_lossy(&seen[0].1).contains(&secret));
    // The list's last delivery: the one just delivered; another organization has none.
    let last = store.last_deliveries(org).await.unwrap();
    assert_eq!(last.len(), 1, "{last:?}");
    assert_eq!(
        (last[0].endpoint_id, last[0].status, last[0].event.as_str()),
        (d.endpoint_id, DeliveryStatus::Delivered, "alert")
    );
    assert_eq!(last[0].finished_at, d.finished_at);
    let stranger = store.ensure_organization("stranger").await.unwrap().id;
    assert!(store.last_deliveries(stranger).await.unwrap().is_empty());

    // A receiver that is down: its port is taken, then closed.
    let down = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down_addr = down.local_addr().unwrap();
    drop(down);
    store.delete_webhook(org, d.endpoint_id).await.unwrap();
    let (_, secret2) = endpoint(store, &keyring, org, "later", down_addr).await;
    let alert2 = fire(store, org, "two").await;
    sender.send_due().await.unwrap();
    let first = delivery_of(store, org, alert2).await;
    assert_eq!(first.status, DeliveryStatus::Pending);
    let last = store.last_deliveries(org).await.unwrap();
    assert_eq!(
        last.iter()
            .map(|l| (l.endpoint_id, l.status, l.finished_at))
            .collect::<Vec<_>>(),
        [(first.endpoint_id, DeliveryStatus::Pending, None)],
        "the deleted endpoint's deliveries went with it"
    );
    let attempt = &first.attempt_log[0];
    assert_eq!(attempt.status_code, None);
    let error = attempt.error.as_deref().unwrap();
    assert!(error.starts_with("cannot connect"), "{error}");
    assert!(
        !error.contains(&down_addr.to_string()) && !error.contains("/hook"),
        "{error}"
    );

    // The hub restarts (a new store and sender on the same database), the receiver comes up:
    // the queued delivery arrives.
    let restarted = t.reopen().await;
    let later = Receiver::default();
    serve(later.clone(), down_addr).await;
    let sender = WebhookSender::new(restarted.clone(), keyring.clone(), fast());
    let d2 = until_settled(&sender, &restarted, org, alert2).await;
    assert_eq!(d2.status, DeliveryStatus::Delivered, "{d2:?}");
    assert_eq!(d2.attempts, 2);
    let seen = later.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let signature = seen[0].0[SIGNATURE_HEADER].to_str().unwrap();
    assert!(verify(
        secret2.as_bytes(),
        signature,
        &seen[0].1,
        Utc::now().timestamp(),
        300
    ));
    restarted.close().await;
}

pub async fn a_delivery_is_given_up_after_its_last_attempt(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization("hooks").await.unwrap().id;
    let keyring = Keyring::new(MasterKey::generate().0, vec![]);
    let always = Receiver::default();
    *always.failures.lock().unwrap() = u32::MAX;
    let addr = serve(always.clone(), "127.0.0.1:0".parse().unwrap()).await;
    endpoint(store, &keyring, org, "broken", addr).await;
    let alert = fire(store, org, "given-up").await;
    let mut config = fast();
    config.retry.max_attempts = 3;
    let sender = WebhookSender::new(store.clone(), keyring, config);
    let d = until_settled(&sender, store, org, alert).await;
    assert_eq!(d.status, DeliveryStatus::Failed);
    assert_eq!(d.attempts, 3);
    assert_eq!(always.seen.lock().unwrap().len(), 3);
    assert!(d.finished_at.is_some());
    // Nothing is due any more, whenever asked.
    let far = Utc::now() + chrono::TimeDelta::days(30);
    assert!(
        store
            .due_deliveries(far, 10, None)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn a_receiver_the_egress_policy_refuses_is_a_failed_attempt_that_contacts_nothing(
    t: TestStore,
) {
    let store = &t.store;
    let org = store.ensure_organization("hooks").await.unwrap().id;
    let keyring = Keyring::new(MasterKey::generate().0, vec![]);
    let receiver = Receiver::default();
    let addr = serve(receiver.clone(), "127.0.0.1:0".parse().unwrap()).await;
    let port = addr.port();
    // The default policy, as a hub started without --pull-allow-loopback: the receiver by
    // its address (judged before sending), then by a name that resolves to it (judged on
    // the resolved address, as a DNS-rebinding name would be).
    let strict = SenderConfig {
        egress: Arc::new(EgressPolicy::default()),
        ..fast()
    };
    let sender = WebhookSender::new(store.clone(), keyring.clone(), strict);
    let cases = [
        (
            format!("http://127.0.0.1:{port}/hook?token=s3cret"),
            format!("refused to connect to 127.0.0.1:{port}: 127.0.0.1 is a loopback address"),
        ),
        (
            format!("http://localhost:{port}/hook?token=s3cret"),
            "refused to connect to localhost: ".to_owned(),
        ),
    ];
    for (i, (url, expected)) in cases.iter().enumerate() {
        let (id, _) = endpoint_at(store, &keyring, org, &format!("internal-{i}"), url).await;
        let alert = fire(store, org, &format!("refused-{i}")).await;
        sender.send_due().await.unwrap();
        let d = delivery_of(store, org, alert).await;
        // A failed attempt, recorded, retried like any failure (the policy may change).
        assert_eq!(d.status, DeliveryStatus::Pending, "{d:?}");
        assert_eq!(d.attempts, 1);
        let attempt = &d.attempt_log[0];
        assert_eq!(attempt.status_code, None);
        let error = attempt.error.as_deref().unwrap();
        assert!(error.starts_with(expected.as_str()), "{url}: {error}");
        assert!(
            error.contains("--pull-allow-loopback") && !error.contains("s3cret"),
            "{error}"
        );
        store.delete_webhook(org, id).await.unwrap();
    }
    assert!(
        receiver.seen.lock().unwrap().is_empty(),
        "a refused receiver was contacted"
    );

    // The operator's allow setting lets the same name through to the same receiver.
    endpoint_at(
        store,
        &keyring,
        org,
        "allowed",
        &format!("http://localhost:{port}/hook"),
    )
    .await;
    let alert = fire(store, org, "allowed").await;
    let sender = WebhookSender::new(store.clone(), keyring, fast());
    let d = until_settled(&sender, store, org, alert).await;
    assert_eq!(d.status, DeliveryStatus::Delivered, "{d:?}");
    assert_eq!(receiver.seen.lock().unwrap().len(), 1);
}
