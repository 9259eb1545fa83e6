-- SQLite twin of postgres/0002: same tables and views; UUIDs and times as text, JSON as text,
-- no partitions (retention deletes rows instead).
--
-- Clusters, their inventory, usage time series, cost rows, and the hub's own records
-- (users, sessions, API tokens, enrollment tokens, issued certificates, audit log).
--
-- Every table carries org_id (or reaches it through cluster_id), and every store query is
-- scoped by it. Deleting a cluster cascades to everything collected from it.
-- Inventory rows are soft-deleted (deleted_at) so cost keeps the history it needs; retention
-- purges them (and drops old partitions of the two time-partitioned tables).

CREATE TABLE k8s_clusters (
    id                  TEXT PRIMARY KEY,
    org_id              TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name                TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 63),
    description         TEXT NOT NULL DEFAULT '',
    environment         TEXT NOT NULL CHECK (environment IN ('production', 'staging', 'development')),
    tags                TEXT NOT NULL DEFAULT '[]',
    provider            TEXT,
    version             TEXT,
    api_server_url      TEXT,
    mode                TEXT NOT NULL CHECK (mode IN ('agent', 'kubeconfig')),
    kubeconfig_sealed   BLOB,
    kubeconfig_key_id   TEXT,
    enabled             INTEGER NOT NULL DEFAULT 1,
    health_status       TEXT CHECK (health_status IN ('healthy', 'degraded', 'critical')),
    health_reasons      TEXT NOT NULL DEFAULT '[]',
    health_checked_at   TEXT,
    last_sync_at        TEXT,
    last_error          TEXT,
    last_heartbeat_at   TEXT,
    ingest_epoch        INTEGER,
    ingest_seq          INTEGER,
    created_by          TEXT,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    UNIQUE (org_id, name),
    CHECK ((mode = 'kubeconfig') = (kubeconfig_sealed IS NOT NULL))
) STRICT;
CREATE INDEX k8s_clusters_org_env ON k8s_clusters (org_id, environment, name);

