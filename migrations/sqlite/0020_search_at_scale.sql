-- Search at a million pods (`store::search`).
--
-- Status in name order: a page of `status:CrashLoopBackOff` is the first rows of this index
-- in the answer's order (by name) instead of every match sorted. It replaces 0017's
-- `(status, org_id)`, which it serves as well.
DROP INDEX k8s_pods_status;
CREATE INDEX k8s_pods_status_name ON k8s_pods (status, org_id, name) WHERE deleted_at IS NULL;

-- FTS5 trigram indexes answer `column LIKE '%part%'` from the trigrams of the part instead of
-- reading every row, as 0015 does for pod names: pod labels (`label:app=web` is
-- `LIKE '%\napp=web\n%'`), and the names and labels of namespaces and deployments (tens of
-- thousands of rows, read whole by every search before). Each holds only its column, keyed
-- by the row's rowid (external content), and triggers keep it in step: an insert adds the
-- text, a purge removes it, an update replaces it only when the text changed (ingest's
-- upsert assigns the labels on every change of an object, and most changes keep them).
CREATE VIRTUAL TABLE k8s_pods_labels USING fts5(
    search_labels, content = 'k8s_pods', content_rowid = 'rowid', tokenize = 'trigram'
);
INSERT INTO k8s_pods_labels (k8s_pods_labels) VALUES ('rebuild');
CREATE TRIGGER k8s_pods_labels_insert AFTER INSERT ON k8s_pods BEGIN
    INSERT INTO k8s_pods_labels (rowid, search_labels) VALUES (new.rowid, new.search_labels);
END;
CREATE TRIGGER k8s_pods_labels_delete AFTER DELETE ON k8s_pods BEGIN
    INSERT INTO k8s_pods_labels (k8s_pods_labels, rowid, search_labels) VALUES ('delete', old.rowid, old.search_labels);
END;
CREATE TRIGGER k8s_pods_labels_update AFTER UPDATE OF search_labels ON k8s_pods
    WHEN old.search_labels IS NOT new.search_labels BEGIN
    INSERT INTO k8s_pods_labels (k8s_pods_labels, rowid, search_labels) VALUES ('delete', old.rowid, old.search_labels);
    INSERT INTO k8s_pods_labels (rowid, search_labels) VALUES (new.rowid, new.search_labels);
END;
CREATE VIRTUAL TABLE k8s_namespaces_names USING fts5(
    name, content = 'k8s_namespaces', content_rowid = 'rowid', tokenize = 'trigram'
);
INSERT INTO k8s_namespaces_names (k8s_namespaces_names) VALUES ('rebuild');
CREATE TRIGGER k8s_namespaces_names_insert AFTER INSERT ON k8s_namespaces BEGIN
    INSERT INTO k8s_namespaces_names (rowid, name) VALUES (new.rowid, new.name);
END;
CREATE TRIGGER k8s_namespaces_names_delete AFTER DELETE ON k8s_namespaces BEGIN
    INSERT INTO k8s_namespaces_names (k8s_namespaces_names, rowid, name) VALUES ('delete', old.rowid, old.name);
END;
CREATE TRIGGER k8s_namespaces_names_update AFTER UPDATE OF name ON k8s_namespaces
    WHEN old.name IS NOT new.name BEGIN
    INSERT INTO k8s_namespaces_names (k8s_namespaces_names, rowid, name) VALUES ('delete', old.rowid, old.name);
    INSERT INTO k8s_namespaces_names (rowid, name) VALUES (new.rowid, new.name);
END;
CREATE VIRTUAL TABLE k8s_namespaces_labels USING fts5(
    search_labels, content = 'k8s_namespaces', content_rowid = 'rowid', tokenize = 'trigram'
);
INSERT INTO k8s_namespaces_labels (k8s_namespaces_labels) VALUES ('rebuild');
CREATE TRIGGER k8s_namespaces_labels_insert AFTER INSERT ON k8s_namespaces BEGIN
    INSERT INTO k8s_namespaces_labels (rowid, search_labels) VALUES (new.rowid, new.search_labels);
END;
CREATE TRIGGER k8s_namespaces_labels_delete AFTER DELETE ON k8s_namespaces BEGIN
    INSERT INTO k8s_namespaces_labels (k8s_namespaces_labels, rowid, search_labels) VALUES ('delete', old.rowid, old.search_labels);
END;
CREATE TRIGGER k8s_namespaces_labels_update AFTER UPDATE OF search_labels ON k8s_namespaces
    WHEN old.search_labels IS NOT new.search_labels BEGIN
    INSERT INTO k8s_namespaces_labels (k8s_namespaces_labels, rowid, search_labels) VALUES ('delete', old.rowid, old.search_labels);
    INSERT INTO k8s_namespaces_labels (rowid, search_labels) VALUES (new.rowid, new.search_labels);
END;
CREATE VIRTUAL TABLE k8s_deployments_names USING fts5(
    name, content = 'k8s_deployments', content_rowid = 'rowid', tokenize = 'trigram'
);
INSERT INTO k8s_deployments_names (k8s_deployments_names) VALUES ('rebuild');
CREATE TRIGGER k8s_deployments_names_insert AFTER INSERT ON k8s_deployments BEGIN
    INSERT INTO k8s_deployments_names (rowid, name) VALUES (new.rowid, new.name);
END;
CREATE TRIGGER k8s_deployments_names_delete AFTER DELETE ON k8s_deployments BEGIN
    INSERT INTO k8s_deployments_names (k8s_deployments_names, rowid, name) VALUES ('delete', old.rowid, old.name);
END;
CREATE TRIGGER k8s_deployments_names_update AFTER UPDATE OF name ON k8s_deployments
    WHEN old.name IS NOT new.name BEGIN
    INSERT INTO k8s_deployments_names (k8s_deployments_names, rowid, name) VALUES ('delete', old.rowid, old.name);
    INSERT INTO k8s_deployments_names (rowid, name) VALUES (new.rowid, new.name);
END;
CREATE VIRTUAL TABLE k8s_deployments_labels USING fts5(
    search_labels, content = 'k8s_deployments', content_rowid = 'rowid', tokenize = 'trigram'
);
INSERT INTO k8s_deployments_labels (k8s_deployments_labels) VALUES ('rebuild');
CREATE TRIGGER k8s_deployments_labels_insert AFTER INSERT ON k8s_deployments BEGIN
    INSERT INTO k8s_deployments_labels (rowid, search_labels) VALUES (new.rowid, new.search_labels);
END;
CREATE TRIGGER k8s_deployments_labels_delete AFTER DELETE ON k8s_deployments BEGIN
    INSERT INTO k8s_deployments_labels (k8s_deployments_labels, rowid, search_labels) VALUES ('delete', old.rowid, old.search_labels);
END;
CREATE TRIGGER k8s_deployments_labels_update AFTER UPDATE OF search_labels ON k8s_deployments
    WHEN old.search_labels IS NOT new.search_labels BEGIN
    INSERT INTO k8s_deployments_labels (k8s_deployments_labels, rowid, search_labels) VALUES ('delete', old.rowid, old.search_labels);
    INSERT INTO k8s_deployments_labels (rowid, search_labels) VALUES (new.rowid, new.search_labels);
END;

-- A cluster's pods list counts the cluster's live pods of the organization for its total:
-- with the organization in the index that serves the list's order, the count reads the
-- index alone instead of every pod's row (10,000 rows for a large cluster, per page).
DROP INDEX k8s_pods_live_ns;
CREATE INDEX k8s_pods_live_ns ON k8s_pods (cluster_id, namespace, name, org_id)
    WHERE deleted_at IS NULL;
