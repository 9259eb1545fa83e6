//! Ingest throughput on each backend: `cargo bench -p kubeworkz-hub --bench ingest`.
//!
//! 1,000 clusters × 1,000 pods (`KW_CLUSTERS`, `KW_PODS` to resize). Phase 1: every cluster's
//! full sync (one snapshot of its pods). Phase 2: churn at 1% of pods per cluster per round
//! (each round is one simulated minute: every cluster sends one batch updating 1% of its pods
//! and replacing a few). Batches come from `KW_CONCURRENCY` (default 64) tasks at once, as
//! agents would: every agent's connection task calls ingest on its own, so when the writer
//! falls behind, the batches in flight are as many as the clusters that have one waiting —
//! up to all 1,000 of them; 64 is the size of a PostgreSQL group, and far below that. Reports
//! changes/s per phase (the median of `KW_ROUNDS` churn rounds), per backend, and the
//! process's RSS (the store runs in-process, as in the hub). PostgreSQL: `DATABASE_URL`, or
//! a throwaway server. `KW_WITHOUT_SEARCH_INDEXES=1` drops every search index first (migrations
//! 0015, 0017, 0020), `=0020` only 0020's, to measure what they cost ingest in the same build.

use std::time::Instant;

mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use futures::stream::{self, StreamExt};
use kubeworkz_hub::store::Cursor;
use kubeworkz_shared::change::{Change, ChangeBatch, Object, ObjectKind};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::model::pod::{ContainerKind, ContainerProjection, PodPhase, QosClass};
use kubeworkz_shared::model::{OwnerKind, PodOwner, PodProjection, ResourceAmounts};
use kubeworkz_shared::time::UnixMillis;

use common::env;

fn rss_mib() -> (f64, f64) {
    (common::status_mib("VmRSS:"), common::status_mib("VmHWM:"))
}

/// Creation time of every bench pod: fixed, as creationTimestamp never changes for a uid.
static CREATED: std::sync::LazyLock<UnixMillis> =
    std::sync::LazyLock::new(|| UnixMillis(UnixMillis::now().0 - 3_600_000));

fn pod(cluster: usize, index: usize, generation: u32) -> Object {
    let requests = ResourceAmounts {
        cpu_millis: Some(100 + (index % 8) as u64 * 50),
        memory_bytes: Some(128 << 20),
        ephemeral_storage_bytes: None,
        gpus: None,
    };
    let container = |name: &str| ContainerProjection {
        name: name.into(),
        kind: ContainerKind::App,
        requests,
        limits: requests,
        restarts: generation,
        ready: true,
        image: String::new(),
        state: None,
        last_termination_reason: None,
    };
    Object::Pod(PodProjection {
        name: format!("app-{}-{index:04}-{generation}", index / 100),
        namespace: format!("team-{}", index % 20),
        uid: format!("{cluster:04}-{index:04}-{generation}"),
        node: Some(format!("node-{}", index % 10)),
        phase: PodPhase::Running,
        owner: Some(PodOwner {
            kind: OwnerKind::Deployment,
            name: format!("app-{}", index / 100),
        }),
        containers: vec![container("app"), container("sidecar")],
        overhead: ResourceAmounts::default(),
        ready: true,
        start_time: Some(UnixMillis(1_764_000_000_000)),
        qos_class: QosClass::Guaranteed,
        pvc_claims: vec![],
        created: Some(*CREATED),
        deleted: None,
        labels: Default::default(),
        reason: None,
    })
}

struct Setup {
    bench: common::BenchStore,
    org: OrgId,
    clusters: Vec<ClusterId>,
}

/// What `KW_WITHOUT_SEARCH_INDEXES=0020` drops: migration 0020's indexes (SQLite's trigram
/// tables with their triggers), with 0017's status index back in place of the one 0020 put
/// in its stead, so the difference is 0020's alone.
const INDEXES_0020_SQLITE: &str = "DROP TABLE k8s_pods_labels; DROP TABLE k8s_namespaces_names; \
    DROP TABLE k8s_namespaces_labels; DROP TABLE k8s_deployments_names; \
    DROP TABLE k8s_deployments_labels; DROP INDEX k8s_pods_status_name; \
    DROP TRIGGER IF EXISTS k8s_pods_labels_insert; DROP TRIGGER IF EXISTS k8s_pods_labels_delete; \
    DROP TRIGGER IF EXISTS k8s_pods_labels_update; \
    DROP TRIGGER IF EXISTS k8s_namespaces_names_insert; \
    DROP TRIGGER IF EXISTS k8s_namespaces_names_delete; \
    DROP TRIGGER IF EXISTS k8s_namespaces_names_update; \
    DROP TRIGGER IF EXISTS k8s_namespaces_labels_insert; \
    DROP TRIGGER IF EXISTS k8s_namespaces_labels_delete; \
    DROP TRIGGER IF EXISTS k8s_namespaces_labels_update; \
    DROP TRIGGER IF EXISTS k8s_deployments_names_insert; \
    DROP TRIGGER IF EXISTS k8s_deployments_names_delete; \
    DROP TRIGGER IF EXISTS k8s_deployments_names_update; \
    DROP TRIGGER IF EXISTS k8s_deployments_labels_insert; \
    DROP TRIGGER IF EXISTS k8s_deployments_labels_delete; \
    DROP TRIGGER IF EXISTS k8s_deployments_labels_update; \
    CREATE INDEX k8s_pods_status ON k8s_pods (status, org_id) WHERE deleted_at IS NULL;";
