//! Query plans the API's speed depends on (found with the `api_latency` bench).

use kubeworkz_hub::store::{Cursor, DEFAULT_ORG};
use kubeworkz_shared::change::ObjectKind;
use sqlx::Connection as _;

use crate::fixtures::{agent_cluster, batch, namespace, snapshot};
use crate::harness::TestStore;

/// After a maintenance round, a cluster's namespace page is read through the cluster's index,
/// not through `k8s_namespaces_team (org_id, …)`, which holds every namespace of the
/// organization. SQLite chose the latter until maintenance gathered planner statistics (55 ms
/// instead of 1 ms per page at 10k namespaces).
pub async fn a_clusters_namespaces_are_read_through_its_index(t: TestStore) {
    let org = t
        .store
        .organization_by_name(DEFAULT_ORG)
        .await
        .unwrap()
        .unwrap()
        .id;
    let mut first = None;
    for c in 0..20 {
        let id = agent_cluster(&t.store, org, &format!("plan-{c}")).await;
        first.get_or_insert(id);
        let objects: Vec<_> = (0..50)
            .map(|n| namespace(&format!("ns-{n}"), &format!("uid-{c}-{n}"), Some("team")))
            .collect();
        let changes = snapshot(&[ObjectKind::Namespace], &objects);
        t.store
            .ingest_changes(org, id, Cursor { epoch: 1, seq: 1 }, &batch(changes))
            .await
            .unwrap();
    }
    t.store
        .maintain(chrono::Utc::now(), std::time::Duration::from_secs(86_400))
        .await
        .unwrap();
    let (org, cluster) = (org.to_string(), first.unwrap().to_string());
    let url = t.url.expose();
    let plan: Vec<String> = if url.starts_with("sqlite:") {
        let sql = format!(
            "EXPLAIN QUERY PLAN SELECT uid FROM k8s_namespaces WHERE org_id = '{org}' \
             AND deleted_at IS NULL AND cluster_id = '{cluster}' ORDER BY namespace, name"
        );
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut conn)
            .await
            .unwrap();
        rows.into_iter().map(|r| r.3).collect()
    } else {
        let sql = format!(
            "EXPLAIN SELECT uid FROM k8s_namespaces WHERE org_id = '{org}' \
             AND deleted_at IS NULL AND cluster_id = '{cluster}' ORDER BY namespace, name"
        );
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut conn)
            .await
            .unwrap();
        rows.into_iter().map(|r| r.0).collect()
    };
    let plan = plan.join("\n");
    // `k8s_namespaces_live (cluster_id, name)` or the primary key `(cluster_id, uid)`.
    let by_cluster = [
        "k8s_namespaces_live",
        "k8s_namespaces_pkey",
        "sqlite_autoindex_k8s_namespaces_1",
    ];
    assert!(
        by_cluster.iter().any(|index| plan.contains(index)),
        "{plan}"
    );
    assert!(!plan.contains("k8s_namespaces_team"), "{plan}");
}
