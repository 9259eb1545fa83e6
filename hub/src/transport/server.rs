//! [`HubTransport`]: the endpoint, its accept loop and the registry of live agent connections.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use kubeworkz_shared::ids::ClusterId;
use kubeworkz_shared::protocol::OperationRequest;
use kubeworkz_shared::protocol::{CERTIFICATE_REVOKED, Command, FrameMemory, HubMessage, close};
use quinn::VarInt;
use tokio::sync::mpsc;

use super::operations::{OpenError, OperationBody, Slot, Slots};
use kubeworkz_shared::operations::ExecChannels;
use kubeworkz_shared::protocol::ExecRequest;

use super::{AgentAuthority, TransportSettings, server_config, session};
use crate::pki::{HubCa, ServerIdentity};
use crate::shutdown::Shutdown;
use crate::store::{CertificateStanding, Fence, SessionCertificate, SessionLink};

/// Why the transport could not start.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The TLS configuration was refused (bad certificate or key).
    #[error("tls configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// Binding the UDP socket failed.
    #[error("binding the agent endpoint: {0}")]
    Bind(#[from] std::io::Error),
}

/// Commands a session may be handed from outside (at most this many waiting; more are
/// dropped, as a pending resync already covers them).
const COMMAND_QUEUE: usize = 4;

/// A cluster's live, authenticated connection.
struct LiveSession {
    id: u64,
    /// Serial of the client certificate it presented.
    serial: String,
    conn: quinn::Connection,
    /// To the session task, which writes them on the agent's stream.
    commands: mpsc::Sender<HubMessage>,
    /// The operations running on this connection.
    operations: Arc<Slots>,
    /// Its claim on the cluster's agent session in the store, once welcomed
    /// ([`AgentAuthority::claim_session`]).
    claim: Option<Fence>,
}

/// State shared by the accept loop and every connection task.
pub(super) struct Shared {
    pub(super) ca: Arc<HubCa>,
    pub(super) authority: Arc<dyn AgentAuthority>,
    pub(super) settings: TransportSettings,
    /// Every authenticated connection's frames are admitted against it.
    pub(super) memory: FrameMemory,
    live: Mutex<HashMap<ClusterId, LiveSession>>,
    next_connection: AtomicU64,
    handshakes: AtomicUsize,
}

impl Shared {
    /// Registers `conn` as the cluster's live connection, closing an older one (an agent that
    /// restarted before its old connection timed out). Returns the registration id and the
    /// receiving end of the session's command queue.
    pub(super) fn register(
        &self,
        session: &SessionCertificate,
        conn: &quinn::Connection,
    ) -> (u64, mpsc::Receiver<HubMessage>) {
        let id = self.next_connection.fetch_add(1, Ordering::Relaxed);
        let (commands, received) = mpsc::channel(COMMAND_QUEUE);
        let old = self.live.lock().expect("registry lock").insert(
            session.cluster,
            LiveSession {
                id,
                serial: session.serial.clone(),
                conn: conn.clone(),
                commands,
                operations: Slots::new(conn.clone()),
                claim: None,
            },
        );
        if let Some(old) = old {
            old.conn.close(
                VarInt::from_u32(close::REPLACED),
                REPLACED_REASON.as_bytes(),
            );
        }
        (id, received)
    }

    /// Records registration `id`'s claim on its cluster's agent session.
    pub(super) fn set_claim(&self, cluster: ClusterId, id: u64, claim: Fence) {
        let mut live = self.live.lock().expect("registry lock");
        if let Some(current) = live.get_mut(&cluster).filter(|c| c.id == id) {
            current.claim = Some(claim);
        }
    }

    /// Forgets registration `id` of `cluster` (if it is still the current one), handing back
    /// its claim to give back.
    pub(super) fn unregister(&self, cluster: ClusterId, id: u64) -> Option<Fence> {
        let mut live = self.live.lock().expect("registry lock");
        if live.get(&cluster).is_some_and(|current| current.id == id) {
            return live.remove(&cluster).and_then(|session| session.claim);
        }
        None
    }
}

