//! Plans of the API's hot queries on the loaded database, printed after the load so that a
//! missed goal can be traced to a scan: PostgreSQL `EXPLAIN (ANALYZE, BUFFERS)`, SQLite
//! `EXPLAIN QUERY PLAN`. The statements are the ones `store/api_queries.rs` builds for the
//! benched endpoints, with the bench's values inlined.

use kubeworkz_shared::ids::ClusterId;
use sqlx::{Connection as _, Row as _};

use super::common::median_ms;

/// The hot statements for `cluster` (the org is read from the database).
fn statements(pg: bool, org: &str, cluster: &str, namespace: &str) -> Vec<(&'static str, String)> {
    let text = |c: &str| {
        if pg {
            format!("{c}::text")
        } else {
            c.to_owned()
        }
    };
    let item = format!(
        "uid, {}, namespace, name, {}, first_seen_at, updated_at",
        text("cluster_id"),
        text("data")
    );
    let live = format!("org_id = '{org}' AND deleted_at IS NULL AND cluster_id = '{cluster}'");
    let page = format!(
        "SELECT uid, cluster_id, namespace, name, data, first_seen_at, updated_at FROM \
         k8s_namespaces WHERE {live} ORDER BY name, cluster_id, uid LIMIT 50 OFFSET 0"
    );
    let total = format!(
        "(SELECT coalesce(max(namespace_count), 0) FROM k8s_clusters WHERE id = '{cluster}' \
         AND org_id = '{org}')"
    );
    let n_item = format!(
        "n.uid, {}, n.namespace, n.name, {}, n.first_seen_at, n.updated_at",
        text("n.cluster_id"),
        text("n.data")
    );
    // `store/namespace_counts.rs`: both join the kept counts by key, PostgreSQL bounded by
    // the page's range of names.
    let range = if pg {
        " AND c.namespace >= (SELECT min(name) FROM n) AND c.namespace <= (SELECT max(name) FROM n)"
    } else {
        ""
    };
    let namespace_page = format!(
        "WITH n AS ({page}) SELECT {n_item}, coalesce(c.deployments, 0), \
         coalesce(c.pods, 0), {total} FROM n LEFT JOIN k8s_namespace_counts c ON \
         c.cluster_id = '{cluster}' AND c.namespace = n.name{range} ORDER BY n.name, \
         n.cluster_id, n.uid"
    );
    vec![
        (
            "cluster page (GET /clusters)",
            format!(
                "SELECT id, name, node_count, node_ready_count, namespace_count, \
                 deployment_count, pod_count FROM k8s_clusters WHERE org_id = '{org}' ORDER BY \
                 name ASC, id ASC LIMIT 50 OFFSET 0"
            ),
        ),
        (
            "namespace by uid (GET /namespaces/{id}/pods)",
            format!(
                "SELECT {item} FROM k8s_namespaces WHERE uid = '{namespace}' AND org_id = '{org}' \
                 AND deleted_at IS NULL"
            ),
        ),
        (
            "namespaces of a cluster, total (kept)",
            format!("SELECT {total}"),
        ),
        ("namespaces of a cluster, page with counts", namespace_page),
        (
            "pods of a namespace, total",
            format!("SELECT count(*) FROM k8s_pods WHERE {live} AND namespace = 'team-001'"),
        ),
        (
            "pods of a namespace, page",
            format!(
                "SELECT {item} FROM k8s_pods WHERE {live} AND namespace = 'team-001' ORDER BY \
                 namespace, name, cluster_id, uid LIMIT 50 OFFSET 0"
            ),
        ),
        (
            "pods of a deployment, page",
            format!(
                "SELECT {item} FROM k8s_pods WHERE {live} AND namespace = 'team-001' AND \
                 owner_kind = 'Deployment' AND owner_name = 'app-0' ORDER BY namespace, name, \
                 cluster_id, uid LIMIT 50 OFFSET 0"
            ),
        ),
    ]
}

/// Prints the plans on the database at `url` (refreshing statistics first), and each
/// statement's median time of 21 runs.
pub async fn print(backend: &str, url: &str, clusters: &[ClusterId]) {
    let cluster = clusters[0].to_string();
    let namespace = super::uid(1, 0, 1, 0);
    println!("{backend:>8}: plans of the hot queries");
    if backend == "sqlite" {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query("ANALYZE").execute(&mut conn).await.unwrap();
        let org: String = sqlx::query_scalar("SELECT org_id FROM k8s_clusters WHERE id = ?1")
            .bind(&cluster)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        for (what, sql) in statements(false, &org, &cluster, &namespace) {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
                .fetch_all(&mut conn)
                .await
                .unwrap();
            let ms = median_ms(&mut conn, &sql).await;
            println!("-- {what}: median {ms:.2} ms");
            for row in rows {
                println!("   {}", row.get::<String, _>(3));
            }
        }
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query("ANALYZE").execute(&mut conn).await.unwrap();
        let org: String =
            sqlx::query_scalar("SELECT org_id::text FROM k8s_clusters WHERE id::text = $1")
                .bind(&cluster)
                .fetch_one(&mut conn)
                .await
                .unwrap();
        for (what, sql) in statements(true, &org, &cluster, &namespace) {
            let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}"
            )))
            .fetch_all(&mut conn)
            .await
            .unwrap();
            let ms = median_ms(&mut conn, &sql).await;
            println!("-- {what}: median {ms:.2} ms");
            for (line,) in rows {
                println!("   {line}");
            }
        }
    }
}
