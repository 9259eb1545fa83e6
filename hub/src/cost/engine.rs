//! [`allocate_hour`]: one cluster-hour of inputs → one row per namespace plus the idle row.
//!
//! Costs are accumulated as exact numerators (`quantity × price`) per namespace and divided
//! once when the row is finished, so containers priced differently (nodes of different
//! instance types) still round only once per row. Lookups are hash maps built once per call
//! and keyed by borrowed strings: the per-pod work allocates nothing.

use std::collections::HashMap;

use kubeworkz_shared::model::{LabelKeys, NamespaceProjection, ResourceAmounts};

use super::allocation::{
    Allocation, AllocationFlags, CostBreakdown, GpuAllocation, IDLE_NAMESPACE, NetworkAllocation,
    ResourceAllocation, StorageAllocation, UNALLOCATED,
};
use super::input::{HourInput, Interval, PodHour, millis_within};
use super::node_price::NodeRates;
use super::prices::ClusterPrices;
use super::{BYTES_PER_GB, MILLIS_PER_HOUR, NanoDollars};

/// Divisor of `millicore-milliseconds × nano-dollars per core-hour`.
const CPU_UNIT: u128 = 1000 * MILLIS_PER_HOUR;
/// Divisor of `byte-milliseconds × nano-dollars per GiB-hour`.
const BYTE_HOUR_UNIT: u128 = BYTES_PER_GB as u128 * MILLIS_PER_HOUR;
/// Divisor of `bytes × nano-dollars per GiB`.
const BYTE_UNIT: u128 = BYTES_PER_GB as u128;
/// Divisor of `GPU-milliseconds × nano-dollars per GPU-hour`.
const GPU_UNIT: u128 = MILLIS_PER_HOUR;

/// Allocates one hour of one cluster: a row per namespace that had running pods, bound claims
/// or known egress, sorted by namespace, and — when `input.nodes` is not empty — the idle row
/// ([`IDLE_NAMESPACE`]): node capacity cost − the CPU and memory cost allocated to pods,
/// per resource, clamped at zero and flagged `idle_clamped` when allocations exceed it.
///
/// Pure: the same input always gives the same rows. Team and cost center come from the
/// namespaces' labels in `input.namespaces` under `keys`; a namespace without the label (or
/// missing from the input) gets [`UNALLOCATED`].
pub fn allocate_hour(
    input: &HourInput,
    prices: &ClusterPrices,
    keys: &LabelKeys,
) -> Vec<Allocation> {
    let hour = Interval::hour(input.hour_start);
    let mut namespaces = bill_pods(input, prices, |pod| pod.namespace.as_str());
    for volume in &input.volumes {
        let bound = millis_within(&volume.bound, &hour);
        if bound == 0 {
            continue;
        }
        let accumulator = namespaces.entry(volume.namespace.as_str()).or_default();
        let byte_millis = u128::from(volume.requested_bytes) * u128::from(bound);
        accumulator.storage_byte_millis += byte_millis;
        accumulator.storage_numerator += byte_millis * u128::from(prices.base.storage_gib_hour.0);
    }

    let labels: HashMap<&str, &NamespaceProjection> = input
        .namespaces
        .iter()
        .map(|n| (n.name.as_str(), n))
        .collect();
    let mut allocated = Accumulator::default();
    let mut rows: Vec<Allocation> = namespaces
        .into_iter()
        .map(|(name, accumulator)| {
            allocated.cpu.add_billed(&accumulator.cpu);
            allocated.memory.add_billed(&accumulator.memory);
            allocated.gpu_millis += accumulator.gpu_millis;
            allocated.gpu_numerator += accumulator.gpu_numerator;
            let namespace = labels.get(name).copied();
            let label = |value: Option<&str>| value.unwrap_or(UNALLOCATED).to_owned();
            Allocation {
                cluster: input.cluster,
                start: hour.start,
                end: hour.end,
                namespace: name.to_owned(),
                team: label(namespace.and_then(|n| n.team(keys))),
                cost_center: label(namespace.and_then(|n| n.cost_center(keys))),
                labels: namespace.map(|n| n.labels.clone()).unwrap_or_default(),
                cost: accumulator.finish(&prices.base),
                pricing: Some(prices.pricing()),
            }
        })
        .collect();
    rows.sort_by(|a, b| a.namespace.cmp(&b.namespace));
    if !input.nodes.is_empty() {
        rows.push(idle_row(input, &hour, prices, &allocated));
    }
    rows
}

/// Milliseconds `pod` ran in `hour`, `None` when it neither ran nor sent egress then (it has
/// no share of the hour).
fn billed_millis(pod: &PodHour, hour: &Interval) -> Option<u64> {
    let running = millis_within(&pod.running, hour);
    (running > 0 || pod.egress_bytes.is_some()).then_some(running)
}

