-- Right-sizing and efficiency by workload at scale (issue 28): usage rolled up per workload
-- container and UTC day, so a month of recommendations reads one row per container and day
-- instead of every pod's every hour.
--
-- One row per (cluster, UTC day, namespace, workload, container). A pod's workload is its
-- controlling owner as stored on the pod (`owner_kind`/`owner_name`), or the pod itself.
-- The row folds the pod-hours of the day's folded hours:
--   hours            hours of the day with usage of the container (any replica)
--   pod_hours        pod-hours of usage (one sample each of the CPU histogram)
--   replicas_max     most pods with usage in one hour of the day
--   cpu_requested_mcs / cpu_used_mcs / cpu_unused_mcs
--                    CPU requested, used and the unused request (max(0, requested − used)
--                    per pod-hour), millicore-seconds, of the pod-hours with a CPU request
--   memory_requested_bh / memory_used_bh / memory_unused_bh
--                    the same of memory, byte-hours, of the pod-hours with a memory request
--   memory_peak_bytes                          largest hourly memory maximum
--   cpu_histogram    the pod-hours' average millicores in log buckets, exact below 1024m,
--                    `index:count` pairs separated by spaces (see cost::rightsizing::histogram)
-- Requests are those of the pod row (live or deleted) over each pod-hour's covered time.
CREATE TABLE k8s_workload_usage (
    cluster_id      TEXT NOT NULL REFERENCES k8s_clusters (id) ON DELETE CASCADE,
    org_id          TEXT NOT NULL,
    namespace       TEXT NOT NULL,
    day             TEXT NOT NULL,
    workload_kind   TEXT NOT NULL,
    workload_name   TEXT NOT NULL,
    container       TEXT NOT NULL,
    hours           INTEGER NOT NULL,
    pod_hours       INTEGER NOT NULL,
    replicas_max    INTEGER NOT NULL,
    cpu_requested_mcs   INTEGER NOT NULL,
    cpu_used_mcs        INTEGER NOT NULL,
    cpu_unused_mcs      INTEGER NOT NULL,
    memory_requested_bh INTEGER NOT NULL,
    memory_used_bh      INTEGER NOT NULL,
    memory_unused_bh    INTEGER NOT NULL,
    memory_peak_bytes   INTEGER NOT NULL,
    cpu_histogram   TEXT NOT NULL,
    PRIMARY KEY (cluster_id, namespace, day, workload_kind, workload_name, container)
) STRICT;
CREATE INDEX k8s_workload_usage_day ON k8s_workload_usage (cluster_id, day);

-- Which hours of a cluster's day are folded into k8s_workload_usage (bit h for hour h):
-- folding an hour already folded rebuilds the day from the raw usage instead of adding it
-- twice, so a recomputed hour is idempotent.
CREATE TABLE k8s_workload_usage_days (
    cluster_id      TEXT NOT NULL REFERENCES k8s_clusters (id) ON DELETE CASCADE,
    org_id          TEXT NOT NULL,
    day             TEXT NOT NULL,
    hours_mask      INTEGER NOT NULL,
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (cluster_id, day)
) STRICT;
