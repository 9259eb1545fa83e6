//! The engine's inputs: one cluster-hour of pods, nodes, volumes, namespaces and usage, lean
//! and owned, built from the shared projections by the caller (the worker knows when each pod
//! ran; the engine does not read any store).

use kubeworkz_shared::ids::ClusterId;
use kubeworkz_shared::model::{
    ContainerKind, NamespaceProjection, NodeProjection, NodeResources, PodOwner, PodProjection,
    PvcProjection, ResourceAmounts, UsageBucket,
};
use kubeworkz_shared::time::{MILLIS_PER_HOUR, UnixMillis};

use super::catalog::{Provider, is_spot};

/// A half-open time interval `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interval {
    /// First instant inside.
    pub start: UnixMillis,
    /// First instant after.
    pub end: UnixMillis,
}

impl Interval {
    /// The interval `[start, end)`.
    pub const fn new(start: UnixMillis, end: UnixMillis) -> Self {
        Self { start, end }
    }

    /// The whole hour starting at `hour_start`.
    pub const fn hour(hour_start: UnixMillis) -> Self {
        Self::new(hour_start, UnixMillis(hour_start.0 + MILLIS_PER_HOUR))
    }

    /// Milliseconds this interval shares with `other`; 0 when they are disjoint.
    pub fn overlap_millis(&self, other: &Interval) -> u64 {
        let start = self.start.max(other.start);
        let end = self.end.min(other.end);
        u64::try_from(end.millis_since(start)).unwrap_or(0)
    }
}

/// Milliseconds of `hour` covered by `intervals`, which must not overlap each other (a pod or
/// claim is either running/bound or not; callers pass the periods between state changes).
pub(crate) fn millis_within(intervals: &[Interval], hour: &Interval) -> u64 {
    let total: u64 = intervals.iter().map(|i| i.overlap_millis(hour)).sum();
    total.min(MILLIS_PER_HOUR as u64)
}

/// Everything the engine needs to allocate one hour of one cluster.
#[derive(Clone, Debug)]
pub struct HourInput {
    /// The cluster.
    pub cluster: ClusterId,
    /// Start of the UTC hour (a multiple of one hour); rows cover `[hour_start, +1h)`.
    pub hour_start: UnixMillis,
    /// Pods that ran at some point in the hour.
    pub pods: Vec<PodHour>,
    /// Nodes that existed at some point in the hour: the capacity idle cost is measured from.
    pub nodes: Vec<NodeHour>,
    /// Claims bound at some point in the hour.
    pub volumes: Vec<VolumeHour>,
    /// Namespaces as they were in this hour: their labels then give team and cost center, so
    /// relabeling a namespace later does not rewrite this hour.
    pub namespaces: Vec<NamespaceProjection>,
    /// Usage buckets of this hour; buckets of other hours are ignored, and several buckets of
    /// one container (a late sample after the agent emitted the hour) are summed.
    pub usage: Vec<UsageBucket>,
}

impl HourInput {
    /// The hour as far as it has happened at `now`: every running, present and bound interval
    /// ends at `now` at the latest, and what had not begun by then is left out. The cost of an
    /// hour in progress is then what its elapsed part cost (the store would otherwise extend
    /// whatever still runs to the hour's end, billing minutes that have not happened). An hour
    /// that ended before `now` is unchanged.
    pub fn until(mut self, now: UnixMillis) -> Self {
        fn cut(intervals: &mut Vec<Interval>, now: UnixMillis) {
            for interval in intervals.iter_mut() {
                interval.end = interval.end.min(now);
            }
            intervals.retain(|interval| interval.start < interval.end);
        }
        for pod in &mut self.pods {
            cut(&mut pod.running, now);
        }
        self.pods.retain(|pod| !pod.running.is_empty());
        for node in &mut self.nodes {
            cut(&mut node.present, now);
        }
        self.nodes.retain(|node| !node.present.is_empty());
        for volume in &mut self.volumes {
            cut(&mut volume.bound, now);
        }
        self.volumes.retain(|volume| !volume.bound.is_empty());
        self
    }
}

