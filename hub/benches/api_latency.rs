//! REST API latency under load, per backend: `cargo bench -p kubeworkz-hub --bench api_latency`.
//!
//! Fills a store through the ingest path (one snapshot per cluster, then one maintenance round
//! as `serve` runs hourly, then on PostgreSQL a `VACUUM (ANALYZE)`) with `KW_CLUSTERS` (100)
//! clusters × `KW_NAMESPACES` (100) namespaces × `KW_DEPLOYMENTS` (2) deployments per namespace
//! and `KW_PODS` (1,000) pods per cluster spread over them; serves the hub's router on loopback
//! without a per-token limit (`KUBEWORKZ_API_RATE_LIMIT_PER_MINUTE`, default 0 here); logs in
//! as the admin and creates a bearer API token over HTTP; then drives each endpoint from
//! `KW_CONCURRENCY` (50) keep-alive connections for `KW_SECONDS` (10) after `KW_WARMUP_SECONDS`
//! (2), each request for a random cluster, namespace or deployment (all endpoints `KW_REPEAT`
//! times over, 1 by default, for medians of one load). Prints p50/p90/p99/max and
//! requests/s per endpoint and backend, then the plans of the hot queries (`KW_EXPLAIN=0` to
//! skip). `KW_BACKENDS=sqlite,postgres`; PostgreSQL: `DATABASE_URL`, or a throwaway server.
//!
//! The load generator shares the machine (and the runtime) with the hub; latencies include
//! its HTTP client. `KW_CLIENT=wrk` drives the same random requests from `wrk` (one thread,
//! its own process, Debian package `wrk`) instead.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use kubeworkz_hub::auth::{self, Secret};
use kubeworkz_hub::config::ApiRateLimit;
use kubeworkz_hub::pull::supervisor::PullHandle;
use kubeworkz_hub::seal::{Keyring, MasterKey};
use kubeworkz_hub::state::AppState;
use kubeworkz_hub::store::{Cursor, Store};
use kubeworkz_hub::workers::Workers;
use kubeworkz_shared::change::{Change, ChangeBatch, Object, ObjectKind};
use kubeworkz_shared::ids::ClusterId;
use kubeworkz_shared::model::deployment::{
    DeploymentProjection, DeploymentReplicas, DeploymentStrategy,
};
use kubeworkz_shared::model::namespace::{NamespacePhase, NamespaceProjection};
use kubeworkz_shared::model::pod::{ContainerKind, ContainerProjection, PodPhase, QosClass};
use kubeworkz_shared::model::{OwnerKind, PodOwner, PodProjection, ResourceAmounts};
use kubeworkz_shared::time::UnixMillis;
use rand::Rng;
use sqlx::Connection as _;
use uuid::Uuid;

const ADMIN_EMAIL: &str = "bench@example.com";
const ADMIN_PASSWORD: &str = "bench-admin-password";

/// The shape of the data: sizes per cluster.
#[derive(Clone, Copy)]
struct Shape {
    clusters: usize,
    namespaces: usize,
    deployments: usize,
    pods: usize,
}

/// Deterministic uids: cluster `c`, namespace `n`, deployment `d` (kind in the top bits).
fn uid(kind: u128, c: usize, n: usize, d: usize) -> String {
    Uuid::from_u128((kind << 96) | ((c as u128) << 48) | ((n as u128) << 24) | d as u128)
        .to_string()
}

fn namespace_name(n: usize) -> String {
    format!("team-{n:03}")
}

fn deployment_name(d: usize) -> String {
    format!("app-{d}")
}

