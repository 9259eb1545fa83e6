//! `kubeworkz-hub serve`: open the store, start the workers, serve the API, stop cleanly on
//! the shutdown signal.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::alerts::{SenderConfig, WebhookSender};
use crate::api::forwarded::TrustedProxies;
use crate::config::ServeConfig;
use crate::cost::CostWorker;
use crate::http_server::serve_http;
use crate::keys::KeySource;
use crate::pull::{PullConfig, PullSupervisor};
use crate::replica::{Heartbeat, Replica, SingleHolder};
use crate::shutdown::Shutdown;
use crate::state::{ApiSettings, AppState};
use crate::transport::{HubTransport, StoreAuthority, TransportSettings, load_or_create_ca};
use crate::workers::{self, StoreMaintenance, Workers};
use crate::{api, auth, store};

/// Lifetime of the hub's QUIC server certificate. A new one is issued at every start, and
/// agents trust the CA, so this only needs to outlast an uptime.
const SERVER_CERT_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);

/// The lease of the cost worker: one replica computes costs at a time.
pub const COST_LEASE: &str = "worker:cost";

/// The lease of store maintenance: one replica purges and partitions at a time.
pub const MAINTENANCE_LEASE: &str = "worker:maintenance";

/// The lease of the webhook sender: one replica sends the delivery queue.
pub const WEBHOOK_LEASE: &str = "worker:webhooks";

/// Runs the hub until `shutdown` fires, then drains in-flight requests, stops the workers
/// (pull collectors hand over their open usage hour) and closes the store.
///
/// Separate from `main` so that tests run the real server in-process.
pub async fn serve(config: ServeConfig, shutdown: Shutdown) -> anyhow::Result<()> {
    let store = store::connect_with(&config.database_url, config.pools())
        .await
        .with_context(|| format!("opening the database {}", config.database_url))?;
    let replica = Replica::new(
        store.clone(),
        &config.replica_id.clone().unwrap_or_else(Replica::random_id),
        Duration::from_secs(config.lease_ttl_secs),
    );
    tracing::info!(
        replica = replica.id(),
        lease_ttl_secs = config.lease_ttl_secs,
        "hub replica"
    );
    store
        .replica_heartbeat(replica.id())
        .await
        .context("joining the hub replicas")?;
    let (keyring, source) = config
        .keys
        .load(&config.database_url)
        .context("loading the master key")?;
    match &source {
        KeySource::Created(path) => tracing::warn!(
            path = %path.display(),
            "created a new master key file; production should supply its own key \
             (KUBEWORKZ_MASTER_KEY or --master-key-file) and back it up"
        ),
        KeySource::File(path) => tracing::info!(path = %path.display(), "master key file loaded"),
        KeySource::Environment => tracing::info!("master key loaded from the environment"),
    }
    // The CA is created once per database; `token create` pins it in every token.
    let ca = Arc::new(
        load_or_create_ca(&store, &keyring)
            .await
            .context("loading the hub CA")?,
    );
    let identity = ca
        .issue_server_identity(&config.server_names(), SERVER_CERT_VALIDITY)
        .context("issuing the hub's QUIC server certificate")?;
    let transport = HubTransport::bind(
        TransportSettings {
            drain_timeout: Duration::from_secs(config.agent_drain_secs),
            ..TransportSettings::new(config.quic_listen)
        },
        ca.clone(),
        identity,
        Arc::new(StoreAuthority::new(store.clone()).with_replica(replica.clone())),
    )
    .with_context(|| format!("binding the agent endpoint on {}", config.quic_listen))?;
    let quic_local = transport
        .local_addr()
        .context("reading the agent endpoint address")?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding the API listener on {}", config.listen))?;
    let local = listener
        .local_addr()
        .context("reading the API listener address")?;

    let workers = Workers::new();
    let heartbeat = workers::spawn(Heartbeat(replica.clone()), &workers, shutdown.clone());
    let retention = Duration::from_secs(u64::from(config.retention_days) * 86_400);
    // Partitions must exist before pods arrive: one maintenance round runs before anything else.
    store
        .maintain(chrono::Utc::now(), retention)
        .await
        .context("preparing the store (partitions, retention)")?;
    let maintenance = workers::spawn(
        SingleHolder::new(
            StoreMaintenance {
                store: store.clone(),
                retention,
                every: Duration::from_secs(3600),
            },
            replica.clone(),
            MAINTENANCE_LEASE,
        ),
        &workers,
        shutdown.clone(),
    );
    // Hourly cost allocation, backfilling what was missed while the hub was down.
    let cost_config = config
        .cost_worker()
        .context("loading the price catalog (--price-catalog)")?;
    let cost_gauges = Arc::new(crate::cost::CostGauges::default());
    let mut cost_worker = CostWorker::new(store.clone(), cost_config, Some(workers.clone()));
    if config.metrics_costs {
        cost_worker = cost_worker.with_gauges(cost_gauges.clone());
    }
    let costs = workers::spawn(
        SingleHolder::new(cost_worker, replica.clone(), COST_LEASE),
        &workers,
        shutdown.clone(),
    );
    // Webhook deliveries of cost alerts (the cost worker evaluates them after each run),
    // under the pull-mode egress policy.
    let egress = config.pull_egress.policy();
    let sender = SenderConfig {
        egress: Arc::new(egress.clone()),
        ..SenderConfig::default()
    };
    let webhooks = workers::spawn(
        SingleHolder::new(
            WebhookSender::new(store.clone(), keyring.clone(), sender),
            replica.clone(),
            WEBHOOK_LEASE,
        ),
        &workers,
        shutdown.clone(),
    );
    let supervisor = PullSupervisor::new(
        store.clone(),
        keyring.clone(),
        PullConfig {
            refresh: Duration::from_secs(config.pull_refresh_secs.max(1)),
            egress: Arc::new(egress.clone()),
            ..PullConfig::default()
        },
        workers.clone(),
    )
    .with_replica(replica.clone());
    let pull = supervisor.handle();
    let supervisor = workers::spawn(supervisor, &workers, shutdown.clone());
    let agents = {
        let (transport, shutdown) = (transport.clone(), shutdown.clone());
        tokio::spawn(async move { transport.serve(shutdown).await })
    };
    tracing::info!(quic_listen = %quic_local, ca_pin = %ca.ca_pin(), "agent endpoint listening");

    tracing::info!(
        listen = %local,
        database = %config.database_url,
        version = kubeworkz_shared::VERSION,
        "kubeworkz hub listening"
    );
    let mut state = AppState::new(store.clone(), workers, pull, keyring);
    state.shutdown = shutdown.clone();
    state.cost_gauges = cost_gauges;
    state.agents = Some(transport.clone());
    state.limits = Arc::new(auth::ratelimit::RateLimits::with_api_limit(
        config.api_rate_limit_per_minute,
    ));
    let defaults = ApiSettings::default();
    state.settings = Arc::new(ApiSettings {
        public_address: std::env::var("KUBEWORKZ_PUBLIC_ADDRESS")
            .unwrap_or(defaults.public_address),
        public_url: config.public_url.clone(),
        probe: crate::pull::ProbeSettings::new(egress),
        trusted_proxies: TrustedProxies::new(config.trusted_proxies.iter().copied()),
        request_timeout: Duration::from_secs(config.http_request_timeout_secs),
        terminal_idle_timeout: Duration::from_secs(config.terminal_idle_timeout_secs),
        metrics_token: config
            .metrics_token
            .clone()
            .filter(|token| !token.expose().is_empty()),
        replica_id: replica.id().to_owned(),
        ..defaults
    });
    if config.public_url.is_none() {
        tracing::warn!(
            "--public-url (KUBEWORKZ_PUBLIC_URL) is not set: agent install lines name the chart repository at the address each request came to; set it (https) in production"
        );
    }
    bootstrap_admin(&store).await?;
    let served = serve_http(
        listener,
        api::router(state),
        config.http_limits(),
        shutdown.clone(),
    )
    .await
    .context("serving the API");
    shutdown.trigger();
    let _ = agents.await;
    let _ = supervisor.await;
    let _ = maintenance.await;
    let _ = costs.await;
    let _ = webhooks.await;
    let _ = heartbeat.await;
    store.close().await;
    served?;
    tracing::info!("hub stopped cleanly");
    Ok(())
}

