-- Clusters, their inventory, usage time series, cost rows, and the hub's own records
-- (users, sessions, API tokens, enrollment tokens, issued certificates, audit log).
--
-- Every table carries org_id (or reaches it through cluster_id), and every store query is
-- scoped by it. Deleting a cluster cascades to everything collected from it.
-- Inventory rows are soft-deleted (deleted_at) so cost keeps the history it needs; retention
-- purges them (and drops old partitions of the two time-partitioned tables).

CREATE TABLE k8s_clusters (
    id                  UUID PRIMARY KEY,
    org_id              UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name                TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 63),
    description         TEXT NOT NULL DEFAULT '',
    environment         TEXT NOT NULL CHECK (environment IN ('production', 'staging', 'development')),
    tags                JSONB NOT NULL DEFAULT '[]',
    provider            TEXT,
    version             TEXT,
    api_server_url      TEXT,
    mode                TEXT NOT NULL CHECK (mode IN ('agent', 'kubeconfig')),
    kubeconfig_sealed   BYTEA,
    kubeconfig_key_id   TEXT,
    enabled             BOOLEAN NOT NULL DEFAULT TRUE,
    health_status       TEXT CHECK (health_status IN ('healthy', 'degraded', 'critical')),
    health_reasons      JSONB NOT NULL DEFAULT '[]',
    health_checked_at   TIMESTAMPTZ,
    last_sync_at        TIMESTAMPTZ,
    last_error          TEXT,
    last_heartbeat_at   TIMESTAMPTZ,
    ingest_epoch        BIGINT,
    ingest_seq          BIGINT,
    created_by          TEXT,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, name),
    CHECK ((mode = 'kubeconfig') = (kubeconfig_sealed IS NOT NULL))
);
CREATE INDEX k8s_clusters_org_env ON k8s_clusters (org_id, environment, name);

