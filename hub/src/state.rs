//! State shared by every request handler.

use std::sync::Arc;
use std::time::Duration;

use crate::api::event_feeds::EventFeeds;
use crate::api::forwarded::TrustedProxies;
use crate::api::metrics::ApiMetrics;
use crate::auth::Secret;
use crate::auth::ratelimit::RateLimits;
use crate::auth::token_cache::TokenCache;
use crate::pull::supervisor::PullHandle;
use crate::seal::Keyring;
use crate::shutdown::Shutdown;
use crate::store::Store;
use crate::workers::Workers;

/// Settings of the API that tests and operators may change.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Lifetime of a login session.
    pub session_ttl: Duration,
    /// How registration tests a kubeconfig: its timeout, and where the hub may connect.
    pub probe: crate::pull::ProbeSettings,
    /// The `HOST:PORT` agents reach the hub's QUIC endpoint at (for the install command).
    pub public_address: String,
    /// Where Helm reaches the hub's chart repository (`--public-url`); `None`: the request's
    /// `Host`.
    pub public_url: Option<crate::public_url::PublicUrl>,
    /// Proxies whose forwarding headers are believed (`--trusted-proxies`).
    pub trusted_proxies: TrustedProxies,
    /// Longest a request may take until its response starts (`--http-request-timeout-secs`).
    pub request_timeout: Duration,
    /// Longest a terminal may pass with no byte either way
    /// (`--terminal-idle-timeout-secs`).
    pub terminal_idle_timeout: Duration,
    /// The bearer token `/metrics` requires, when set (`--metrics-token`).
    pub metrics_token: Option<Secret>,
    /// This process's id among the hub replicas (`--replica-id`), shown by `/readyz`.
    pub replica_id: String,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(12 * 3600),
            probe: crate::pull::ProbeSettings::new(crate::pull::EgressPolicy::default()),
            public_address: "localhost:7443".into(),
            public_url: None,
            trusted_proxies: TrustedProxies::default(),
            request_timeout: Duration::from_secs(60),
            terminal_idle_timeout: Duration::from_secs(900),
            metrics_token: None,
            replica_id: String::new(),
        }
    }
}

/// What handlers need: cheap to clone (one `Arc` per field).
#[derive(Clone, Debug)]
pub struct AppState {
    /// The database, behind the backend-neutral trait.
    pub store: Store,
    /// Status of every background worker.
    pub workers: Workers,
    /// "Sync now" for pull-mode clusters.
    pub pull: PullHandle,
    /// Seals kubeconfigs registered through the API; loads the CA for enrollment tokens.
    pub keyring: Keyring,
    /// Login and per-token rate limits.
    pub limits: Arc<RateLimits>,
    /// API tokens verified in the last few seconds.
    pub tokens: Arc<TokenCache>,
    /// Request counters for the hub's `/metrics`.
    pub metrics: Arc<ApiMetrics>,
    /// The last complete hour's cost per cluster and namespace for `/metrics`, refreshed by
    /// the cost run when `--metrics-costs` is set (empty otherwise).
    pub cost_gauges: Arc<crate::cost::CostGauges>,
    /// Settings.
    pub settings: Arc<ApiSettings>,
    /// The hub's shutdown signal: long-lived responses (the event stream) end on it, or the
    /// graceful drain would wait for them forever.
    pub shutdown: Shutdown,
    /// One cluster poller per organization with open event streams, and the streams' caps.
    pub events: Arc<EventFeeds>,
    /// Single sign-on: the identity providers' discovered metadata and keys.
    pub oidc: Arc<crate::oidc::Oidc>,
    /// The agents' live connections, on which operations (logs) run; `None` where no agent
    /// endpoint runs (tests of the API alone).
    pub agents: Option<crate::transport::HubTransport>,
    /// The open terminals, counted per user and organization.
    pub terminals: Arc<crate::api::TerminalSessions>,
}

impl AppState {
    /// State with default limits and settings.
    pub fn new(store: Store, workers: Workers, pull: PullHandle, keyring: Keyring) -> Self {
        Self {
            store,
            workers,
            pull,
            keyring,
            limits: Arc::new(RateLimits::default()),
            tokens: Arc::new(TokenCache::default()),
            metrics: Arc::new(ApiMetrics::default()),
            cost_gauges: Arc::default(),
            settings: Arc::new(ApiSettings::default()),
            shutdown: Shutdown::new(),
            events: Arc::new(EventFeeds::default()),
            oidc: Arc::new(crate::oidc::Oidc::new()),
            agents: None,
            terminals: Arc::default(),
        }
    }
}
