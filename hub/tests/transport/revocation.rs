//! Revoked certificates: refused at `Hello` and at renewal, live sessions holding one closed
//! by the periodic check, certificates the store never recorded refused, and the agent's
//! uplink enrolling again with its token.

use std::time::{Duration, Instant};

use kubeworkz_agent::transport::backoff::Backoff;
use kubeworkz_agent::transport::{ClientError, Uplink, UplinkEvent, connect};
use kubeworkz_shared::protocol::{CERTIFICATE_REVOKED, Payload, UnackedQueue, close};
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

use super::harness::*;

fn refusal(result: Result<impl std::fmt::Debug, ClientError>) -> String {
    match result {
        Err(ClientError::Refused { reason }) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_revoked_certificates_live_session_closes_and_its_next_hello_is_refused() {
    let hub = TestHub::start(Duration::from_secs(3600)).await;
    let revoked = hub.enrolled().await;
    let other = hub.enrolled().await;
    let mut queue = UnackedQueue::new(rand_epoch(), 1 << 20);
    let mut session = connect(&hub.address, &revoked, queue.hello("test"))
        .await
        .unwrap();
    let mut other_session = connect(&hub.address, &other, queue.hello("test"))
        .await
        .unwrap();
    send_and_ack(&mut session, &mut queue, 1).await;

    // Revoked behind the transport's back (a re-enrollment elsewhere): the cluster stays
    // enabled, only the certificate is dead.
    hub.authority.revoke_certificates_of(revoked.cluster_id);
    let started = Instant::now();
    let closed = timeout(WAIT, session.recv()).await.unwrap().unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "closed after {:?}, the check runs every 300 ms",
        started.elapsed()
    );
    assert!(
        matches!(&closed, ClientError::Closed { code, reason } if *code == close::DISABLED && reason == CERTIFICATE_REVOKED),
        "{closed:?}"
    );
    assert!(closed.is_certificate_revoked());
    let line = log_line(&["closing agent connection", &revoked.cluster_id.to_string()]).await;
    assert!(line.contains(CERTIFICATE_REVOKED), "{line}");

    let again = timeout(WAIT, connect(&hub.address, &revoked, queue.hello("test")))
        .await
        .unwrap();
    assert_eq!(refusal(again), CERTIFICATE_REVOKED);
    // The other cluster's session is untouched.
    assert!(other_session.closed().is_none());
    assert!(
        timeout(Duration::from_millis(700), other_session.recv())
            .await
            .is_err()
    );
    assert_eq!(hub.transport.connected_clusters(), vec![other.cluster_id]);
}

#[tokio::test]
async fn renewal_with_a_revoked_certificate_is_refused() {
    // No periodic check during the test: the renewal itself must notice.
    let hub = TestHub::start_with(|s| s.enabled_check_interval = Duration::from_secs(3600)).await;
    let identity = hub.enrolled().await;
    let queue = UnackedQueue::new(rand_epoch(), 1 << 20);
    let mut session = connect(&hub.address, &identity, queue.hello("test"))
        .await
        .unwrap();
    hub.authority.revoke_certificates_of(identity.cluster_id);
    let renewed = timeout(WAIT, session.renew(&identity)).await.unwrap();
    assert_eq!(refusal(renewed), CERTIFICATE_REVOKED);
    assert_eq!(
        hub.authority.certificates.lock().unwrap().len(),
        1,
        "nothing issued"
    );
}

#[tokio::test]
async fn a_certificate_the_store_never_recorded_is_refused_at_hello() {
    // Signed by the hub's own CA for an enabled cluster, but not an issued certificate (as a
    // key stolen from the CA, or a certificate whose row was removed, would be).
    let hub = TestHub::start(Duration::from_secs(3600)).await;
    let enrolled = hub.enrolled().await;
    let key = rcgen::KeyPair::generate().unwrap();
    let forged = identity_with_ca(
        &key,
        &hub.ca,
        enrolled.cluster_id,
        hub.ca.cert_der().to_vec(),
    );
    let queue = UnackedQueue::new(rand_epoch(), 1 << 20);
    let result = timeout(WAIT, connect(&hub.address, &forged, queue.hello("test")))
        .await
        .unwrap();
    assert_eq!(refusal(result), CERTIFICATE_REVOKED);
    // The enrolled one still works.
    connect(&hub.address, &enrolled, queue.hello("test"))
        .await
        .unwrap();
}

/// An uplink for the revoked `identity`, with `token` to enroll again, and fast backoff.
fn uplink(
    hub: &TestHub,
    identity: &kubeworkz_agent::transport::AgentIdentity,
    token: Option<kubeworkz_shared::protocol::EnrollmentToken>,
) -> (
    mpsc::Receiver<UplinkEvent>,
    mpsc::Sender<Payload>,
    CancellationToken,
) {
    let (events_tx, events) = mpsc::channel(64);
    let (payloads, payloads_rx) = mpsc::channel(64);
    let shutdown = CancellationToken::new();
    let uplink = Uplink::new(hub.address.clone(), identity.clone(), 1 << 20, events_tx)
        .with_token(token)
        .with_backoff(Backoff::new(
            Duration::from_millis(50),
            Duration::from_millis(200),
        ));
    tokio::spawn(uplink.run(payloads_rx, shutdown.clone()));
    (events, payloads, shutdown)
}

#[tokio::test]
async fn an_uplink_whose_certificate_is_revoked_enrolls_again_with_its_new_token() {
    let hub = TestHub::start(Duration::from_secs(3600)).await;
    let old = hub.enrolled().await;
    let cluster = old.cluster_id;
    let new_token = hub.token_for(cluster, WAIT);
    let (mut events, payloads, shutdown) = uplink(&hub, &old, Some(new_token.clone()));
    expect_event(&mut events, |e| matches!(e, UplinkEvent::Connected { .. })).await;
    payloads.send(batch()).await.unwrap();
    wait_for_batches(&hub, cluster, 1).await;

    hub.authority.revoke_certificates_of(cluster);
    expect_event(
        &mut events,
        |e| matches!(e, UplinkEvent::Disconnected(err) if err.is_certificate_revoked()),
    )
    .await;
    let renewed = loop {
        match timeout(WAIT, events.recv()).await.unwrap().unwrap() {
            UplinkEvent::Reenrolled(identity) => break identity,
            UplinkEvent::Disconnected(err) => assert!(err.is_certificate_revoked(), "{err:?}"),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(renewed.cluster_id, cluster);
    assert_ne!(renewed.key_der(), old.key_der());
    assert!(hub.authority.tokens.lock().unwrap()[new_token.public_id()].used);
    // Back with the new certificate, the same stream: it resumes.
    expect_event(&mut events, |e| {
        matches!(e, UplinkEvent::Connected { resumed: true })
    })
    .await;
    payloads.send(batch()).await.unwrap();
    wait_for_batches(&hub, cluster, 2).await;
    shutdown.cancel();
}

#[tokio::test]
async fn an_uplink_without_a_usable_token_keeps_backing_off() {
    let hub = TestHub::start(Duration::from_secs(3600)).await;
    let identity = hub.enrolled().await;
    // The install token, already spent by the enrollment above.
    let (spent, _) = hub.token(WAIT);
    hub.authority
        .tokens
        .lock()
        .unwrap()
        .get_mut(spent.public_id())
        .unwrap()
        .used = true;
    hub.authority.revoke_certificates_of(identity.cluster_id);
    let (mut events, _payloads, shutdown) = uplink(&hub, &identity, Some(spent));
    // Each attempt is refused as revoked; the spent token is tried once per attempt and never
    // connects. Attempts are spaced by the backoff (at most 200 ms here), not back to back.
    let started = Instant::now();
    let mut refusals = 0;
    while started.elapsed() < Duration::from_secs(2) {
        match timeout(Duration::from_secs(1), events.recv()).await {
            Ok(Some(UplinkEvent::Disconnected(err))) => {
                assert!(err.is_certificate_revoked(), "{err:?}");
                refusals += 1;
            }
            Ok(Some(other)) => panic!("unexpected {other:?}"),
            Ok(None) => panic!("uplink stopped"),
            Err(_) => {}
        }
    }
    assert!((2..=40).contains(&refusals), "{refusals} attempts in 2 s");
    shutdown.cancel();
}
