//! [`allocate_workloads`]: one cluster-hour's namespace rows split over the workloads whose
//! pods made them, so that cost can be grouped by workload (`aggregate=workload`) and still
//! add up exactly to the namespaces.
//!
//! Each workload is billed the way its namespace is (same containers, same rates, same
//! `max(request, usage)`), which gives its exact cost numerator per resource. The namespace
//! row rounds once per resource, so rounding each workload on its own could miss the row by a
//! few nano-dollars; instead the row's rounded CPU, memory, GPU and network costs are
//! apportioned over its workloads by those numerators (largest remainder), and the workloads
//! of a namespace-hour add up to its compute cost to the nano-dollar. Storage belongs to
//! claims, not pods, and stays on the namespace row; idle stays on the idle row.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use kubeworkz_shared::ids::ClusterId;
use kubeworkz_shared::time::UnixMillis;

use super::super::NanoDollars;
use super::super::allocation::{Allocation, CostBreakdown};
use super::super::input::{HourInput, Interval, PodHour};
use super::super::prices::ClusterPrices;
use super::{Accumulator, bill_pods, billed_millis};

/// Workload kind of a pod without a controller: the pod is its own workload.
pub const BARE_POD_KIND: &str = "Pod";

/// The compute cost of one workload in one namespace and hour: its share of the namespace's
/// row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadAllocation {
    /// The cluster.
    pub cluster: ClusterId,
    /// Start of the hour.
    pub start: UnixMillis,
    /// End of the hour (exclusive).
    pub end: UnixMillis,
    /// The namespace.
    pub namespace: String,
    /// `Deployment`, `StatefulSet`, `DaemonSet`, `Job`, `CronJob`, a bare `ReplicaSet`,
    /// `Node` (static pods), an operator's kind, or [`BARE_POD_KIND`].
    pub kind: String,
    /// The workload's name (the pod's, for a bare pod).
    pub name: String,
    /// Pods of the workload with a share of the hour.
    pub pods: u32,
    /// Distinct nodes those pods ran on: a DaemonSet's spread.
    pub nodes: u32,
    /// CPU, memory, GPU and network (storage is always zero here).
    pub cost: CostBreakdown,
}

/// The workload of a pod: its top owner, or the pod itself.
fn workload_of(pod: &PodHour) -> (&str, &str) {
    pod.owner
        .as_ref()
        .map_or((BARE_POD_KIND, pod.name.as_str()), |owner| {
            (owner.kind.as_api(), owner.name.as_str())
        })
}

type WorkloadKey<'a> = (&'a str, &'a str, &'a str);