/// A pod in one hour: what it requests and when it ran.
#[derive(Clone, Debug)]
pub struct PodHour {
    /// Namespace.
    pub namespace: String,
    /// Pod name (joins usage buckets).
    pub name: String,
    /// Object uid (tells a recreated pod of the same name apart).
    pub uid: String,
    /// Node it ran on, whose instance-type price applies; `None` or unknown: cluster price.
    pub node: Option<String>,
    /// Its workload: the top owner (a ReplicaSet's Deployment, a Job's CronJob when the hub
    /// knows the Job), `None` for a bare pod. Cost by workload groups on it.
    pub owner: Option<PodOwner>,
    /// App containers and native sidecars: each billed `max(request, usage)`.
    pub containers: Vec<ContainerHour>,
    /// What the pod reserves beyond its app containers and sidecars: the excess of an init
    /// step over them (Kubernetes' effective-request rule) plus `spec.overhead`. Billed as a
    /// request; init containers' own usage is not measured separately (they run for seconds,
    /// and whatever they reserve is in this amount).
    pub pod_level: ResourceAmounts,
    /// When the pod ran, non-overlapping; clamped to the hour.
    pub running: Vec<Interval>,
    /// Bytes sent out of the cluster in the hour, when known.
    pub egress_bytes: Option<u64>,
}

/// One app or sidecar container's requests.
#[derive(Clone, Debug)]
pub struct ContainerHour {
    /// Container name (joins usage buckets).
    pub name: String,
    /// Requests; `None` per resource means "not set": usage alone is billed.
    pub requests: ResourceAmounts,
}

impl PodHour {
    /// The pod as the engine sees it, running during `running`. Init containers enter by the
    /// effective-request rule of [`PodProjection::effective_requests`]: applied at pod level,
    /// because an init step's reservation is not any one container's.
    pub fn from_projection(pod: &PodProjection, running: Vec<Interval>) -> Self {
        let containers: Vec<ContainerHour> = pod
            .containers
            .iter()
            .filter(|c| c.kind != ContainerKind::Init)
            .map(|c| ContainerHour {
                name: c.name.clone(),
                requests: c.requests,
            })
            .collect();
        let effective = pod.effective_requests();
        let excess = |pick: fn(&ResourceAmounts) -> Option<u64>| {
            let per_container: u64 = containers.iter().filter_map(|c| pick(&c.requests)).sum();
            pick(&effective)
                .map(|total| total.saturating_sub(per_container))
                .filter(|excess| *excess > 0)
        };
        let pod_level = ResourceAmounts {
            cpu_millis: excess(|r| r.cpu_millis),
            memory_bytes: excess(|r| r.memory_bytes),
            ephemeral_storage_bytes: None,
            gpus: None,
        };
        Self {
            namespace: pod.namespace.clone(),
            name: pod.name.clone(),
            uid: pod.uid.clone(),
            node: pod.node.clone(),
            owner: pod.owner.clone(),
            containers,
            pod_level,
            running,
            egress_bytes: None,
        }
    }
}

/// A node in one hour: its capacity and price key.
#[derive(Clone, Debug)]
pub struct NodeHour {
    /// Node name (pods refer to it).
    pub name: String,
    /// Instance type, selecting the price.
    pub instance_type: Option<String>,
    /// Cloud provider, selecting the catalog's prices in the `node` mode.
    pub provider: Option<Provider>,
    /// Provider region (`topology.kubernetes.io/region`).
    pub region: Option<String>,
    /// Spot or preemptible capacity, priced with the provider's spot discount.
    pub spot: bool,
    /// Total capacity: what the node costs, so kube-reserved and system overhead show as idle.
    pub capacity: NodeResources,
    /// When the node existed, non-overlapping; clamped to the hour.
    pub present: Vec<Interval>,
}

impl NodeHour {
    /// The node as the engine sees it, present during `present`.
    pub fn from_projection(node: &NodeProjection, present: Vec<Interval>) -> Self {
        Self {
            name: node.name.clone(),
            instance_type: node.instance_type.clone(),
            provider: Provider::of_node(node.provider_id.as_deref(), &node.labels),
            region: node.region.clone(),
            spot: is_spot(&node.labels),
            capacity: node.capacity,
            present,
        }
    }
}

