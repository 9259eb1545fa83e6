-- Indexes that keep search fast at a million pods (`store::search`).
--
-- Pod names: an FTS5 index with the trigram tokenizer answers `name LIKE '%part%'` from the
-- trigrams of the part instead of reading every pod. It holds only names, keyed by the pod's
-- rowid (an external-content table: the text stays in k8s_pods), and triggers keep it in
-- step: an insert adds a name, a rename replaces it, a purge removes it. Ingest's upsert of
-- an unchanged pod assigns no name, so churn does not touch it. Smaller kinds are read whole.
-- Status: pods by phase, for `status:Pending` (compared by equality). Phase leads, so the
-- index serves only a phase: SQLite would otherwise take it for the organization alone and
-- read every pod of the organization in place of a cluster's few.
CREATE VIRTUAL TABLE k8s_pods_names USING fts5(
    name, content = 'k8s_pods', content_rowid = 'rowid', tokenize = 'trigram'
);
INSERT INTO k8s_pods_names (k8s_pods_names) VALUES ('rebuild');
CREATE TRIGGER k8s_pods_names_insert AFTER INSERT ON k8s_pods BEGIN
    INSERT INTO k8s_pods_names (rowid, name) VALUES (new.rowid, new.name);
END;
CREATE TRIGGER k8s_pods_names_delete AFTER DELETE ON k8s_pods BEGIN
    INSERT INTO k8s_pods_names (k8s_pods_names, rowid, name) VALUES ('delete', old.rowid, old.name);
END;
CREATE TRIGGER k8s_pods_names_rename AFTER UPDATE OF name ON k8s_pods BEGIN
    INSERT INTO k8s_pods_names (k8s_pods_names, rowid, name) VALUES ('delete', old.rowid, old.name);
    INSERT INTO k8s_pods_names (rowid, name) VALUES (new.rowid, new.name);
END;
CREATE INDEX k8s_pods_phase ON k8s_pods (phase, org_id) WHERE deleted_at IS NULL;