/// Why a session is closed with `close::REPLACED`, as the agent sees it.
pub(super) const REPLACED_REASON: &str = "replaced by a newer connection";

/// The agent endpoint. Cheap to clone: clones share the endpoint and the registry, so the
/// integrator can keep one to call [`HubTransport::disconnect_cluster`] when a cluster is
/// disabled.
#[derive(Clone)]
pub struct HubTransport {
    endpoint: quinn::Endpoint,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for HubTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubTransport")
            .field("local_addr", &self.endpoint.local_addr().ok())
            .finish_non_exhaustive()
    }
}

impl HubTransport {
    /// Binds the endpoint. `identity` is the hub's server certificate, signed by `ca`, for
    /// the names agents connect to. Must be called within a tokio runtime.
    pub fn bind(
        settings: TransportSettings,
        ca: Arc<HubCa>,
        identity: ServerIdentity,
        authority: Arc<dyn AgentAuthority>,
    ) -> Result<Self, TransportError> {
        let config = server_config(&ca, identity)?;
        let endpoint = quinn::Endpoint::server(config, settings.listen)?;
        Ok(Self {
            endpoint,
            shared: Arc::new(Shared {
                ca,
                authority,
                memory: FrameMemory::new(settings.body_memory, settings.decoded_memory),
                settings,
                live: Mutex::new(HashMap::new()),
                next_connection: AtomicU64::new(0),
                handshakes: AtomicUsize::new(0),
            }),
        })
    }

