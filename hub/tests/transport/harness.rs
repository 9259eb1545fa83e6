//! Test harness: an in-memory `AgentAuthority`, a hub on 127.0.0.1, raw-frame helpers.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use kubeworkz_agent::transport::{
    AgentIdentity, AgentSession, ClientError, HubAddress, UplinkEvent, connect, enroll, tls,
};
use kubeworkz_hub::pki::{HubCa, IssuedCertificate, serial_hex};
use kubeworkz_hub::shutdown::Shutdown;
use kubeworkz_hub::store::{
    AgentLink, CertificateStanding, Fence, SessionCertificate, SessionLink,
};
use kubeworkz_hub::transport::{
    AgentAuthority, AuthorityError, EnrollError, EnrollmentGrant, HubTransport, TransportSettings,
};
use kubeworkz_shared::change::ChangeBatch;
use kubeworkz_shared::ids::ClusterId;
use kubeworkz_shared::model::health::{HealthReport, HealthSignals};
use kubeworkz_shared::model::usage::UsageBucket;
use kubeworkz_shared::protocol::frame::encode_frame;
use kubeworkz_shared::protocol::{
    AgentMessage, EnrollmentToken, FrameReader, HubMessage, Payload, SecretHash, StreamCursor,
    UnackedQueue, close,
};
use kubeworkz_shared::time::UnixMillis;
use tokio::time::timeout;

pub const WAIT: Duration = Duration::from_secs(10);

