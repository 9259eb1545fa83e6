//! The agent transport end to end: real QUIC on 127.0.0.1, real rustls, the real agent client,
//! and an in-memory `AgentAuthority` standing in for the store.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use kubeworkz_agent::transport::backoff::Backoff;
use kubeworkz_agent::transport::{
    AgentIdentity, AgentSession, ClientError, HubAddress, Uplink, UplinkEvent, connect, enroll, tls,
};
use kubeworkz_hub::pki::{HubCa, IssuedCertificate};
use kubeworkz_hub::shutdown::Shutdown;
use kubeworkz_hub::transport::{
    AgentAuthority, AuthorityError, EnrollError, EnrollmentGrant, HubTransport, TransportSettings,
};
use kubeworkz_shared::change::ChangeBatch;
use kubeworkz_shared::ids::ClusterId;
use kubeworkz_shared::model::health::{HealthReport, HealthSignals};
use kubeworkz_shared::model::usage::UsageBucket;
use kubeworkz_shared::protocol::frame::encode_frame;
use kubeworkz_shared::protocol::{
    AgentMessage, CaPin, EnrollmentToken, FrameReader, HubMessage, Payload, SecretHash,
    StreamCursor, UnackedQueue, close,
};
use kubeworkz_shared::time::UnixMillis;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

struct TokenRow {
    hash: SecretHash,
    cluster: ClusterId,
    expires: Instant,
    revoked: bool,
    used: bool,
}

/// The store, in memory: tokens, enabled clusters, cursors, what was ingested.
#[derive(Default)]
struct MemoryAuthority {
    tokens: Mutex<HashMap<String, TokenRow>>,
    enabled: Mutex<HashMap<ClusterId, bool>>,
    cursors: Mutex<HashMap<ClusterId, StreamCursor>>,
    batches: Mutex<Vec<(ClusterId, u64, u64)>>,
    certificates: Mutex<Vec<IssuedCertificate>>,
}

impl MemoryAuthority {
    fn batches_of(&self, cluster: ClusterId) -> Vec<(u64, u64)> {
        let batches = self.batches.lock().unwrap();
        batches
            .iter()
            .filter(|(c, ..)| *c == cluster)
            .map(|(_, epoch, seq)| (*epoch, *seq))
            .collect()
    }

    fn advance(&self, cluster: ClusterId, epoch: u64, seq: u64) {
        self.cursors
            .lock()
            .unwrap()
            .insert(cluster, StreamCursor { epoch, seq });
    }
}

#[async_trait]
impl AgentAuthority for MemoryAuthority {
    async fn redeem_token(
        &self,
        token_id: &str,
        secret_hash: &SecretHash,
    ) -> Result<EnrollmentGrant, EnrollError> {
        let mut tokens = self.tokens.lock().unwrap();
        let row = tokens
            .get_mut(token_id)
            .filter(|row| row.hash == *secret_hash)
            .ok_or(EnrollError::UnknownToken)?;
        if row.revoked {
            return Err(EnrollError::TokenRevoked);
        }
        if row.expires < Instant::now() {
            return Err(EnrollError::TokenExpired);
        }
        if row.used {
            return Err(EnrollError::TokenUsed);
        }
        row.used = true;
        self.enabled.lock().unwrap().insert(row.cluster, true);
        Ok(EnrollmentGrant {
            cluster_id: row.cluster,
            validity: None,
        })
    }

    async fn record_certificate(&self, issued: &IssuedCertificate) -> Result<(), AuthorityError> {
        self.certificates.lock().unwrap().push(issued.clone());
        Ok(())
    }

    async fn is_cluster_enabled(&self, cluster: ClusterId) -> Result<bool, AuthorityError> {
        Ok(self.enabled.lock().unwrap().get(&cluster) == Some(&true))
    }

    async fn stream_cursor(
        &self,
        cluster: ClusterId,
    ) -> Result<Option<StreamCursor>, AuthorityError> {
        Ok(self.cursors.lock().unwrap().get(&cluster).copied())
    }

    async fn ingest_batch(
        &self,
        cluster: ClusterId,
        epoch: u64,
        seq: u64,
        _batch: ChangeBatch,
    ) -> Result<(), AuthorityError> {
        self.batches.lock().unwrap().push((cluster, epoch, seq));
        self.advance(cluster, epoch, seq);
        Ok(())
    }