const INDEXES_0020_POSTGRES: &str = "DROP INDEX k8s_pods_status_name; \
    DROP INDEX k8s_namespaces_name_trgm; DROP INDEX k8s_namespaces_labels_trgm; \
    CREATE INDEX k8s_pods_status ON k8s_pods (status, org_id) WHERE deleted_at IS NULL;";

/// What `KW_WITHOUT_SEARCH_INDEXES=1` drops: migration 0015's indexes (and SQLite's pod
/// name table with its triggers), 0017's and 0020's.
const SEARCH_INDEXES_SQLITE: &str = "DROP TRIGGER k8s_pods_names_insert; \
    DROP TRIGGER k8s_pods_names_delete; DROP TRIGGER k8s_pods_names_rename; \
    DROP TABLE k8s_pods_names; DROP INDEX k8s_pods_phase; DROP INDEX k8s_pods_status;";
const SEARCH_INDEXES_POSTGRES: &str = "DROP INDEX k8s_pods_name_trgm; \
    DROP INDEX k8s_deployments_name_trgm; DROP INDEX k8s_deployments_labels_trgm; \
    DROP INDEX k8s_pods_phase; DROP INDEX k8s_pods_labels_trgm; DROP INDEX k8s_pods_status;";

async fn setup(backend: &str, clusters: usize) -> Setup {
    let bench = common::fresh_store(backend).await;
    let without = env("KW_WITHOUT_SEARCH_INDEXES", 0);
    if without == 1 || without == 20 {
        let sqlite = backend == "sqlite";
        let drop = match sqlite {
            true => INDEXES_0020_SQLITE,
            false => INDEXES_0020_POSTGRES,
        };
        common::execute(&bench.url, drop).await;
        if without == 1 {
            let drop = match sqlite {
                true => SEARCH_INDEXES_SQLITE,
                false => SEARCH_INDEXES_POSTGRES,
            };
            common::execute(&bench.url, drop).await;
        }
        println!("{backend}: without the search indexes ({without})");
    }
    let (org, clusters) = (
        bench.org,
        common::agent_clusters(&bench.store, bench.org, clusters).await,
    );
    Setup {
        bench,
        org,
        clusters,
    }
}

/// Sends the batches `make` builds (cluster index → cursor and batch), `concurrency` in
/// flight; batches are built as they are sent so the process's RSS is the store's, not the
/// bench's input. Returns changes per second.
async fn run(
    setup: &Setup,
    make: impl Fn(usize) -> (Cursor, ChangeBatch),
    concurrency: usize,
) -> f64 {
    let changes = std::sync::atomic::AtomicUsize::new(0);
    let started = Instant::now();
    stream::iter(0..setup.clusters.len())
        .for_each_concurrent(concurrency, |cluster| {
            let store = setup.bench.store.clone();
            let (org, id) = (setup.org, setup.clusters[cluster]);
            let (cursor, batch) = make(cluster);
            changes.fetch_add(batch.changes.len(), std::sync::atomic::Ordering::Relaxed);
            async move {
                store
                    .ingest_changes(org, id, cursor, &batch)
                    .await
                    .expect("ingest");
            }
        })
        .await;
    changes.into_inner() as f64 / started.elapsed().as_secs_f64()
}

