//! One cluster poller per organization, feeding all of that organization's event streams.
//!
//! A poller reads its organization's clusters once per [`POLL_INTERVAL`](super::events::POLL_INTERVAL)
//! and broadcasts the diff; it starts with the organization's first stream and stops when
//! the last one ends, so the store's load grows with organizations watching, not with open
//! tabs. Streams are capped per credential (a session or an API token) and per
//! organization, since each holds a connection and a little memory for up to five minutes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use kubeworkz_shared::ids::{ClusterId, OrgId};
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use super::events::{Change, POLL_INTERVAL, diff, snapshot};
use super::extract::Credential;
use crate::shutdown::Shutdown;
use crate::store::Store;

/// What one poll found changed, shared by every stream of the organization.
pub type Changes = Arc<[(Change, ClusterId)]>;

/// Open streams allowed at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// Per session or API token.
    pub per_credential: usize,
    /// Per organization.
    pub per_org: usize,
}

impl StreamLimits {
    /// 10 per credential is more tabs than anyone reads at once (the UI opens one per
    /// tab); 200 per organization lets that many people watch while bounding what one
    /// organization can hold of the hub's connections.
    pub const DEFAULT: StreamLimits = StreamLimits {
        per_credential: 10,
        per_org: 200,
    };
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Why a stream was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamRefused {
    /// The caller's session or token has its share open.
    #[error("too many open event streams for this session or token (at most {0}); close one")]
    PerCredential(usize),
    /// The organization has its share open.
    #[error("too many open event streams in this organization (at most {0})")]
    PerOrg(usize),
}

/// How many polls' changes a slow stream may fall behind before it is ended (it
/// reconnects).
const BACKLOG: usize = 64;

#[derive(Debug)]
struct Feed {
    sender: broadcast::Sender<Changes>,
    /// True once the poller has read its baseline.
    ready: watch::Receiver<bool>,
    streams: usize,
    stop: CancellationToken,
}

#[derive(Debug, Default)]
struct Open {
    feeds: HashMap<OrgId, Feed>,
    per_credential: HashMap<Credential, usize>,
}

/// The organizations' feeds; see the module docs.
#[derive(Debug, Default)]
pub struct EventFeeds {
    limits: StreamLimits,
    open: Mutex<Open>,
    pollers: Arc<AtomicUsize>,
}

impl EventFeeds {
    /// Feeds with these caps.
    pub fn new(limits: StreamLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// Pollers running now (`kubeworkz_event_pollers`).
    pub fn pollers(&self) -> usize {
        self.pollers.load(Ordering::Relaxed)
    }

    /// Streams open now (`kubeworkz_event_streams`).
    pub fn streams(&self) -> usize {
        let open = self.open.lock().expect("event feeds lock");
        open.feeds.values().map(|feed| feed.streams).sum()
    }

    /// Joins `org`'s feed for a stream of `credential`, starting its poller if none runs.
    pub fn subscribe(
        self: &Arc<Self>,
        store: &Store,
        shutdown: &Shutdown,
        org: OrgId,
        credential: &Credential,
    ) -> Result<Subscription, StreamRefused> {
        let mut open = self.open.lock().expect("event feeds lock");
        if open.per_credential.get(credential).copied().unwrap_or(0) >= self.limits.per_credential {
            return Err(StreamRefused::PerCredential(self.limits.per_credential));
        }
        if open.feeds.get(&org).map_or(0, |feed| feed.streams) >= self.limits.per_org {
            return Err(StreamRefused::PerOrg(self.limits.per_org));
        }
        *open.per_credential.entry(credential.clone()).or_insert(0) += 1;
        let feed = open.feeds.entry(org).or_insert_with(|| {
            let (sender, _) = broadcast::channel(BACKLOG);
            let (baseline_read, ready) = watch::channel(false);
            let stop = CancellationToken::new();
            tokio::spawn(poll(
                Poller {
                    store: store.clone(),
                    org,
                    sender: sender.clone(),
                    baseline_read,
                    stop: stop.clone(),
                    shutdown: shutdown.clone(),
                },
                PollerCount::start(self.pollers.clone()),
            ));
            Feed {
                sender,
                ready,
                streams: 0,
                stop,
            }
        });
        feed.streams += 1;
        Ok(Subscription {
            receiver: feed.sender.subscribe(),
            ready: feed.ready.clone(),
            feeds: self.clone(),
            org,
            credential: credential.clone(),
        })
    }

    fn leave(&self, org: OrgId, credential: &Credential) {
        let mut open = self.open.lock().expect("event feeds lock");
        if let Some(count) = open.per_credential.get_mut(credential) {
            *count -= 1;
            if *count == 0 {
                open.per_credential.remove(credential);
            }
        }
        if let Some(feed) = open.feeds.get_mut(&org) {
            feed.streams -= 1;
            if feed.streams == 0 {
                feed.stop.cancel();
                open.feeds.remove(&org);
            }
        }
    }
}

/// One stream's membership of its organization's feed; leaving happens on drop.
#[derive(Debug)]
pub struct Subscription {
    /// The feed's changes from the next poll on.
    pub receiver: broadcast::Receiver<Changes>,
    ready: watch::Receiver<bool>,
    feeds: Arc<EventFeeds>,
    org: OrgId,
    credential: Credential,
}

impl Subscription {
    /// Waits until the feed's poller has read its baseline, so that every change made
    /// after this returns is told to the stream.
    pub async fn ready(&mut self) {
        // A poller that ended before (shutdown) has nothing more to tell: do not wait.
        let _ = self.ready.wait_for(|read| *read).await;
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.feeds.leave(self.org, &self.credential);
    }
}

/// Counts a running poller for as long as its task lives.
#[derive(Debug)]
struct PollerCount(Arc<AtomicUsize>);

impl PollerCount {
    fn start(count: Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for PollerCount {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a poller needs.
struct Poller {
    store: Store,
    org: OrgId,
    sender: broadcast::Sender<Changes>,
    baseline_read: watch::Sender<bool>,
    stop: CancellationToken,
    shutdown: Shutdown,
}

/// The organization's poller: the first read is the baseline, each later one is diffed
/// against the one before and broadcast when anything changed.
async fn poll(poller: Poller, _running: PollerCount) {
    let Poller {
        store,
        org,
        sender,
        baseline_read,
        stop,
        shutdown,
    } = poller;
    let mut before = None;
    loop {
        match store.list_clusters(org).await {
            Ok(clusters) => {
                let after = snapshot(&clusters);
                if let Some(before) = &before {
                    let changes = diff(before, &after);
                    if !changes.is_empty() {
                        // No receiver left is fine: the poller is being stopped.
                        let _ = sender.send(changes.into());
                    }
                }
                before = Some(after);
            }
            // A passing database hiccup: keep the baseline, try again next interval.
            Err(e) => {
                tracing::warn!(org_id = %org, error = %e, "event poller: reading clusters failed");
            }
        }
        baseline_read.send_replace(true);
        tokio::select! {
            () = tokio::time::sleep(POLL_INTERVAL) => {}
            () = stop.cancelled() => return,
            () = shutdown.wait() => return,
        }
    }
}
