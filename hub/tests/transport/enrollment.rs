//! Enrollment, tokens, pinning, client certificates, renewal and disabling.

use std::time::{Duration, Instant};

use kubeworkz_agent::transport::{AgentIdentity, ClientError, connect, enroll};
use kubeworkz_hub::pki::HubCa;
use kubeworkz_shared::change::ChangeBatch;
use kubeworkz_shared::ids::ClusterId;
use kubeworkz_shared::protocol::{
    AgentMessage, CaPin, EnrollmentToken, HubMessage, UnackedQueue, close,
};
use kubeworkz_shared::time::UnixMillis;
use tokio::time::timeout;

use super::harness::*;

#[tokio::test]
async fn enroll_connect_send_batches_and_resume() {
    let hub = TestHub::start(Duration::from_secs(3600)).await;
    let (token, cluster) = hub.token(WAIT);
    let identity = enroll(&hub.address, &token).await.unwrap();
    assert_eq!(identity.cluster_id, cluster);
    assert_eq!(identity.ca_pin(), hub.ca.ca_pin());
    assert_eq!(hub.authority.certificates.lock().unwrap().len(), 1);

    let mut queue = UnackedQueue::new(rand_epoch(), 1 << 20);
    let mut session = connect(&hub.address, &identity, queue.hello("test"))
        .await
        .unwrap();
    assert!(!session.resume(), "a new epoch is a full sync");
    send_and_ack(&mut session, &mut queue, 3).await;
    let epoch = queue.epoch();
    assert_eq!(
        hub.authority.batches_of(cluster),
        vec![(epoch, 1), (epoch, 2), (epoch, 3)]
    );
    assert_eq!(hub.transport.connected_clusters(), vec![cluster]);
    session.close().await;

    // Reconnect: the hub resumes, a resend of seq 3 (lost ack) is acked, not stored again.
    let mut session = connect(&hub.address, &identity, queue.hello("test"))
        .await
        .unwrap();
    assert!(session.resume());
    let resent = AgentMessage::Batch {
        epoch,
        seq: 3,
        batch: ChangeBatch {
            produced_at: UnixMillis(0),
            changes: vec![],
        },
    };
    session.send(&resent).await.unwrap();
    let ack = timeout(WAIT, session.recv()).await.unwrap().unwrap();
    assert_eq!(ack, HubMessage::Ack { epoch, seq: 3 });
    send_and_ack(&mut session, &mut queue, 1).await;
    assert_eq!(hub.authority.batches_of(cluster).len(), 4);
}

#[tokio::test]
async fn used_expired_revoked_and_unknown_tokens_are_refused() {
    let hub = TestHub::start(Duration::from_secs(3600)).await;
    let refusal = |result: Result<AgentIdentity, ClientError>| match result {
        Err(ClientError::Refused { reason }) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    };

    let (token, _) = hub.token(WAIT);
    enroll(&hub.address, &token).await.unwrap();
    let reused = timeout(WAIT, enroll(&hub.address, &token)).await.unwrap();
    assert_eq!(refusal(reused), "enrollment token was already used");

    let (expired, _) = hub.token(Duration::ZERO);
    let result = timeout(WAIT, enroll(&hub.address, &expired)).await.unwrap();
    assert_eq!(refusal(result), "enrollment token has expired");

    let (revoked, _) = hub.token(WAIT);
    hub.authority
        .tokens
        .lock()
        .unwrap()
        .get_mut(revoked.public_id())
        .unwrap()
        .revoked = true;
    let result = timeout(WAIT, enroll(&hub.address, &revoked)).await.unwrap();
    assert_eq!(refusal(result), "enrollment token was revoked");

    // Right id, wrong secret.
    let (real, _) = hub.token(WAIT);
    let forged = EnrollmentToken::generate(hub.ca.ca_pin()).expose();
    let forged = forged.replacen(forged.split('.').nth(1).unwrap(), real.public_id(), 1);
    let result = timeout(WAIT, enroll(&hub.address, &forged.parse().unwrap()))
        .await
        .unwrap();
    assert_eq!(refusal(result), "enrollment token is unknown");
    assert!(!hub.authority.tokens.lock().unwrap()[real.public_id()].used);
}

#[tokio::test]
async fn agent_refuses_a_hub_whose_ca_does_not_match_the_pin() {
    let hub = TestHub::start(Duration::from_secs(3600)).await;
    let (token, _) = hub.token(WAIT);
    let wrong_pin = EnrollmentToken::generate(CaPin([0; 32])).expose();
    let parts: Vec<&str> = wrong_pin.split('.').collect();
    let real: Vec<String> = token.expose().split('.').map(str::to_owned).collect();
    let mismatched = format!("kwt1.{}.{}.{}", real[1], real[2], parts[3]);
    let result = timeout(WAIT, enroll(&hub.address, &mismatched.parse().unwrap()))
        .await
        .unwrap();
    match result {
        Err(ClientError::Connection(err)) => {
            assert!(err.to_string().contains("UnknownIssuer"), "{err}")
        }
        other => panic!("expected a TLS failure, got {other:?}"),
    }
    // The secret never reached the hub: the token is still unused.
    assert!(!hub.authority.tokens.lock().unwrap()[token.public_id()].used);
}

