//! [`Uplink`]: keeps an agent connected and its data flowing, across hub restarts.
//!
//! The collector's output goes in as [`Payload`]s; the uplink numbers them in its
//! [`UnackedQueue`], sends them, drops them when acked, and resends the rest after a
//! reconnect the hub resumes. When the hub cannot resume, the queue overflows, or the hub
//! asks, it starts a new epoch and emits [`UplinkEvent::FullSyncNeeded`]: the caller then
//! pushes a snapshot of its inventory (`SnapshotBegin`…`SnapshotEnd` of every kind).
//! Reconnects wait [`Backoff`] delays; certificates are renewed at 70% of their lifetime over
//! the live connection, and the new identity is emitted for the caller to persist.

use std::time::Duration;

use kubeworkz_shared::protocol::resume::Dropped;
use kubeworkz_shared::protocol::{AgentMessage, HubMessage, Payload, UnackedQueue};
use kubeworkz_shared::time::UnixMillis;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::backoff::Backoff;
use super::{AgentIdentity, AgentSession, ClientError, HubAddress, PendingKey, connect, renew_at};

/// How often the agent reports itself alive (the hub's "last seen").
pub const HEARTBEAT: Duration = Duration::from_secs(30);

/// How long the uplink waits for the last acks after its input closed.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Sleeps until `deadline`, or forever without one (a disabled `select!` branch).
async fn sleep_until_or_never(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
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
}

/// The agent's connection manager (module docs).
#[derive(Debug)]
pub struct Uplink {
    hub: HubAddress,
    identity: AgentIdentity,
    queue: UnackedQueue,
    backoff: Backoff,
    events: mpsc::Sender<UplinkEvent>,
    /// When to renew next: 70% of the stored certificate's lifetime at first, then 70% of
    /// what is left when a certificate arrives (so short certificates do not renew in a loop
    /// because of the minute of clock-skew margin before `not_before`).
    renew_due: UnixMillis,
}

/// Why a connected session ended.
enum SessionEnd {
    Shutdown,
    Lost(ClientError),
}

impl Uplink {
    /// An uplink for `identity`, holding at most `max_queue_bytes` of unacked data.
    pub fn new(
        hub: HubAddress,
        identity: AgentIdentity,
        max_queue_bytes: usize,
        events: mpsc::Sender<UplinkEvent>,
    ) -> Self {
        Self {
            hub,
            renew_due: identity.renew_at(),
            identity,
            queue: UnackedQueue::new(rand::random(), max_queue_bytes),
            backoff: Backoff::default(),
            events,
        }
    }

    /// Replaces the backoff schedule (tests use milliseconds).
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
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
                connected = connect(&self.hub, &self.identity, hello) => connected,
            };
            let end = match connected {
                Ok(session) => {
                    self.backoff.reset();
                    self.session(session, &mut payloads, &shutdown).await
                }
                Err(err) => SessionEnd::Lost(err),
            };
            let SessionEnd::Lost(err) = end else { return };
            tracing::warn!(error = %err, "hub connection lost");
            self.emit(UplinkEvent::Disconnected(err)).await;
            let delay = tokio::time::sleep(self.backoff.next_delay());
            tokio::pin!(delay);
            // Keep queueing while waiting, so the collector never blocks on the hub.
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = &mut delay => break,
                    payload = payloads.recv() => match payload {
                        Some(payload) => drop(self.enqueue(payload).await),
                        None => return self.give_up(),
                    },
                }
            }
        }
    }

    /// Ends with data still unacked: logs what is lost.
    fn give_up(&mut self) {
        let dropped = self.queue.restart(0);
        if dropped != Dropped::default() {
            tracing::warn!(?dropped, "stopping with unacknowledged data");
        }
    }

    async fn emit(&self, event: UplinkEvent) {
        let _ = self.events.send(event).await;
    }

    /// Starts a new epoch and asks for a full sync.
    async fn restart(&mut self) {
        let dropped = self.queue.restart(rand::random());
        if dropped != Dropped::default() {
            self.emit(UplinkEvent::Dropped(dropped)).await;
        }
        self.emit(UplinkEvent::FullSyncNeeded).await;
    }

    /// Queues `payload` and returns the message to send. On overflow the queue restarts in a
    /// new epoch (full sync) and `payload` opens it, so even the payload that overflowed is
    /// kept; only one larger than the whole queue is dropped (and reported).
    async fn enqueue(&mut self, payload: Payload) -> Option<AgentMessage> {
        if let Err(overflow) = self.queue.push(payload.clone()) {
            tracing::warn!(%overflow, "unacked queue full: starting a full sync");
            self.restart().await;
            if let Err(overflow) = self.queue.push(payload) {
                tracing::error!(%overflow, "payload larger than the whole queue dropped");
                return None;
            }
        }
        self.queue.unacked().last().cloned()
    }

    async fn session(
        &mut self,
        session: AgentSession,
        payloads: &mut mpsc::Receiver<Payload>,
        shutdown: &CancellationToken,
    ) -> SessionEnd {
        let resumed = session.resume();
        self.emit(UplinkEvent::Connected { resumed }).await;
        let (mut sender, mut receiver) = session.split();
        if !resumed {
            self.restart().await;
        }
        for message in self.queue.unacked() {
            if let Err(err) = sender.send(message).await {
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
                payload = payloads.recv(), if drain_until.is_none() => match payload {
                    Some(payload) => self.enqueue(payload).await,
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
            HubMessage::Ack { epoch, seq } => self.queue.ack(epoch, seq),
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
