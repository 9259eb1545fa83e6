-- The kept live counts of `k8s_clusters` (0008) are now kept by the counted tables
-- themselves: statement-level triggers read the statement's transition tables (the rows it
-- inserted, and the old and new versions of those it updated or deleted) and add, per
-- cluster, the live rows that appeared minus those that went. One aggregate per statement
-- replaces ingest's keyed reads of every touched row before and after its writes, which
-- were a third of the server's time under churn. Every write counts itself this way,
-- whatever statement makes it (ingest's upserts, deletes, slot clears and snapshot prunes,
-- purges, cascades), in the statement's own transaction. A trigger on a partitioned table
-- sees the rows of all its partitions; partitions are dropped only once none of their rows
-- is live. SQLite has no statement-level triggers: there ingest recounts what it touched.
--
-- Each function has one branch per operation, because a transition table exists only for
-- the operations that have it; `TG_TABLE_NAME` picks the count of the table that fired.

-- Namespaces, deployments and pods: one count each.
CREATE FUNCTION k8s_count_live() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ns integer := (TG_TABLE_NAME = 'k8s_namespaces')::integer;
    deps integer := (TG_TABLE_NAME = 'k8s_deployments')::integer;
    pods integer := (TG_TABLE_NAME = 'k8s_pods')::integer;
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE k8s_clusters c SET namespace_count = c.namespace_count + ns * d.live,
            deployment_count = c.deployment_count + deps * d.live,
            pod_count = c.pod_count + pods * d.live
        FROM (SELECT cluster_id, count(*) AS live FROM new_rows
              WHERE deleted_at IS NULL GROUP BY cluster_id) d
        WHERE c.id = d.cluster_id;
    ELSIF TG_OP = 'UPDATE' THEN
        UPDATE k8s_clusters c SET namespace_count = c.namespace_count + ns * d.live,
            deployment_count = c.deployment_count + deps * d.live,
            pod_count = c.pod_count + pods * d.live
        FROM (SELECT cluster_id, sum(sign) AS live
              FROM (SELECT cluster_id, 1 AS sign FROM new_rows WHERE deleted_at IS NULL
                    UNION ALL
                    SELECT cluster_id, -1 FROM old_rows WHERE deleted_at IS NULL) x
              GROUP BY cluster_id HAVING sum(sign) <> 0) d
        WHERE c.id = d.cluster_id;
    ELSE
        UPDATE k8s_clusters c SET namespace_count = c.namespace_count - ns * d.live,
            deployment_count = c.deployment_count - deps * d.live,
            pod_count = c.pod_count - pods * d.live
        FROM (SELECT cluster_id, count(*) AS live FROM old_rows
              WHERE deleted_at IS NULL GROUP BY cluster_id) d
        WHERE c.id = d.cluster_id;
    END IF;
    RETURN NULL;
END
$$;

-- Nodes: live and ready.
CREATE FUNCTION k8s_count_nodes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE k8s_clusters c SET node_count = c.node_count + d.live,
            node_ready_count = c.node_ready_count + d.ready
        FROM (SELECT cluster_id, count(*) AS live, count(*) FILTER (WHERE ready) AS ready
              FROM new_rows WHERE deleted_at IS NULL GROUP BY cluster_id) d
        WHERE c.id = d.cluster_id;
    ELSIF TG_OP = 'UPDATE' THEN
        UPDATE k8s_clusters c SET node_count = c.node_count + d.live,
            node_ready_count = c.node_ready_count + d.ready
        FROM (SELECT cluster_id, sum(sign) AS live,
                     coalesce(sum(sign) FILTER (WHERE ready), 0) AS ready
              FROM (SELECT cluster_id, ready, 1 AS sign FROM new_rows WHERE deleted_at IS NULL
                    UNION ALL
                    SELECT cluster_id, ready, -1 FROM old_rows WHERE deleted_at IS NULL) x
              GROUP BY cluster_id) d
        WHERE c.id = d.cluster_id AND (d.live <> 0 OR d.ready <> 0);
    ELSE
        UPDATE k8s_clusters c SET node_count = c.node_count - d.live,
            node_ready_count = c.node_ready_count - d.ready
        FROM (SELECT cluster_id, count(*) AS live, count(*) FILTER (WHERE ready) AS ready
              FROM old_rows WHERE deleted_at IS NULL GROUP BY cluster_id) d
        WHERE c.id = d.cluster_id;
    END IF;
    RETURN NULL;
END
$$;

-- Three triggers per counted table, one per operation (each names the transition tables
-- its operation has). The counts kept so far are exact (ingest kept them in each write's
-- transaction), and the triggers go on from them.
DO $$
DECLARE
    t text;
    f text;
BEGIN
    FOREACH t IN ARRAY ARRAY['k8s_nodes', 'k8s_namespaces', 'k8s_deployments', 'k8s_pods'] LOOP
        f := CASE WHEN t = 'k8s_nodes' THEN 'k8s_count_nodes' ELSE 'k8s_count_live' END;
        EXECUTE format('CREATE TRIGGER %1$s_count_insert AFTER INSERT ON %1$s '
            'REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION %2$s()', t, f);
        EXECUTE format('CREATE TRIGGER %1$s_count_update AFTER UPDATE ON %1$s '
            'REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows '
            'FOR EACH STATEMENT EXECUTE FUNCTION %2$s()', t, f);
        EXECUTE format('CREATE TRIGGER %1$s_count_delete AFTER DELETE ON %1$s '
            'REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION %2$s()', t, f);
    END LOOP;
END
$$;