-- Per cluster and kind: the generation of the latest snapshot (relist) and whether it is open.
CREATE TABLE k8s_snapshot_state (
    cluster_id  UUID NOT NULL REFERENCES k8s_clusters (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    generation  BIGINT NOT NULL,
    open        BOOLEAN NOT NULL,
    PRIMARY KEY (cluster_id, kind)
);

CREATE TABLE k8s_nodes (
    cluster_id      UUID NOT NULL REFERENCES k8s_clusters (id) ON DELETE CASCADE,
    org_id          UUID NOT NULL,
    uid             TEXT NOT NULL,
    namespace       TEXT NOT NULL DEFAULT '',
    name            TEXT NOT NULL,
    data            JSONB NOT NULL,
    seen_gen        BIGINT NOT NULL,
    first_seen_at   TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    deleted_at      TIMESTAMPTZ,
    role            TEXT NOT NULL,
    instance_type   TEXT,
    zone            TEXT,
    ready           BOOLEAN NOT NULL,
    cpu_capacity_millis         BIGINT,
    memory_capacity_bytes       BIGINT,
    cpu_allocatable_millis      BIGINT,
    memory_allocatable_bytes    BIGINT,
    kubelet_version TEXT NOT NULL,
    PRIMARY KEY (cluster_id, uid)
);
CREATE UNIQUE INDEX k8s_nodes_live ON k8s_nodes (cluster_id, name) WHERE deleted_at IS NULL;

CREATE TABLE k8s_namespaces (
    cluster_id      UUID NOT NULL REFERENCES k8s_clusters (id) ON DELETE CASCADE,
    org_id          UUID NOT NULL,
    uid             TEXT NOT NULL,
    namespace       TEXT NOT NULL DEFAULT '',
    name            TEXT NOT NULL,
    data            JSONB NOT NULL,
    seen_gen        BIGINT NOT NULL,
    first_seen_at   TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    deleted_at      TIMESTAMPTZ,
    team            TEXT,
    cost_center     TEXT,
    labels          JSONB NOT NULL,
    phase           TEXT NOT NULL,
    PRIMARY KEY (cluster_id, uid)
);
CREATE UNIQUE INDEX k8s_namespaces_live ON k8s_namespaces (cluster_id, name) WHERE deleted_at IS NULL;
CREATE INDEX k8s_namespaces_team ON k8s_namespaces (org_id, team) WHERE deleted_at IS NULL;

CREATE TABLE k8s_deployments (
    cluster_id      UUID NOT NULL REFERENCES k8s_clusters (id) ON DELETE CASCADE,
    org_id          UUID NOT NULL,
    uid             TEXT NOT NULL,
    namespace       TEXT NOT NULL,
    name            TEXT NOT NULL,
    data            JSONB NOT NULL,
    seen_gen        BIGINT NOT NULL,
    first_seen_at   TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    deleted_at      TIMESTAMPTZ,
    replicas_desired    INTEGER NOT NULL,
    replicas_ready      INTEGER NOT NULL,
    replicas_available  INTEGER NOT NULL,
    replicas_updated    INTEGER NOT NULL,
    PRIMARY KEY (cluster_id, uid)
);
CREATE UNIQUE INDEX k8s_deployments_live ON k8s_deployments (cluster_id, namespace, name) WHERE deleted_at IS NULL;

-- Pods: range-partitioned by creation month. creationTimestamp never changes, so an upsert
-- always finds its row's partition; partitions past retention are dropped once none of their
-- pods is live (a long-running pod keeps its month), and ended pods are purged from them.
CREATE TABLE k8s_pods (
    cluster_id      UUID NOT NULL REFERENCES k8s_clusters (id) ON DELETE CASCADE,
    org_id          UUID NOT NULL,
    uid             TEXT NOT NULL,
    namespace       TEXT NOT NULL,
    name            TEXT NOT NULL,
    data            JSONB NOT NULL,
    seen_gen        BIGINT NOT NULL,
    first_seen_at   TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    deleted_at      TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL,
    node_name       TEXT,
    phase           TEXT NOT NULL,
    owner_kind      TEXT,
    owner_name      TEXT,
    cpu_request_millis      BIGINT,
    memory_request_bytes    BIGINT,
    restarts        INTEGER NOT NULL,
    ready           BOOLEAN NOT NULL,
    start_time      TIMESTAMPTZ,
    PRIMARY KEY (cluster_id, uid, created_at)
) PARTITION BY RANGE (created_at);
CREATE TABLE k8s_pods_default PARTITION OF k8s_pods DEFAULT;
CREATE INDEX k8s_pods_live_ns ON k8s_pods (cluster_id, namespace, name) WHERE deleted_at IS NULL;
CREATE INDEX k8s_pods_owner ON k8s_pods (cluster_id, namespace, owner_kind, owner_name) WHERE deleted_at IS NULL;
CREATE INDEX k8s_pods_uid ON k8s_pods (cluster_id, uid);

CREATE TABLE k8s_pvcs (
    cluster_id      UUID NOT NULL REFERENCES k8s_clusters (id) ON DELETE CASCADE,
    org_id          UUID NOT NULL,
    uid             TEXT NOT NULL,
    namespace       TEXT NOT NULL,
    name            TEXT NOT NULL,
    data            JSONB NOT NULL,
    seen_gen        BIGINT NOT NULL,
    first_seen_at   TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    deleted_at      TIMESTAMPTZ,
    requested_bytes BIGINT,
    storage_class   TEXT,
    volume_name     TEXT,
    phase           TEXT NOT NULL,
    PRIMARY KEY (cluster_id, uid)
);
CREATE UNIQUE INDEX k8s_pvcs_live ON k8s_pvcs (cluster_id, namespace, name) WHERE deleted_at IS NULL;

CREATE TABLE k8s_persistent_volumes (
    cluster_id      UUID NOT NULL REFERENCES k8s_clusters (id) ON DELETE CASCADE,
    org_id          UUID NOT NULL,
    uid             TEXT NOT NULL,
    namespace       TEXT NOT NULL DEFAULT '',
    name            TEXT NOT NULL,
    data            JSONB NOT NULL,
    seen_gen        BIGINT NOT NULL,
    first_seen_at   TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    deleted_at      TIMESTAMPTZ,
    capacity_bytes  BIGINT,
    storage_class   TEXT,
    PRIMARY KEY (cluster_id, uid)
);
CREATE UNIQUE INDEX k8s_persistent_volumes_live ON k8s_persistent_volumes (cluster_id, name) WHERE deleted_at IS NULL;

CREATE TABLE k8s_storage_classes (
    cluster_id      UUID NOT NULL REFERENCES k8s_clusters (id) ON DELETE CASCADE,
    org_id          UUID NOT NULL,
    uid             TEXT NOT NULL,
    namespace       TEXT NOT NULL DEFAULT '',
    name            TEXT NOT NULL,
    data            JSONB NOT NULL,
    seen_gen        BIGINT NOT NULL,
    first_seen_at   TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    deleted_at      TIMESTAMPTZ,
    PRIMARY KEY (cluster_id, uid)
);
CREATE UNIQUE INDEX k8s_storage_classes_live ON k8s_storage_classes (cluster_id, name) WHERE deleted_at IS NULL;

CREATE TABLE k8s_helm_releases (
    cluster_id      UUID NOT NULL REFERENCES k8s_clusters (id) ON DELETE CASCADE,
    org_id          UUID NOT NULL,
    uid             TEXT NOT NULL,
    namespace       TEXT NOT NULL,
    name            TEXT NOT NULL,
    data            JSONB NOT NULL,
    seen_gen        BIGINT NOT NULL,
    first_seen_at   TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    deleted_at      TIMESTAMPTZ,
    release_name    TEXT NOT NULL,
    revision        INTEGER NOT NULL,
    status          TEXT NOT NULL,
    chart_name      TEXT NOT NULL,
    chart_version   TEXT NOT NULL,
    app_version     TEXT,
    PRIMARY KEY (cluster_id, uid)
);
CREATE UNIQUE INDEX k8s_helm_releases_live ON k8s_helm_releases (cluster_id, namespace, name) WHERE deleted_at IS NULL;
CREATE INDEX k8s_helm_releases_chart ON k8s_helm_releases (org_id, chart_name) WHERE deleted_at IS NULL;

-- Usage: one row per container, hour and delivering message (epoch, seq). Buckets are
-- additive (a restarted collector sends a second bucket for its open hour), so readers sum;
-- the (epoch, seq) in the key makes a replayed message a no-op.
CREATE TABLE k8s_resource_metrics (
    cluster_id      UUID NOT NULL REFERENCES k8s_clusters (id) ON DELETE CASCADE,
    org_id          UUID NOT NULL,
    namespace       TEXT NOT NULL,
    pod             TEXT NOT NULL,
    container       TEXT NOT NULL,
    hour_start      TIMESTAMPTZ NOT NULL,
    epoch           BIGINT NOT NULL,
    seq             BIGINT NOT NULL,
    cpu_millicore_seconds   BIGINT NOT NULL,
    memory_byte_seconds     BIGINT NOT NULL,
    memory_max_bytes        BIGINT NOT NULL,
    samples         INTEGER NOT NULL,
    covered_millis  INTEGER NOT NULL,
    PRIMARY KEY (cluster_id, hour_start, namespace, pod, container, epoch, seq)
) PARTITION BY RANGE (hour_start);
CREATE TABLE k8s_resource_metrics_default PARTITION OF k8s_resource_metrics DEFAULT;
CREATE INDEX k8s_resource_metrics_ns ON k8s_resource_metrics (cluster_id, namespace, hour_start);

-- Cost rows: hourly (period = 'hour') and daily rollups (period = 'day').
CREATE TABLE k8s_cost_attribution (
    cluster_id      UUID NOT NULL REFERENCES k8s_clusters (id) ON DELETE CASCADE,
    org_id          UUID NOT NULL,
    period          TEXT NOT NULL CHECK (period IN ('hour', 'day')),
    period_start    TIMESTAMPTZ NOT NULL,
    namespace       TEXT NOT NULL,
    team            TEXT NOT NULL,
    cost_center     TEXT NOT NULL,
    labels          JSONB NOT NULL DEFAULT '{}',
    cpu_core_hours_milli        BIGINT NOT NULL,
    memory_gib_hours_milli      BIGINT NOT NULL,
    storage_gib_hours_milli     BIGINT NOT NULL,
    network_gib_milli           BIGINT NOT NULL,
    cpu_cost_nanos      BIGINT NOT NULL,
    memory_cost_nanos   BIGINT NOT NULL,
    storage_cost_nanos  BIGINT NOT NULL,
    network_cost_nanos  BIGINT NOT NULL,
    total_cost_nanos    BIGINT NOT NULL,
    flags           JSONB NOT NULL DEFAULT '[]',
    computed_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (cluster_id, period, period_start, namespace)
);
CREATE INDEX k8s_cost_attribution_org ON k8s_cost_attribution (org_id, period, period_start);

-- Users, sessions and API tokens (secrets stored as hashes only).
CREATE TABLE users (
    id              UUID PRIMARY KEY,
    org_id          UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email           TEXT NOT NULL,
    password_hash   TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
    created_at      TIMESTAMPTZ NOT NULL,
    UNIQUE (email)
);

CREATE TABLE sessions (
    token_hash      BYTEA PRIMARY KEY,
    user_id         UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    org_id          UUID NOT NULL,
    csrf_hash       BYTEA NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL
);

CREATE TABLE api_tokens (
    id              UUID PRIMARY KEY,
    org_id          UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         UUID REFERENCES users (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    token_hash      BYTEA NOT NULL UNIQUE,
    role            TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ,
    revoked_at      TIMESTAMPTZ
);

-- Enrollment tokens: public id + hash of the secret; single use unless reusable.
CREATE TABLE enrollment_tokens (
    id              TEXT PRIMARY KEY,
    org_id          UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    cluster_name    TEXT NOT NULL,
    environment     TEXT NOT NULL CHECK (environment IN ('production', 'staging', 'development')),
    tags            JSONB NOT NULL DEFAULT '[]',
    secret_hash     BYTEA NOT NULL,
    reusable        BOOLEAN NOT NULL,
    created_by      TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    used_at         TIMESTAMPTZ,
    uses            INTEGER NOT NULL DEFAULT 0,
    revoked_at      TIMESTAMPTZ
);

CREATE TABLE issued_certificates (
    serial          TEXT PRIMARY KEY,
    org_id          UUID NOT NULL,
    cluster_id      UUID NOT NULL REFERENCES k8s_clusters (id) ON DELETE CASCADE,
    not_before      TIMESTAMPTZ NOT NULL,
    not_after       TIMESTAMPTZ NOT NULL,
    issued_at       TIMESTAMPTZ NOT NULL,
    revoked_at      TIMESTAMPTZ
);
CREATE INDEX issued_certificates_cluster ON issued_certificates (cluster_id);

-- The hub's CA (one per database), its key sealed under the master key.
CREATE TABLE hub_ca (
    id              SMALLINT PRIMARY KEY CHECK (id = 1),
    cert_der        BYTEA NOT NULL,
    key_sealed      BYTEA NOT NULL,
    key_id          TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL
);

CREATE TABLE audit_log (
    id              UUID PRIMARY KEY,
    org_id          UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    at              TIMESTAMPTZ NOT NULL,
    actor           TEXT NOT NULL,
    action          TEXT NOT NULL,
    target          TEXT NOT NULL,
    result          TEXT NOT NULL,
    source_ip       TEXT,
    request_id      TEXT
);
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