/// A persistent volume claim in one hour.
#[derive(Clone, Debug)]
pub struct VolumeHour {
    /// Namespace.
    pub namespace: String,
    /// Claim name.
    pub name: String,
    /// Requested size in bytes: what is billed.
    pub requested_bytes: u64,
    /// When the claim was bound, non-overlapping; clamped to the hour.
    pub bound: Vec<Interval>,
}

impl VolumeHour {
    /// The claim as the engine sees it, bound during `bound`. A claim without a requested size
    /// (statically bound) is billed its bound capacity.
    pub fn from_projection(claim: &PvcProjection, bound: Vec<Interval>) -> Self {
        Self {
            namespace: claim.namespace.clone(),
            name: claim.name.clone(),
            requested_bytes: claim.requested_bytes.or(claim.capacity_bytes).unwrap_or(0),
            bound,
        }
    }
}

#[cfg(test)]
mod tests {
    use kubeworkz_shared::ids::ClusterId;
    use kubeworkz_shared::model::LabelKeys;

    use super::super::fixtures::{GIB, HOUR, at, container, empty_hour, node, pod, usage, volume};
    use super::super::{ClusterPrices, NanoDollars, allocate_hour};
    use super::*;

    fn total(input: &HourInput) -> NanoDollars {
        allocate_hour(input, &ClusterPrices::default(), &LabelKeys::default())
            .iter()
            .map(|row| row.cost.total)
            .sum()
    }

    fn hour_so_far() -> HourInput {
        HourInput {
            pods: vec![
                pod(
                    "web",
                    "early",
                    "node-a",
                    vec![container("c", Some(1000), Some(GIB))],
                    HOUR,
                    at(1, 0),
                ),
                pod(
                    "web",
                    "late",
                    "node-a",
                    vec![container("c", Some(1000), None)],
                    at(0, 40),
                    at(1, 0),
                ),
            ],
            nodes: vec![node("node-a", None, 4000, 16 * GIB)],
            volumes: vec![volume("web", "data", 10 * GIB, at(0, 10), at(1, 0))],
            usage: vec![usage("web", "early", "c", HOUR, 500, GIB)],
            ..empty_hour(ClusterId::new(), HOUR)
        }
    }

    #[test]
    fn an_hour_in_progress_ends_at_now_and_drops_what_had_not_begun() {
        let cut = hour_so_far().until(at(0, 30));
        assert_eq!(cut.pods.len(), 1, "the pod starting at :40 had not begun");
        assert_eq!(cut.pods[0].running, vec![Interval::new(HOUR, at(0, 30))]);
        assert_eq!(cut.nodes[0].present[0].end, at(0, 30));
        assert_eq!(
            cut.volumes[0].bound,
            vec![Interval::new(at(0, 10), at(0, 30))]
        );
        assert_eq!(
            cut.usage.len(),
            1,
            "usage is what was measured, kept as it is"
        );
    }

    #[test]
    fn half_an_hour_so_far_costs_half_of_the_whole_steady_hour() {
        let steady = || HourInput {
            pods: vec![pod(
                "web",
                "early",
                "node-a",
                vec![container("c", Some(1000), Some(GIB))],
                HOUR,
                at(1, 0),
            )],
            nodes: vec![node("node-a", None, 4000, 16 * GIB)],
            ..empty_hour(ClusterId::new(), HOUR)
        };
        let whole = total(&steady());
        let half = total(&steady().until(at(0, 30)));
        assert!(half > NanoDollars(0));
        assert_eq!(NanoDollars(half.0 * 2), whole);
    }

    #[test]
    fn an_hour_that_ended_is_unchanged() {
        let input = hour_so_far();
        let later = hour_so_far().until(at(3, 0));
        assert_eq!(total(&later), total(&input));
        assert_eq!(later.pods.len(), input.pods.len());
    }
}
