//! Test builders shared by the engine and roll-up tests: inputs in the units people think in
//! (cores, GiB, minutes past the hour).

use kubeworkz_shared::ids::ClusterId;
use kubeworkz_shared::model::{
    Labels, NamespacePhase, NamespaceProjection, NodeResources, ResourceAmounts, UsageBucket,
};
use kubeworkz_shared::time::UnixMillis;

use super::input::{ContainerHour, HourInput, Interval, NodeHour, PodHour, VolumeHour};

pub(super) const GIB: u64 = 1 << 30;
/// 2024-05-01T10:00:00Z.
pub(super) const HOUR: UnixMillis = UnixMillis(1_714_557_600_000);

/// `minutes` past [`HOUR`] plus `hours` hours.
pub(super) fn at(hours: i64, minutes: i64) -> UnixMillis {
    UnixMillis(HOUR.0 + hours * 3_600_000 + minutes * 60_000)
}

pub(super) fn empty_hour(cluster: ClusterId, hour_start: UnixMillis) -> HourInput {
    HourInput {
        cluster,
        hour_start,
        pods: Vec::new(),
        nodes: Vec::new(),
        volumes: Vec::new(),
        namespaces: Vec::new(),
        usage: Vec::new(),
    }
}

pub(super) fn requests(cpu_millis: Option<u64>, memory_bytes: Option<u64>) -> ResourceAmounts {
    ResourceAmounts {
        cpu_millis,
        memory_bytes,
        ..ResourceAmounts::default()
    }
}

pub(super) fn container(
    name: &str,
    cpu_millis: Option<u64>,
    memory_bytes: Option<u64>,
) -> ContainerHour {
    ContainerHour {
        name: name.to_owned(),
        requests: requests(cpu_millis, memory_bytes),
    }
}

/// A pod on `node` running over `[from, to)`.
pub(super) fn pod(
    namespace: &str,
    name: &str,
    node: &str,
    containers: Vec<ContainerHour>,
    from: UnixMillis,
    to: UnixMillis,
) -> PodHour {
    PodHour {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        uid: format!("uid-{name}"),
        node: Some(node.to_owned()),
        owner: None,
        containers,
        pod_level: ResourceAmounts::default(),
        running: vec![Interval::new(from, to)],
        egress_bytes: None,
    }
}

/// A bucket of constant usage over the whole hour starting at `hour_start`.
pub(super) fn usage(
    namespace: &str,
    pod: &str,
    container: &str,
    hour_start: UnixMillis,
    cpu_millis: u64,
    memory_bytes: u64,
) -> UsageBucket {
    UsageBucket {
        namespace: namespace.to_owned(),
        pod: pod.to_owned(),
        container: container.to_owned(),
        hour_start,
        cpu_millicore_seconds: cpu_millis * 3600,
        memory_byte_seconds: memory_bytes * 3600,
        memory_max_bytes: memory_bytes,
        samples: 120,
        covered_millis: 3_600_000,
    }
}

pub(super) fn node(
    name: &str,
    instance_type: Option<&str>,
    cpu_millis: u64,
    memory_bytes: u64,
) -> NodeHour {
    NodeHour {
        name: name.to_owned(),
        instance_type: instance_type.map(str::to_owned),
        provider: None,
        region: None,
        spot: false,
        capacity: NodeResources {
            cpu_millis,
            memory_bytes,
            pods: 110,
            ..NodeResources::default()
        },
        present: vec![Interval::new(UnixMillis(i64::MIN), UnixMillis(i64::MAX))],
    }
}

pub(super) fn volume(
    namespace: &str,
    name: &str,
    bytes: u64,
    from: UnixMillis,
    to: UnixMillis,
) -> VolumeHour {
    VolumeHour {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        requested_bytes: bytes,
        bound: vec![Interval::new(from, to)],
    }
}

pub(super) fn namespace(name: &str, labels: &[(&str, &str)]) -> NamespaceProjection {
    NamespaceProjection {
        name: name.to_owned(),
        uid: format!("uid-{name}"),
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<Labels>(),
        phase: NamespacePhase::Active,
        created: None,
    }
}

/// The seed's worked example: `production-api` of team `platform`, cost center `engineering`,
/// one pod requesting 4 cores / 8 GiB and using 3.5 cores / 7 GiB for the whole hour.
pub(super) fn seed_hour(cluster: ClusterId, hour_start: UnixMillis) -> HourInput {
    let end = UnixMillis(hour_start.0 + 3_600_000);
    HourInput {
        pods: vec![pod(
            "production-api",
            "api-0",
            "node-a",
            vec![container("api", Some(4000), Some(8 * GIB))],
            hour_start,
            end,
        )],
        namespaces: vec![namespace(
            "production-api",
            &[("team", "platform"), ("cost-center", "engineering")],
        )],
        usage: vec![usage(
            "production-api",
            "api-0",
            "api",
            hour_start,
            3500,
            7 * GIB,
        )],
        ..empty_hour(cluster, hour_start)
    }
}