/// Splits `rows` (what [`super::allocate_hour`] made of the same `input` and `prices`) over
/// the workloads of each namespace: one allocation per workload with a share of the hour,
/// sorted by namespace, kind and name. A namespace's workloads add up exactly to its row's
/// CPU, memory, GPU and network costs and quantities.
pub fn allocate_workloads(
    input: &HourInput,
    prices: &ClusterPrices,
    rows: &[Allocation],
) -> Vec<WorkloadAllocation> {
    let hour = Interval::hour(input.hour_start);
    let groups = bill_pods(input, prices, |pod| {
        let (kind, name) = workload_of(pod);
        (pod.namespace.as_str(), kind, name)
    });
    let mut spread: HashMap<WorkloadKey<'_>, (BTreeSet<&str>, BTreeSet<&str>)> = HashMap::new();
    for pod in &input.pods {
        if billed_millis(pod, &hour).is_none() {
            continue;
        }
        let (kind, name) = workload_of(pod);
        let (pods, nodes) = spread
            .entry((pod.namespace.as_str(), kind, name))
            .or_default();
        pods.insert(pod.uid.as_str());
        if let Some(node) = pod.node.as_deref() {
            nodes.insert(node);
        }
    }
    // Namespace by namespace, in a stable order, so apportioning is deterministic.
    let mut by_namespace: BTreeMap<&str, Vec<(WorkloadKey<'_>, Accumulator)>> = BTreeMap::new();
    for (key, accumulator) in groups {
        by_namespace
            .entry(key.0)
            .or_default()
            .push((key, accumulator));
    }
    let targets: HashMap<&str, &CostBreakdown> = rows
        .iter()
        .map(|row| (row.namespace.as_str(), &row.cost))
        .collect();
    let mut out = Vec::new();
    for (namespace, mut workloads) in by_namespace {
        workloads.sort_by(|a, b| a.0.cmp(&b.0));
        let mut costs: Vec<CostBreakdown> = workloads
            .iter()
            .map(|(_, accumulator)| accumulator.finish(&prices.base))
            .collect();
        if let Some(target) = targets.get(namespace) {
            reconcile(target, &workloads, &mut costs);
        }
        for (((_, kind, name), _), cost) in workloads.iter().zip(costs) {
            let (pods, nodes) = spread
                .get(&(namespace, *kind, *name))
                .map_or((0, 0), |(p, n)| (p.len(), n.len()));
            out.push(WorkloadAllocation {
                cluster: input.cluster,
                start: hour.start,
                end: hour.end,
                namespace: namespace.to_owned(),
                kind: (*kind).to_owned(),
                name: (*name).to_owned(),
                pods: u32::try_from(pods).unwrap_or(u32::MAX),
                nodes: u32::try_from(nodes).unwrap_or(u32::MAX),
                cost: cost.with_total(),
            });
        }
    }
    out
}

/// Replaces the workloads' own rounded costs by their shares of the namespace row's.
fn reconcile(
    target: &CostBreakdown,
    workloads: &[(WorkloadKey<'_>, Accumulator)],
    costs: &mut [CostBreakdown],
) {
    let weights = |pick: fn(&Accumulator) -> u128| -> Vec<u128> {
        workloads.iter().map(|(_, a)| pick(a)).collect()
    };
    let cpu = apportion(target.cpu.cost, &weights(|a| a.cpu.numerator));
    let memory = apportion(target.memory.cost, &weights(|a| a.memory.numerator));
    let gpu = apportion(target.gpu.cost, &weights(|a| a.gpu_numerator));
    let network_target = target.network.map_or(NanoDollars::ZERO, |n| n.cost);
    let network = apportion(
        network_target,
        &weights(|a| u128::from(a.egress_bytes.unwrap_or(0))),
    );
    for (i, cost) in costs.iter_mut().enumerate() {
        cost.cpu.cost = cpu[i];
        cost.memory.cost = memory[i];
        cost.gpu.cost = gpu[i];
        if let Some(n) = cost.network.as_mut() {
            n.cost = network[i];
        }
    }
}

/// Splits `total` over `weights` in proportion, exactly: each part is floored, and the
/// nano-dollars left go one each to the largest remainders (ties to the earlier weight). All
/// weights zero: nothing to go by, the first part takes it all (an empty list: nothing).
pub fn apportion(total: NanoDollars, weights: &[u128]) -> Vec<NanoDollars> {
    let sum: u128 = weights.iter().sum();
    if sum == 0 {
        return weights
            .iter()
            .enumerate()
            .map(|(i, _)| if i == 0 { total } else { NanoDollars::ZERO })
            .collect();
    }
    // total × weight must fit in u128: drop low bits of the weights when it would not.
    let bits = 128 - sum.leading_zeros() + 64;
    let shift = bits.saturating_sub(127);
    let scaled: Vec<u128> = weights.iter().map(|w| w >> shift).collect();
    let sum: u128 = scaled.iter().sum();
    if sum == 0 {
        return apportion(total, &vec![0; weights.len()]);
    }
    let total128 = u128::from(total.0);
    let mut parts: Vec<u64> = Vec::with_capacity(scaled.len());
    let mut remainders: Vec<(u128, usize)> = Vec::with_capacity(scaled.len());
    for (i, w) in scaled.iter().enumerate() {
        let exact = total128 * w;
        parts.push(u64::try_from(exact / sum).unwrap_or(u64::MAX));
        remainders.push((exact % sum, i));
    }
    let given: u64 = parts.iter().sum();
    let left = total.0.saturating_sub(given);
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in remainders
        .into_iter()
        .take(usize::try_from(left).unwrap_or(usize::MAX))
    {
        parts[i] += 1;
    }
    parts.into_iter().map(NanoDollars).collect()
}

#[cfg(test)]
mod tests;