/// Everything the hub logged in this test process (nextest runs each test in its own).
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Writes log lines to the test output and to [`LOGS`].
struct Capture;

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        print!("{}", String::from_utf8_lossy(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The hub's log so far.
pub fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

/// Waits until the hub's log has a line containing every one of `needles`, and returns it.
pub async fn log_line(needles: &[&str]) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(line) = logs()
            .lines()
            .find(|line| needles.iter().all(|n| line.contains(n)))
        {
            return line.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no log line with {needles:?}:\n{}",
            logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub struct TokenRow {
    pub hash: SecretHash,
    pub cluster: ClusterId,
    pub expires: Instant,
    pub revoked: bool,
    pub used: bool,
}

/// The store, in memory: tokens, enabled clusters, cursors, what was ingested.
#[derive(Default)]
pub struct MemoryAuthority {
    pub tokens: Mutex<HashMap<String, TokenRow>>,
    pub enabled: Mutex<HashMap<ClusterId, bool>>,
    pub cursors: Mutex<HashMap<ClusterId, StreamCursor>>,
    pub batches: Mutex<Vec<(ClusterId, u64, u64)>>,
    pub certificates: Mutex<Vec<IssuedCertificate>>,
    /// Serials (hex) of revoked certificates.
    pub revoked: Mutex<HashSet<String>>,
    /// Held for writing by a test, it stalls batch ingestion (a slow store: no acks).
    pub ingest_gate: tokio::sync::RwLock<()>,
}

impl MemoryAuthority {
    pub fn batches_of(&self, cluster: ClusterId) -> Vec<(u64, u64)> {
        let batches = self.batches.lock().unwrap();
        batches
            .iter()
            .filter(|(c, ..)| *c == cluster)
            .map(|(_, epoch, seq)| (*epoch, *seq))
            .collect()
    }

    /// Revokes every certificate issued to `cluster`, as disabling or re-enrolling it does.
    pub fn revoke_certificates_of(&self, cluster: ClusterId) {
        let certificates = self.certificates.lock().unwrap();
        let mut revoked = self.revoked.lock().unwrap();
        for issued in certificates.iter().filter(|c| c.cluster_id == cluster) {
            revoked.insert(serial_hex(&issued.serial));
        }
    }

    fn standing(&self, session: &SessionCertificate) -> CertificateStanding {
        let certificates = self.certificates.lock().unwrap();
        let Some(issued) = certificates
            .iter()
            .find(|c| c.cluster_id == session.cluster && serial_hex(&c.serial) == session.serial)
        else {
            return CertificateStanding::Unknown;
        };
        if self.revoked.lock().unwrap().contains(&session.serial) {
            CertificateStanding::Revoked
        } else if issued.not_after <= UnixMillis::now() {
            CertificateStanding::Expired
        } else {
            CertificateStanding::Valid
        }
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
        // As the store does: enrolling an existing cluster again revokes its certificates.
        let existed = self
            .enabled
            .lock()
            .unwrap()
            .insert(row.cluster, true)
            .is_some();
        if existed {
            self.revoke_certificates_of(row.cluster);
        }
        Ok(EnrollmentGrant {
            cluster_id: row.cluster,
            validity: None,
        })
    }

    async fn record_certificate(&self, issued: &IssuedCertificate) -> Result<(), AuthorityError> {
        self.certificates.lock().unwrap().push(issued.clone());
        Ok(())
    }

    async fn session_links(
        &self,
        sessions: &[SessionCertificate],
    ) -> Result<Vec<SessionLink>, AuthorityError> {
        let mut links = Vec::with_capacity(sessions.len());
        for session in sessions {
            let Some(&enabled) = self.enabled.lock().unwrap().get(&session.cluster) else {
                continue; // deleted
            };
            links.push(SessionLink {
                link: AgentLink {
                    cluster: session.cluster,
                    enabled,
                    resync_requested_at: None,
                },
                certificate: self.standing(session),
            });
        }
        Ok(links)
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
        _claim: Option<&Fence>,
        epoch: u64,
        seq: u64,
        _batch: ChangeBatch,
    ) -> Result<(), AuthorityError> {
        let _open = self.ingest_gate.read().await;
        self.batches.lock().unwrap().push((cluster, epoch, seq));
        self.advance(cluster, epoch, seq);
        Ok(())
    }

    async fn ingest_usage(
        &self,
        cluster: ClusterId,
        _claim: Option<&Fence>,
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
        _claim: Option<&Fence>,
        epoch: u64,
        seq: u64,
        _report: HealthReport,
        _signals: HealthSignals,
    ) -> Result<(), AuthorityError> {
        self.advance(cluster, epoch, seq);
        Ok(())
    }
}

/// The tests' transport settings: a random port of 127.0.0.1, short timeouts.
fn test_settings() -> TransportSettings {
    let mut settings = TransportSettings::new(SocketAddr::from(([127, 0, 0, 1], 0)));
    settings.client_validity = Duration::from_secs(3600);
    settings.first_frame_timeout = Duration::from_secs(2);
    settings.enabled_check_interval = Duration::from_millis(300);
    settings
}

/// A hub transport on a random port of 127.0.0.1, served until dropped.
pub struct TestHub {
    pub transport: HubTransport,
    pub ca: Arc<HubCa>,
    pub authority: Arc<MemoryAuthority>,
    pub address: HubAddress,
    pub shutdown: Shutdown,
}

impl Drop for TestHub {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

impl TestHub {
    pub async fn start(client_validity: Duration) -> Self {
        Self::start_with(|settings| settings.client_validity = client_validity).await
    }

    /// A hub whose settings `adjust` changes from the tests' defaults.
    pub async fn start_with(adjust: impl FnOnce(&mut TransportSettings)) -> Self {
        let _ = tracing_subscriber::fmt()
            .with_writer(|| Capture)
            .with_ansi(false)
            .with_env_filter("kubeworkz_hub=debug")
            .try_init();
        let ca = Arc::new(HubCa::generate().unwrap());
        let identity = ca
            .issue_server_identity(&["127.0.0.1".into(), "localhost".into()], WAIT * 100)
            .unwrap();
        let authority = Arc::new(MemoryAuthority::default());
        let mut settings = test_settings();
        adjust(&mut settings);
        let transport =
            HubTransport::bind(settings, ca.clone(), identity, authority.clone()).unwrap();
        Self::serving(transport, ca, authority)
    }

    /// Another replica of this hub: same CA and store, its own endpoint with the tests'
    /// default settings.
    pub async fn replica(&self) -> Self {
        let identity = self
            .ca
            .issue_server_identity(&["127.0.0.1".into(), "localhost".into()], WAIT * 100)
            .unwrap();
        let transport = HubTransport::bind(
            test_settings(),
            self.ca.clone(),
            identity,
            self.authority.clone(),
        )
        .unwrap();
        Self::serving(transport, self.ca.clone(), self.authority.clone())
    }

    /// Serves `transport` until the returned hub is dropped.
    fn serving(transport: HubTransport, ca: Arc<HubCa>, authority: Arc<MemoryAuthority>) -> Self {
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
    pub fn token(&self, ttl: Duration) -> (EnrollmentToken, ClusterId) {
        let cluster = ClusterId::new();
        (self.token_for(cluster, ttl), cluster)
    }

    /// A token enrolling `cluster` (again, if it exists), valid for `ttl`.
    pub fn token_for(&self, cluster: ClusterId, ttl: Duration) -> EnrollmentToken {
        let token = EnrollmentToken::generate(self.ca.ca_pin());
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
        token
    }

    pub async fn enrolled(&self) -> AgentIdentity {
        let (token, _) = self.token(WAIT);
        timeout(WAIT, enroll(&self.address, &token))
            .await
            .unwrap()
            .unwrap()
    }
}

pub fn batch() -> Payload {
    Payload::Batch(ChangeBatch {
        produced_at: UnixMillis::now(),
        changes: vec![],
    })
}

pub async fn send_and_ack(session: &mut AgentSession, queue: &mut UnackedQueue, n: usize) {
    for _ in 0..n {
        let queued = queue.push(batch()).unwrap().clone();
        session.send_queued(&queued).await.unwrap();
        match timeout(WAIT, session.recv()).await.unwrap().unwrap() {
            HubMessage::Ack { epoch, seq } => {
                assert_eq!(queued.stream_position(), (epoch, seq));
                queue.ack(epoch, seq);
            }
            other => panic!("expected an ack, got {other:?}"),
        }
    }
}

pub fn rand_epoch() -> u64 {
    UnixMillis::now().0.unsigned_abs()
}

/// Connects with `identity`, expects the hub to fail the handshake, returns the error text.
pub async fn assert_handshake_refused(hub: &TestHub, identity: &AgentIdentity) -> String {
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

/// An identity with `key`, a certificate from `issuer`, trusting `ca_der`.
pub fn identity_with_ca(
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

/// A QUIC connection to the hub outside the agent client, to speak raw frames.
pub async fn raw_connection(hub: &TestHub, identity: Option<&AgentIdentity>) -> quinn::Connection {
    let mut endpoint = quinn::Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    let config = tls::client_config(hub.ca.ca_pin(), identity).unwrap();
    endpoint.set_default_client_config(config);
    endpoint
        .connect(hub.address.addr, &hub.address.server_name)
        .unwrap()
        .await
        .unwrap()
}

pub async fn write_frame(send: &mut quinn::SendStream, message: &AgentMessage) {
    let mut frame = Vec::new();
    encode_frame(message, 1024, &mut frame).unwrap();
    send.write_all(&frame).await.unwrap();
}

/// An authenticated connection speaking raw frames, past `Welcome`.
pub async fn raw_session(
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

pub async fn assert_closed_for_protocol_error(conn: &quinn::Connection) {
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

/// Waits for an event matching `want`, returning the events skipped on the way.
pub async fn expect_event(
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

pub async fn wait_for_batches(hub: &TestHub, cluster: ClusterId, count: usize) -> Vec<(u64, u64)> {
    let deadline = Instant::now() + WAIT;
    loop {
        let batches = hub.authority.batches_of(cluster);
        if batches.len() >= count || Instant::now() > deadline {
            return batches;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
