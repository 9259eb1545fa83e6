//! `GET /api/v1/events`: a Server-Sent Events stream of what changed among the caller's
//! clusters, so the UI refreshes counts, health and lists without reloading.
//!
//! Events are derived from the store, not from an in-process channel: every hub replica on
//! one PostgreSQL sees ingest done by the others (and by the CLI). One poller per
//! organization (`event_feeds.rs`) reads the organization's cluster rows once per
//! [`POLL_INTERVAL`] (one indexed query, no counts) and compares each cluster's
//! [`Fingerprint`] with the previous read, so a cluster changes at most once per interval
//! however many batches arrived: events are coalesced by construction. Ingest moves
//! `last_sync_at` with every batch, so pod or deployment changes show up as
//! `cluster.changed`. Each stream re-checks its own session every [`SESSION_RECHECK`], so a
//! logout ends it within seconds.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use chrono::{DateTime, Utc};
use futures::Stream;
use kubeworkz_shared::ids::ClusterId;
use kubeworkz_shared::model::HealthStatus;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::event_feeds::Subscription;
use super::extract::{Credential, Principal};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::store::Cluster;

/// How often a stream reads its organization's clusters.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Comment lines keep idle connections (and proxies) open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// A stream ends after this long; `EventSource` reconnects by itself, which re-authenticates
/// (an API token revoked meanwhile stops being served).
const MAX_STREAM_AGE: Duration = Duration::from_secs(300);
/// How often a stream checks that its session still exists: a logout ends it within this
/// long, at one session read per stream per interval.
pub const SESSION_RECHECK: Duration = Duration::from_secs(3);

/// What an event says: which cluster. The event's name (`cluster.added`,
/// `cluster.changed`, `cluster.removed`) says what happened to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ClusterEvent {
    /// The cluster.
    pub cluster_id: Uuid,
}

/// What happened to a cluster between two reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Registered (or enrolled) since the previous read.
    Added,
    /// Synced, judged, edited, enabled or disabled.
    Changed,
    /// Deleted.
    Removed,
}

impl Change {
    /// The SSE event name.
    pub fn event_name(self) -> &'static str {
        match self {
            Self::Added => "cluster.added",
            Self::Changed => "cluster.changed",
            Self::Removed => "cluster.removed",
        }
    }
}

/// The parts of a cluster row whose change the UI shows. Heartbeats are left out: they
/// arrive every few seconds and change nothing on screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    updated_at: DateTime<Utc>,
    last_sync_at: Option<DateTime<Utc>>,
    health: Option<(HealthStatus, DateTime<Utc>)>,
    last_error: Option<String>,
    enabled: bool,
}

impl From<&Cluster> for Fingerprint {
    fn from(c: &Cluster) -> Self {
        Self {
            updated_at: c.updated_at,
            last_sync_at: c.last_sync_at,
            health: c.health.as_ref().map(|h| (h.status, h.checked_at)),
            last_error: c.last_error.clone(),
            enabled: c.enabled,
        }
    }
}

/// The fingerprints of one read, by cluster.
pub type Snapshot = BTreeMap<ClusterId, Fingerprint>;

/// Builds a [`Snapshot`] from cluster rows.
pub fn snapshot(clusters: &[Cluster]) -> Snapshot {
    clusters
        .iter()
        .map(|c| (c.id, Fingerprint::from(c)))
        .collect()
}

/// The changes from `before` to `after`, in cluster id order.
pub fn diff(before: &Snapshot, after: &Snapshot) -> Vec<(Change, ClusterId)> {
    let mut changes: Vec<(Change, ClusterId)> = after
        .iter()
        .filter_map(|(id, now)| match before.get(id) {
            None => Some((Change::Added, *id)),
            Some(then) if then != now => Some((Change::Changed, *id)),
            Some(_) => None,
        })
        .collect();
    changes.extend(
        before
            .keys()
            .filter(|id| !after.contains_key(id))
            .map(|id| (Change::Removed, *id)),
    );
    changes.sort_by_key(|(_, id)| *id);
    changes
}

fn sse_event(change: Change, id: ClusterId) -> Event {
    let data = serde_json::to_string(&ClusterEvent {
        cluster_id: *id.as_uuid(),
    })
    .expect("a uuid serializes");
    Event::default().event(change.event_name()).data(data)
}

