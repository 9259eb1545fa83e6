-- Cost by workload (issue 26, `aggregate=workload`): each hour's namespace cost rows split
-- over the workloads whose pods made them (cost::allocate_workloads). One row per cluster,
-- hour, namespace and workload (its top owner's kind and name, `Pod` and the pod's name for
-- a bare pod), saved with the hour's k8s_cost_attribution rows and replaced with them.
--
-- A row holds the workload's compute only: CPU, memory, GPU and network, quantities in the
-- units of k8s_cost_attribution (millicore-seconds, byte-hours, GPU-seconds, bytes) and the
-- workload's share of each of the namespace row's rounded costs, so the workloads of a
-- namespace-hour add up exactly to its compute cost. Storage and idle stay on
-- k8s_cost_attribution. `pods` and `nodes` count the workload's pods with a share of the
-- hour and the distinct nodes they ran on (a DaemonSet's spread).
CREATE TABLE k8s_workload_costs (
    cluster_id      UUID NOT NULL REFERENCES k8s_clusters (id) ON DELETE CASCADE,
    org_id          UUID NOT NULL,
    hour_start      TIMESTAMPTZ NOT NULL,
    namespace       TEXT NOT NULL,
    workload_kind   TEXT NOT NULL,
    workload_name   TEXT NOT NULL,
    pods            BIGINT NOT NULL,
    nodes           BIGINT NOT NULL,
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
    gpu_requested_gs            BIGINT NOT NULL,
    network_egress_bytes        BIGINT,
    cpu_cost_nanos              BIGINT NOT NULL,
    memory_cost_nanos           BIGINT NOT NULL,
    gpu_cost_nanos              BIGINT NOT NULL,
    network_cost_nanos          BIGINT NOT NULL,
    total_cost_nanos            BIGINT NOT NULL,
    usage_unknown               BOOLEAN NOT NULL,
    computed_at                 TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (cluster_id, hour_start, namespace, workload_kind, workload_name)
);
CREATE INDEX k8s_workload_costs_org ON k8s_workload_costs (org_id, hour_start);
