-- ResourceQuotas and LimitRanges (issue 26): what a namespace may use, how much of it is used,
-- and the defaults and bounds its containers get. Each table has the inventory core every
-- kind has (see hub/src/store/schema.rs); the projection in `data` (hard and used per
-- resource as exact thousandths of the unit) is what the namespace page reads. A quota's
-- `max_percent_used` is its fullest resource (NULL until the quota controller has counted),
-- so a namespace's verdict reads only its used-up quotas; a LimitRange's
-- `limit_count` is its number of (type, resource) rows. Deleting a cluster cascades here as
-- everywhere.
-- SQLite twin of postgres/0027: times as text, JSON as text.

CREATE TABLE k8s_resourcequotas (
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
    max_percent_used    INTEGER,
    PRIMARY KEY (cluster_id, uid)
) STRICT;
CREATE UNIQUE INDEX k8s_resourcequotas_live ON k8s_resourcequotas (cluster_id, namespace, name) WHERE deleted_at IS NULL;
CREATE INDEX k8s_resourcequotas_by_uid ON k8s_resourcequotas (uid);

CREATE TABLE k8s_limitranges (
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
    limit_count     INTEGER NOT NULL,
    PRIMARY KEY (cluster_id, uid)
) STRICT;
CREATE UNIQUE INDEX k8s_limitranges_live ON k8s_limitranges (cluster_id, namespace, name) WHERE deleted_at IS NULL;
CREATE INDEX k8s_limitranges_by_uid ON k8s_limitranges (uid);
