//! [`Uplink`]: keeps an agent connected and its data flowing, across hub restarts.
//!
//! The collector's output goes in as [`Payload`]s; the uplink numbers them in its
//! [`UnackedQueue`], sends them, drops them when acked, and resends the rest after a
//! reconnect the hub resumes. When the hub cannot resume, the queue overflows, or the hub
//! asks, it starts a new epoch and emits [`UplinkEvent::FullSyncNeeded`]: the caller then
//! pushes a snapshot of its inventory (`SnapshotBegin`…`SnapshotEnd` of every kind).
//! Reconnects wait [`Backoff`] delays, each to the next of the [`HubTargets`] (the same one
//! when there is only one); a hub replica that shuts down sends `GoAway`, and the uplink
//! closes, moves to the next target and reconnects after a random delay within the hub's
//! window instead (not a failure: the backoff does not grow, and the unacked queue is resent
//! to whichever replica welcomes it). Certificates are renewed at 70% of their lifetime over
//! the live connection, and the new identity is emitted for the caller to persist. When the
//! hub says the certificate was revoked (the cluster was disabled, or enrolled again), the
//! uplink enrolls once with the token it was given, if any ([`Uplink::with_token`]), before
//! its next backoff delay: an operator who gives the agent a new token brings it back, and
//! a token that is refused (spent, expired) waits the backoff like any failed attempt, so a
//! revoked agent retries at most once per delay, up to the reconnect cap.
//!
//! The collector's cluster info (server version, provider) is not queued: the uplink holds
//! the latest value ([`Uplink::with_cluster_info`]), sends it after every `Welcome` and
//! again whenever it changes, so it reaches the hub first thing on every connection whatever
//! the queue holds.
//!
//! Memory is bounded twice. Queued messages are held as their encoded frames (wire size, a
//! fraction of the decoded projections). While connected, at most [`IN_FLIGHT_BYTES`] are
//! unacked: beyond that the uplink stops reading its input until the hub acks, so a full sync
//! of a large cluster streams through in windows instead of being held whole, and the
//! backpressure reaches the collector's watchers (which then page their lists more slowly).
//! While disconnected the queue fills up to its byte limit; an overflow there drops the queue
//! (reporting what it held), skips inventory batches until the next connection, and owes the
//! hub a full sync on that connection — one relist when it can be delivered, not one per
//! overflow.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use kubeworkz_shared::model::ClusterInfo;
use kubeworkz_shared::protocol::resume::Dropped;
use kubeworkz_shared::protocol::{
    AgentMessage, EnrollmentToken, HubMessage, Payload, PushError, UnackedQueue,
};
use kubeworkz_shared::time::UnixMillis;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::backoff::Backoff;
use super::{
    AgentIdentity, AgentSession, ClientError, HubTargets, PendingKey, connect, enroll, renew_at,
};
use crate::operations::OperationServer;

/// How often the agent reports itself alive (the hub's "last seen").
pub const HEARTBEAT: Duration = Duration::from_secs(30);

/// Unacked bytes in flight while connected; the uplink reads no more input beyond this until
/// the hub acks (about 3,000 pod upserts).
pub const IN_FLIGHT_BYTES: usize = 1024 * 1024;

