//! Setup the store benches share: a fresh store on either backend (the tests' harness,
//! `tests/support`) and agent-mode clusters.
#![allow(dead_code)] // each bench binary uses a part of it

use std::time::Duration;

use kubeworkz_hub::store::{self, ClusterMode, Environment, NewCluster, Store};
use kubeworkz_shared::ids::{ClusterId, OrgId};

use crate::support::harness::{Backend, TestStore};

/// The hub binary's allocator (see `hub/src/main.rs`), so in-process benches measure what
/// the hub runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `name` from the environment as a number, else `default`.
pub fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `/proc/self/status` field `name` (e.g. `"VmRSS:"`, reported in kB) in MiB; 0 where the
/// file is missing, so the benches still run off Linux.
pub fn status_mib(name: &str) -> f64 {
    process_status_mib("self", name)
}

/// [`status_mib`] of another process: `pid` is its id (or `"self"`), e.g. a hub or agent the
/// bench started.
pub fn process_status_mib(pid: impl std::fmt::Display, name: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// CPU time this process has used (user and system, all threads: SQLite's included, a
/// PostgreSQL server's not), from `/proc/self/stat`; zero off Linux. On a shared machine the
/// wall time of a pass depends on what else runs; its CPU time much less.
pub fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which may hold spaces, in parentheses): utime and
    // stime are the 12th and 13th of them, in clock ticks of 1/100 s on Linux.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: u64 = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|t| t.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

/// Prints the median, fastest and slowest of `times` (sorted in place) after `label`.
pub fn summary(label: &str, times: &mut [Duration]) {
    times.sort();
    println!(
        "{label:<37} median {:>8.3}s  fastest {:>8.3}s  slowest {:>8.3}s",
        times[times.len() / 2].as_secs_f64(),
        times[0].as_secs_f64(),
        times[times.len() - 1].as_secs_f64()
    );
}

/// The `p` quantile (0..=1, nearest rank) of `sorted` latencies.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Serves the hub's router over `state` on a loopback port, through the connection loop
/// `serve` runs (so its limits are part of what is measured); returns the base URL.
pub async fn serve(state: kubeworkz_hub::state::AppState) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(kubeworkz_hub::http_server::serve_http(
        listener,
        kubeworkz_hub::api::router(state),
        kubeworkz_hub::http_server::HttpLimits::default(),
        kubeworkz_hub::shutdown::Shutdown::new(),
    ));
    base
}

/// Logs in as `email` and creates a viewer's bearer API token over HTTP, as an operator would.
pub async fn api_token(
    client: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> String {
    let login = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200, "login");
    let cookies: Vec<String> = login
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect();
    let csrf = cookies
        .iter()
        .find_map(|c| c.strip_prefix("csrf_token="))
        .expect("csrf cookie")
        .to_owned();
    let created: serde_json::Value = client
        .post(format!("{base}/api/v1/auth/tokens"))
        .header(reqwest::header::COOKIE, cookies.join("; "))
        .header("X-CSRF-Token", csrf)
        .json(&serde_json::json!({"name": "bench", "role": "viewer"}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    created["token"].as_str().expect("token").to_owned()
}

/// A fresh, migrated store and what keeps it alive (the PostgreSQL database or the SQLite
/// directory, both removed on drop).
pub struct BenchStore {
    pub store: Store,
    pub url: String,
    pub org: OrgId,
    _database: TestStore,
}

/// A fresh store of `backend` (`sqlite` or `postgres`, the latter from `DATABASE_URL`),
/// maintained once (partitions) and with its default organization.
pub async fn fresh_store(backend: &str) -> BenchStore {
    let backend = if backend == "sqlite" {
        Backend::Sqlite
    } else {
        Backend::Postgres
    };
    // `KW_READ_CONNECTIONS` sizes the read pool, as `--database-read-connections` does;
    // the hub's default otherwise.
    let mut pools = store::PoolOptions::default();
    if let Some(n) = std::env::var("KW_READ_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        pools.read_connections = n;
    }
    let database = TestStore::open_with(backend, pools).await;
    let store = database.store.clone();
    store
        .maintain(chrono::Utc::now(), Duration::from_secs(86_400 * 90))
        .await
        .unwrap();
    let org = store
        .organization_by_name("default")
        .await
        .unwrap()
        .unwrap()
        .id;
    BenchStore {
        store,
        url: database.url.expose().to_owned(),
        org,
        _database: database,
    }
}

/// Runs `sql` (statements separated by `;`) on the store's database behind its back.
pub async fn execute(url: &str, sql: &'static str) {
    use sqlx::Connection as _;
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
    }
}

/// Registers `n` agent-mode clusters `cluster-0000`… in `org`.
pub async fn agent_clusters(store: &Store, org: OrgId, n: usize) -> Vec<ClusterId> {
    let mut ids = Vec::with_capacity(n);
    for c in 0..n {
        let id = ClusterId::new();
        store
            .create_cluster(&NewCluster {
                id,
                org_id: org,
                name: format!("cluster-{c:04}"),
                description: format!("bench cluster {c}"),
                environment: Environment::Production,
                tags: vec!["bench".into()],
                mode: ClusterMode::Agent,
                api_server_url: None,
                provider: None,
                version: None,
                kubeconfig: None,
                created_by: None,
            })
            .await
            .unwrap();
        ids.push(id);
    }
    ids
}

/// Median wall time in ms of 21 runs of `sql` (parsed and planned each time), fetched whole:
/// what one statement of a plan printout costs on its own.
pub async fn median_ms<C>(conn: &mut C, sql: &str) -> f64
where
    for<'c> &'c mut C: sqlx::Executor<'c>,
{
    let mut times = Vec::new();
    for _ in 0..21 {
        let started = std::time::Instant::now();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_all(&mut *conn)
            .await
            .unwrap();
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    times[10]
}
