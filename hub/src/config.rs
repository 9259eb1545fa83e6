//! Configuration of `kubeworkz-hub serve`: flags with environment-variable equivalents.
//!
//! Defaults are chosen so that `kubeworkz-hub serve` on a fresh machine runs the whole product
//! on embedded SQLite with nothing else to install.

use std::fmt;
use std::net::SocketAddr;

/// Options of `kubeworkz-hub serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeConfig {
    /// Address of the REST API and web UI.
    #[arg(long, env = "KUBEWORKZ_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Address of the QUIC endpoint agents connect to.
    #[arg(long, env = "KUBEWORKZ_QUIC_LISTEN", default_value = "0.0.0.0:7443")]
    pub quic_listen: SocketAddr,

    /// A DNS name or IP address agents reach the QUIC endpoint at (in the hub's server
    /// certificate); repeat for several. Default: localhost, 127.0.0.1 and the host name.
    #[arg(
        long = "quic-name",
        env = "KUBEWORKZ_QUIC_NAMES",
        value_delimiter = ','
    )]
    pub quic_names: Vec<String>,

    /// Database: `sqlite://PATH` (created on first run) or `postgres://…`.
    #[arg(
        long,
        env = "KUBEWORKZ_DATABASE_URL",
        default_value = "sqlite://kubeworkz.db",
        hide_env_values = true
    )]
    pub database_url: DatabaseUrl,

    /// Database connections for API reads and workers (ingest's writers have their own).
    /// Default: two per CPU the hub may use, since each read is CPU work; raise it when
    /// PostgreSQL runs on a larger machine of its own.
    #[arg(
        long,
        env = "KUBEWORKZ_DATABASE_READ_CONNECTIONS",
        value_parser = clap::value_parser!(u32).range(1..=1024)
    )]
    pub database_read_connections: Option<u32>,

    /// Log as JSON lines (for log shippers) instead of human-readable text.
    #[arg(long, env = "KUBEWORKZ_LOG_JSON", default_value_t = false)]
    pub log_json: bool,

    /// Master key for secrets at rest.
    #[command(flatten)]
    pub keys: crate::keys::KeyConfig,

    /// Days ended inventory rows and usage samples are kept.
    #[arg(long, env = "KUBEWORKZ_RETENTION_DAYS", default_value_t = 90)]
    pub retention_days: u32,

    /// Seconds between cost runs (each computes every hour that became due).
    #[arg(long, env = "KUBEWORKZ_COST_INTERVAL_SECS", default_value_t = 300,
        value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub cost_interval_secs: u64,

    /// Also compute the hour in progress, and the one in its grace period, as far as they
    /// have happened ("cost so far"), replaced on every cost run until computed for good.
    #[arg(long, env = "KUBEWORKZ_COST_CURRENT_HOUR", default_value_t = false)]
    pub cost_current_hour: bool,

    /// A node price catalog file loaded over the shipped one for every organization in the
    /// `node` pricing mode (format in docs/costs.md; `@replace` drops the shipped prices).
    #[arg(long, env = "KUBEWORKZ_PRICE_CATALOG")]
    pub price_catalog: Option<std::path::PathBuf>,

    /// Seconds between reloads of the pull-mode cluster list.
    #[arg(long, env = "KUBEWORKZ_PULL_REFRESH_SECS", default_value_t = 10)]
    pub pull_refresh_secs: u64,

    /// This process's name among hub replicas sharing one database (what leases name as
    /// holder); default: random at each start, e.g. `hub-1a2b3c4d5e6f`.
    #[arg(long, env = "KUBEWORKZ_REPLICA_ID")]
    pub replica_id: Option<String>,

    /// Seconds a replica's leases (workers, pull clusters) and heartbeat last unless
    /// renewed; renewed every third of it. A dead replica's work is taken over within it.
    #[arg(long, env = "KUBEWORKZ_LEASE_TTL_SECS", default_value_t = 15,
        value_parser = clap::value_parser!(u64).range(3..=600))]
    pub lease_ttl_secs: u64,

    /// Seconds a stopping replica gives its agents to move to another one: it asks each to
    /// reconnect elsewhere (spread over half of this), refuses new agents, and closes who is
    /// left when it ends. Keep it below the pod's termination grace period.
    #[arg(long, env = "KUBEWORKZ_AGENT_DRAIN_SECS", default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(0..=600))]
    pub agent_drain_secs: u64,

    /// Where pull-mode registration and collectors may connect.
    #[command(flatten)]
    pub pull_egress: crate::pull::egress::EgressArgs,

    /// Requests per minute one API token may make; 0 turns the limit off (for load tests or a
    /// hub behind a gateway that limits already).
    #[arg(
        long,
        env = "KUBEWORKZ_API_RATE_LIMIT_PER_MINUTE",
        default_value_t = ApiRateLimit::DEFAULT
    )]
    pub api_rate_limit_per_minute: ApiRateLimit,

    /// Seconds a request head may take to arrive (slow clients holding connections open).
    #[arg(long, env = "KUBEWORKZ_HTTP_HEADER_TIMEOUT_SECS", default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub http_header_timeout_secs: u64,

    /// Seconds a request may take until its response starts (the event stream is exempt).
    #[arg(long, env = "KUBEWORKZ_HTTP_REQUEST_TIMEOUT_SECS", default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub http_request_timeout_secs: u64,

    /// Seconds a terminal (pod exec) may pass with no byte either way before the hub closes
    /// it.
    #[arg(long, env = "KUBEWORKZ_TERMINAL_IDLE_TIMEOUT_SECS", default_value_t = 900,
        value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub terminal_idle_timeout_secs: u64,

    /// Seconds a keep-alive connection may stay idle, or a busy one move no byte.
    #[arg(long, env = "KUBEWORKZ_HTTP_IDLE_TIMEOUT_SECS", default_value_t = 120,
        value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub http_idle_timeout_secs: u64,

    /// Open HTTP connections at most.
    #[arg(long, env = "KUBEWORKZ_HTTP_MAX_CONNECTIONS", default_value_t = 10_000,
        value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub http_max_connections: u32,

    /// Proxies (CIDRs or addresses, comma-separated) whose `X-Forwarded-For`, `Forwarded`
    /// and `X-Forwarded-Proto` are believed; from anyone else they are ignored.
    #[arg(long, env = "KUBEWORKZ_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<crate::api::forwarded::ProxyNet>,

    /// A bearer token `/metrics` requires; unset, `/metrics` is open (it holds no
    /// organization's or cluster's identifiers either way).
    #[arg(long, env = "KUBEWORKZ_METRICS_TOKEN", hide_env_values = true,
        value_parser = parse_secret)]
    pub metrics_token: Option<crate::auth::Secret>,

    /// Export the last complete hour's cost per cluster and namespace on `/metrics`
    /// (`kubeworkz_cost_hourly_dollars`). Off by default: the series name clusters and
    /// namespaces, so set `--metrics-token` when others can reach `/metrics`.
    #[arg(long, env = "KUBEWORKZ_METRICS_COSTS")]
    pub metrics_costs: bool,

    /// The URL people and Helm reach this hub at (`https://kubeworkz.example.com`): the
    /// agent install line's chart repository is `<URL>/charts`. Unset, each request's `Host`
    /// is used (with a warning at start); set it in production.
    #[arg(long, env = "KUBEWORKZ_PUBLIC_URL")]
    pub public_url: Option<crate::public_url::PublicUrl>,
}

