//! One cost hour end to end on each backend: 100k pods (2 containers each) in 1,000
//! namespaces on 500 nodes, with usage for every container, already ingested; then the
//! worker's unit `run_hour` (load the hour from the store → engine → save, replacing) is timed,
//! and its three parts separately. Goal: under 5 s end to end.
//!
//! A plain binary: `cargo bench -p kubeworkz-hub --bench cost_store` (needs `DATABASE_URL`
//! for PostgreSQL; `KW_BACKENDS=sqlite,postgres`, `KW_PODS`, `KW_RUNS` to change). Ingest is
//! set-up, not measured. Prints median, fastest and slowest per step and backend.

use std::time::Instant;

use kubeworkz_hub::cost::{ClusterPrices, allocate_hour, run_hour};
use kubeworkz_hub::store::Cursor;
use kubeworkz_shared::change::{Change, ChangeBatch, Object};
use kubeworkz_shared::model::pod::{ContainerKind, ContainerProjection, PodPhase, QosClass};
use kubeworkz_shared::model::{
    LabelKeys, NamespacePhase, NamespaceProjection, NodeProjection, NodeResources, NodeRole,
    PodProjection, ResourceAmounts, UsageBucket,
};
use kubeworkz_shared::time::{MILLIS_PER_HOUR, UnixMillis};

const NAMESPACES: usize = 1_000;
const NODES: usize = 500;
const CONTAINERS: [&str; 2] = ["app", "proxy"];

fn objects(pods: usize, hour: UnixMillis) -> Vec<Object> {
    let mut out = Vec::with_capacity(pods + NODES + NAMESPACES);
    let capacity = NodeResources {
        cpu_millis: 64_000,
        memory_bytes: 256 << 30,
        pods: 250,
        ..NodeResources::default()
    };
    for n in 0..NODES {
        out.push(Object::Node(NodeProjection {
            name: format!("node-{n}"),
            uid: format!("node-uid-{n}"),
            role: NodeRole::Worker,
            instance_type: Some(
                if n % 2 == 0 {
                    "m5.xlarge"
                } else {
                    "c5.2xlarge"
                }
                .into(),
            ),
            zone: None,
            region: None,
            capacity,
            allocatable: capacity,
            conditions: vec![],
            kubelet_version: "v1.36.3".into(),
            provider_id: None,
            labels: Default::default(),
            taints: vec![],
            created: Some(UnixMillis(hour.0 - 24 * MILLIS_PER_HOUR)),
            unschedulable: false,
        }));
    }
    for n in 0..NAMESPACES {
        out.push(Object::Namespace(NamespaceProjection {
            name: format!("ns-{n}"),
            uid: format!("ns-uid-{n}"),
            labels: [
                ("team".to_owned(), format!("team-{}", n % 40)),
                ("cost-center".to_owned(), format!("cc-{}", n % 7)),
            ]
            .into(),
            phase: NamespacePhase::Active,
            created: Some(UnixMillis(hour.0 - 24 * MILLIS_PER_HOUR)),
        }));
    }
    let requests = ResourceAmounts {
        cpu_millis: Some(250),
        memory_bytes: Some(512 << 20),
        ..ResourceAmounts::default()
    };
    for p in 0..pods {
        // A quarter of the pods start inside the hour.
        let start = hour.0
            + if p % 4 == 0 {
                1_200_000
            } else {
                -MILLIS_PER_HOUR
            };
        out.push(Object::Pod(PodProjection {
            name: format!("pod-{p}"),
            namespace: format!("ns-{}", p % NAMESPACES),
            uid: format!("pod-uid-{p}"),
            node: Some(format!("node-{}", p % NODES)),
            phase: PodPhase::Running,
            owner: None,
            containers: CONTAINERS
                .iter()
                .map(|c| ContainerProjection {
                    name: (*c).to_owned(),
                    kind: ContainerKind::App,
                    requests,
                    limits: ResourceAmounts::default(),
                    restarts: 0,
                    ready: true,
                    image: String::new(),
                    state: None,
                    last_termination_reason: None,
                })
                .collect(),
            overhead: ResourceAmounts::default(),
            ready: true,
            start_time: Some(UnixMillis(start)),
            qos_class: QosClass::Burstable,
            pvc_claims: vec![],
            created: Some(UnixMillis(start - 60_000)),
            deleted: None,
            labels: Default::default(),
            reason: None,
        }));
    }
    out
}