-- Per cluster and kind: the generation of the latest snapshot (relist) and whether it is open.
CREATE TABLE k8s_snapshot_state (
    cluster_id  TEXT NOT NULL REFERENCES k8s_clusters (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    generation  INTEGER NOT NULL,
    open        INTEGER NOT NULL,
    PRIMARY KEY (cluster_id, kind)
) STRICT;

CREATE TABLE k8s_nodes (
    cluster_id      TEXT NOT NULL REFERENCES k8s_clusters (id) ON DELETE CASCADE,
    org_id          TEXT NOT NULL,
    uid             TEXT NOT NULL,
    namespace       TEXT NOT NULL DEFAULT '',
    name            TEXT NOT NULL,
    data            TEXT NOT NULL,
    seen_gen        INTEGER NOT NULL,
    first_seen_at   TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    deleted_at      TEXT,
    role            TEXT NOT NULL,
    instance_type   TEXT,
    zone            TEXT,
    ready           INTEGER NOT NULL,
    cpu_capacity_millis         INTEGER,
    memory_capacity_bytes       INTEGER,
    cpu_allocatable_millis      INTEGER,
    memory_allocatable_bytes    INTEGER,
    kubelet_version TEXT NOT NULL,
    PRIMARY KEY (cluster_id, uid)
) STRICT;
CREATE UNIQUE INDEX k8s_nodes_live ON k8s_nodes (cluster_id, name) WHERE deleted_at IS NULL;

CREATE TABLE k8s_namespaces (
    cluster_id      TEXT NOT NULL REFERENCES k8s_clusters (id) ON DELETE CASCADE,
    org_id          TEXT NOT NULL,
    uid             TEXT NOT NULL,
    namespace       TEXT NOT NULL DEFAULT '',
    name            TEXT NOT NULL,
    data            TEXT NOT NULL,
    seen_gen        INTEGER NOT NULL,
    first_seen_at   TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    deleted_at      TEXT,
    team            TEXT,
    cost_center     TEXT,
    labels          TEXT NOT NULL,
    phase           TEXT NOT NULL,
    PRIMARY KEY (cluster_id, uid)
) STRICT;
CREATE UNIQUE INDEX k8s_namespaces_live ON k8s_namespaces (cluster_id, name) WHERE deleted_at IS NULL;
CREATE INDEX k8s_namespaces_team ON k8s_namespaces (org_id, team) WHERE deleted_at IS NULL;

CREATE TABLE k8s_deployments (
    cluster_id      TEXT NOT NULL REFERENCES k8s_clusters (id) ON DELETE CASCADE,
    org_id          TEXT NOT NULL,
    uid             TEXT NOT NULL,
    namespace       TEXT NOT NULL,
    name            TEXT NOT NULL,
    data            TEXT NOT NULL,
    seen_gen        INTEGER NOT NULL,
    first_seen_at   TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    deleted_at      TEXT,
    replicas_desired    INTEGER NOT NULL,
    replicas_ready      INTEGER NOT NULL,
    replicas_available  INTEGER NOT NULL,
    replicas_updated    INTEGER NOT NULL,
    PRIMARY KEY (cluster_id, uid)
) STRICT;
CREATE UNIQUE INDEX k8s_deployments_live ON k8s_deployments (cluster_id, namespace, name) WHERE deleted_at IS NULL;

-- Pods. (PostgreSQL partitions this table by creation month; SQLite purges by retention.)
CREATE TABLE k8s_pods (
    cluster_id      TEXT NOT NULL REFERENCES k8s_clusters (id) ON DELETE CASCADE,
    org_id          TEXT NOT NULL,
    uid             TEXT NOT NULL,
    namespace       TEXT NOT NULL,
    name            TEXT NOT NULL,
    data            TEXT NOT NULL,
    seen_gen        INTEGER NOT NULL,
    first_seen_at   TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    deleted_at      TEXT,
    created_at      TEXT NOT NULL,
    node_name       TEXT,
    phase           TEXT NOT NULL,
    owner_kind      TEXT,
    owner_name      TEXT,
    cpu_request_millis      INTEGER,
    memory_request_bytes    INTEGER,
    restarts        INTEGER NOT NULL,
    ready           INTEGER NOT NULL,
    start_time      TEXT,
    PRIMARY KEY (cluster_id, uid, created_at)
) STRICT;
CREATE INDEX k8s_pods_live_ns ON k8s_pods (cluster_id, namespace, name) WHERE deleted_at IS NULL;
CREATE INDEX k8s_pods_owner ON k8s_pods (cluster_id, namespace, owner_kind, owner_name) WHERE deleted_at IS NULL;
CREATE INDEX k8s_pods_uid ON k8s_pods (cluster_id, uid);

CREATE TABLE k8s_pvcs (
    cluster_id      TEXT NOT NULL REFERENCES k8s_clusters (id) ON DELETE CASCADE,
    org_id          TEXT NOT NULL,
    uid             TEXT NOT NULL,
    namespace       TEXT NOT NULL,
    name            TEXT NOT NULL,
    data            TEXT NOT NULL,
    seen_gen        INTEGER NOT NULL,
    first_seen_at   TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    deleted_at      TEXT,
    requested_bytes INTEGER,
    storage_class   TEXT,
    volume_name     TEXT,
    phase           TEXT NOT NULL,
    PRIMARY KEY (cluster_id, uid)
) STRICT;
CREATE UNIQUE INDEX k8s_pvcs_live ON k8s_pvcs (cluster_id, namespace, name) WHERE deleted_at IS NULL;

CREATE TABLE k8s_persistent_volumes (
    cluster_id      TEXT NOT NULL REFERENCES k8s_clusters (id) ON DELETE CASCADE,
    org_id          TEXT NOT NULL,
    uid             TEXT NOT NULL,
    namespace       TEXT NOT NULL DEFAULT '',
    name            TEXT NOT NULL,
    data            TEXT NOT NULL,
    seen_gen        INTEGER NOT NULL,
    first_seen_at   TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    deleted_at      TEXT,
    capacity_bytes  INTEGER,
    storage_class   TEXT,
    PRIMARY KEY (cluster_id, uid)
) STRICT;
CREATE UNIQUE INDEX k8s_persistent_volumes_live ON k8s_persistent_volumes (cluster_id, name) WHERE deleted_at IS NULL;

CREATE TABLE k8s_storage_classes (
    cluster_id      TEXT NOT NULL REFERENCES k8s_clusters (id) ON DELETE CASCADE,
    org_id          TEXT NOT NULL,
    uid             TEXT NOT NULL,
    namespace       TEXT NOT NULL DEFAULT '',
    name            TEXT NOT NULL,
    data            TEXT NOT NULL,
    seen_gen        INTEGER NOT NULL,
    first_seen_at   TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    deleted_at      TEXT,
    PRIMARY KEY (cluster_id, uid)
) STRICT;
CREATE UNIQUE INDEX k8s_storage_classes_live ON k8s_storage_classes (cluster_id, name) WHERE deleted_at IS NULL;

CREATE TABLE k8s_helm_releases (
    cluster_id      TEXT NOT NULL REFERENCES k8s_clusters (id) ON DELETE CASCADE,
    org_id          TEXT NOT NULL,
    uid             TEXT NOT NULL,
    namespace       TEXT NOT NULL,
    name            TEXT NOT NULL,
    data            TEXT NOT NULL,
    seen_gen        INTEGER NOT NULL,
    first_seen_at   TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    deleted_at      TEXT,
    release_name    TEXT NOT NULL,
    revision        INTEGER NOT NULL,
    status          TEXT NOT NULL,
    chart_name      TEXT NOT NULL,
    chart_version   TEXT NOT NULL,
    app_version     TEXT,
    PRIMARY KEY (cluster_id, uid)
) STRICT;
CREATE UNIQUE INDEX k8s_helm_releases_live ON k8s_helm_releases (cluster_id, namespace, name) WHERE deleted_at IS NULL;
CREATE INDEX k8s_helm_releases_chart ON k8s_helm_releases (org_id, chart_name) WHERE deleted_at IS NULL;

-- Usage: one row per container, hour and delivering message (epoch, seq). Buckets are
-- additive (a restarted collector sends a second bucket for its open hour), so readers sum;
-- the (epoch, seq) in the key makes a replayed message a no-op.
CREATE TABLE k8s_resource_metrics (
    cluster_id      TEXT NOT NULL REFERENCES k8s_clusters (id) ON DELETE CASCADE,
    org_id          TEXT NOT NULL,
    namespace       TEXT NOT NULL,
    pod             TEXT NOT NULL,
    container       TEXT NOT NULL,
    hour_start      TEXT NOT NULL,
    epoch           INTEGER NOT NULL,
    seq             INTEGER NOT NULL,
    cpu_millicore_seconds   INTEGER NOT NULL,
    memory_byte_seconds     INTEGER NOT NULL,
    memory_max_bytes        INTEGER NOT NULL,
    samples         INTEGER NOT NULL,
    covered_millis  INTEGER NOT NULL,
    PRIMARY KEY (cluster_id, hour_start, namespace, pod, container, epoch, seq)
) STRICT;
CREATE INDEX k8s_resource_metrics_ns ON k8s_resource_metrics (cluster_id, namespace, hour_start);

-- Cost rows: hourly (period = 'hour') and daily rollups (period = 'day').
CREATE TABLE k8s_cost_attribution (
    cluster_id      TEXT NOT NULL REFERENCES k8s_clusters (id) ON DELETE CASCADE,
    org_id          TEXT NOT NULL,
    period          TEXT NOT NULL CHECK (period IN ('hour', 'day')),
    period_start    TEXT NOT NULL,
    namespace       TEXT NOT NULL,
    team            TEXT NOT NULL,
    cost_center     TEXT NOT NULL,
    labels          TEXT NOT NULL DEFAULT '{}',
    cpu_core_hours_milli        INTEGER NOT NULL,
    memory_gib_hours_milli      INTEGER NOT NULL,
    storage_gib_hours_milli     INTEGER NOT NULL,
    network_gib_milli           INTEGER NOT NULL,
    cpu_cost_nanos      INTEGER NOT NULL,
    memory_cost_nanos   INTEGER NOT NULL,
    storage_cost_nanos  INTEGER NOT NULL,
    network_cost_nanos  INTEGER NOT NULL,
    total_cost_nanos    INTEGER NOT NULL,
    flags           TEXT NOT NULL DEFAULT '[]',
    computed_at     TEXT NOT NULL,
    PRIMARY KEY (cluster_id, period, period_start, namespace)
) STRICT;
CREATE INDEX k8s_cost_attribution_org ON k8s_cost_attribution (org_id, period, period_start);

-- Users, sessions and API tokens (secrets stored as hashes only).
CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email           TEXT NOT NULL,
    password_hash   TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
    created_at      TEXT NOT NULL,
    UNIQUE (email)
) STRICT;