    async fn ingest_usage(
        &self,
        cluster: ClusterId,
        epoch: u64,
        seq: u64,
        _buckets: Vec<UsageBucket>,
    ) -> Result<(), AuthorityError> {
        self.advance(cluster, epoch, seq);
        Ok(())
    }

    async fn ingest_health(
        &self,
        cluster: ClusterId,
        epoch: u64,
        seq: u64,
        _report: HealthReport,
        _signals: HealthSignals,
    ) -> Result<(), AuthorityError> {
        self.advance(cluster, epoch, seq);
        Ok(())
    }
}

/// A hub transport on a random port of 127.0.0.1, served until dropped.
struct TestHub {
    transport: HubTransport,
    ca: Arc<HubCa>,
    authority: Arc<MemoryAuthority>,
    address: HubAddress,
    shutdown: Shutdown,
}

impl Drop for TestHub {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

impl TestHub {
    async fn start(client_validity: Duration) -> Self {
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter("kubeworkz_hub=debug")
            .try_init();
        let ca = Arc::new(HubCa::generate().unwrap());
        let identity = ca
            .issue_server_identity(&["127.0.0.1".into(), "localhost".into()], WAIT * 100)
            .unwrap();
        let authority = Arc::new(MemoryAuthority::default());
        let mut settings = TransportSettings::new(SocketAddr::from(([127, 0, 0, 1], 0)));
        settings.client_validity = client_validity;
        settings.first_frame_timeout = Duration::from_secs(2);
        let transport =
            HubTransport::bind(settings, ca.clone(), identity, authority.clone()).unwrap();
        let address = HubAddress {
            addr: transport.local_addr().unwrap(),
            server_name: "localhost".into(),
        };
        let shutdown = Shutdown::new();
        let (serving, stop) = (transport.clone(), shutdown.clone());
        tokio::spawn(async move { serving.serve(stop).await });
        Self {
            transport,
            ca,
            authority,
            address,
            shutdown,
        }
    }

    /// A token for a new cluster, valid for `ttl`.
    fn token(&self, ttl: Duration) -> (EnrollmentToken, ClusterId) {
        let token = EnrollmentToken::generate(self.ca.ca_pin());
        let cluster = ClusterId::new();
        self.authority.tokens.lock().unwrap().insert(
            token.public_id().to_owned(),
            TokenRow {
                hash: token.secret_hash(),
                cluster,
                expires: Instant::now() + ttl,
                revoked: false,
                used: false,
            },
        );
        (token, cluster)
    }

