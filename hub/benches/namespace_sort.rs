//! A cluster's namespaces sorted by their live pods, the two designs measured side by side:
//! `cargo bench -p kubeworkz-hub --bench namespace_sort`.
//!
//! Fills one cluster through the ingest path with `KW_NAMESPACES` (10,000) namespaces and
//! `KW_PODS` (100,000) pods spread unevenly over them (namespace `i` gets a share growing
//! with `i % 97`, so counts tie often), then:
//!
//! - the store's page (`namespace_list`, `sort=-pods`: each namespace's count looked up in
//!   the counts ingest keeps, then sorted) from `KW_CLIENTS` (10) tasks, `KW_REQUESTS` (200)
//!   requests per case: page 1, page 100 by cursor, the last page from the end, and page 1
//!   by name for reference;
//! - the other design, an index of the kept counts by `(cluster_id, pods, namespace)` walked
//!   in order and joined to the namespaces: its page statement's median, and what the index
//!   costs ingest: `KW_CHURN` (20,000) pod creations and as many deletions across the
//!   namespaces, timed without and with the index;
//! - the plans of both page statements (SQLite `EXPLAIN QUERY PLAN`, PostgreSQL
//!   `EXPLAIN (ANALYZE, BUFFERS)`).
//!
//! `KW_BACKENDS=sqlite,postgres`; PostgreSQL from `DATABASE_URL`. In-process, no HTTP.

mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use kubeworkz_hub::store::{Cursor, InventoryQuery, InventorySort, PageRequest, Store};
use kubeworkz_shared::change::{Change, ChangeBatch, Object, ObjectKind};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::model::pod::PodPhase;
use sqlx::{Connection as _, Row as _};

use common::{env, median_ms, percentile};
use support::fixtures;

/// Pods of namespace `n` when `pods` are spread over `namespaces`: weights 0 to 96.
fn share(n: usize, namespaces: usize, pods: usize) -> usize {
    let total_weight: usize = (0..namespaces).map(|i| i % 97).sum();
    (n % 97) * pods / total_weight.max(1)
}

fn full_sync(namespaces: usize, pods: usize) -> ChangeBatch {
    let mut objects: Vec<Object> = Vec::with_capacity(namespaces + pods);
    for n in 0..namespaces {
        let ns = format!("ns-{n:05}");
        objects.push(fixtures::namespace(&ns, &format!("uid-ns-{n}"), None));
        for p in 0..share(n, namespaces, pods) {
            let name = format!("pod-{p}");
            let uid = format!("uid-{n}-{p}");
            objects.push(fixtures::pod(&ns, &name, &uid, PodPhase::Running));
        }
    }
    fixtures::batch(fixtures::snapshot(&ObjectKind::ALL, &objects))
}

/// `churn` pods created (or, `delete`, deleted again) round-robin over the namespaces.
fn churn_batch(namespaces: usize, churn: usize, delete: bool) -> ChangeBatch {
    let changes = (0..churn)
        .map(|i| {
            let ns = format!("ns-{:05}", i % namespaces);
            let pod = fixtures::pod(
                &ns,
                &format!("churn-{i}"),
                &format!("churn-{i}"),
                PodPhase::Running,
            );
            if delete {
                fixtures::delete_of(&pod)
            } else {
                Change::Upsert(pod)
            }
        })
        .collect();
    fixtures::batch(changes)
}

fn by_pods(cluster: ClusterId, offset: u64) -> InventoryQuery {
    let mut q = InventoryQuery::new(
        ObjectKind::Namespace,
        Some(cluster),
        PageRequest { limit: 50, offset },
    );
    q.sort = InventorySort::Pods;
    q.descending = true;
    q
}

/// p50 / p99 of `requests` runs of `query` from `clients` tasks.
async fn measure(
    store: &Store,
    org: OrgId,
    cluster: ClusterId,
    query: InventoryQuery,
    (clients, requests): (usize, usize),
) -> (Duration, Duration) {
    let query = Arc::new(query);
    let mut times: Vec<Duration> = stream::iter(0..requests)
        .map(|_| {
            let (store, query) = (store.clone(), query.clone());
            async move {
                let started = Instant::now();
                let page = store.namespace_list(org, cluster, &query).await.unwrap();
                assert!(!page.items.is_empty());
                started.elapsed()
            }
        })
        .buffer_unordered(clients)
        .collect()
        .await;
    times.sort();
    (percentile(&times, 0.5), percentile(&times, 0.99))
}