fn snapshot(shape: Shape, c: usize) -> ChangeBatch {
    let created = Some(UnixMillis(UnixMillis::now().0 - 3_600_000));
    let kinds = vec![
        ObjectKind::Namespace,
        ObjectKind::Deployment,
        ObjectKind::Pod,
    ];
    let mut changes = vec![Change::SnapshotBegin {
        kinds: kinds.clone(),
    }];
    for n in 0..shape.namespaces {
        changes.push(Change::Upsert(Object::Namespace(NamespaceProjection {
            name: namespace_name(n),
            uid: uid(1, c, n, 0),
            labels: [("team".to_owned(), format!("team-{}", n % 7))].into(),
            phase: NamespacePhase::Active,
            created,
        })));
        for d in 0..shape.deployments {
            let replicas = (shape.pods / shape.namespaces / shape.deployments) as u32;
            changes.push(Change::Upsert(Object::Deployment(DeploymentProjection {
                name: deployment_name(d),
                namespace: namespace_name(n),
                uid: uid(2, c, n, d),
                replicas: DeploymentReplicas {
                    desired: replicas,
                    updated: replicas,
                    ready: replicas,
                    available: replicas,
                    unavailable: 0,
                },
                conditions: vec![],
                strategy: DeploymentStrategy::RollingUpdate {
                    max_surge: None,
                    max_unavailable: None,
                },
                images: vec![format!("registry.example.com/app-{d}:1.0")],
                labels: [("app".to_owned(), deployment_name(d))].into(),
                generation: 1,
                observed_generation: Some(1),
                created,
            })));
        }
    }
    for p in 0..shape.pods {
        let (n, d) = (
            p % shape.namespaces,
            (p / shape.namespaces) % shape.deployments,
        );
        let requests = ResourceAmounts {
            cpu_millis: Some(100 + (p % 8) as u64 * 50),
            memory_bytes: Some(128 << 20),
            ephemeral_storage_bytes: None,
            gpus: None,
        };
        let container = |name: &str| ContainerProjection {
            name: name.into(),
            kind: ContainerKind::App,
            requests,
            limits: requests,
            restarts: 0,
            ready: true,
            image: String::new(),
            state: None,
            last_termination_reason: None,
        };
        changes.push(Change::Upsert(Object::Pod(PodProjection {
            name: format!("{}-{p:05}", deployment_name(d)),
            namespace: namespace_name(n),
            uid: uid(3, c, p, 0),
            node: Some(format!("node-{}", p % 10)),
            phase: PodPhase::Running,
            owner: Some(PodOwner {
                kind: OwnerKind::Deployment,
                name: deployment_name(d),
            }),
            containers: vec![container("app"), container("sidecar")],
            overhead: ResourceAmounts::default(),
            ready: true,
            start_time: created,
            qos_class: QosClass::Guaranteed,
            pvc_claims: vec![],
            created,
            deleted: None,
            labels: Default::default(),
            reason: None,
        })));
    }
    changes.push(Change::SnapshotEnd { kinds });
    ChangeBatch {
        produced_at: UnixMillis::now(),
        changes,
    }
}

struct Loaded {
    bench: common::BenchStore,
    clusters: Vec<ClusterId>,
}

