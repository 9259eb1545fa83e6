-- Live deployments and pods per (cluster, namespace), for the namespaces page, as on
-- PostgreSQL (its 0012). Counting them on read, per namespace of the page (two index
-- seeks and their entries per namespace), was half of SQLite's work for the page: 0.39 ms
-- per page against 0.19 ms joining kept counts (api_latency bench), and SQLite's threads
-- had 60% of the CPU while the page was served.
--
-- SQLite has no statement-level triggers (a row-level one made every pod written update
-- a counts row, 20% of ingest churn in session 11), so ingest keeps this table: after each
-- run it recounts the namespaces the run wrote or deleted in, and all of a cluster's after
-- a relist (see `store/namespace_counts.rs`). A row whose counts fall to zero stays until
-- maintenance deletes it; a deleted cluster's rows go with it.
CREATE TABLE k8s_namespace_counts (
    cluster_id TEXT NOT NULL REFERENCES k8s_clusters (id) ON DELETE CASCADE,
    namespace TEXT NOT NULL,
    deployments INTEGER NOT NULL DEFAULT 0,
    pods INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (cluster_id, namespace)
) WITHOUT ROWID;

INSERT INTO k8s_namespace_counts (cluster_id, namespace, deployments, pods)
SELECT cluster_id, namespace, sum(deps), sum(pods)
FROM (SELECT cluster_id, namespace, 1 AS deps, 0 AS pods FROM k8s_deployments
      WHERE deleted_at IS NULL
      UNION ALL
      SELECT cluster_id, namespace, 0, 1 FROM k8s_pods WHERE deleted_at IS NULL) live
GROUP BY cluster_id, namespace;