#[tokio::test]
async fn client_certificate_from_another_ca_is_refused_at_the_handshake() {
    let hub = TestHub::start(Duration::from_secs(3600)).await;
    let other_ca = HubCa::generate().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cluster = ClusterId::new();
    hub.authority.enabled.lock().unwrap().insert(cluster, true);
    // The agent trusts the real hub CA; only its client certificate is foreign.
    let identity = identity_with_ca(&key, &other_ca, cluster, hub.ca.cert_der().to_vec());
    let err = assert_handshake_refused(&hub, &identity).await;
    assert!(err.contains("invalid peer certificate"), "{err}");
}

#[tokio::test]
async fn renewal_over_the_live_connection_and_expired_certificate_refused() {
    // 3 s certificates (not_before is a minute back, so renewal is due at once).
    let hub = TestHub::start(Duration::from_secs(3)).await;
    let old = hub.enrolled().await;
    assert!(old.renew_at() <= UnixMillis::now());
    let mut queue = UnackedQueue::new(rand_epoch(), 1 << 20);
    let mut session = connect(&hub.address, &old, queue.hello("test"))
        .await
        .unwrap();
    send_and_ack(&mut session, &mut queue, 1).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let renewed = timeout(WAIT, session.renew(&old)).await.unwrap().unwrap();
    assert_eq!(renewed.cluster_id, old.cluster_id);
    assert!(renewed.not_after > old.not_after, "{renewed:?} {old:?}");
    assert_ne!(renewed.key_der(), old.key_der());
    assert_eq!(hub.authority.certificates.lock().unwrap().len(), 2);

    // Past the old certificate's end (webpki checks whole seconds): the live connection
    // still works, a new handshake with the old certificate does not, the new one does.
    let past_old = u64::try_from(old.not_after.0 - UnixMillis::now().0 + 1100).unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(past_old)).await;
    send_and_ack(&mut session, &mut queue, 1).await;
    let err = assert_handshake_refused(&hub, &old).await;
    assert!(err.contains("certificate expired"), "{err}");
    let session2 = connect(&hub.address, &renewed, queue.hello("test"))
        .await
        .unwrap();
    assert!(session2.resume());
    // The newer connection replaced the older one.
    let closed = timeout(WAIT, session.recv()).await.unwrap().unwrap_err();
    assert!(
        matches!(closed, ClientError::Closed { code, .. } if code == close::REPLACED),
        "{closed:?}"
    );
}

#[tokio::test]
async fn disabling_a_cluster_closes_its_connection_and_refuses_the_next() {
    let hub = TestHub::start(Duration::from_secs(3600)).await;
    let identity = hub.enrolled().await;
    let queue = UnackedQueue::new(rand_epoch(), 1 << 20);
    let mut session = connect(&hub.address, &identity, queue.hello("test"))
        .await
        .unwrap();
    hub.authority
        .enabled
        .lock()
        .unwrap()
        .insert(identity.cluster_id, false);
    let started = Instant::now();
    assert!(
        hub.transport
            .disconnect_cluster(identity.cluster_id, "cluster disabled")
    );
    let closed = timeout(WAIT, session.recv()).await.unwrap().unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    match closed {
        ClientError::Closed { code, reason } => {
            assert_eq!(
                (code, reason.as_str()),
                (close::DISABLED, "cluster disabled")
            )
        }
        other => panic!("expected a close, got {other:?}"),
    }
    let again = timeout(WAIT, connect(&hub.address, &identity, queue.hello("test")))
        .await
        .unwrap();
    match again {
        Err(ClientError::Refused { reason }) => assert_eq!(reason, "cluster is disabled"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_cluster_disabled_elsewhere_is_disconnected_by_the_enabled_check() {
    // Another process (the CLI, another replica) flips the flag in the store: no in-process
    // call, the transport's periodic check must notice.
    let hub = TestHub::start(Duration::from_secs(3600)).await;
    let identity = hub.enrolled().await;
    let other = hub.enrolled().await;
    let queue = UnackedQueue::new(rand_epoch(), 1 << 20);
    let mut session = connect(&hub.address, &identity, queue.hello("test"))
        .await
        .unwrap();
    let mut other_session = connect(&hub.address, &other, queue.hello("test"))
        .await
        .unwrap();
    hub.authority
        .enabled
        .lock()
        .unwrap()
        .insert(identity.cluster_id, false);
    let started = Instant::now();
    let closed = timeout(WAIT, session.recv()).await.unwrap().unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(&closed, ClientError::Closed { code, reason } if *code == close::DISABLED && reason == "cluster is disabled"),
        "{closed:?}"
    );
    // The enabled cluster keeps its session.
    assert!(other_session.closed().is_none());
    assert!(
        timeout(Duration::from_millis(700), other_session.recv())
            .await
            .is_err(),
        "the enabled cluster's session must stay open"
    );
    assert_eq!(hub.transport.connected_clusters(), vec![other.cluster_id]);
}
