-- Workload kinds beyond Deployments (issue 26): StatefulSets, DaemonSets, ReplicaSets (owner
-- only), Jobs and CronJobs. Each table has the inventory core every kind has (see
-- hub/src/store/schema.rs) and the typed columns its lists filter and sort on; the projection
-- in `data` is what reads return, and the API finds one by uid (`_by_uid`). A pod's top owner
-- is resolved at read time through k8s_replicasets and k8s_jobs (by controller name, the
-- `_owner` indexes), so pod ingest is unchanged. Deleting a cluster cascades here as
-- everywhere.
-- PostgreSQL twin of sqlite/0025; `data` is json as for every kind since 0010.

-- StatefulSets: replica counts (the list's ready/desired columns and sorts) and the
-- headless Service.
CREATE TABLE k8s_statefulsets (
    cluster_id      UUID NOT NULL REFERENCES k8s_clusters (id) ON DELETE CASCADE,
    org_id          UUID NOT NULL,
    uid             TEXT NOT NULL,
    namespace       TEXT NOT NULL,
    name            TEXT NOT NULL,
    data            JSON NOT NULL,
    seen_gen        BIGINT NOT NULL,
    first_seen_at   TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    deleted_at      TIMESTAMPTZ,
    replicas_desired    INTEGER NOT NULL,
    replicas_ready      INTEGER NOT NULL,
    replicas_updated    INTEGER NOT NULL,
    service_name        TEXT,
    PRIMARY KEY (cluster_id, uid)
);
CREATE UNIQUE INDEX k8s_statefulsets_live ON k8s_statefulsets (cluster_id, namespace, name) WHERE deleted_at IS NULL;
CREATE INDEX k8s_statefulsets_by_uid ON k8s_statefulsets (uid);

-- DaemonSets: scheduling counts, one pod per eligible node.
CREATE TABLE k8s_daemonsets (
    cluster_id      UUID NOT NULL REFERENCES k8s_clusters (id) ON DELETE CASCADE,
    org_id          UUID NOT NULL,
    uid             TEXT NOT NULL,
    namespace       TEXT NOT NULL,
    name            TEXT NOT NULL,
    data            JSON NOT NULL,
    seen_gen        BIGINT NOT NULL,
    first_seen_at   TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    deleted_at      TIMESTAMPTZ,
    replicas_desired    INTEGER NOT NULL,
    replicas_ready      INTEGER NOT NULL,
    replicas_available  INTEGER NOT NULL,
    misscheduled        INTEGER NOT NULL,
    PRIMARY KEY (cluster_id, uid)
);
CREATE UNIQUE INDEX k8s_daemonsets_live ON k8s_daemonsets (cluster_id, namespace, name) WHERE deleted_at IS NULL;
CREATE INDEX k8s_daemonsets_by_uid ON k8s_daemonsets (uid);

-- ReplicaSets: their controller only, what maps a pod to its Deployment when the
-- ReplicaSet's name does not.
CREATE TABLE k8s_replicasets (
    cluster_id      UUID NOT NULL REFERENCES k8s_clusters (id) ON DELETE CASCADE,
    org_id          UUID NOT NULL,
    uid             TEXT NOT NULL,
    namespace       TEXT NOT NULL,
    name            TEXT NOT NULL,
    data            JSON NOT NULL,
    seen_gen        BIGINT NOT NULL,
    first_seen_at   TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    deleted_at      TIMESTAMPTZ,
    owner_kind          TEXT,
    owner_name          TEXT,
    PRIMARY KEY (cluster_id, uid)
);
CREATE UNIQUE INDEX k8s_replicasets_live ON k8s_replicasets (cluster_id, namespace, name) WHERE deleted_at IS NULL;
CREATE INDEX k8s_replicasets_by_uid ON k8s_replicasets (uid);
CREATE INDEX k8s_replicasets_owner ON k8s_replicasets (cluster_id, namespace, owner_kind, owner_name) WHERE deleted_at IS NULL;

-- Jobs: counts, state and their controller (a CronJob's Jobs are found by it).
CREATE TABLE k8s_jobs (
    cluster_id      UUID NOT NULL REFERENCES k8s_clusters (id) ON DELETE CASCADE,
    org_id          UUID NOT NULL,
    uid             TEXT NOT NULL,
    namespace       TEXT NOT NULL,
    name            TEXT NOT NULL,
    data            JSON NOT NULL,
    seen_gen        BIGINT NOT NULL,
    first_seen_at   TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    deleted_at      TIMESTAMPTZ,
    owner_kind          TEXT,
    owner_name          TEXT,
    status              TEXT NOT NULL,
    succeeded           INTEGER NOT NULL,
    failed              INTEGER NOT NULL,
    active              INTEGER NOT NULL,
    start_time          TIMESTAMPTZ,
    PRIMARY KEY (cluster_id, uid)
);
CREATE UNIQUE INDEX k8s_jobs_live ON k8s_jobs (cluster_id, namespace, name) WHERE deleted_at IS NULL;
CREATE INDEX k8s_jobs_by_uid ON k8s_jobs (uid);
CREATE INDEX k8s_jobs_owner ON k8s_jobs (cluster_id, namespace, owner_kind, owner_name) WHERE deleted_at IS NULL;

-- CronJobs: schedule, suspension, last run and running Jobs.
CREATE TABLE k8s_cronjobs (
    cluster_id      UUID NOT NULL REFERENCES k8s_clusters (id) ON DELETE CASCADE,
    org_id          UUID NOT NULL,
    uid             TEXT NOT NULL,
    namespace       TEXT NOT NULL,
    name            TEXT NOT NULL,
    data            JSON NOT NULL,
    seen_gen        BIGINT NOT NULL,
    first_seen_at   TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    deleted_at      TIMESTAMPTZ,
    schedule            TEXT NOT NULL,
    suspend             BOOLEAN NOT NULL,
    last_schedule_at    TIMESTAMPTZ,
    active              INTEGER NOT NULL,
    PRIMARY KEY (cluster_id, uid)
);
CREATE UNIQUE INDEX k8s_cronjobs_live ON k8s_cronjobs (cluster_id, namespace, name) WHERE deleted_at IS NULL;
CREATE INDEX k8s_cronjobs_by_uid ON k8s_cronjobs (uid);