/// Bills every pod with a share of the hour into the accumulator of its group (`group`: the
/// namespace for the rows, the workload for [`allocate_workloads`]), each at its node's rates.
fn bill_pods<'a, K: std::hash::Hash + Eq>(
    input: &'a HourInput,
    prices: &ClusterPrices,
    group: impl Fn(&'a PodHour) -> K,
) -> HashMap<K, Accumulator> {
    let hour = Interval::hour(input.hour_start);
    let usage = usage_index(input);
    let node_rates: HashMap<&str, NodeRates> = input
        .nodes
        .iter()
        .map(|n| (n.name.as_str(), prices.for_node(n)))
        .collect();
    let base_rates = NodeRates::unit(prices.base);
    let mut groups: HashMap<K, Accumulator> = HashMap::new();
    for pod in &input.pods {
        let Some(running) = billed_millis(pod, &hour) else {
            continue;
        };
        let pod_rates = pod
            .node
            .as_deref()
            .and_then(|node| node_rates.get(node))
            .unwrap_or(&base_rates);
        groups
            .entry(group(pod))
            .or_default()
            .add_pod(pod, running, pod_rates, &usage);
    }
    groups
}

/// Usage summed per container over this hour's buckets.
#[derive(Clone, Copy, Debug, Default)]
struct ContainerUsage {
    cpu_millicore_seconds: u128,
    memory_byte_seconds: u128,
    covered_millis: u128,
}

impl ContainerUsage {
    /// Millicore-milliseconds and byte-milliseconds over `running` milliseconds, at the average
    /// rate of the covered time; `None` without covered time (no metrics).
    fn over(&self, running: u64) -> Option<(u128, u128)> {
        (self.covered_millis > 0).then(|| {
            let scale = |amount_seconds: u128| {
                amount_seconds * 1000 * u128::from(running) / self.covered_millis
            };
            (
                scale(self.cpu_millicore_seconds),
                scale(self.memory_byte_seconds),
            )
        })
    }
}

type ContainerKey<'a> = (&'a str, &'a str, &'a str);

fn usage_index(input: &HourInput) -> HashMap<ContainerKey<'_>, ContainerUsage> {
    let mut index: HashMap<ContainerKey<'_>, ContainerUsage> =
        HashMap::with_capacity(input.usage.len());
    for bucket in input
        .usage
        .iter()
        .filter(|b| b.hour_start == input.hour_start)
    {
        let key = (
            bucket.namespace.as_str(),
            bucket.pod.as_str(),
            bucket.container.as_str(),
        );
        let usage = index.entry(key).or_default();
        usage.cpu_millicore_seconds += u128::from(bucket.cpu_millicore_seconds);
        usage.memory_byte_seconds += u128::from(bucket.memory_byte_seconds);
        usage.covered_millis += u128::from(bucket.covered_millis);
    }
    index
}

/// One resource's quantities with the exact cost numerator (`Σ billed × price`).
#[derive(Clone, Copy, Debug, Default)]
struct ResourceAccumulator {
    quantities: ResourceAllocation,
    numerator: u128,
}

impl ResourceAccumulator {
    /// Bills one container: `max(request, usage)`, either alone when the other is unknown.
    fn bill(
        &mut self,
        request_rate: Option<u64>,
        used: Option<u128>,
        running: u64,
        price: NanoDollars,
    ) {
        let requested = request_rate.map(|rate| u128::from(rate) * u128::from(running));
        let billed = match (requested, used) {
            (Some(requested), Some(used)) => {
                self.quantities.measured_requested += requested;
                self.quantities.measured_used += used;
                requested.max(used)
            }
            (requested, used) => requested.or(used).unwrap_or(0),
        };
        self.quantities.requested += requested.unwrap_or(0);
        self.quantities.used += used.unwrap_or(0);
        self.quantities.billed += billed;
        self.numerator += billed * u128::from(price.0);
    }

    /// Adds what `other` billed (all the idle computation needs).
    fn add_billed(&mut self, other: &Self) {
        self.quantities.billed += other.quantities.billed;
        self.numerator += other.numerator;
    }

    fn finish(self, unit: u128) -> ResourceAllocation {
        ResourceAllocation {
            cost: NanoDollars::round_half_up(self.numerator, unit),
            ..self.quantities
        }
    }
}

/// A namespace's row under construction.
#[derive(Clone, Copy, Debug, Default)]
struct Accumulator {
    cpu: ResourceAccumulator,
    memory: ResourceAccumulator,
    storage_byte_millis: u128,
    storage_numerator: u128,
    gpu_millis: u128,
    gpu_numerator: u128,
    egress_bytes: Option<u64>,
    usage_unknown: bool,
}