/// Wraps a secret flag at once, so `Debug` of the configuration never shows it.
fn parse_secret(text: &str) -> Result<crate::auth::Secret, std::convert::Infallible> {
    Ok(crate::auth::Secret::new(text.to_owned()))
}

impl ServeConfig {
    /// The store's pools: `--database-read-connections`, or sized for this machine.
    pub fn pools(&self) -> crate::store::PoolOptions {
        self.database_read_connections.map_or_else(
            crate::store::PoolOptions::for_this_machine,
            |read_connections| crate::store::PoolOptions { read_connections },
        )
    }

    /// The cost worker's configuration: the defaults but for `--cost-interval-secs`,
    /// `--cost-current-hour` and `--price-catalog` (a file that cannot be read stops the hub
    /// at start rather than pricing with the wrong catalog).
    pub fn cost_worker(
        &self,
    ) -> Result<crate::cost::CostWorkerConfig, crate::cost::CatalogFileError> {
        Ok(crate::cost::CostWorkerConfig {
            every: std::time::Duration::from_secs(self.cost_interval_secs),
            current_hour: self.cost_current_hour,
            catalog: crate::cost::PriceCatalog::deployment(self.price_catalog.as_deref())?,
            ..crate::cost::CostWorkerConfig::default()
        })
    }

    /// The HTTP server loop's limits.
    pub fn http_limits(&self) -> crate::http_server::HttpLimits {
        crate::http_server::HttpLimits {
            header_timeout: std::time::Duration::from_secs(self.http_header_timeout_secs),
            idle_timeout: std::time::Duration::from_secs(self.http_idle_timeout_secs),
            max_connections: self.http_max_connections as usize,
        }
    }