async fn bench(backend: &str) {
    let clusters = env("KW_CLUSTERS", 1_000);
    let pods = env("KW_PODS", 1_000);
    let rounds = env("KW_ROUNDS", 20);
    let concurrency = env("KW_CONCURRENCY", 64);
    let setup = setup(backend, clusters).await;

    let kinds = vec![ObjectKind::Pod];
    let full = |c: usize| {
        let mut changes = vec![Change::SnapshotBegin {
            kinds: kinds.clone(),
        }];
        changes.extend((0..pods).map(|i| Change::Upsert(pod(c, i, 0))));
        changes.push(Change::SnapshotEnd {
            kinds: kinds.clone(),
        });
        let batch = ChangeBatch {
            produced_at: UnixMillis::now(),
            changes,
        };
        (Cursor { epoch: 1, seq: 1 }, batch)
    };
    let full_rate = run(&setup, full, concurrency).await;
    let (rss_full, _) = rss_mib();

    // 1% churn per round: half updated in place, half replaced (delete + new uid).
    let churn = (pods / 100).max(2);
    let mut rates = Vec::new();
    for round in 0..rounds {
        let generation = round as u32 + 1;
        let batch = |c: usize| {
            let mut changes = Vec::with_capacity(churn + churn / 2);
            for k in 0..churn {
                let index = (round * churn + k) % pods;
                if k % 2 == 0 {
                    let Object::Pod(mut p) = pod(c, index, 0) else {
                        unreachable!()
                    };
                    p.containers[0].restarts = generation;
                    changes.push(Change::Upsert(Object::Pod(p)));
                } else {
                    changes.push(Change::Delete(pod(c, index, 0).key()));
                    changes.push(Change::Upsert(pod(c, index, generation)));
                }
            }
            let cursor = Cursor {
                epoch: 1,
                seq: 2 + round as u64,
            };
            let batch = ChangeBatch {
                produced_at: UnixMillis::now(),
                changes,
            };
            (cursor, batch)
        };
        rates.push(run(&setup, batch, concurrency).await);
    }
    rates.sort_by(f64::total_cmp);
    let (rss, hwm) = rss_mib();
    let live = setup
        .bench
        .store
        .inventory_counts(setup.org, setup.clusters[0])
        .await
        .unwrap()[&ObjectKind::Pod];
    assert_eq!(live as usize, pods, "churn keeps the pod count");
    println!(
        "{backend:>8}: {clusters} clusters x {pods} pods, concurrency {concurrency}: \
         full sync {full_rate:>8.0} changes/s; churn ({} changes/round) median {:>8.0} changes/s \
         of {rounds} rounds (min {:.0}, max {:.0}); RSS after full sync {rss_full:.0} MiB, \
         now {rss:.0} MiB, peak {hwm:.0} MiB",
        clusters * (churn + churn / 2),
        rates[rates.len() / 2],
        rates[0],
        rates[rates.len() - 1],
    );
    if setup.bench.store.backend() == kubeworkz_hub::store::Backend::Postgres {
        explain(&setup.bench.url, setup.clusters[0]).await;
    }
    setup.bench.store.close().await;
}

/// Prints the plans of the hot queries on the loaded PostgreSQL database.
async fn explain(url: &str, cluster: ClusterId) {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query("ANALYZE").execute(&mut conn).await.unwrap();
    let id = cluster.to_string();
    let queries = [
        (
            "live pods of a cluster (inventory read)",
            format!(
                "SELECT data::text FROM k8s_pods WHERE cluster_id = '{id}' AND deleted_at IS NULL \
                 ORDER BY namespace, name, first_seen_at"
            ),
        ),
        (
            "ingest slot clear (UPDATE ... FROM VALUES)",
            format!(
                "UPDATE k8s_pods SET deleted_at = now() FROM (VALUES ('team-1', 'x', 'u')) AS v \
                 WHERE k8s_pods.cluster_id = '{id}' AND k8s_pods.deleted_at IS NULL \
                 AND k8s_pods.namespace = v.column1 AND k8s_pods.name = v.column2 \
                 AND k8s_pods.uid <> v.column3"
            ),
        ),
        (
            "ingest delete by uid",
            format!(
                "UPDATE k8s_pods SET deleted_at = now() WHERE cluster_id = '{id}' \
                 AND deleted_at IS NULL AND uid IN ('a', 'b')"
            ),
        ),
        (
            "cluster list with counts (v_k8s_cluster_health)",
            "SELECT * FROM v_k8s_cluster_health ORDER BY name LIMIT 50".to_owned(),
        ),
    ];
    for (what, sql) in queries {
        let mut tx = conn.begin().await.unwrap();
        let plan: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "EXPLAIN (ANALYZE, COSTS OFF) {sql}"
        )))
        .fetch_all(&mut *tx)
        .await
        .unwrap();
        tx.rollback().await.unwrap();
        println!("-- {what}");
        for (line,) in plan {
            println!("   {line}");
        }
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let backends = std::env::var("KW_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    for backend in backends.split(',') {
        runtime.block_on(bench(backend.trim()));
    }
}
