-- Live deployments and pods per (cluster, namespace), for the namespaces page, kept by the
-- same statement-level triggers that keep the cluster counts (0011). Counting them on read
-- made the page's statement count the index entries of every namespace on the page in
-- every pods partition, per request: 0.45 ms of server time, against 0.25 ms reading kept
-- counts (pgbench, one cluster of 100 namespaces, 1,000 pods).
--
-- A table of its own, not columns of `k8s_namespaces`: pods can arrive before their
-- namespace, and a namespace deleted and recreated is a new row under a new uid, while
-- what lives in it is keyed by its name. Its rows are written only by the triggers, by
-- primary-key upserts (no join a planner could turn into a scan of the table); a row whose
-- counts fall to zero stays until maintenance deletes it.
--
-- No foreign key to `k8s_clusters`: its check would lock the cluster row that the same
-- trigger then updates, from each batch's savepoint. A deleted cluster's rows fall to zero
-- as its objects cascade (the delete branch below) and maintenance deletes them.
CREATE TABLE k8s_namespace_counts (
    cluster_id uuid NOT NULL,
    namespace text NOT NULL,
    deployments bigint NOT NULL DEFAULT 0,
    pods bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (cluster_id, namespace)
);

INSERT INTO k8s_namespace_counts (cluster_id, namespace, deployments, pods)
SELECT cluster_id, namespace, sum(deps), sum(pods)
FROM (SELECT cluster_id, namespace, 1 AS deps, 0 AS pods FROM k8s_deployments
      WHERE deleted_at IS NULL
      UNION ALL
      SELECT cluster_id, namespace, 0, 1 FROM k8s_pods WHERE deleted_at IS NULL) live
GROUP BY cluster_id, namespace;

-- 0011's function, now also adding each statement's live rows that appeared minus those
-- that went per (cluster, namespace) for deployments and pods. The per-namespace deltas are
-- aggregated once and the cluster's are summed from them. Rows are upserted in key order,
-- so concurrent writers lock them in one order.
CREATE OR REPLACE FUNCTION k8s_count_live() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    is_ns integer := (TG_TABLE_NAME = 'k8s_namespaces')::integer;
    is_deps integer := (TG_TABLE_NAME = 'k8s_deployments')::integer;
    is_pods integer := (TG_TABLE_NAME = 'k8s_pods')::integer;
BEGIN
    IF is_ns = 1 THEN
        -- Namespaces count only on their cluster.
        IF TG_OP = 'INSERT' THEN
            UPDATE k8s_clusters c SET namespace_count = c.namespace_count + d.live
            FROM (SELECT cluster_id, count(*) AS live FROM new_rows
                  WHERE deleted_at IS NULL GROUP BY cluster_id) d
            WHERE c.id = d.cluster_id;
        ELSIF TG_OP = 'UPDATE' THEN
            UPDATE k8s_clusters c SET namespace_count = c.namespace_count + d.live
            FROM (SELECT cluster_id, sum(sign) AS live
                  FROM (SELECT cluster_id, 1 AS sign FROM new_rows WHERE deleted_at IS NULL
                        UNION ALL
                        SELECT cluster_id, -1 FROM old_rows WHERE deleted_at IS NULL) x
                  GROUP BY cluster_id HAVING sum(sign) <> 0) d
            WHERE c.id = d.cluster_id;
        ELSE
            UPDATE k8s_clusters c SET namespace_count = c.namespace_count - d.live
            FROM (SELECT cluster_id, count(*) AS live FROM old_rows
                  WHERE deleted_at IS NULL GROUP BY cluster_id) d
            WHERE c.id = d.cluster_id;
        END IF;
        RETURN NULL;
    END IF;

    IF TG_OP = 'INSERT' THEN
        WITH d AS (SELECT cluster_id, namespace, count(*) AS live FROM new_rows
                   WHERE deleted_at IS NULL GROUP BY cluster_id, namespace),
        kept AS (INSERT INTO k8s_namespace_counts AS n (cluster_id, namespace, deployments, pods)
                 SELECT cluster_id, namespace, is_deps * live, is_pods * live FROM d
                 ORDER BY cluster_id, namespace
                 ON CONFLICT (cluster_id, namespace) DO UPDATE
                 SET deployments = n.deployments + excluded.deployments,
                     pods = n.pods + excluded.pods)
        UPDATE k8s_clusters c SET deployment_count = c.deployment_count + is_deps * s.live,
            pod_count = c.pod_count + is_pods * s.live
        FROM (SELECT cluster_id, sum(live) AS live FROM d GROUP BY cluster_id) s
        WHERE c.id = s.cluster_id;
    ELSIF TG_OP = 'UPDATE' THEN
        WITH d AS (SELECT cluster_id, namespace, sum(sign) AS live
                   FROM (SELECT cluster_id, namespace, 1 AS sign FROM new_rows
                         WHERE deleted_at IS NULL
                         UNION ALL
                         SELECT cluster_id, namespace, -1 FROM old_rows
                         WHERE deleted_at IS NULL) x
                   GROUP BY cluster_id, namespace HAVING sum(sign) <> 0),
        kept AS (INSERT INTO k8s_namespace_counts AS n (cluster_id, namespace, deployments, pods)
                 SELECT cluster_id, namespace, is_deps * live, is_pods * live FROM d
                 ORDER BY cluster_id, namespace
                 ON CONFLICT (cluster_id, namespace) DO UPDATE
                 SET deployments = n.deployments + excluded.deployments,
                     pods = n.pods + excluded.pods)
        UPDATE k8s_clusters c SET deployment_count = c.deployment_count + is_deps * s.live,
            pod_count = c.pod_count + is_pods * s.live
        FROM (SELECT cluster_id, sum(live) AS live FROM d GROUP BY cluster_id
              HAVING sum(live) <> 0) s
        WHERE c.id = s.cluster_id;
    ELSE
        -- Live rows deleted outright (a cluster's cascade): their counts rows exist, so an
        -- update is enough.
        WITH d AS (SELECT cluster_id, namespace, count(*) AS live FROM old_rows
                   WHERE deleted_at IS NULL GROUP BY cluster_id, namespace),
        kept AS (UPDATE k8s_namespace_counts n SET deployments = n.deployments - is_deps * d.live,
                     pods = n.pods - is_pods * d.live
                 FROM d WHERE n.cluster_id = d.cluster_id AND n.namespace = d.namespace)
        UPDATE k8s_clusters c SET deployment_count = c.deployment_count - is_deps * s.live,
            pod_count = c.pod_count - is_pods * s.live
        FROM (SELECT cluster_id, sum(live) AS live FROM d GROUP BY cluster_id) s
        WHERE c.id = s.cluster_id;
    END IF;
    RETURN NULL;
END
$$;