CREATE TABLE sessions (
    token_hash      BLOB PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    org_id          TEXT NOT NULL,
    csrf_hash       BLOB NOT NULL,
    created_at      TEXT NOT NULL,
    expires_at      TEXT NOT NULL
) STRICT;

CREATE TABLE api_tokens (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         TEXT REFERENCES users (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    token_hash      BLOB NOT NULL UNIQUE,
    role            TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
    created_at      TEXT NOT NULL,
    expires_at      TEXT,
    revoked_at      TEXT
) STRICT;

-- Enrollment tokens: public id + hash of the secret; single use unless reusable.
CREATE TABLE enrollment_tokens (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    cluster_name    TEXT NOT NULL,
    environment     TEXT NOT NULL CHECK (environment IN ('production', 'staging', 'development')),
    tags            TEXT NOT NULL DEFAULT '[]',
    secret_hash     BLOB NOT NULL,
    reusable        INTEGER NOT NULL,
    created_by      TEXT,
    created_at      TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    used_at         TEXT,
    uses            INTEGER NOT NULL DEFAULT 0,
    revoked_at      TEXT
) STRICT;

CREATE TABLE issued_certificates (
    serial          TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    cluster_id      TEXT NOT NULL REFERENCES k8s_clusters (id) ON DELETE CASCADE,
    not_before      TEXT NOT NULL,
    not_after       TEXT NOT NULL,
    issued_at       TEXT NOT NULL,
    revoked_at      TEXT
) STRICT;
CREATE INDEX issued_certificates_cluster ON issued_certificates (cluster_id);

-- The hub's CA (one per database), its key sealed under the master key.
CREATE TABLE hub_ca (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    cert_der        BLOB NOT NULL,
    key_sealed      BLOB NOT NULL,
    key_id          TEXT NOT NULL,
    created_at      TEXT NOT NULL
) STRICT;

CREATE TABLE audit_log (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    at              TEXT NOT NULL,
    actor           TEXT NOT NULL,
    action          TEXT NOT NULL,
    target          TEXT NOT NULL,
    result          TEXT NOT NULL,
    source_ip       TEXT,
    request_id      TEXT
) STRICT;
CREATE INDEX audit_log_org_at ON audit_log (org_id, at DESC);

-- What the dashboard shows per cluster: health plus live inventory counts.
CREATE VIEW v_k8s_cluster_health AS
SELECT c.id AS cluster_id, c.org_id, c.name, c.environment, c.mode, c.provider,
       c.health_status, c.health_reasons, c.last_sync_at, c.last_heartbeat_at, c.last_error,
       (SELECT count(*) FROM k8s_nodes n WHERE n.cluster_id = c.id AND n.deleted_at IS NULL) AS nodes,
       (SELECT count(*) FROM k8s_nodes n WHERE n.cluster_id = c.id AND n.deleted_at IS NULL AND n.ready) AS nodes_ready,
       (SELECT count(*) FROM k8s_pods p WHERE p.cluster_id = c.id AND p.deleted_at IS NULL) AS pods,
       (SELECT count(*) FROM k8s_deployments d WHERE d.cluster_id = c.id AND d.deleted_at IS NULL) AS deployments
FROM k8s_clusters c;

-- Cost per namespace and day, from the daily rollups (the same totals the cost API sums).
CREATE VIEW v_k8s_namespace_costs AS
SELECT org_id, cluster_id, namespace, team, cost_center, period_start AS day,
       cpu_cost_nanos, memory_cost_nanos, storage_cost_nanos, network_cost_nanos, total_cost_nanos
FROM k8s_cost_attribution
WHERE period = 'day';