/// How long the uplink waits for the last acks after its input closed.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Sleeps until `deadline`, or forever without one (a disabled `select!` branch).
async fn sleep_until_or_never(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// The next cluster info to send, or never (no source, or its sender is gone).
async fn next_cluster_info(
    source: &mut Option<watch::Receiver<Option<ClusterInfo>>>,
) -> ClusterInfo {
    loop {
        let Some(receiver) = source else {
            return std::future::pending().await;
        };
        if receiver.changed().await.is_err() {
            *source = None;
            continue;
        }
        if let Some(info) = receiver.borrow_and_update().clone() {
            return info;
        }
    }
}

/// What the uplink tells its owner.
#[derive(Debug)]
pub enum UplinkEvent {
    /// The hub welcomed the agent.
    Connected {
        /// Whether the stream resumed (else a full sync follows).
        resumed: bool,
    },
    /// The connection ended; the uplink reconnects after a backoff delay.
    Disconnected(ClientError),
    /// A new epoch started: push a full snapshot next.
    FullSyncNeeded,
    /// Queued data was dropped by a restart (usage buckets in it are lost: report them).
    Dropped(Dropped),
    /// The certificate was renewed: persist the new identity.
    Renewed(AgentIdentity),
    /// The certificate was revoked and the agent enrolled again with its token: persist the
    /// new identity.
    Reenrolled(AgentIdentity),
}

/// What the uplink shows the agent's `/metrics`: whether it is connected and how much the hub
/// has not acknowledged yet. "Connected with nothing unacked" is how an operator (and the
/// scale bench) tells that everything the collector produced has reached the hub's store.
#[derive(Debug, Default)]
pub struct UplinkGauges {
    connected: AtomicBool,
    unacked_bytes: AtomicU64,
}

impl UplinkGauges {
    /// Whether a session with the hub is open.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// Encoded bytes sent or queued that the hub has not acknowledged.
    pub fn unacked_bytes(&self) -> u64 {
        self.unacked_bytes.load(Ordering::Relaxed)
    }
}

/// The agent's connection manager (module docs).
#[derive(Debug)]
pub struct Uplink {
    /// Where to connect; the next target after a failure or a `GoAway`.
    hub: HubTargets,
    identity: AgentIdentity,
    /// Enrolls again when the certificate was revoked.
    token: Option<EnrollmentToken>,
    queue: UnackedQueue,
    /// Unacked bytes at which a connected uplink stops reading input.
    in_flight_bytes: usize,
    /// The queue overflowed while disconnected: batches are skipped until the next connection
    /// starts a full sync.
    sync_owed: bool,
    backoff: Backoff,
    events: mpsc::Sender<UplinkEvent>,
    gauges: Arc<UplinkGauges>,
    /// When to renew next: 70% of the stored certificate's lifetime at first, then 70% of
    /// what is left when a certificate arrives (so short certificates do not renew in a loop
    /// because of the minute of clock-skew margin before `not_before`).
    renew_due: UnixMillis,
    /// The collector's latest cluster info, if it reports one.
    cluster_info: Option<watch::Receiver<Option<ClusterInfo>>>,
    /// Serves the hub's operation streams on each connection, if the agent runs any.
    operations: Option<Arc<OperationServer>>,
}

/// Why a connected session ended.
enum SessionEnd {
    Shutdown,
    Lost(ClientError),
    /// The hub replica is draining: reconnect elsewhere within this long.
    GoAway(String, Duration),
}

impl Uplink {
    /// An uplink for `identity` to `hub` (one address or several targets), holding at most
    /// `max_queue_bytes` of unacked data.
    pub fn new(
        hub: impl Into<HubTargets>,
        identity: AgentIdentity,
        max_queue_bytes: usize,
        events: mpsc::Sender<UplinkEvent>,
    ) -> Self {
        Self {
            hub: hub.into(),
            renew_due: identity.renew_at(),
            identity,
            token: None,
            queue: UnackedQueue::new(rand::random(), max_queue_bytes),
            in_flight_bytes: IN_FLIGHT_BYTES.min(max_queue_bytes),
            sync_owed: false,
            backoff: Backoff::default(),
            events,
            gauges: Arc::default(),
            cluster_info: None,
            operations: None,
        }
    }

    /// Sends the latest value of `cluster_info` after every `Welcome` and whenever it
    /// changes (module docs).
    pub fn with_cluster_info(mut self, cluster_info: watch::Receiver<Option<ClusterInfo>>) -> Self {
        self.cluster_info = Some(cluster_info);
        self
    }

    /// Serves the hub's operations with `server` on every connection.
    pub fn with_operations(mut self, server: Arc<OperationServer>) -> Self {
        self.operations = Some(server);
        self
    }

    /// Publishes the uplink's state to `gauges` (the agent's `/metrics`).
    pub fn with_gauges(mut self, gauges: Arc<UplinkGauges>) -> Self {
        self.gauges = gauges;
        self
    }

    /// Refreshes the unacked-bytes gauge after the queue changed.
    fn publish_queue(&self) {
        self.gauges
            .unacked_bytes
            .store(self.queue.queued_bytes() as u64, Ordering::Relaxed);
    }

    /// The token to enroll with again if the hub revokes the certificate (module docs).
    pub fn with_token(mut self, token: Option<EnrollmentToken>) -> Self {
        self.token = token;
        self
    }

    /// Replaces the backoff schedule (tests use milliseconds).
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Replaces the in-flight window (tests use a few frames).
    pub fn with_in_flight_limit(mut self, bytes: usize) -> Self {
        self.in_flight_bytes = bytes;
        self
    }

    /// Runs until `shutdown`, or until `payloads` closes and what is queued is acked (at most
    /// [`DRAIN_TIMEOUT`]), so the collector's final usage buckets reach the hub. Give
    /// `shutdown` to the uplink only after a grace period; closing `payloads` is the normal
    /// stop.
    pub async fn run(mut self, mut payloads: mpsc::Receiver<Payload>, shutdown: CancellationToken) {
        loop {
            let hello = self.queue.hello(kubeworkz_shared::VERSION);
            let connected = tokio::select! {
                () = shutdown.cancelled() => return,
                connected = self.connect(hello) => connected,
            };
            let end = match connected {
                Ok(session) => {
                    self.backoff.reset();
                    self.gauges.connected.store(true, Ordering::Relaxed);
                    let end = self.session(session, &mut payloads, &shutdown).await;
                    self.gauges.connected.store(false, Ordering::Relaxed);
                    end
                }
                Err(err) => SessionEnd::Lost(err),
            };
            let delay = match end {
                SessionEnd::Shutdown => return,
                SessionEnd::GoAway(reason, within) => {
                    // Not a failure: the backoff stays where the welcome reset it, and the
                    // delay is the hub's spreading window, not the failure schedule.
                    let delay = within.mul_f64(rand::random::<f64>());
                    tracing::info!(%reason, reconnect_in_ms = delay.as_millis() as u64, "the hub is going away: reconnecting elsewhere");
                    self.hub.advance();
                    self.emit(UplinkEvent::Disconnected(ClientError::GoingAway { reason }))
                        .await;
                    delay
                }
                SessionEnd::Lost(err) => {
                    tracing::warn!(error = %err, "hub connection lost");
                    self.hub.advance();
                    let revoked = err.is_certificate_revoked();
                    self.emit(UplinkEvent::Disconnected(err)).await;
                    if revoked && self.reenroll(&shutdown).await {
                        continue;
                    }
                    self.backoff.next_delay()
                }
            };
            if !self.wait_queueing(delay, &mut payloads, &shutdown).await {
                return;
            }
        }
    }

    /// Connects to the current target (resolved now).
    async fn connect(
        &mut self,
        hello: kubeworkz_shared::protocol::Hello,
    ) -> Result<AgentSession, ClientError> {
        let hub = self.hub.current().await?;
        connect(&hub, &self.identity, hello).await
    }

    /// Waits `delay` while still queueing the collector's output, so the collector never
    /// blocks on the hub. `false` when the uplink is to stop (shutdown, or its input closed).
    async fn wait_queueing(
        &mut self,
        delay: Duration,
        payloads: &mut mpsc::Receiver<Payload>,
        shutdown: &CancellationToken,
    ) -> bool {
        let delay = tokio::time::sleep(delay);
        tokio::pin!(delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return false,
                () = &mut delay => return true,
                payload = payloads.recv() => match payload {
                    Some(payload) => drop(self.enqueue(payload, false).await),
                    None => {
                        self.give_up();
                        return false;
                    }
                },
            }
        }
    }

    /// Enrolls again with the token, if there is one; true when a new identity replaced the
    /// revoked one (and was emitted to be stored).
    async fn reenroll(&mut self, shutdown: &CancellationToken) -> bool {
        let Some(token) = &self.token else {
            return false;
        };
        let hub = match self.hub.current().await {
            Ok(hub) => hub,
            Err(err) => {
                tracing::warn!(error = %err, "resolving the hub to enroll again failed");
                return false;
            }
        };
        let enrolled = tokio::select! {
            () = shutdown.cancelled() => return false,
            enrolled = enroll(&hub, token) => enrolled,
        };
        match enrolled {
            Ok(identity) => {
                tracing::info!(cluster = %identity.cluster_id, token = %token.public_id(), "enrolled again with the configured token");
                self.renew_due = identity.renew_at();
                self.identity = identity.clone();
                self.emit(UplinkEvent::Reenrolled(identity)).await;
                true
            }
            Err(err) => {
                tracing::warn!(error = %err, token = %token.public_id(), "enrolling again with the configured token failed");
                false
            }
        }
    }

    /// Ends with data still unacked: logs what is lost.
    fn give_up(&mut self) {
        let dropped = self.queue.restart(0);
        self.publish_queue();
        if dropped != Dropped::default() {
            tracing::warn!(?dropped, "stopping with unacknowledged data");
        }
    }

    async fn emit(&self, event: UplinkEvent) {
        let _ = self.events.send(event).await;
    }

    /// Starts a new epoch and asks for a full sync.
    async fn restart(&mut self) {
        self.drop_queue().await;
        self.emit(UplinkEvent::FullSyncNeeded).await;
    }

    /// Starts a new epoch, reporting what the old one still held.
    async fn drop_queue(&mut self) {
        let dropped = self.queue.restart(rand::random());
        self.publish_queue();
        if dropped != Dropped::default() {
            self.emit(UplinkEvent::Dropped(dropped)).await;
        }
    }

    /// Queues `payload`; `true` when it was queued (the newest frame is then to be sent).
    ///
    /// On overflow the queue restarts in a new epoch. Connected (only possible when the
    /// in-flight window is not below the queue limit), the full sync starts at once and
    /// `payload` opens it. Disconnected, the full sync is owed to the next connection and
    /// batches are skipped until then (the sync supersedes them); usage and health still
    /// queue. Only a payload larger than a frame or the whole queue is dropped (and logged).
    async fn enqueue(&mut self, payload: Payload, connected: bool) -> bool {
        let queued = self.push_or_restart(payload, connected).await;
        self.publish_queue();
        queued
    }

    /// [`Self::enqueue`] without the gauge update.
    async fn push_or_restart(&mut self, payload: Payload, connected: bool) -> bool {
        let is_batch = matches!(payload, Payload::Batch(_));
        if self.sync_owed && is_batch {
            return false;
        }
        let payload = match self.queue.push(payload) {
            Ok(_) => return true,
            Err(PushError::Frame(err)) => {
                tracing::error!(error = %err, "payload dropped");
                return false;
            }
            Err(PushError::Overflow { overflow, payload }) => {
                if connected {
                    tracing::warn!(%overflow, "unacked queue full: starting a full sync");
                    self.restart().await;
                } else {
                    tracing::warn!(%overflow, "unacked queue full: a full sync follows on the next connection");
                    self.drop_queue().await;
                    self.sync_owed = true;
                    if is_batch {
                        return false;
                    }
                }
                payload
            }
        };
        match self.queue.push(payload) {
            Ok(_) => true,
            Err(err) => {
                tracing::error!(error = %err, "payload larger than the whole queue dropped");
                false
            }
        }
    }

    async fn session(
        &mut self,
        session: AgentSession,
        payloads: &mut mpsc::Receiver<Payload>,
        shutdown: &CancellationToken,
    ) -> SessionEnd {
        let resumed = session.resume();
        self.emit(UplinkEvent::Connected { resumed }).await;
        // Ends by itself when the connection closes; aborted with the session anyway.
        let _operations = self
            .operations
            .clone()
            .map(|server| AbortOnDrop(tokio::spawn(server.serve(session.connection()))));
        let (mut sender, mut receiver) = session.split();
        if !resumed && !self.queue.is_fresh() {
            self.restart().await;
        } else if !resumed || self.sync_owed {
            // Nothing of this epoch reached the hub: it takes the queue from seq 1 as it is,
            // and the full sync follows it.
            self.emit(UplinkEvent::FullSyncNeeded).await;
        }
        self.sync_owed = false;
        // Each session sends the current value first, then changes.
        let mut cluster_info = self.cluster_info.clone();
        let current = cluster_info
            .as_mut()
            .and_then(|source| source.borrow_and_update().clone());
        if let Some(info) = current
            && let Err(err) = sender.send(&AgentMessage::ClusterInfo { info }).await
        {
            return SessionEnd::Lost(err);
        }
        for queued in self.queue.unacked() {
            if let Err(err) = sender.send_queued(queued).await {
                return SessionEnd::Lost(err);
            }
        }
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        let mut pending_key: Option<PendingKey> = None;
        // Set once `payloads` closed: wait this long for the last acks (final usage buckets).
        let mut drain_until: Option<tokio::time::Instant> = None;
        loop {
            if drain_until.is_some() && self.queue.queued_bytes() == 0 {
                sender.close().await;
                return SessionEnd::Shutdown;
            }
            let renew_in = Duration::from_millis(
                u64::try_from(self.renew_due.0 - UnixMillis::now().0).unwrap_or(0),
            );
            let outgoing = tokio::select! {
                () = shutdown.cancelled() => {
                    sender.close().await;
                    return SessionEnd::Shutdown;
                }
                _ = heartbeat.tick() => Some(AgentMessage::Heartbeat { at: UnixMillis::now() }),
                info = next_cluster_info(&mut cluster_info) => Some(AgentMessage::ClusterInfo { info }),
                () = tokio::time::sleep(renew_in), if pending_key.is_none() => {
                    match PendingKey::generate() {
                        Ok(key) => {
                            let csr_der = key.csr_der.clone();
                            pending_key = Some(key);
                            Some(AgentMessage::RenewCertificate { csr_der })
                        }
                        Err(err) => return SessionEnd::Lost(err),
                    }
                }
                payload = payloads.recv(),
                    if drain_until.is_none() && self.queue.queued_bytes() < self.in_flight_bytes =>
                match payload {
                    Some(payload) => {
                        if self.enqueue(payload, true).await
                            && let Some(queued) = self.queue.unacked().last()
                            && let Err(err) = sender.send_queued(queued).await
                        {
                            return SessionEnd::Lost(err);
                        }
                        None
                    }
                    None => {
                        drain_until = Some(tokio::time::Instant::now() + DRAIN_TIMEOUT);
                        None
                    }
                },
                () = sleep_until_or_never(drain_until) => {
                    self.give_up();
                    sender.close().await;
                    return SessionEnd::Shutdown;
                }
                message = receiver.recv() => match message {
                    Ok(HubMessage::GoAway { reason, reconnect_within_ms }) => {
                        sender.close_because(b"going away as the hub asked").await;
                        let within = Duration::from_millis(reconnect_within_ms.into());
                        return SessionEnd::GoAway(reason, within);
                    }
                    Ok(message) => match self.handle(message, &mut pending_key).await {
                        Ok(()) => None,
                        Err(err) => return SessionEnd::Lost(err),
                    },
                    Err(err) => return SessionEnd::Lost(err),
                },
            };
            if let Some(message) = outgoing
                && let Err(err) = sender.send(&message).await
            {
                return SessionEnd::Lost(err);
            }
        }
    }

    async fn handle(
        &mut self,
        message: HubMessage,
        pending_key: &mut Option<PendingKey>,
    ) -> Result<(), ClientError> {
        match message {
            HubMessage::Ack { epoch, seq } => {
                self.queue.ack(epoch, seq);
                self.publish_queue();
            }
            HubMessage::Command(kubeworkz_shared::protocol::Command::ResyncNow) => {
                self.restart().await;
            }
            HubMessage::Certificate {
                cert_der, ca_der, ..
            } => {
                let key = pending_key
                    .take()
                    .ok_or_else(|| ClientError::Protocol("unrequested certificate".into()))?;
                let pin = self.identity.ca_pin();
                self.identity = key.complete(self.identity.cluster_id, cert_der, ca_der, pin)?;
                self.renew_due = renew_at(UnixMillis::now(), self.identity.not_after);
                tracing::info!(not_after = self.identity.not_after.0, "certificate renewed");
                self.emit(UplinkEvent::Renewed(self.identity.clone())).await;
            }
            other => {
                return Err(ClientError::Protocol(format!(
                    "unexpected {other:?} during a session"
                )));
            }
        }
        Ok(())
    }
}

/// Aborts a task when dropped, so it ends with the scope that started it.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
