-- Live deployment and pod counts per namespace, kept on the live namespace row, so that the
-- namespaces page reads two columns per row instead of counting each row's deployments and
-- pods on every request.
--
-- SQLite has only row-level triggers. They fire only when a row's liveness (or namespace)
-- changes: an object that appears live, goes (deleted, slot-cleared, pruned, purged or
-- cascaded), or comes back. Ingest's common write, an update of a live row's unindexed
-- columns, assigns neither `deleted_at` nor `namespace`, so it fires none of them. Each
-- firing updates one namespace row found by `k8s_namespaces_live`.
-- A namespace row that becomes live (inserted live, revived, or renamed) counts what
-- already lives in it, since pods can arrive before their namespace. A deleted namespace's
-- row keeps stale counts: only live rows are read, and a revived row is recounted.
ALTER TABLE k8s_namespaces ADD COLUMN deployment_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE k8s_namespaces ADD COLUMN pod_count INTEGER NOT NULL DEFAULT 0;

UPDATE k8s_namespaces SET
    deployment_count = (SELECT count(*) FROM k8s_deployments t
                        WHERE t.cluster_id = k8s_namespaces.cluster_id
                        AND t.namespace = k8s_namespaces.name AND t.deleted_at IS NULL),
    pod_count = (SELECT count(*) FROM k8s_pods t INDEXED BY k8s_pods_live_ns
                 WHERE t.cluster_id = k8s_namespaces.cluster_id
                 AND t.namespace = k8s_namespaces.name AND t.deleted_at IS NULL)
WHERE deleted_at IS NULL;

-- Namespaces: a row that becomes live counts what lives in it.
CREATE TRIGGER k8s_namespaces_recount_insert AFTER INSERT ON k8s_namespaces
WHEN new.deleted_at IS NULL
BEGIN
    UPDATE k8s_namespaces SET
        deployment_count = (SELECT count(*) FROM k8s_deployments t
                            WHERE t.cluster_id = new.cluster_id AND t.namespace = new.name
                            AND t.deleted_at IS NULL),
        pod_count = (SELECT count(*) FROM k8s_pods t INDEXED BY k8s_pods_live_ns
                     WHERE t.cluster_id = new.cluster_id AND t.namespace = new.name
                     AND t.deleted_at IS NULL)
    WHERE cluster_id = new.cluster_id AND uid = new.uid;
END;

CREATE TRIGGER k8s_namespaces_recount_update AFTER UPDATE OF deleted_at, name ON k8s_namespaces
WHEN new.deleted_at IS NULL AND (old.deleted_at IS NOT NULL OR old.name IS NOT new.name)
BEGIN
    UPDATE k8s_namespaces SET
        deployment_count = (SELECT count(*) FROM k8s_deployments t
                            WHERE t.cluster_id = new.cluster_id AND t.namespace = new.name
                            AND t.deleted_at IS NULL),
        pod_count = (SELECT count(*) FROM k8s_pods t INDEXED BY k8s_pods_live_ns
                     WHERE t.cluster_id = new.cluster_id AND t.namespace = new.name
                     AND t.deleted_at IS NULL)
    WHERE cluster_id = new.cluster_id AND uid = new.uid;
END;

-- Deployments.
CREATE TRIGGER k8s_deployments_ns_count_insert AFTER INSERT ON k8s_deployments
WHEN new.deleted_at IS NULL
BEGIN
    UPDATE k8s_namespaces SET deployment_count = deployment_count + 1
    WHERE cluster_id = new.cluster_id AND name = new.namespace AND deleted_at IS NULL;
END;

CREATE TRIGGER k8s_deployments_ns_count_update AFTER UPDATE OF deleted_at, namespace
ON k8s_deployments
WHEN (old.deleted_at IS NULL) <> (new.deleted_at IS NULL) OR old.namespace IS NOT new.namespace
BEGIN
    UPDATE k8s_namespaces SET deployment_count = deployment_count - 1
    WHERE old.deleted_at IS NULL AND cluster_id = old.cluster_id AND name = old.namespace
    AND deleted_at IS NULL;
    UPDATE k8s_namespaces SET deployment_count = deployment_count + 1
    WHERE new.deleted_at IS NULL AND cluster_id = new.cluster_id AND name = new.namespace
    AND deleted_at IS NULL;
END;

CREATE TRIGGER k8s_deployments_ns_count_delete AFTER DELETE ON k8s_deployments
WHEN old.deleted_at IS NULL
BEGIN
    UPDATE k8s_namespaces SET deployment_count = deployment_count - 1
    WHERE cluster_id = old.cluster_id AND name = old.namespace AND deleted_at IS NULL;
END;

-- Pods.
CREATE TRIGGER k8s_pods_ns_count_insert AFTER INSERT ON k8s_pods
WHEN new.deleted_at IS NULL
BEGIN
    UPDATE k8s_namespaces SET pod_count = pod_count + 1
    WHERE cluster_id = new.cluster_id AND name = new.namespace AND deleted_at IS NULL;
END;

CREATE TRIGGER k8s_pods_ns_count_update AFTER UPDATE OF deleted_at, namespace ON k8s_pods
WHEN (old.deleted_at IS NULL) <> (new.deleted_at IS NULL) OR old.namespace IS NOT new.namespace
BEGIN
    UPDATE k8s_namespaces SET pod_count = pod_count - 1
    WHERE old.deleted_at IS NULL AND cluster_id = old.cluster_id AND name = old.namespace
    AND deleted_at IS NULL;
    UPDATE k8s_namespaces SET pod_count = pod_count + 1
    WHERE new.deleted_at IS NULL AND cluster_id = new.cluster_id AND name = new.namespace
    AND deleted_at IS NULL;
END;

CREATE TRIGGER k8s_pods_ns_count_delete AFTER DELETE ON k8s_pods
WHEN old.deleted_at IS NULL
BEGIN
    UPDATE k8s_namespaces SET pod_count = pod_count - 1
    WHERE cluster_id = old.cluster_id AND name = old.namespace AND deleted_at IS NULL;
END;
