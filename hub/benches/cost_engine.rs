//! Cost engine throughput: one hour of a large cluster (100k pods with 2 containers each in
//! 1,000 namespaces on 500 nodes, usage for every container). Goal: under one second.
//! Then the same hour split over its workloads (`allocate_workloads`, cost by workload: each
//! namespace's pods in 10 Deployments, one pod in 20 a DaemonSet's), which the cost run does
//! after it.
//!
//! A plain binary (no bench harness): `cargo bench -p kubeworkz-hub --bench cost_engine`.
//! Prints the median, fastest and slowest of the runs.

use std::hint::black_box;
use std::time::{Duration, Instant};

use kubeworkz_hub::cost::{
    ClusterPrices, ContainerHour, HourInput, Interval, NodeHour, PodHour, Provider, allocate_hour,
    allocate_workloads,
};
use kubeworkz_shared::ids::ClusterId;
use kubeworkz_shared::model::{
    LabelKeys, NamespacePhase, NamespaceProjection, NodeResources, OwnerKind, PodOwner,
    ResourceAmounts, UsageBucket,
};
use kubeworkz_shared::time::UnixMillis;

const PODS: usize = 100_000;
const NAMESPACES: usize = 1_000;
const NODES: usize = 500;
const CONTAINERS: [&str; 2] = ["app", "proxy"];
const RUNS: usize = 7;
const HOUR: UnixMillis = UnixMillis(1_714_557_600_000);

fn input() -> HourInput {
    let hour = Interval::hour(HOUR);
    let nodes = (0..NODES)
        .map(|n| NodeHour {
            name: format!("node-{n}"),
            instance_type: Some(
                if n % 2 == 0 {
                    "m5.xlarge"
                } else {
                    "c5.2xlarge"
                }
                .into(),
            ),
            provider: Some(Provider::Aws),
            region: Some("us-east-1".into()),
            spot: n % 4 == 1,
            capacity: NodeResources {
                cpu_millis: 64_000,
                memory_bytes: 256 << 30,
                pods: 250,
                ..NodeResources::default()
            },
            present: vec![hour],
        })
        .collect();
    let namespaces = (0..NAMESPACES)
        .map(|n| NamespaceProjection {
            name: format!("ns-{n}"),
            uid: format!("ns-uid-{n}"),
            labels: [
                ("team".to_owned(), format!("team-{}", n % 40)),
                ("cost-center".to_owned(), format!("cc-{}", n % 7)),
            ]
            .into(),
            phase: NamespacePhase::Active,
            created: None,
        })
        .collect();
    let mut pods = Vec::with_capacity(PODS);
    let mut usage = Vec::with_capacity(PODS * CONTAINERS.len());
    for p in 0..PODS {
        let namespace = format!("ns-{}", p % NAMESPACES);
        let name = format!("pod-{p}");
        // A quarter of the pods start or stop inside the hour.
        let start = UnixMillis(HOUR.0 + if p % 4 == 0 { 1_200_000 } else { 0 });
        let containers = CONTAINERS
            .iter()
            .map(|c| ContainerHour {
                name: (*c).to_owned(),
                requests: ResourceAmounts {
                    cpu_millis: Some(250),
                    memory_bytes: Some(512 << 20),
                    ..ResourceAmounts::default()
                },
            })
            .collect();
        for (i, c) in CONTAINERS.iter().enumerate() {
            let cpu = 100 + (p as u64 * 7 + i as u64) % 300;
            let memory = (300 + (p as u64 % 400)) << 20;
            usage.push(UsageBucket {
                namespace: namespace.clone(),
                pod: name.clone(),
                container: (*c).to_owned(),
                hour_start: HOUR,
                cpu_millicore_seconds: cpu * 3600,
                memory_byte_seconds: memory * 3600,
                memory_max_bytes: memory,
                samples: 120,
                covered_millis: 3_600_000,
            });
        }
        pods.push(PodHour {
            namespace,
            name,
            uid: format!("uid-{p}"),
            node: Some(format!("node-{}", p % NODES)),
            owner: Some(if p % 20 == 0 {
                PodOwner {
                    kind: OwnerKind::DaemonSet,
                    name: "agent".into(),
                }
            } else {
                PodOwner {
                    kind: OwnerKind::Deployment,
                    name: format!("app-{}", p % 10),
                }
            }),
            containers,
            pod_level: ResourceAmounts::default(),
            running: vec![Interval::new(start, hour.end)],
            egress_bytes: None,
        });
    }
    HourInput {
        cluster: ClusterId::new(),
        hour_start: HOUR,
        pods,
        nodes,
        volumes: Vec::new(),
        namespaces,
        usage,
    }
}

fn main() {
    let input = input();
    let prices = ClusterPrices::default();
    let keys = LabelKeys::default();
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            let rows = allocate_hour(black_box(&input), &prices, &keys);
            let elapsed = started.elapsed();
            assert_eq!(rows.len(), NAMESPACES + 1);
            black_box(rows);
            elapsed
        })
        .collect();
    times.sort();
    println!(
        "cost_engine: one hour, {PODS} pods × {} containers, {NAMESPACES} namespaces, {NODES} nodes: \
         median {:?}, fastest {:?}, slowest {:?} over {RUNS} runs",
        CONTAINERS.len(),
        times[RUNS / 2],
        times[0],
        times[RUNS - 1],
    );

    let rows = allocate_hour(&input, &prices, &keys);
    let mut split: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            let workloads = allocate_workloads(black_box(&input), &prices, &rows);
            let elapsed = started.elapsed();
            black_box(workloads);
            elapsed
        })
        .collect();
    split.sort();
    let workloads = allocate_workloads(&input, &prices, &rows).len();
    println!(
        "cost_engine: the same hour split over {workloads} workloads: median {:?}, fastest {:?}, \
         slowest {:?} over {RUNS} runs",
        split[RUNS / 2],
        split[0],
        split[RUNS - 1],
    );
}