/// First start with no users: creates the admin of `default` from
/// `KUBEWORKZ_ADMIN_EMAIL` / `KUBEWORKZ_ADMIN_PASSWORD`, or `admin@localhost` with a
/// generated password printed once to standard output (never logged).
async fn bootstrap_admin(store: &store::Store) -> anyhow::Result<()> {
    let email = std::env::var("KUBEWORKZ_ADMIN_EMAIL").ok();
    let password = std::env::var("KUBEWORKZ_ADMIN_PASSWORD")
        .ok()
        .map(auth::Secret::new);
    match auth::bootstrap_admin(store, email.as_deref(), password.as_ref())
        .await
        .context("creating the first admin")?
    {
        auth::Bootstrap::Existing => {}
        auth::Bootstrap::Created { email } => {
            tracing::info!(%email, "created the first admin in organization default");
        }
        auth::Bootstrap::Generated { email, password } => {
            tracing::warn!(%email, "created the first admin with a generated password (printed once on standard output)");
            println!(
                "first start: created admin {email} in organization default with password {}\n\
                 it is shown only now; change it with `kubeworkz-hub user reset-password --email {email}`",
                password.expose()
            );
        }
    }
    Ok(())
}

/// Opens the store for a one-off CLI command.
pub async fn open_store(database_url: &crate::config::DatabaseUrl) -> anyhow::Result<store::Store> {
    store::connect(database_url)
        .await
        .with_context(|| format!("opening the database {database_url}"))
}