/// The store's page statement for `sort=-pods` and the counts-index design's, with the
/// bench's values inlined.
fn statements(org: &str, cluster: &str) -> [(&'static str, String); 2] {
    [
        (
            "lookup per namespace (the store's)",
            format!(
                "SELECT uid, name, coalesce((SELECT c.pods FROM k8s_namespace_counts c \
                 WHERE c.cluster_id = k8s_namespaces.cluster_id AND c.namespace = \
                 k8s_namespaces.name), 0) AS sort_value FROM k8s_namespaces WHERE org_id = \
                 '{org}' AND deleted_at IS NULL AND cluster_id = '{cluster}' ORDER BY \
                 sort_value DESC, name DESC, cluster_id DESC, uid DESC LIMIT 50"
            ),
        ),
        (
            "counts index walked",
            format!(
                "SELECT n.uid, n.name, c.pods FROM k8s_namespace_counts c JOIN k8s_namespaces n \
                 ON n.cluster_id = c.cluster_id AND n.name = c.namespace AND n.deleted_at IS NULL \
                 AND n.org_id = '{org}' WHERE c.cluster_id = '{cluster}' ORDER BY c.pods DESC, \
                 c.namespace DESC LIMIT 50"
            ),
        ),
    ]
}

const SQLITE_INDEX: &str =
    "CREATE INDEX bench_counts_pods ON k8s_namespace_counts (cluster_id, pods, namespace)";
const DROP_INDEX: &str = "DROP INDEX bench_counts_pods";

/// Plans and medians of both statements, with the counts index present.
async fn plans(backend: &str, url: &str, org: OrgId, cluster: ClusterId) {
    let (org, cluster) = (org.as_uuid().to_string(), cluster.to_string());
    for (what, sql) in statements(&org, &cluster) {
        let (lines, ms) = if backend == "sqlite" {
            let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query("ANALYZE").execute(&mut conn).await.unwrap();
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
                .fetch_all(&mut conn)
                .await
                .unwrap();
            let lines: Vec<String> = rows.iter().map(|r| r.get::<String, _>(3)).collect();
            (lines, median_ms(&mut conn, &sql).await)
        } else {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query("ANALYZE").execute(&mut conn).await.unwrap();
            let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}"
            )))
            .fetch_all(&mut conn)
            .await
            .unwrap();
            let lines = rows.into_iter().map(|(l,)| l).collect();
            (lines, median_ms(&mut conn, &sql).await)
        };
        println!("-- {what}: median {ms:.2} ms");
        for line in lines {
            println!("   {line}");
        }
    }
}

/// Seconds to ingest `churn` pod creations and then their deletions.
async fn churn_seconds(
    store: &Store,
    org: OrgId,
    cluster: ClusterId,
    seq: &mut u64,
    namespaces: usize,
    churn: usize,
) -> f64 {
    let started = Instant::now();
    for delete in [false, true] {
        *seq += 1;
        let cursor = Cursor {
            epoch: 1,
            seq: *seq,
        };
        store
            .ingest_changes(
                org,
                cluster,
                cursor,
                &churn_batch(namespaces, churn, delete),
            )
            .await
            .unwrap();
    }
    started.elapsed().as_secs_f64()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(bench());
}

async fn bench() {
    let namespaces = env("KW_NAMESPACES", 10_000);
    let pods = env("KW_PODS", 100_000);
    let load = (env("KW_CLIENTS", 10), env("KW_REQUESTS", 200));
    let churn = env("KW_CHURN", 20_000);
    let backends = std::env::var("KW_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    for backend in backends.split(',') {
        let bench = common::fresh_store(backend).await;
        let (store, org) = (&bench.store, bench.org);
        let cluster = common::agent_clusters(store, org, 1).await[0];
        let started = Instant::now();
        store
            .ingest_changes(
                org,
                cluster,
                Cursor { epoch: 1, seq: 1 },
                &full_sync(namespaces, pods),
            )
            .await
            .unwrap();
        println!(
            "{backend:>8}: filled {namespaces} namespaces, {pods} pods in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        if backend == "postgres" {
            common::execute(&bench.url, "VACUUM (ANALYZE)").await;
        }
        let deep = store
            .namespace_list(
                org,
                cluster,
                &InventoryQuery {
                    page: PageRequest {
                        limit: 1,
                        offset: 4_999,
                    },
                    ..by_pods(cluster, 0)
                },
            )
            .await
            .unwrap();
        let after = deep.items[0].item.key();
        let by_name = InventoryQuery::new(
            ObjectKind::Namespace,
            Some(cluster),
            PageRequest {
                limit: 50,
                offset: 0,
            },
        );
        let cases = [
            ("by name, page 1", by_name),
            ("by -pods, page 1", by_pods(cluster, 0)),
            (
                "by -pods, page 101 by cursor",
                InventoryQuery {
                    after: Some(after),
                    ..by_pods(cluster, 5_000)
                },
            ),
            (
                "by -pods, last page from the end",
                InventoryQuery {
                    from_end: true,
                    ..by_pods(cluster, 0)
                },
            ),
        ];
        for (what, query) in cases {
            let (p50, p99) = measure(store, org, cluster, query, load).await;
            println!(
                "{backend:>8}: {what}: p50 {:.2} ms, p99 {:.2} ms",
                p50.as_secs_f64() * 1e3,
                p99.as_secs_f64() * 1e3
            );
        }
        let mut seq = 1;
        let without = churn_seconds(store, org, cluster, &mut seq, namespaces, churn).await;
        common::execute(&bench.url, SQLITE_INDEX).await;
        let with = churn_seconds(store, org, cluster, &mut seq, namespaces, churn).await;
        println!(
            "{backend:>8}: churn of {churn} pod creations + {churn} deletions: {:.0} changes/s without the counts index, {:.0} with it",
            2.0 * churn as f64 / without,
            2.0 * churn as f64 / with
        );
        plans(backend, &bench.url, org, cluster).await;
        common::execute(&bench.url, DROP_INDEX).await;
    }
}