impl Accumulator {
    fn add_pod(
        &mut self,
        pod: &PodHour,
        running: u64,
        rates: &NodeRates,
        usage: &HashMap<ContainerKey<'_>, ContainerUsage>,
    ) {
        for container in &pod.containers {
            let key = (
                pod.namespace.as_str(),
                pod.name.as_str(),
                container.name.as_str(),
            );
            let used = usage.get(&key).and_then(|u| u.over(running));
            self.usage_unknown |= used.is_none() && running > 0;
            self.bill(container.requests, used, running, rates);
        }
        // Init-step excess and overhead: reserved, never measured, billed as requested.
        if pod.pod_level.cpu_millis.is_some() || pod.pod_level.memory_bytes.is_some() {
            let requested_only = ResourceAmounts {
                cpu_millis: Some(pod.pod_level.cpu_millis.unwrap_or(0)),
                memory_bytes: Some(pod.pod_level.memory_bytes.unwrap_or(0)),
                ..ResourceAmounts::default()
            };
            self.bill(requested_only, None, running, rates);
        }
        if let Some(bytes) = pod.egress_bytes {
            self.egress_bytes = Some(self.egress_bytes.unwrap_or(0).saturating_add(bytes));
        }
    }

    fn bill(
        &mut self,
        requests: ResourceAmounts,
        used: Option<(u128, u128)>,
        running: u64,
        rates: &NodeRates,
    ) {
        self.cpu.bill(
            requests.cpu_millis,
            used.map(|u| u.0),
            running,
            rates.prices.cpu_core_hour,
        );
        self.memory.bill(
            requests.memory_bytes,
            used.map(|u| u.1),
            running,
            rates.prices.memory_gib_hour,
        );
        if let Some(gpus) = requests.gpus {
            let gpu_millis = u128::from(gpus) * u128::from(running);
            self.gpu_millis += gpu_millis;
            self.gpu_numerator += gpu_millis * u128::from(rates.gpu_hour.0);
        }
    }

    fn finish(self, prices: &super::Prices) -> CostBreakdown {
        CostBreakdown {
            cpu: self.cpu.finish(CPU_UNIT),
            memory: self.memory.finish(BYTE_HOUR_UNIT),
            storage: StorageAllocation {
                byte_millis: self.storage_byte_millis,
                cost: NanoDollars::round_half_up(self.storage_numerator, BYTE_HOUR_UNIT),
            },
            gpu: GpuAllocation {
                gpu_millis: self.gpu_millis,
                cost: NanoDollars::round_half_up(self.gpu_numerator, GPU_UNIT),
            },
            network: self.egress_bytes.map(|bytes| NetworkAllocation {
                egress_bytes: bytes,
                cost: NanoDollars::round_half_up(
                    u128::from(bytes) * u128::from(prices.network_egress_gib.0),
                    BYTE_UNIT,
                ),
            }),
            total: NanoDollars::ZERO,
            flags: AllocationFlags {
                usage_unknown: self.usage_unknown,
                idle_clamped: false,
            },
        }
        .with_total()
    }
}

/// Node capacity − allocated, per resource, in cost space (prices differ per node).
fn idle_row(
    input: &HourInput,
    hour: &Interval,
    prices: &ClusterPrices,
    allocated: &Accumulator,
) -> Allocation {
    let mut capacity = Accumulator::default();
    for node in &input.nodes {
        let present = millis_within(&node.present, hour);
        let requests = ResourceAmounts {
            cpu_millis: Some(node.capacity.cpu_millis),
            memory_bytes: Some(node.capacity.memory_bytes),
            gpus: Some(node.capacity.gpus),
            ..ResourceAmounts::default()
        };
        capacity.bill(requests, None, present, &prices.for_node(node));
    }
    let mut clamped = false;
    let mut idle = |capacity: &ResourceAccumulator, allocated: &ResourceAccumulator| {
        clamped |= allocated.numerator > capacity.numerator;
        ResourceAccumulator {
            quantities: ResourceAllocation {
                billed: capacity
                    .quantities
                    .billed
                    .saturating_sub(allocated.quantities.billed),
                ..ResourceAllocation::default()
            },
            numerator: capacity.numerator.saturating_sub(allocated.numerator),
        }
    };
    let cpu = idle(&capacity.cpu, &allocated.cpu).finish(CPU_UNIT);
    let memory = idle(&capacity.memory, &allocated.memory).finish(BYTE_HOUR_UNIT);
    clamped |= allocated.gpu_numerator > capacity.gpu_numerator;
    let gpu = GpuAllocation {
        gpu_millis: capacity.gpu_millis.saturating_sub(allocated.gpu_millis),
        cost: NanoDollars::round_half_up(
            capacity
                .gpu_numerator
                .saturating_sub(allocated.gpu_numerator),
            GPU_UNIT,
        ),
    };
    Allocation {
        cluster: input.cluster,
        start: hour.start,
        end: hour.end,
        namespace: IDLE_NAMESPACE.to_owned(),
        team: IDLE_NAMESPACE.to_owned(),
        cost_center: IDLE_NAMESPACE.to_owned(),
        labels: Default::default(),
        cost: CostBreakdown {
            cpu,
            memory,
            gpu,
            flags: AllocationFlags {
                usage_unknown: false,
                idle_clamped: clamped,
            },
            ..CostBreakdown::default()
        }
        .with_total(),
        pricing: Some(prices.pricing()),
    }
}

mod workloads;

pub use workloads::{BARE_POD_KIND, WorkloadAllocation, allocate_workloads, apportion};

#[cfg(test)]
mod tests;
