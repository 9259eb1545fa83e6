//! `aggregate=workload`: the hourly namespace rows of a window regrouped by workload, exactly.
//!
//! A namespace-hour's compute (CPU, memory, GPU, network) is split over its workloads by the
//! engine ([`crate::cost::allocate_workloads`]); its storage becomes the namespace's
//! [`STORAGE_KIND`] line, and an idle row the cluster's [`IDLE_NAMESPACE`] line. A
//! namespace-hour computed before workloads were recorded has no split: its compute becomes
//! the namespace's [`UNATTRIBUTED_KIND`] line. Every row's cost lands in exactly one line,
//! so the lines add up to the same total as any other grouping of the same rows.

use std::collections::{BTreeMap, HashMap};

use kubeworkz_shared::ids::ClusterId;
use kubeworkz_shared::time::UnixMillis;

use super::super::allocation::{Allocation, CostBreakdown, IDLE_NAMESPACE, StorageAllocation};
use super::super::engine::WorkloadAllocation;
use super::super::window::Window;

/// Kind of a namespace's storage line: its claims, which belong to no workload.
pub const STORAGE_KIND: &str = "__storage__";
/// Kind of a namespace's compute in hours computed before cost by workload existed.
pub const UNATTRIBUTED_KIND: &str = "__unattributed__";

/// What a workload line is: a workload of a namespace, or a namespace's storage or
/// unattributed compute, or a cluster's idle.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct WorkloadRef {
    /// The cluster.
    pub cluster: ClusterId,
    /// The workload's kind, or [`STORAGE_KIND`], [`UNATTRIBUTED_KIND`], [`IDLE_NAMESPACE`].
    pub kind: String,
    /// The namespace (empty for idle).
    pub namespace: String,
    /// The workload's name (empty for the other lines).
    pub name: String,
    /// The most pods the workload had in one hour of the window.
    pub pods: u32,
    /// The most nodes its pods ran on in one hour of the window (a DaemonSet's spread).
    pub nodes: u32,
}

impl WorkloadRef {
    /// The line's key: `Kind/namespace/name`, `__storage__/namespace`,
    /// `__unattributed__/namespace` or `__idle__` (the cluster is beside it).
    pub fn key(&self) -> String {
        match (self.namespace.is_empty(), self.name.is_empty()) {
            (true, _) => self.kind.clone(),
            (false, true) => format!("{}/{}", self.kind, self.namespace),
            (false, false) => format!("{}/{}/{}", self.kind, self.namespace, self.name),
        }
    }
}

/// One line of `aggregate=workload`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadGroup {
    /// What it is.
    pub workload: WorkloadRef,
    /// Its sums over the window.
    pub cost: CostBreakdown,
}

type GroupKey = (ClusterId, String, String, String);

/// Regroups the namespace `rows` starting inside `window` (already filtered) by workload,
/// with `workloads` the stored split of those hours. Sorted by total cost, highest first,
/// then by cluster and key.
pub fn aggregate_workloads(
    rows: &[Allocation],
    workloads: &[WorkloadAllocation],
    window: Window,
) -> Vec<WorkloadGroup> {
    let mut split: HashMap<(ClusterId, UnixMillis, &str), Vec<&WorkloadAllocation>> =
        HashMap::new();
    for w in workloads {
        split
            .entry((w.cluster, w.start, w.namespace.as_str()))
            .or_default()
            .push(w);
    }
    let mut groups: BTreeMap<GroupKey, (CostBreakdown, u32, u32)> = BTreeMap::new();
    let mut add = |key: GroupKey, cost: &CostBreakdown, pods: u32, nodes: u32| {
        let group = groups.entry(key).or_default();
        group.0.add(cost);
        group.1 = group.1.max(pods);
        group.2 = group.2.max(nodes);
    };
    for row in rows.iter().filter(|row| window.contains(row.start)) {
        let cluster = row.cluster;
        if row.is_idle() {
            let key = (
                cluster,
                IDLE_NAMESPACE.to_owned(),
                String::new(),
                String::new(),
            );
            add(key, &row.cost, 0, 0);
            continue;
        }
        let namespace = row.namespace.clone();
        let storage = row.cost.storage;
        if storage != StorageAllocation::default() {
            let only_storage = CostBreakdown {
                storage,
                ..CostBreakdown::default()
            }
            .with_total();
            let key = (
                cluster,
                STORAGE_KIND.to_owned(),
                namespace.clone(),
                String::new(),
            );
            add(key, &only_storage, 0, 0);
        }
        match split.get(&(cluster, row.start, row.namespace.as_str())) {
            Some(parts) => {
                for w in parts {
                    let key = (cluster, w.kind.clone(), namespace.clone(), w.name.clone());
                    add(key, &w.cost, w.pods, w.nodes);
                }
            }
            None => {
                let compute = CostBreakdown {
                    storage: StorageAllocation::default(),
                    ..row.cost
                }
                .with_total();
                if compute != CostBreakdown::default() {
                    let key = (
                        cluster,
                        UNATTRIBUTED_KIND.to_owned(),
                        namespace,
                        String::new(),
                    );
                    add(key, &compute, 0, 0);
                }
            }
        }
    }
    let mut lines: Vec<WorkloadGroup> = groups
        .into_iter()
        .map(
            |((cluster, kind, namespace, name), (cost, pods, nodes))| WorkloadGroup {
                workload: WorkloadRef {
                    cluster,
                    kind,
                    namespace,
                    name,
                    pods,
                    nodes,
                },
                cost,
            },
        )
        .collect();
    lines.sort_by(|a, b| {
        b.cost
            .total
            .cmp(&a.cost.total)
            .then_with(|| a.workload.cluster.cmp(&b.workload.cluster))
            .then_with(|| a.workload.key().cmp(&b.workload.key()))
    });
    lines
}

#[cfg(test)]
mod tests;
