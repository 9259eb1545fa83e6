//! The agent's link to the hub: identity first (stored, or enrolled with the token), then the
//! [`Uplink`] carrying the collector's output, with its events turned into actions — a full
//! sync becomes a collector relist, a renewed certificate is persisted, a refusal is logged
//! as an error the operator can act on.
//!
//! Refusals never make the agent spin: a refused *token* at startup ends the agent (exit 1
//! with the hub's reason; Kubernetes restarts it with its own backoff, and the operator must
//! create a new token), while a refused *certificate* keeps the uplink retrying on its capped,
//! jittered backoff (up to 5 minutes). A cluster that was disabled comes back by itself once
//! enabled only if its agent enrolls again: disabling revoked its certificates, so the hub
//! then answers "certificate revoked: re-enroll with a new token", which is logged as an
//! error, and the uplink enrolls with the configured token (once per backoff delay). An
//! operator creates a token for the cluster and gives it to the agent (`helm upgrade --set
//! token=…`, which restarts it): the stored certificate is refused, the new token enrolls.

use std::sync::Arc;

use kubeworkz_shared::model::ClusterInfo;
use kubeworkz_shared::protocol::{CaPin, EnrollmentToken, Payload};
use kubeworkz_shared::time::UnixMillis;
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::credentials::{CredentialStore, CredentialsError};
use crate::transport::backoff::Backoff;
use crate::transport::{
    AgentIdentity, ClientError, HubTargets, Uplink, UplinkEvent, UplinkGauges, enroll,
};

/// Unacked data (encoded frames) the uplink holds while the hub is away; beyond it the agent
/// owes the hub a full sync on reconnection instead (a 10k-pod snapshot is ~3 MB on the wire,
/// so one fits with room for the deltas after it).
pub const MAX_QUEUE_BYTES: usize = 8 * 1024 * 1024;

/// Why the link gave up. Nothing here carries a token secret or a key.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// No stored identity and no token to enroll with: a configuration problem.
    #[error(
        "not enrolled yet and KUBEWORKZ_TOKEN is not set: create a token with `kubeworkz-hub token create`"
    )]
    NeedsToken,
    /// The hub refused the token (used, expired, revoked, unknown, cluster disabled).
    #[error(
        "enrollment refused by the hub: {0}; create a new token with `kubeworkz-hub token create`"
    )]
    EnrollmentRefused(String),
    /// The stored CA is not the one the configuration pins.
    #[error(
        "the stored credentials trust a different hub CA than KUBEWORKZ_CA_PIN/KUBEWORKZ_TOKEN ({stored} vs {configured}); remove them to enroll again"
    )]
    PinMismatch {
        /// Pin of the stored CA.
        stored: CaPin,
        /// Pin from the configuration.
        configured: CaPin,
    },
    /// The credentials store failed.
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
}

/// What the link needs besides the collector's output.
#[derive(Debug, Clone)]
pub struct LinkSettings {
    /// The hub's addresses (one, or a replica each).
    pub hub: HubTargets,
    /// The enrollment token, if any.
    pub token: Option<EnrollmentToken>,
    /// A separately configured CA pin, if any.
    pub ca_pin: Option<CaPin>,
    /// Reconnect and enrollment retry schedule.
    pub backoff: Backoff,
    /// Where the uplink publishes its connection and unacked bytes (`/metrics`).
    pub gauges: Arc<UplinkGauges>,
    /// The collector's latest cluster info, sent after every `Welcome` and on change.
    pub cluster_info: watch::Receiver<Option<ClusterInfo>>,
    /// Serves the hub's operations on each connection.
    pub operations: Option<Arc<crate::operations::OperationServer>>,
}

/// Runs until `shutdown` (then the uplink drains until `payloads` closes, or until
/// `uplink_stop`), or until the hub refuses the token.
pub async fn run(
    settings: LinkSettings,
    credentials: CredentialStore,
    payloads: mpsc::Receiver<Payload>,
    resync: Arc<Notify>,
    shutdown: CancellationToken,
    uplink_stop: CancellationToken,
) -> Result<(), LinkError> {
    let mut backoff = settings.backoff.clone();
    let mut hub = settings.hub.clone();
    let Some(identity) =
        identity(&settings, &mut hub, &credentials, &mut backoff, &shutdown).await?
    else {
        return Ok(());
    };
    let (events_tx, events) = mpsc::channel(16);
    let uplink = Uplink::new(hub, identity, MAX_QUEUE_BYTES, events_tx)
        .with_token(settings.token.clone())
        .with_backoff(settings.backoff)
        .with_gauges(settings.gauges)
        .with_cluster_info(settings.cluster_info);
    let uplink = match settings.operations {
        Some(server) => uplink.with_operations(server),
        None => uplink,
    };
    tokio::join!(
        uplink.run(payloads, uplink_stop),
        handle_events(events, &credentials, &resync)
    );
    Ok(())
}