    /// The bound address (the port, when `listen` asked for 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    /// Accepts agents until `shutdown`, then drains ([`HubTransport::drain`]), closes what is
    /// left and waits for the endpoint to go idle. Meanwhile the connected clusters' standing
    /// is re-read every few seconds ([`HubTransport::check_connected`]).
    pub async fn serve(&self, shutdown: Shutdown) {
        let checker = {
            let (transport, shutdown) = (self.clone(), shutdown.clone());
            tokio::spawn(async move {
                let mut every =
                    tokio::time::interval(transport.shared.settings.enabled_check_interval);
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        () = shutdown.wait() => break,
                        _ = every.tick() => transport.check_connected().await,
                    }
                }
            })
        };
        self.accept(&shutdown).await;
        let _ = checker.await;
        self.drain().await;
        self.endpoint
            .close(VarInt::from_u32(close::SHUTDOWN), b"hub is shutting down");
        self.endpoint.wait_idle().await;
    }

    /// Asks every connected agent to reconnect elsewhere (`GoAway`, with half the drain
    /// timeout to spread their reconnects over) and waits until they have closed their
    /// connections, at most [`TransportSettings::drain_timeout`]. Connections arriving
    /// meanwhile are refused, so an agent that picks this replica again moves on at once.
    /// The sessions keep ingesting until their agent closes, so nothing in flight is cut; the
    /// agents resend whatever was not acked to the replica that welcomes them next.
    async fn drain(&self) {
        let sessions: Vec<(mpsc::Sender<HubMessage>, quinn::Connection)> = {
            let live = self.shared.live.lock().expect("registry lock");
            live.values()
                .map(|s| (s.commands.clone(), s.conn.clone()))
                .collect()
        };
        if sessions.is_empty() {
            return;
        }
        let timeout = self.shared.settings.drain_timeout;
        let go_away = HubMessage::GoAway {
            reason: "hub replica is shutting down".into(),
            reconnect_within_ms: u32::try_from((timeout / 2).as_millis()).unwrap_or(u32::MAX),
        };
        for (commands, conn) in &sessions {
            if commands.try_send(go_away.clone()).is_err() {
                // A full command queue, or a session ending now: close it outright.
                conn.close(VarInt::from_u32(close::SHUTDOWN), b"hub is shutting down");
            }
        }
        tracing::info!(
            agents = sessions.len(),
            "asked the connected agents to reconnect to another replica"
        );
        let refuse_new = async {
            while let Some(incoming) = self.endpoint.accept().await {
                incoming.refuse();
            }
        };
        let left = async {
            let deadline = tokio::time::Instant::now() + timeout;
            while !self.shared.live.lock().expect("registry lock").is_empty()
                && tokio::time::Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::select! {
            () = refuse_new => {}
            () = left => {}
        }
        let remaining = self.shared.live.lock().expect("registry lock").len();
        if remaining > 0 {
            tracing::warn!(
                agents = remaining,
                "agents still connected after the drain timeout: closing"
            );
        } else {
            tracing::info!("every agent left");
        }
    }

    /// Asks the authority about every live session: closes those whose cluster is disabled or
    /// gone or whose certificate was revoked, and sends `ResyncNow` to those with a pending
    /// resync request (then marks it delivered). A certificate that expired during its
    /// session does not close it (TLS authenticated the connection while it was valid; the
    /// next handshake needs the renewed one). A failing store disconnects nobody (logged;
    /// the next round retries).
    pub async fn check_connected(&self) {
        self.check_claims().await;
        let sessions = self.live_sessions();
        if sessions.is_empty() {
            return;
        }
        let certificates: Vec<SessionCertificate> =
            sessions.iter().map(|(_, s)| s.clone()).collect();
        let links = match self.shared.authority.session_links(&certificates).await {
            Ok(links) => links,
            Err(err) => {
                tracing::warn!(error = %err, "checking connected clusters failed");
                return;
            }
        };
        let mut standing: HashMap<ClusterId, SessionLink> =
            links.into_iter().map(|l| (l.link.cluster, l)).collect();
        for (registration, session) in sessions {
            let cluster = session.cluster;
            let reason = match standing.remove(&cluster) {
                None => "cluster was deleted",
                Some(SessionLink { link, .. }) if !link.enabled => "cluster is disabled",
                Some(SessionLink {
                    certificate: CertificateStanding::Revoked | CertificateStanding::Unknown,
                    ..
                }) => CERTIFICATE_REVOKED,
                Some(SessionLink { link, .. }) => {
                    if let Some(requested_at) = link.resync_requested_at {
                        self.deliver_resync(cluster, requested_at).await;
                    }
                    continue;
                }
            };
            self.disconnect_registration(cluster, Some(registration), reason);
        }
    }

    /// Renews every live session's claim on its cluster; closes (`REPLACED`) the sessions
    /// whose claim a newer session took, on another replica or here.
    async fn check_claims(&self) {
        let claimed: Vec<(ClusterId, u64, Fence)> = {
            let live = self.shared.live.lock().expect("registry lock");
            live.iter()
                .filter_map(|(&cluster, s)| s.claim.clone().map(|c| (cluster, s.id, c)))
                .collect()
        };
        if claimed.is_empty() {
            return;
        }
        let claims: Vec<Fence> = claimed.iter().map(|(_, _, c)| c.clone()).collect();
        let held = self.shared.authority.renew_claims(&claims).await;
        for ((cluster, registration, _), held) in claimed.into_iter().zip(held) {
            if held {
                continue;
            }
            let removed = {
                let mut live = self.shared.live.lock().expect("registry lock");
                match live.get(&cluster) {
                    Some(current) if current.id == registration => live.remove(&cluster),
                    _ => None,
                }
            };
            if let Some(LiveSession { conn, .. }) = removed {
                tracing::info!(%cluster, "agent session superseded by a newer connection");
                conn.close(
                    VarInt::from_u32(close::REPLACED),
                    REPLACED_REASON.as_bytes(),
                );
            }
        }
    }

    /// Hands `ResyncNow` to the cluster's session; once queued, the request is cleared.
    async fn deliver_resync(&self, cluster: ClusterId, requested_at: DateTime<Utc>) {
        let sender = {
            let live = self.shared.live.lock().expect("registry lock");
            live.get(&cluster).map(|s| s.commands.clone())
        };
        let Some(sender) = sender else { return };
        match sender.try_send(HubMessage::Command(Command::ResyncNow)) {
            Ok(()) => tracing::info!(%cluster, "resync requested of the agent"),
            // Full: a command is already waiting; closed: the session just ended. Either way
            // keep the request for the next round (or the next connection).
            Err(_) => return,
        }
        if let Err(err) = self
            .shared
            .authority
            .resync_delivered(cluster, requested_at)
            .await
        {
            tracing::warn!(%cluster, error = %err, "marking a resync delivered failed");
        }
    }

    async fn accept(&self, shutdown: &Shutdown) {
        loop {
            let incoming = tokio::select! {
                () = shutdown.wait() => break,
                incoming = self.endpoint.accept() => match incoming {
                    Some(incoming) => incoming,
                    None => break,
                },
            };
            let in_flight = self.shared.handshakes.load(Ordering::Relaxed);
            if in_flight > self.shared.settings.retry_above_handshakes
                && !incoming.remote_address_validated()
                && incoming.may_retry()
            {
                let _ = incoming.retry();
                continue;
            }
            let shared = self.shared.clone();
            shared.handshakes.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let connecting = incoming.accept();
                let connection = match connecting {
                    Ok(connecting) => connecting.await,
                    Err(err) => Err(err),
                };
                shared.handshakes.fetch_sub(1, Ordering::Relaxed);
                match connection {
                    Ok(conn) => session::run(conn, shared).await,
                    // Bad certificates end here: rustls refused them.
                    Err(err) => tracing::debug!(error = %err, "agent handshake failed"),
                }
            });
        }
    }

    /// Closes the cluster's live connection (it was disabled or revoked). Its next handshake
    /// and renewal are refused by [`AgentAuthority::session_links`]. Returns whether a
    /// connection was open.
    pub fn disconnect_cluster(&self, cluster: ClusterId, reason: &str) -> bool {
        self.disconnect_registration(cluster, None, reason)
    }

    /// Closes the cluster's live connection if it is still `registration` (any, when `None`):
    /// a session judged on a snapshot must not close the newer one that replaced it since.
    fn disconnect_registration(
        &self,
        cluster: ClusterId,
        registration: Option<u64>,
        reason: &str,
    ) -> bool {
        let removed = {
            let mut live = self.shared.live.lock().expect("registry lock");
            match live.get(&cluster) {
                Some(current) if registration.is_none_or(|id| id == current.id) => {
                    live.remove(&cluster)
                }
                _ => None,
            }
        };
        match removed {
            Some(LiveSession { conn, .. }) => {
                tracing::info!(%cluster, reason, "closing agent connection");
                conn.close(VarInt::from_u32(close::DISABLED), reason.as_bytes());
                true
            }
            None => false,
        }
    }

    /// Each live session's registration and certificate.
    fn live_sessions(&self) -> Vec<(u64, SessionCertificate)> {
        let live = self.shared.live.lock().expect("registry lock");
        live.iter()
            .map(|(&cluster, session)| {
                let certificate = SessionCertificate {
                    cluster,
                    serial: session.serial.clone(),
                };
                (session.id, certificate)
            })
            .collect()
    }

    /// The budgets every authenticated connection's frames are admitted against, to observe
    /// what is reserved.
    pub fn frame_memory(&self) -> &FrameMemory {
        &self.shared.memory
    }

    /// Runs `request` on the cluster's live connection (`super::operations`).
    pub async fn open_operation(
        &self,
        cluster: ClusterId,
        request: &OperationRequest,
    ) -> Result<OperationBody, OpenError> {
        super::operations::open(self.operation_slot(cluster)?, request).await
    }

    /// One of the cluster's live connection's operation slots.
    fn operation_slot(&self, cluster: ClusterId) -> Result<Slot, OpenError> {
        let slots = {
            let live = self.shared.live.lock().expect("registry lock");
            let session = live.get(&cluster).ok_or(OpenError::NotConnected)?;
            session.operations.clone()
        };
        slots.take()
    }

    /// Starts an exec session on the cluster's live connection (`super::operations`); it
    /// counts as one of the connection's operations while it lasts.
    pub async fn open_exec(
        &self,
        cluster: ClusterId,
        request: &ExecRequest,
    ) -> Result<ExecChannels, OpenError> {
        super::operations::open_exec(self.operation_slot(cluster)?, request).await
    }

    /// Clusters with a live, authenticated connection.
    pub fn connected_clusters(&self) -> Vec<ClusterId> {
        let live = self.shared.live.lock().expect("registry lock");
        live.keys().copied().collect()
    }
}