fn usage(pods: usize, hour: UnixMillis) -> Vec<UsageBucket> {
    let mut out = Vec::with_capacity(pods * CONTAINERS.len());
    for p in 0..pods {
        for (i, c) in CONTAINERS.iter().enumerate() {
            let cpu = 100 + (p as u64 * 7 + i as u64) % 300;
            out.push(UsageBucket {
                namespace: format!("ns-{}", p % NAMESPACES),
                pod: format!("pod-{p}"),
                container: (*c).to_owned(),
                hour_start: hour,
                cpu_millicore_seconds: cpu * 3600,
                memory_byte_seconds: (400 << 20) * 3600,
                memory_max_bytes: 400 << 20,
                samples: 120,
                covered_millis: 3_600_000,
            });
        }
    }
    out
}

async fn bench(backend: &str, pods: usize, runs: usize) {
    let bench = common::fresh_store(backend).await;
    let (store, org) = (bench.store.clone(), bench.org);
    let cluster = common::agent_clusters(&store, org, 1).await[0];
    let hour = UnixMillis(UnixMillis::now().hour_start().0 - 2 * MILLIS_PER_HOUR);
    let setup = Instant::now();
    let mut seq = 0;
    let mut cursor = || {
        seq += 1;
        Cursor { epoch: 1, seq }
    };
    for chunk in objects(pods, hour).chunks(5_000) {
        let batch = ChangeBatch {
            produced_at: UnixMillis::now(),
            changes: chunk.iter().cloned().map(Change::Upsert).collect(),
        };
        store
            .ingest_changes(org, cluster, cursor(), &batch)
            .await
            .unwrap();
    }
    for chunk in usage(pods, hour).chunks(10_000) {
        store
            .ingest_usage(org, cluster, cursor(), chunk)
            .await
            .unwrap();
    }
    println!(
        "{backend:>8} set-up: {pods} pods and their usage ingested in {:.1}s",
        setup.elapsed().as_secs_f64()
    );

    let prices = ClusterPrices::uniform(Default::default());
    let keys = LabelKeys::default();
    let (mut load, mut engine, mut save, mut total) = (vec![], vec![], vec![], vec![]);
    let mut rows = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let input = store.cost_hour_input(org, cluster, hour).await.unwrap();
        load.push(t.elapsed());
        assert_eq!(input.pods.len(), pods);
        let t = Instant::now();
        let allocation = allocate_hour(&input, &prices, &keys);
        engine.push(t.elapsed());
        let t = Instant::now();
        store
            .save_cost_hour(org, cluster, hour, &allocation, chrono::Utc::now())
            .await
            .unwrap();
        save.push(t.elapsed());
        let t = Instant::now();
        rows = run_hour(&store, org, cluster, hour, &prices, &keys)
            .await
            .unwrap()
            .len();
        total.push(t.elapsed());
    }
    println!("{backend:>8} {rows} rows per hour ({NAMESPACES} namespaces + idle)");
    common::summary(&format!("{backend:>8} load (store)"), &mut load);
    common::summary(&format!("{backend:>8} engine"), &mut engine);
    common::summary(&format!("{backend:>8} save (store)"), &mut save);
    common::summary(&format!("{backend:>8} run_hour end to end"), &mut total);
    store.close().await;
}

mod common;
#[path = "../tests/support/mod.rs"]
mod support;

fn main() {
    let pods = common::env("KW_PODS", 100_000);
    let runs = common::env("KW_RUNS", 5);
    let backends = std::env::var("KW_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for backend in backends.split(',') {
        runtime.block_on(bench(backend.trim(), pods, runs));
    }
}