/// The stored identity, or a new one from the token (retrying while the hub is unreachable,
/// each attempt on the next of `hub`'s targets). `None` when `shutdown` fired first.
async fn identity(
    settings: &LinkSettings,
    hub: &mut HubTargets,
    credentials: &CredentialStore,
    backoff: &mut Backoff,
    shutdown: &CancellationToken,
) -> Result<Option<AgentIdentity>, LinkError> {
    let configured_pin = settings
        .ca_pin
        .or_else(|| settings.token.as_ref().map(EnrollmentToken::ca_pin));
    let stored = credentials.load().await?;
    if let Some(stored) = &stored {
        let pin = stored.ca_pin();
        if let Some(configured) = configured_pin
            && configured != pin
        {
            return Err(LinkError::PinMismatch {
                stored: pin,
                configured,
            });
        }
        if stored.not_after < UnixMillis::now() {
            tracing::warn!(
                cluster = %stored.cluster_id,
                not_after = stored.not_after.0,
                "the stored certificate has expired: enrolling again needs a new token"
            );
        }
    }
    let token = match (stored, &settings.token) {
        (Some(stored), _) if stored.not_after >= UnixMillis::now() || settings.token.is_none() => {
            tracing::info!(cluster = %stored.cluster_id, place = %credentials.place(), "using stored credentials");
            // The uplink resolves the hub before each connection (and retries it like one).
            return Ok(Some(stored));
        }
        (_, None) => return Err(LinkError::NeedsToken),
        (_, Some(token)) => token,
    };
    // Spend the token only if the identity it buys can be kept.
    credentials.check_writable().await?;
    let enrolled = retry(backoff, shutdown, "enrolling", async || {
        let address = hub.current().await.map_err(ClientError::Io)?;
        let enrolled = enroll(&address, token).await;
        if enrolled.is_err() {
            hub.advance();
        }
        enrolled
    })
    .await;
    let Some(identity) = (match enrolled {
        Err(reason) => return Err(LinkError::EnrollmentRefused(reason)),
        Ok(found) => found,
    }) else {
        return Ok(None);
    };
    tracing::info!(cluster = %identity.cluster_id, token = %token.public_id(), "enrolled with the hub");
    if let Err(err) = credentials.save(&identity).await {
        // Keep running with the identity in memory; a restart before the next successful
        // save (at renewal) needs a new token.
        tracing::error!(error = %err, "enrolled, but the credentials could not be stored");
    }
    Ok(Some(identity))
}

/// Calls `attempt` until it succeeds (`Some`), `shutdown` fires (`None`) or the hub refuses
/// (`Err` with the hub's reason); other failures wait a backoff delay.
async fn retry<T>(
    backoff: &mut Backoff,
    shutdown: &CancellationToken,
    what: &str,
    mut attempt: impl AsyncFnMut() -> Result<T, ClientError>,
) -> Result<Option<T>, String> {
    loop {
        let result = tokio::select! {
            () = shutdown.cancelled() => return Ok(None),
            result = attempt() => result,
        };
        let err = match result {
            Ok(value) => {
                backoff.reset();
                return Ok(Some(value));
            }
            Err(ClientError::Refused { reason }) => return Err(reason),
            Err(err) => err,
        };
        let delay = backoff.next_delay();
        tracing::warn!(error = %err, retry_in_ms = delay.as_millis() as u64, "{what} failed");
        tokio::select! {
            () = shutdown.cancelled() => return Ok(None),
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// Acts on the uplink's events until it stops.
async fn handle_events(
    mut events: mpsc::Receiver<UplinkEvent>,
    credentials: &CredentialStore,
    resync: &Notify,
) {
    // The uplink reads no payload before its first connection: if that connection is the
    // first attempt, everything the collector produced so far — its initial snapshot
    // included — is still waiting and opens the new epoch, so no relist is needed for it.
    let mut first_sync_covered = true;
    while let Some(event) = events.recv().await {
        match event {
            UplinkEvent::Connected { resumed } => {
                tracing::info!(resumed, "connected to the hub");
            }
            UplinkEvent::Disconnected(err) if err.is_certificate_revoked() => {
                first_sync_covered = false;
                tracing::error!(
                    "certificate revoked: re-enroll with a new token (create one with `kubeworkz-hub token create` and set it as KUBEWORKZ_TOKEN); retrying with backoff"
                );
            }
            UplinkEvent::Disconnected(ClientError::Refused { reason }) => {
                first_sync_covered = false;
                tracing::error!(
                    %reason,
                    "the hub refused this agent's certificate; retrying with backoff until the cluster is enabled again"
                );
            }
            UplinkEvent::Disconnected(_) => first_sync_covered = false,
            UplinkEvent::FullSyncNeeded => {
                if std::mem::take(&mut first_sync_covered) {
                    tracing::info!("new stream: the initial snapshot opens it");
                } else {
                    tracing::info!("the hub needs a full sync: relisting");
                    resync.notify_one();
                }
            }
            UplinkEvent::Dropped(dropped) => {
                tracing::warn!(?dropped, "unacknowledged data dropped; a full sync follows");
            }
            UplinkEvent::Renewed(identity) | UplinkEvent::Reenrolled(identity) => {
                match credentials.save(&identity).await {
                    Ok(()) => {
                        tracing::info!(not_after = identity.not_after.0, "new certificate stored")
                    }
                    Err(err) => {
                        tracing::error!(error = %err, "storing the new certificate failed")
                    }
                }
            }
        }
    }
}