    async fn enrolled(&self) -> AgentIdentity {
        let (token, _) = self.token(WAIT);
        timeout(WAIT, enroll(&self.address, &token))
            .await
            .unwrap()
            .unwrap()
    }
}

fn batch() -> Payload {
    Payload::Batch(ChangeBatch {
        produced_at: UnixMillis::now(),
        changes: vec![],
    })
}

async fn send_and_ack(session: &mut AgentSession, queue: &mut UnackedQueue, n: usize) {
    for _ in 0..n {
        let message = queue.push(batch()).unwrap().clone();
        session.send(&message).await.unwrap();
        match timeout(WAIT, session.recv()).await.unwrap().unwrap() {
            HubMessage::Ack { epoch, seq } => {
                assert_eq!(message.stream_position(), Some((epoch, seq)));
                queue.ack(epoch, seq);
            }
            other => panic!("expected an ack, got {other:?}"),
        }
    }
}

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

fn rand_epoch() -> u64 {
    UnixMillis::now().0.unsigned_abs()
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

/// Connects with `identity`, expects the hub to fail the handshake, returns the error text.
async fn assert_handshake_refused(hub: &TestHub, identity: &AgentIdentity) -> String {
    let connected = hub.transport.connected_clusters();
    let hello = UnackedQueue::new(1, 1024).hello("test");
    let result = timeout(WAIT, connect(&hub.address, identity, hello))
        .await
        .unwrap();
    let err = match result {
        Err(err @ (ClientError::Connection(_) | ClientError::Frame(_))) => err.to_string(),
        other => panic!("expected the handshake to fail, got {other:?}"),
    };
    assert_eq!(hub.transport.connected_clusters(), connected);
    err
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

/// An identity with `key`, a certificate from `issuer`, trusting `ca_der`.
fn identity_with_ca(
    key: &rcgen::KeyPair,
    issuer: &HubCa,
    cluster: ClusterId,
    ca_der: Vec<u8>,
) -> AgentIdentity {
    let csr = rcgen::CertificateParams::default()
        .serialize_request(key)
        .unwrap();
    let cert = issuer
        .sign_client_csr(csr.der(), cluster, Duration::from_secs(3600))
        .unwrap();
    AgentIdentity::from_parts(cluster, key.serialize_der(), cert.cert_der, ca_der).unwrap()
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

/// A QUIC connection to the hub outside the agent client, to speak raw frames.
async fn raw_connection(hub: &TestHub, identity: Option<&AgentIdentity>) -> quinn::Connection {
    let mut endpoint = quinn::Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    let config = tls::client_config(hub.ca.ca_pin(), identity).unwrap();
    endpoint.set_default_client_config(config);
    endpoint
        .connect(hub.address.addr, &hub.address.server_name)
        .unwrap()
        .await
        .unwrap()
}

async fn write_frame(send: &mut quinn::SendStream, message: &AgentMessage) {
    let mut frame = Vec::new();
    encode_frame(message, 1024, &mut frame).unwrap();
    send.write_all(&frame).await.unwrap();
}

/// An authenticated connection speaking raw frames, past `Welcome`.
async fn raw_session(
    hub: &TestHub,
    identity: &AgentIdentity,
) -> (quinn::Connection, quinn::SendStream) {
    let conn = raw_connection(hub, Some(identity)).await;
    let (mut send, recv) = conn.open_bi().await.unwrap();
    let hello = UnackedQueue::new(1, 1024).hello("raw");
    write_frame(&mut send, &AgentMessage::Hello(hello)).await;
    let welcome = FrameReader::new(recv, 1024)
        .read::<HubMessage>()
        .await
        .unwrap();
    assert!(matches!(welcome, HubMessage::Welcome { .. }), "{welcome:?}");
    (conn, send)
}

async fn assert_closed_for_protocol_error(conn: &quinn::Connection) {
    match timeout(WAIT, conn.closed()).await.unwrap() {
        quinn::ConnectionError::ApplicationClosed(closed) => {
            assert_eq!(
                closed.error_code.into_inner(),
                u64::from(close::PROTOCOL_ERROR)
            );
        }
        other => panic!("expected a protocol-error close, got {other}"),
    }
}

#[tokio::test]
async fn garbage_and_oversize_frames_close_only_that_connection() {
    let hub = TestHub::start(Duration::from_secs(3600)).await;
    let good = hub.enrolled().await;
    let garbage = hub.enrolled().await;
    let oversize = hub.enrolled().await;
    let mut queue = UnackedQueue::new(rand_epoch(), 1 << 20);
    let mut session = connect(&hub.address, &good, queue.hello("test"))
        .await
        .unwrap();

    let (conn, mut send) = raw_session(&hub, &garbage).await;
    send.write_all(&[0, 0, 0, 3, 0xff, 0xff, 0xff])
        .await
        .unwrap();
    assert_closed_for_protocol_error(&conn).await;

    let (conn, mut send) = raw_session(&hub, &oversize).await;
    send.write_all(&(17u32 << 20).to_be_bytes()).await.unwrap();
    assert_closed_for_protocol_error(&conn).await;

    send_and_ack(&mut session, &mut queue, 2).await;
    assert_eq!(hub.transport.connected_clusters(), vec![good.cluster_id]);
}

#[tokio::test]
async fn unauthenticated_connection_may_only_enroll() {
    let hub = TestHub::start(Duration::from_secs(3600)).await;
    let conn = raw_connection(&hub, None).await;
    let (mut send, _recv) = conn.open_bi().await.unwrap();
    let hello = UnackedQueue::new(1, 1024).hello("sneaky");
    write_frame(&mut send, &AgentMessage::Hello(hello)).await;
    assert_closed_for_protocol_error(&conn).await;
    assert!(hub.transport.connected_clusters().is_empty());
}

/// Waits for an event matching `want`, returning the events skipped on the way.
async fn expect_event(
    events: &mut tokio::sync::mpsc::Receiver<UplinkEvent>,
    want: impl Fn(&UplinkEvent) -> bool,
) -> Vec<UplinkEvent> {
    let mut skipped = Vec::new();
    loop {
        let event = timeout(WAIT, events.recv()).await.unwrap().unwrap();
        if want(&event) {
            return skipped;
        }
        skipped.push(event);
    }
}

async fn wait_for_batches(hub: &TestHub, cluster: ClusterId, count: usize) -> Vec<(u64, u64)> {
    let deadline = Instant::now() + WAIT;
    loop {
        let batches = hub.authority.batches_of(cluster);
        if batches.len() >= count || Instant::now() > deadline {
            return batches;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn uplink_full_syncs_then_resumes_after_a_dropped_connection() {
    let hub = TestHub::start(Duration::from_secs(3600)).await;
    let identity = hub.enrolled().await;
    let cluster = identity.cluster_id;
    let (events_tx, mut events) = tokio::sync::mpsc::channel(64);
    let (payloads, payloads_rx) = tokio::sync::mpsc::channel(64);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let uplink = Uplink::new(hub.address.clone(), identity, 1 << 20, events_tx).with_backoff(
        Backoff::new(Duration::from_millis(10), Duration::from_millis(100)),
    );
    let running = tokio::spawn(uplink.run(payloads_rx, shutdown.clone()));

    expect_event(&mut events, |e| {
        matches!(e, UplinkEvent::Connected { resumed: false })
    })
    .await;
    expect_event(&mut events, |e| matches!(e, UplinkEvent::FullSyncNeeded)).await;
    for _ in 0..3 {
        payloads.send(batch()).await.unwrap();
    }
    let batches = wait_for_batches(&hub, cluster, 3).await;
    let epoch = batches[0].0;
    assert_eq!(batches, vec![(epoch, 1), (epoch, 2), (epoch, 3)]);

    // The hub drops the connection; the uplink reconnects and the stream resumes.
    assert!(hub.transport.disconnect_cluster(cluster, "test drop"));
    expect_event(&mut events, |e| matches!(e, UplinkEvent::Disconnected(_))).await;
    let skipped = expect_event(&mut events, |e| matches!(e, UplinkEvent::Connected { .. })).await;
    assert!(skipped.is_empty(), "{skipped:?}");
    payloads.send(batch()).await.unwrap();
    let batches = wait_for_batches(&hub, cluster, 4).await;
    assert_eq!(batches[3], (epoch, 4), "{batches:?}");

    shutdown.cancel();
    timeout(WAIT, running).await.unwrap().unwrap();
}

#[tokio::test]
async fn uplink_renews_its_certificate_without_reconnecting() {
    let hub = TestHub::start(Duration::from_secs(4)).await;
    let identity = hub.enrolled().await;
    let first_not_after = identity.not_after;
    let (events_tx, mut events) = tokio::sync::mpsc::channel(64);
    let (payloads, payloads_rx) = tokio::sync::mpsc::channel(64);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let uplink = Uplink::new(hub.address.clone(), identity.clone(), 1 << 20, events_tx);
    let running = tokio::spawn(uplink.run(payloads_rx, shutdown.clone()));

    let skipped = expect_event(
        &mut events,
        |e| matches!(e, UplinkEvent::Renewed(renewed) if renewed.not_after > first_not_after),
    )
    .await;
    assert!(
        !skipped
            .iter()
            .any(|e| matches!(e, UplinkEvent::Disconnected(_))),
        "{skipped:?}"
    );
    // Renewal is not a loop: the next one is due at 70% of the new lifetime.
    let quiet = timeout(Duration::from_millis(1500), events.recv()).await;
    assert!(quiet.is_err(), "{quiet:?}");
    payloads.send(batch()).await.unwrap();
    assert_eq!(
        wait_for_batches(&hub, identity.cluster_id, 1).await.len(),
        1
    );
    shutdown.cancel();
    timeout(WAIT, running).await.unwrap().unwrap();
}
