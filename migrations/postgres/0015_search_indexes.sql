-- Indexes that keep search fast at a million pods (`store::search`).
--
-- Names: a trigram GIN index answers `name ILIKE '%part%'` (and prefixes) from the trigrams
-- of the part instead of reading every row; on the live rows of the kinds with many rows.
-- Smaller kinds (nodes, namespaces, Helm releases) are read whole, fast enough at their size.
-- The pods index is created on the partitioned table, so every monthly partition has it.
-- Status: pods by phase, for `status:Pending` (compared by equality). Phase leads, so the
-- index serves only a phase: SQLite would otherwise take it for the organization alone and
-- read every pod of the organization in place of a cluster's few.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX k8s_pods_name_trgm ON k8s_pods USING gin (name gin_trgm_ops)
    WHERE deleted_at IS NULL;
CREATE INDEX k8s_deployments_name_trgm ON k8s_deployments USING gin (name gin_trgm_ops)
    WHERE deleted_at IS NULL;
CREATE INDEX k8s_deployments_labels_trgm ON k8s_deployments
    USING gin (search_labels gin_trgm_ops) WHERE deleted_at IS NULL;
CREATE INDEX k8s_pods_phase ON k8s_pods (phase, org_id) WHERE deleted_at IS NULL;
