//! Search latency per backend: `cargo bench -p kubeworkz-hub --bench search`.
//!
//! Fills a store through the ingest path with `KW_CLUSTERS` (100) clusters, each with
//! `KW_NAMESPACES` (100) namespaces (labelled `team=team-N`), two deployments per namespace
//! and `KW_PODS` (10,000) pods spread over them (1% crash-looping: a container waiting in
//! `CrashLoopBackOff`, with labels and an image; 2% `Pending`), one snapshot per
//! cluster; then on PostgreSQL runs `VACUUM (ANALYZE)`. Then, from `KW_CLIENTS` (10) tasks at
//! once for `KW_REQUESTS` (200) requests per query, it makes what one
//! `GET /api/v1/k8s/search` makes (a page of 50 and the facets, concurrently) for:
//! a name substring (a random pod number, one pod per cluster), a label
//! (`label:team=team-N`), a status (`status:CrashLoopBackOff`, 1% of the pods); and a
//! cluster's pods list, page 1 against its last page by cursor; a namespace's pods by most
//! restarts (pods restart 0 to 12 times), page 1 against its last page by cursor. Then it
//! registers clusters up to `KW_FLEET_CLUSTERS` (2,000) and measures the fleet roll-up by each
//! grouping, and the cluster list by health in pages of 10: page 1, the last page by cursor
//! and by offset, and the last page read from the end. Prints
//! p50/p99/max in ms per query and the fill rate. `KW_BACKENDS=sqlite,postgres`;
//! PostgreSQL: `DATABASE_URL`, or a throwaway server. The store runs in-process; HTTP is
//! not in these numbers.

mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use kubeworkz_hub::search::{Query, parse};
use kubeworkz_hub::store::{
    ClusterQuery, ClusterSort, Cursor, FleetGrouping, InventoryKey, InventoryQuery, InventorySort,
    PageRequest, Store,
};
use kubeworkz_shared::change::{ChangeBatch, Object, ObjectKind};
use kubeworkz_shared::ids::OrgId;
use kubeworkz_shared::model::pod::PodPhase;
use rand::Rng;

use support::fixtures;

use common::env;

/// The query of the `i`th request of a measurement.
type QueryFor = Box<dyn Fn(usize) -> Query>;

#[derive(Clone, Copy)]
struct Shape {
    clusters: usize,
    namespaces: usize,
    pods: usize,
}

/// The database's size and its search indexes' (migrations 0015, 0017 and 0020, every
/// partition's).
const PG_SIZES: &str = "WITH RECURSIVE i AS (SELECT oid FROM pg_class WHERE relname IN \
    ('k8s_pods_name_trgm', 'k8s_deployments_name_trgm', 'k8s_deployments_labels_trgm', \
    'k8s_pods_phase', 'k8s_pods_status_name', 'k8s_pods_labels_trgm', \
    'k8s_namespaces_name_trgm', 'k8s_namespaces_labels_trgm') \
    UNION ALL SELECT inhrelid FROM pg_inherits JOIN i ON inhparent = i.oid) \
    SELECT pg_database_size(current_database()), \
    CAST(coalesce(sum(pg_relation_size(oid)), 0) AS BIGINT) FROM i";

/// The same for SQLite: every page, and the pages of the trigram tables (names and labels)
/// and of the phase and status indexes.
const SQLITE_SIZES: &str = "SELECT sum(pgsize), coalesce(sum(CASE WHEN name LIKE 'k8s_pods_names%' \
    OR name LIKE 'k8s_pods_labels%' OR name LIKE 'k8s_namespaces_names%' \
    OR name LIKE 'k8s_namespaces_labels%' OR name LIKE 'k8s_deployments_names%' \
    OR name LIKE 'k8s_deployments_labels%' \
    OR name IN ('k8s_pods_phase', 'k8s_pods_status_name') THEN pgsize END), 0) FROM dbstat";

/// Cluster `c`'s full sync: namespaces, two deployments each, pods spread over them.
fn snapshot(shape: Shape, c: usize) -> ChangeBatch {
    let mut objects: Vec<Object> = Vec::with_capacity(shape.pods + 3 * shape.namespaces);
    for n in 0..shape.namespaces {
        let ns = format!("team-{n:03}");
        let team = format!("team-{}", n % 7);
        objects.push(fixtures::namespace(
            &ns,
            &format!("ns-{c}-{n}"),
            Some(&team),
        ));
        for d in 0..2 {
            let uid = format!("dep-{c}-{n}-{d}");
            objects.push(fixtures::deployment(&ns, &format!("app-{d}"), &uid, 1));
        }
    }
    for p in 0..shape.pods {
        let ns = format!("team-{:03}", p % shape.namespaces);
        let phase = match p % 100 {
            1 | 2 => PodPhase::Pending,
            _ => PodPhase::Running,
        };
        let name = format!("app-{}-{p:06}", p % 2);
        let mut pod = fixtures::pod(&ns, &name, &format!("pod-{c}-{p}"), phase);
        if let Object::Pod(pod) = &mut pod {
            // Few distinct counts, so most pods tie on restarts.
            pod.containers[0].restarts = (p % 13) as u32;
        }
        objects.push(if p % 100 == 0 {
            fixtures::dressed_pod(
                pod,
                &[("app", "app-0")],
                "registry.example/app:1.0",
                Some("CrashLoopBackOff"),
            )
        } else {
            pod
        });
    }
    fixtures::batch(fixtures::snapshot(
        &[
            ObjectKind::Namespace,
            ObjectKind::Deployment,
            ObjectKind::Pod,
        ],
        &objects,
    ))
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    common::percentile(sorted, p).as_secs_f64() * 1000.0
}