    /// The names for the hub's server certificate: `--quic-name`, or the defaults.
    pub fn server_names(&self) -> Vec<String> {
        if !self.quic_names.is_empty() {
            return self.quic_names.clone();
        }
        let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        if let Some(host) = host_name().filter(|host| !names.contains(host)) {
            names.push(host);
        }
        names
    }
}

/// The machine's host name, when it is a usable DNS name (a certificate refuses others).
fn host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())?;
    let name = name.trim().to_ascii_lowercase();
    let valid = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    valid.then_some(name)
}

/// The per-token API request limit: requests per minute, or off. Typed so that a bad value
/// is refused at start with a clear message instead of silently meaning "no limit".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiRateLimit(Option<std::num::NonZeroU32>);

impl ApiRateLimit {
    /// The default: 1,200 requests per minute per token (20/s, ample for scripts and the UI).
    pub const DEFAULT: ApiRateLimit = ApiRateLimit(std::num::NonZeroU32::new(1200));
    /// No limit.
    pub const OFF: ApiRateLimit = ApiRateLimit(None);

    /// Requests per minute, `None` when off.
    pub fn per_minute(self) -> Option<u32> {
        self.0.map(std::num::NonZeroU32::get)
    }
}

/// A rate limit that is not a whole number of requests per minute.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid API rate limit {0:?}: expected requests per minute as a whole number (0 = off)")]
pub struct InvalidRateLimit(String);

impl std::str::FromStr for ApiRateLimit {
    type Err = InvalidRateLimit;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let per_minute: u32 = s
            .trim()
            .parse()
            .map_err(|_| InvalidRateLimit(s.to_owned()))?;
        Ok(ApiRateLimit(std::num::NonZeroU32::new(per_minute)))
    }
}

impl fmt::Display for ApiRateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.per_minute().unwrap_or(0))
    }
}

/// A database URL. It may carry a password, so `Display` and `Debug` show it redacted; only
/// [`DatabaseUrl::expose`] hands out the real text, to the code that connects.
#[derive(Clone)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The URL with credentials, for connecting only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The scheme (`sqlite`, `postgres`, …), safe to show.
    pub fn scheme(&self) -> &str {
        self.0.split_once(':').map_or("", |(scheme, _)| scheme)
    }

    /// The URL with any `user:password@` part removed, safe to log.
    pub fn redacted(&self) -> String {
        match self.0.split_once("://") {
            Some((scheme, rest)) => {
                let rest = match rest.split_once('@') {
                    // An '@' before the first '/' belongs to the authority (credentials).
                    Some((creds, host)) if !creds.contains('/') => format!("***@{host}"),
                    _ => rest.to_owned(),
                };
                format!("{scheme}://{rest}")
            }
            None => self.0.clone(),
        }
    }
}

/// Parsing never fails: a bad scheme is refused by `store::connect`, because clap would echo
/// the whole rejected value — password included — in its error message.
impl std::str::FromStr for DatabaseUrl {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(DatabaseUrl(s.to_owned()))
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_rate_limits_parse_with_zero_as_off() {
        assert_eq!(
            "1200".parse::<ApiRateLimit>().unwrap(),
            ApiRateLimit::DEFAULT
        );
        assert_eq!("0".parse::<ApiRateLimit>().unwrap(), ApiRateLimit::OFF);
        assert_eq!(
            " 60 ".parse::<ApiRateLimit>().unwrap().per_minute(),
            Some(60)
        );
        let err = "-1".parse::<ApiRateLimit>().unwrap_err();
        assert!(err.to_string().contains("\"-1\""), "{err}");
        assert!("lots".parse::<ApiRateLimit>().is_err());
        assert_eq!(ApiRateLimit::DEFAULT.to_string(), "1200");
        assert_eq!(ApiRateLimit::OFF.to_string(), "0");
    }

    #[test]
    fn passwords_never_show() {
        let url: DatabaseUrl = "postgres://kw:s3cret@db:5432/kubeworkz".parse().unwrap();
        assert_eq!(url.redacted(), "postgres://***@db:5432/kubeworkz");
        assert!(!format!("{url} {url:?}").contains("s3cret"));
        assert_eq!(url.expose(), "postgres://kw:s3cret@db:5432/kubeworkz");
    }

    #[test]
    fn sqlite_paths_are_kept() {
        let url: DatabaseUrl = "sqlite://kubeworkz.db".parse().unwrap();
        assert_eq!(url.to_string(), "sqlite://kubeworkz.db");
        assert_eq!(url.scheme(), "sqlite");
    }

    #[test]
    fn the_scheme_is_readable_without_credentials() {
        let url: DatabaseUrl = "mysql://root:pw@x/db".parse().unwrap();
        assert_eq!(url.scheme(), "mysql");
        assert_eq!(url.to_string(), "mysql://***@x/db");
    }
}
