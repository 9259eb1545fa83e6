//! The engine's output: one [`Allocation`] row per cluster, time step and namespace, and the
//! [`CostBreakdown`] that rows, roll-ups and aggregates share so they add up the same way.

use kubeworkz_shared::ids::ClusterId;
use kubeworkz_shared::model::Labels;
use kubeworkz_shared::time::UnixMillis;
use serde::{Deserialize, Serialize};

use super::{NanoDollars, Pricing};

/// Namespace of the idle row: node capacity nobody was allocated (OpenCost's name).
pub const IDLE_NAMESPACE: &str = "__idle__";
/// Team or cost center of a namespace without the configured label.
pub const UNALLOCATED: &str = "unallocated";

/// CPU or memory of a row. Quantities are millicore-milliseconds (CPU) or byte-milliseconds
/// (memory), summed over the row's containers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceAllocation {
    /// Requests × running time, over containers with a request (and pod-level reservations).
    pub requested: u128,
    /// Usage × running time, over containers with usage data.
    pub used: u128,
    /// What is billed: `max(request, usage)`, usage alone without a request, request alone
    /// without usage data. For the idle row: capacity − allocated.
    pub billed: u128,
    /// Requests of the containers that have both a request and usage data: the denominator of
    /// [`Self::efficiency`], so containers without metrics do not distort it.
    pub measured_requested: u128,
    /// Usage of those same containers: the numerator of [`Self::efficiency`].
    pub measured_used: u128,
    /// `billed × price`, rounded once (half up) for the row.
    pub cost: NanoDollars,
}

impl ResourceAllocation {
    /// Usage / request, where both are known: below 1 means over-provisioned. `None` when no
    /// container had both a request and usage data.
    pub fn efficiency(&self) -> Option<f64> {
        (self.measured_requested > 0)
            .then(|| self.measured_used as f64 / self.measured_requested as f64)
    }

    fn add(&mut self, other: &Self) {
        self.requested += other.requested;
        self.used += other.used;
        self.billed += other.billed;
        self.measured_requested += other.measured_requested;
        self.measured_used += other.measured_used;
        self.cost += other.cost;
    }
}

/// Persistent volumes of a row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageAllocation {
    /// Requested bytes × bound time, in byte-milliseconds.
    pub byte_millis: u128,
    /// `byte_millis × price`, rounded once for the row.
    pub cost: NanoDollars,
}

/// Network egress of a row, present only when some pod's egress bytes were known.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkAllocation {
    /// Bytes sent out of the cluster.
    pub egress_bytes: u64,
    /// `egress_bytes × price`, rounded once for the row.
    pub cost: NanoDollars,
}

/// GPUs of a row: requested GPUs × running time (GPUs are not shared, so the request is what is
/// billed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuAllocation {
    /// GPU-milliseconds: requested GPUs × running time; for the idle row, capacity − allocated.
    pub gpu_millis: u128,
    /// `gpu_millis × the node's GPU-hour price`, rounded once for the row.
    pub cost: NanoDollars,
}

/// Conditions a reader of a row must know to trust its numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocationFlags {
    /// Some container had no usage data: it was billed its request alone (or nothing, without a
    /// request either).
    pub usage_unknown: bool,
    /// Idle rows only: allocations exceeded node capacity, so idle was clamped to zero instead
    /// of going negative (usage bursts above capacity, or nodes missing from the input).
    pub idle_clamped: bool,
}

/// Quantities and costs by resource: the part of a row that adds up across rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CostBreakdown {
    /// CPU.
    pub cpu: ResourceAllocation,
    /// Memory.
    pub memory: ResourceAllocation,
    /// Persistent volumes.
    pub storage: StorageAllocation,
    /// Network egress, when known.
    pub network: Option<NetworkAllocation>,
    /// GPUs (priced in the `node` mode).
    #[serde(default)]
    pub gpu: GpuAllocation,
    /// Sum of the five costs.
    pub total: NanoDollars,
    /// Caveats.
    pub flags: AllocationFlags,
}

impl CostBreakdown {
    /// Adds `other` into `self`: quantities and costs sum, flags combine with "or", network is
    /// known if it was known on either side.
    pub fn add(&mut self, other: &Self) {
        self.cpu.add(&other.cpu);
        self.memory.add(&other.memory);
        self.storage.byte_millis += other.storage.byte_millis;
        self.storage.cost += other.storage.cost;
        self.gpu.gpu_millis += other.gpu.gpu_millis;
        self.gpu.cost += other.gpu.cost;
        self.network = match (self.network, other.network) {
            (Some(a), Some(b)) => Some(NetworkAllocation {
                egress_bytes: a.egress_bytes.saturating_add(b.egress_bytes),
                cost: a.cost + b.cost,
            }),
            (a, b) => a.or(b),
        };
        self.total += other.total;
        self.flags.usage_unknown |= other.flags.usage_unknown;
        self.flags.idle_clamped |= other.flags.idle_clamped;
    }

    /// Recomputes `total` from the five costs.
    pub(crate) fn with_total(mut self) -> Self {
        self.total = self.cpu.cost
            + self.memory.cost
            + self.storage.cost
            + self.gpu.cost
            + self.network.map_or(NanoDollars::ZERO, |n| n.cost);
        self
    }
}

/// The cost of one namespace in one cluster over `[start, end)` (an hour from the engine, a
/// day from [`super::rollup_daily`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    /// The cluster.
    pub cluster: ClusterId,
    /// Start of the period.
    pub start: UnixMillis,
    /// End of the period (exclusive).
    pub end: UnixMillis,
    /// Namespace, or [`IDLE_NAMESPACE`].
    pub namespace: String,
    /// Team from the namespace's label in that period; [`UNALLOCATED`] without one, and
    /// [`IDLE_NAMESPACE`] on the idle row so idle stays visible under any grouping.
    pub team: String,
    /// Cost center, likewise.
    pub cost_center: String,
    /// The namespace's labels in that period, for `aggregate=label:KEY`.
    pub labels: Labels,
    /// Quantities, costs and flags.
    pub cost: CostBreakdown,
    /// The mode and catalog that priced it; a day keeps its last hour's. `None` for rows
    /// computed before pricing was recorded.
    pub pricing: Option<Pricing>,
}

impl Allocation {
    /// True for the idle row of a cluster.
    pub fn is_idle(&self) -> bool {
        self.namespace == IDLE_NAMESPACE
    }

    /// The value this row is grouped under for `label:KEY`: the label's value, [`UNALLOCATED`]
    /// without it, [`IDLE_NAMESPACE`] for the idle row.
    pub fn label_value(&self, key: &str) -> &str {
        if self.is_idle() {
            return IDLE_NAMESPACE;
        }
        self.labels.get(key).map_or(UNALLOCATED, String::as_str)
    }
}