/// A fresh store of `backend` filled through the ingest path.
async fn load(backend: &str, shape: Shape) -> Loaded {
    let bench = common::fresh_store(backend).await;
    let (store, org) = (bench.store.clone(), bench.org);
    let started = Instant::now();
    let clusters = common::agent_clusters(&store, org, shape.clusters).await;
    stream::iter(clusters.iter().enumerate())
        .for_each_concurrent(4, |(c, id)| {
            let store = store.clone();
            async move {
                let batch = snapshot(shape, c);
                store
                    .ingest_changes(org, *id, Cursor { epoch: 1, seq: 1 }, &batch)
                    .await
                    .expect("ingest");
            }
        })
        .await;
    // One maintenance round, as `serve` runs hourly: on SQLite it gathers planner statistics.
    store
        .maintain(chrono::Utc::now(), Duration::from_secs(86_400 * 90))
        .await
        .unwrap();
    // PostgreSQL: vacuum and analyze what the load wrote, as autovacuum does within a minute
    // or two. Left to autovacuum, its first pass over the 100k new pod rows ran inside a
    // measured endpoint's window (seen in `pg_stat_activity`) and set that endpoint's p99.
    if backend == "postgres" {
        let mut conn = sqlx::PgConnection::connect(&bench.url).await.unwrap();
        sqlx::raw_sql("VACUUM (ANALYZE)")
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let live = store.inventory_counts(org, clusters[0]).await.unwrap();
    assert_eq!(live[&ObjectKind::Pod] as usize, shape.pods);
    assert_eq!(live[&ObjectKind::Namespace] as usize, shape.namespaces);
    println!(
        "{backend:>8}: loaded {} clusters, {} namespaces, {} deployments, {} pods in {:.1} s",
        shape.clusters,
        shape.clusters * shape.namespaces,
        shape.clusters * shape.namespaces * shape.deployments,
        shape.clusters * shape.pods,
        started.elapsed().as_secs_f64()
    );
    Loaded { bench, clusters }
}

/// Serves the hub's router over `store` on a loopback port; returns its base URL.
async fn serve(store: Store) -> String {
    let limit: ApiRateLimit = std::env::var("KUBEWORKZ_API_RATE_LIMIT_PER_MINUTE")
        .unwrap_or_else(|_| "0".into())
        .parse()
        .expect("KUBEWORKZ_API_RATE_LIMIT_PER_MINUTE");
    let keyring = Keyring::new(MasterKey::generate().0, vec![]);
    let mut state = AppState::new(
        store.clone(),
        Workers::new(),
        PullHandle::default(),
        keyring,
    );
    state.limits = Arc::new(auth::ratelimit::RateLimits::with_api_limit(limit));
    auth::bootstrap_admin(
        &store,
        Some(ADMIN_EMAIL),
        Some(&Secret::new(ADMIN_PASSWORD.into())),
    )
    .await
    .expect("bootstrap admin");
    common::serve(state).await
}

/// Builds a random request path of one endpoint.
type PathOf<'a> = Box<dyn Fn(&mut rand::rngs::ThreadRng) -> String + Sync + 'a>;

/// Latencies of one endpoint's run.
struct Sampled {
    latencies: Vec<Duration>,
    elapsed: Duration,
}

/// Drives `path_of` (a random request path each call) from `concurrency` connections: a
/// warm-up, then `run` of measured requests. Any answer but 200 stops the bench.
async fn drive(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    concurrency: usize,
    (warmup, run): (Duration, Duration),
    path_of: &(dyn Fn(&mut rand::rngs::ThreadRng) -> String + Sync),
) -> Sampled {
    let one = |deadline: Instant, measure: bool| async move {
        let mut latencies = Vec::new();
        while Instant::now() < deadline {
            let path = path_of(&mut rand::rng());
            let started = Instant::now();
            let response = client
                .get(format!("{base}{path}"))
                .bearer_auth(token)
                .send()
                .await
                .expect("request");
            let status = response.status();
            let body = response.bytes().await.expect("body");
            assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
            if measure {
                latencies.push(started.elapsed());
            }
        }
        latencies
    };
    let warm_until = Instant::now() + warmup;
    futures::future::join_all((0..concurrency).map(|_| one(warm_until, false))).await;
    let started = Instant::now();
    let until = started + run;
    let mut latencies: Vec<Duration> =
        futures::future::join_all((0..concurrency).map(|_| one(until, true)))
            .await
            .into_iter()
            .flatten()
            .collect();
    let elapsed = started.elapsed();
    latencies.sort();
    Sampled { latencies, elapsed }
}

fn quantile(sorted: &[Duration], q: f64) -> f64 {
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

async fn bench(backend: &str, shape: Shape) {
    let loaded = load(backend, shape).await;
    let base = serve(loaded.bench.store.clone()).await;
    let concurrency = common::env("KW_CONCURRENCY", 50);
    let times = (
        Duration::from_secs(common::env("KW_WARMUP_SECONDS", 2) as u64),
        Duration::from_secs(common::env("KW_SECONDS", 10) as u64),
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    let token = common::api_token(&client, &base, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let clusters = loaded.clusters.clone();
    let cluster_of = |rng: &mut rand::rngs::ThreadRng| rng.random_range(0..clusters.len());
    let endpoints: Vec<(&str, PathOf<'_>)> = vec![
        // Floors: the HTTP stack, auth and the client with no store read, then with one
        // one-row read; what the machine gives before any page is built.
        ("GET /healthz (floor)", Box::new(|_| "/healthz".to_owned())),
        (
            "GET /auth/me (floor, 1 row)",
            Box::new(|_| "/api/v1/auth/me".to_owned()),
        ),
        (
            "GET /clusters",
            Box::new(|_| "/api/v1/k8s/clusters".to_owned()),
        ),
        (
            "GET /clusters/{id}/namespaces",
            Box::new(|rng| {
                let c = cluster_of(rng);
                format!("/api/v1/k8s/clusters/{}/namespaces", clusters[c])
            }),
        ),
        (
            "GET /namespaces/{id}/pods",
            Box::new(|rng| {
                let (c, n) = (cluster_of(rng), rng.random_range(0..shape.namespaces));
                format!("/api/v1/k8s/namespaces/{}/pods", uid(1, c, n, 0))
            }),
        ),
        (
            "GET /deployments/{id}/pods",
            Box::new(|rng| {
                let (c, n) = (cluster_of(rng), rng.random_range(0..shape.namespaces));
                let d = rng.random_range(0..shape.deployments);
                format!("/api/v1/k8s/deployments/{}/pods", uid(2, c, n, d))
            }),
        ),
    ];
    let use_wrk = std::env::var("KW_CLIENT").is_ok_and(|c| c == "wrk");
    let repeat = common::env("KW_REPEAT", 1);
    for (name, path_of) in endpoints.iter().cycle().take(endpoints.len() * repeat) {
        if use_wrk {
            let paths: Vec<String> = (0..2_000).map(|_| path_of(&mut rand::rng())).collect();
            let (base, token) = (base.clone(), token.clone());
            let run = tokio::task::spawn_blocking(move || {
                wrk::drive(&base, &token, &paths, concurrency, times)
            })
            .await
            .unwrap();
            let [p50, p90, p99] = run.quantiles_ms;
            println!(
                "{backend:>8}: {name:<30} c={concurrency} n={:>6} p50 {p50:>6.2} ms  p90 \
                 {p90:>6.2} ms  p99 {p99:>6.2} ms  (wrk)  {:>6.0} req/s  {:>7.1} KiB/req",
                run.requests,
                run.requests_per_s,
                run.bytes_per_s / run.requests_per_s / 1024.0,
            );
            continue;
        }
        let s = drive(&client, &base, &token, concurrency, times, path_of.as_ref()).await;
        println!(
            "{backend:>8}: {name:<30} c={concurrency} n={:>6} p50 {:>6.2} ms  p90 {:>6.2} ms  \
             p99 {:>6.2} ms  max {:>7.2} ms  {:>6.0} req/s",
            s.latencies.len(),
            quantile(&s.latencies, 0.50),
            quantile(&s.latencies, 0.90),
            quantile(&s.latencies, 0.99),
            quantile(&s.latencies, 1.0),
            s.latencies.len() as f64 / s.elapsed.as_secs_f64(),
        );
    }
    if common::env("KW_EXPLAIN", 1) == 1 {
        explain::print(backend, &loaded.bench.url, &loaded.clusters).await;
    }
    loaded.bench.store.close().await;
}

mod common;
#[path = "api_latency/explain.rs"]
mod explain;
#[path = "../tests/support/mod.rs"]
mod support;
#[path = "api_latency/wrk.rs"]
mod wrk;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let shape = Shape {
        clusters: common::env("KW_CLUSTERS", 100),
        namespaces: common::env("KW_NAMESPACES", 100).max(1),
        deployments: common::env("KW_DEPLOYMENTS", 2).max(1),
        pods: common::env("KW_PODS", 1_000),
    };
    let backends = std::env::var("KW_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    for backend in backends.split(',') {
        runtime.block_on(bench(backend.trim(), shape));
    }
}