/// Whether the caller may still be served: a session ended by logout (or expired) stops
/// its stream at the next check. A failed check keeps the stream (a passing database
/// hiccup); the next one decides.
async fn still_signed_in(state: &AppState, who: &Principal) -> bool {
    match &who.credential {
        Credential::Session(hash) => match state.store.session(hash, Utc::now()).await {
            Ok(session) => session.is_some(),
            Err(e) => {
                tracing::warn!(error = %e, "event stream: session check failed");
                true
            }
        },
        Credential::Token(_) => true,
    }
}

/// One stream's state between events.
struct Listening {
    subscription: Subscription,
    next_check: tokio::time::Instant,
}

/// `GET /api/v1/events`: cluster change events of the caller's organization.
#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    responses((status = 200, content_type = "text/event-stream", body = ClusterEvent,
        description = "Server-Sent Events named `cluster.added`, `cluster.changed` or \
            `cluster.removed`, each with `{\"cluster_id\"}` as data; at most one event per \
            cluster per second; comment lines every 15 s keep the connection open. The \
            stream ends on logout and after 5 minutes (clients reconnect). At most 10 \
            streams per session or token and 200 per organization are open at once."),
        (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub(super) async fn stream(
    State(state): State<AppState>,
    who: Principal,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let mut subscription = state
        .events
        .subscribe(&state.store, &state.shutdown, who.org_id, &who.credential)
        .map_err(|refused| ApiError::OverLimit(refused.to_string()))?;
    subscription.ready().await;
    let deadline = tokio::time::Instant::now() + MAX_STREAM_AGE;
    let shutdown = state.shutdown.clone();
    let listening = Listening {
        subscription,
        next_check: tokio::time::Instant::now() + SESSION_RECHECK,
    };
    let batches = futures::stream::unfold(listening, move |mut listening| {
        let (state, who, shutdown) = (state.clone(), who.clone(), shutdown.clone());
        async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep_until(deadline) => return None,
                    () = shutdown.wait() => return None,
                    () = tokio::time::sleep_until(listening.next_check) => {
                        if !still_signed_in(&state, &who).await {
                            return None;
                        }
                        listening.next_check += SESSION_RECHECK;
                    }
                    received = listening.subscription.receiver.recv() => {
                        // Fallen behind the feed: end; the client reconnects and reloads.
                        let changes = received.ok()?;
                        let events: Vec<Event> = changes
                            .iter()
                            .map(|(change, id)| sse_event(*change, *id))
                            .collect();
                        return Some((events, listening));
                    }
                }
            }
        }
    });
    let events = futures::StreamExt::flat_map(batches, |events| {
        futures::stream::iter(events.into_iter().map(Ok))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn print(minute: u32, health: Option<HealthStatus>) -> Fingerprint {
        let at = DateTime::from_timestamp(1_700_000_000 + i64::from(minute) * 60, 0).unwrap();
        Fingerprint {
            updated_at: at,
            last_sync_at: Some(at),
            health: health.map(|h| (h, at)),
            last_error: None,
            enabled: true,
        }
    }

    #[test]
    fn added_changed_and_removed_clusters_are_told_apart() {
        let (a, b, c) = (ClusterId::new(), ClusterId::new(), ClusterId::new());
        let before = Snapshot::from([(a, print(0, None)), (b, print(0, None))]);
        let after = Snapshot::from([
            (a, print(0, None)),
            (b, print(1, Some(HealthStatus::Degraded))),
            (c, print(1, None)),
        ]);
        let mut expected = vec![(Change::Changed, b), (Change::Added, c)];
        expected.sort_by_key(|(_, id)| *id);
        assert_eq!(diff(&before, &after), expected);
        assert_eq!(diff(&after, &before).len(), 2);
        assert!(diff(&after, &before).contains(&(Change::Removed, c)));
        assert!(
            diff(&after, &after).is_empty(),
            "nothing changed, nothing sent"
        );
    }

    #[test]
    fn a_new_error_alone_is_a_change() {
        let a = ClusterId::new();
        let mut failing = print(0, None);
        failing.last_error = Some("connection refused".into());
        let before = Snapshot::from([(a, print(0, None))]);
        let after = Snapshot::from([(a, failing)]);
        assert_eq!(diff(&before, &after), vec![(Change::Changed, a)]);
    }

    #[test]
    fn event_names_are_the_documented_ones() {
        assert_eq!(Change::Added.event_name(), "cluster.added");
        assert_eq!(Change::Changed.event_name(), "cluster.changed");
        assert_eq!(Change::Removed.event_name(), "cluster.removed");
    }
}