/// Runs `request` `n` times from `clients` tasks at once; prints its latencies.
async fn measure<F, Fut>(label: &str, clients: usize, n: usize, request: F)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let request = &request;
    let mut times: Vec<Duration> = stream::iter(0..n)
        .map(|i| async move {
            let started = Instant::now();
            request(i).await;
            started.elapsed()
        })
        .buffer_unordered(clients)
        .collect()
        .await;
    times.sort();
    println!(
        "  {label:<32} p50 {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms",
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        percentile(&times, 1.0)
    );
}

/// What the search endpoint asks of the store for one request.
async fn search(store: &Store, org: OrgId, query: &Query) -> u64 {
    let (page, facets) = tokio::join!(
        store.search(org, query, None, 50),
        store.search_facets(org, query)
    );
    page.expect("search");
    facets.expect("facets").total
}

/// The key after page `page - 1` of `query` (pages of 50), walked by cursor.
async fn key_before_page(
    store: &Store,
    org: OrgId,
    query: &InventoryQuery,
    page: usize,
) -> InventoryKey {
    let mut query = query.clone();
    for _ in 1..page {
        let items = store.inventory_page(org, &query).await.unwrap().items;
        query.after = Some(items.last().expect("enough pages").key());
    }
    query.after.expect("page > 1")
}

/// Registers clusters `fleet-N` up to `total` in all, and measures the fleet roll-up.
async fn fleet(store: &Store, org: OrgId, have: usize, total: usize, clients: usize, n: usize) {
    for i in have..total {
        let id = kubeworkz_shared::ids::ClusterId::new();
        store
            .create_cluster(&kubeworkz_hub::store::NewCluster {
                id,
                org_id: org,
                name: format!("fleet-{i:04}"),
                description: String::new(),
                environment: kubeworkz_hub::store::Environment::Staging,
                tags: vec![format!("team-{}", i % 12)],
                mode: kubeworkz_hub::store::ClusterMode::Agent,
                api_server_url: None,
                provider: Some(["eks", "gke", "aks"][i % 3].into()),
                version: None,
                kubeconfig: None,
                created_by: None,
            })
            .await
            .unwrap();
    }
    let since = chrono::Utc::now() - chrono::Duration::days(7);
    for by in [
        FleetGrouping::Environment,
        FleetGrouping::Provider,
        FleetGrouping::Tag,
    ] {
        measure(
            &format!("fleet by {by:?} ({total})"),
            clients,
            n,
            |_| async move {
                store.fleet(org, by, since).await.unwrap();
            },
        )
        .await;
    }
}

