-- Cost storage (issue 7): price overrides, the worker's progress marks, and the cost rows
-- rebuilt with exact quantities and room for one row per attribution.
--
-- k8s_cost_attribution is recreated (nothing wrote it before this migration): the daily
-- rollup keeps one row per namespace *attribution* (team, cost center, labels), so a namespace
-- relabeled during a day gets two rows (`part` 0, 1, ...) and history keeps what each hour was
-- charged to. Quantities are exact integers in units that fit a 64-bit integer for any real row:
-- CPU in millicore-seconds, memory and storage in byte-hours (2.4 million GiB-hours would
-- overflow byte-seconds in one daily row of a large namespace).

DROP VIEW v_k8s_namespace_costs;
DROP TABLE k8s_cost_attribution;

CREATE TABLE k8s_cost_attribution (
    cluster_id      UUID NOT NULL REFERENCES k8s_clusters (id) ON DELETE CASCADE,
    org_id          UUID NOT NULL,
    period          TEXT NOT NULL CHECK (period IN ('hour', 'day')),
    period_start    TIMESTAMPTZ NOT NULL,
    namespace       TEXT NOT NULL,
    part            INTEGER NOT NULL,
    team            TEXT NOT NULL,
    cost_center     TEXT NOT NULL,
    labels          JSONB NOT NULL DEFAULT '{}',
    cpu_requested_mcs           BIGINT NOT NULL,
    cpu_used_mcs                BIGINT NOT NULL,
    cpu_billed_mcs              BIGINT NOT NULL,
    cpu_measured_requested_mcs  BIGINT NOT NULL,
    cpu_measured_used_mcs       BIGINT NOT NULL,
    memory_requested_bh         BIGINT NOT NULL,
    memory_used_bh              BIGINT NOT NULL,
    memory_billed_bh            BIGINT NOT NULL,
    memory_measured_requested_bh BIGINT NOT NULL,
    memory_measured_used_bh     BIGINT NOT NULL,
    storage_bh                  BIGINT NOT NULL,
    network_egress_bytes        BIGINT,
    cpu_cost_nanos      BIGINT NOT NULL,
    memory_cost_nanos   BIGINT NOT NULL,
    storage_cost_nanos  BIGINT NOT NULL,
    network_cost_nanos  BIGINT NOT NULL,
    total_cost_nanos    BIGINT NOT NULL,
    usage_unknown   BOOLEAN NOT NULL,
    idle_clamped    BOOLEAN NOT NULL,
    computed_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (cluster_id, period, period_start, namespace, part)
);
CREATE INDEX k8s_cost_attribution_org ON k8s_cost_attribution (org_id, period, period_start);

-- Cost per namespace and day, from the daily rollups (the same totals the cost API sums).
CREATE VIEW v_k8s_namespace_costs AS
SELECT org_id, cluster_id, namespace, team, cost_center, period_start AS day,
       cpu_cost_nanos, memory_cost_nanos, storage_cost_nanos, network_cost_nanos, total_cost_nanos
FROM k8s_cost_attribution
WHERE period = 'day';

-- How far the cost worker got per cluster: every hour before hours_until is computed, every
-- day before days_until is rolled up. Re-computing an hour moves days_until back to its day.
CREATE TABLE k8s_cost_progress (
    cluster_id      UUID PRIMARY KEY REFERENCES k8s_clusters (id) ON DELETE CASCADE,
    org_id          UUID NOT NULL,
    hours_until     TIMESTAMPTZ NOT NULL,
    days_until      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);

-- Price overrides: scope 'organization' (scope_key ''), 'cluster' (the cluster id) or
-- 'instance_type' (e.g. m5.xlarge). NULL prices fall through to the broader scope.
CREATE TABLE cost_price_overrides (
    org_id          UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    scope           TEXT NOT NULL CHECK (scope IN ('organization', 'cluster', 'instance_type')),
    scope_key       TEXT NOT NULL,
    cpu_core_hour_nanos         BIGINT CHECK (cpu_core_hour_nanos >= 0),
    memory_gib_hour_nanos       BIGINT CHECK (memory_gib_hour_nanos >= 0),
    storage_gib_hour_nanos      BIGINT CHECK (storage_gib_hour_nanos >= 0),
    network_egress_gib_nanos    BIGINT CHECK (network_egress_gib_nanos >= 0),
    updated_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, scope, scope_key)
);