async fn bench(backend: &str, shape: Shape, clients: usize, n: usize) {
    let bench = common::fresh_store(backend).await;
    let store = bench.store.clone();
    let org = bench.org;
    let clusters = common::agent_clusters(&store, org, shape.clusters).await;
    let started = Instant::now();
    stream::iter(clusters.iter().enumerate())
        .for_each_concurrent(4, |(c, id)| {
            let store = store.clone();
            async move {
                let cursor = Cursor { epoch: 1, seq: 1 };
                store
                    .ingest_changes(org, *id, cursor, &snapshot(shape, c))
                    .await
                    .expect("ingest");
            }
        })
        .await;
    let objects = shape.clusters * (shape.pods + 3 * shape.namespaces);
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{backend}: filled {objects} objects in {secs:.0} s ({:.0}/s)",
        objects as f64 / secs
    );
    let (total, indexes): (i64, i64) = if backend == "postgres" {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&bench.url)
            .await
            .unwrap();
        sqlx::raw_sql("VACUUM (ANALYZE)")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query_as(PG_SIZES).fetch_one(&mut conn).await.unwrap()
    } else {
        let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&bench.url)
            .await
            .unwrap();
        sqlx::query_as(SQLITE_SIZES)
            .fetch_one(&mut conn)
            .await
            .unwrap()
    };
    let mib = |b: i64| b as f64 / (1024.0 * 1024.0);
    println!(
        "{backend}: store {:.0} MiB, of which the search indexes {:.0} MiB",
        mib(total),
        mib(indexes)
    );
    let store = Arc::new(store);
    let substring = move |_: usize| {
        let p = rand::rng().random_range(0..shape.pods);
        parse(&format!("{p:06}")).unwrap()
    };
    let queries: [(&str, QueryFor); 3] = [
        ("name substring (\"001234\")", Box::new(substring)),
        (
            "label:team=team-N",
            Box::new(|i| parse(&format!("label:team=team-{}", i % 7)).unwrap()),
        ),
        (
            "status:CrashLoopBackOff",
            Box::new(|_| parse("status:CrashLoopBackOff").unwrap()),
        ),
    ];
    for (label, query) in &queries {
        let store = store.clone();
        measure(label, clients, n, |i| {
            let store = store.clone();
            let q = query(i);
            async move {
                search(&store, org, &q).await;
            }
        })
        .await;
    }
    // A cluster's pods list, as the UI pages it: page 1 against the last page by cursor.
    let first = PageRequest {
        limit: 50,
        offset: 0,
    };
    let cluster_pods = InventoryQuery::new(ObjectKind::Pod, Some(clusters[1]), first);
    let deep = shape.pods / 50;
    let last = key_before_page(&store, org, &cluster_pods, deep).await;
    for (label, after) in [
        ("pods list page 1", None),
        ("pods list page by cursor", Some(last)),
    ] {
        let store = store.clone();
        let q = InventoryQuery {
            after,
            ..cluster_pods.clone()
        };
        measure(&format!("{label} of {deep}"), clients, n, |_| {
            let (store, q) = (store.clone(), q.clone());
            async move {
                store.inventory_page(org, &q).await.unwrap();
            }
        })
        .await;
    }
    // A namespace's pods by most restarts: page 1 against its last page by cursor.
    let by_restarts = InventoryQuery {
        namespace: Some("team-000".into()),
        sort: InventorySort::Restarts,
        descending: true,
        ..cluster_pods.clone()
    };
    let deep = (shape.pods / shape.namespaces).div_ceil(50);
    let mut cases = vec![("pods by -restarts page 1", None)];
    if deep > 1 {
        let last = key_before_page(&store, org, &by_restarts, deep).await;
        cases.push(("pods by -restarts page by cursor", Some(last)));
    }
    for (label, after) in cases {
        let store = store.clone();
        let q = InventoryQuery {
            after,
            ..by_restarts.clone()
        };
        measure(&format!("{label} of {deep}"), clients, n, |_| {
            let (store, q) = (store.clone(), q.clone());
            async move {
                store.inventory_page(org, &q).await.unwrap();
            }
        })
        .await;
    }
    let total = env("KW_FLEET_CLUSTERS", 2_000).max(shape.clusters);
    fleet(&store, org, shape.clusters, total, clients, n).await;
    cluster_list(&store, org, total, clients, n).await;
}

/// The cluster list in pages of 10, by health (NULLs last): page 1, the last page by cursor,
/// the same page by offset, and the last page read from the end.
async fn cluster_list(store: &Store, org: OrgId, total: usize, clients: usize, n: usize) {
    let query = ClusterQuery {
        sort: ClusterSort::Health,
        page: PageRequest {
            limit: 10,
            offset: 0,
        },
        ..ClusterQuery::default()
    };
    let deep = total.div_ceil(10);
    let mut walk = query.clone();
    for _ in 1..deep {
        let page = store.cluster_page(org, &walk).await.unwrap();
        walk.after = Some(page.items.last().expect("enough pages").key(walk.sort));
    }
    let by_offset = ClusterQuery {
        page: PageRequest {
            limit: 10,
            offset: (deep as u64 - 1) * 10,
        },
        ..query.clone()
    };
    let from_end = ClusterQuery {
        from_end: true,
        ..query.clone()
    };
    for (label, q) in [
        ("cluster list page 1".to_owned(), query),
        (format!("cluster list page {deep} by cursor"), walk),
        (format!("cluster list page {deep} by offset"), by_offset),
        ("cluster list last page from end".to_owned(), from_end),
    ] {
        measure(&label, clients, n, |_| {
            let q = q.clone();
            async move {
                store.cluster_page(org, &q).await.unwrap();
            }
        })
        .await;
    }
}

fn main() {
    let shape = Shape {
        clusters: env("KW_CLUSTERS", 100),
        namespaces: env("KW_NAMESPACES", 100),
        pods: env("KW_PODS", 10_000),
    };
    let (clients, n) = (env("KW_CLIENTS", 10), env("KW_REQUESTS", 200));
    let backends = std::env::var("KW_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for backend in backends.split(',') {
        runtime.block_on(bench(backend.trim(), shape, clients, n));
    }
}
