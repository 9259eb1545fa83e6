//! `GET /api/v1/k8s/costs?aggregate=workload` over real HTTP: stored hours of a namespace and
//! their workload split come back one line per workload (with its cluster, kind, pods and
//! nodes), the namespace's storage and the idle on lines of their own, the same total as by
//! namespace, as JSON and CSV; a bad aggregate's error lists `workload`; viewers read it;
//! another organization sees nothing.

use chrono::Utc;
use kubeworkz_hub::cost::{
    Allocation, CostBreakdown, NanoDollars, StorageAllocation, WorkloadAllocation,
};
use kubeworkz_hub::store::{DEFAULT_ORG, Role};
use kubeworkz_shared::ids::ClusterId;
use kubeworkz_shared::time::{MILLIS_PER_HOUR, UnixMillis};

use crate::client::TestHub;
use crate::efficiency::keys;
use crate::fixtures::agent_cluster;

/// CPU and memory costs (nano-dollars), storage cost, total recomputed.
fn breakdown(cpu: u64, memory: u64, storage: u64) -> CostBreakdown {
    let mut cost = CostBreakdown::default();
    cost.cpu.cost = NanoDollars(cpu);
    cost.memory.cost = NanoDollars(memory);
    cost.storage = StorageAllocation {
        byte_millis: u128::from(storage) * 1000,
        cost: NanoDollars(storage),
    };
    cost.total = NanoDollars(cpu + memory + storage);
    cost
}

fn row(cluster: ClusterId, hour: UnixMillis, namespace: &str, cost: CostBreakdown) -> Allocation {
    Allocation {
        cluster,
        start: hour,
        end: UnixMillis(hour.0 + MILLIS_PER_HOUR),
        namespace: namespace.into(),
        team: if namespace == "__idle__" {
            "__idle__"
        } else {
            "shop"
        }
        .into(),
        cost_center: "unallocated".into(),
        labels: Default::default(),
        cost,
        pricing: None,
    }
}

fn workload(
    cluster: ClusterId,
    hour: UnixMillis,
    (kind, name): (&str, &str),
    (pods, nodes): (u32, u32),
    (cpu, memory): (u64, u64),
) -> WorkloadAllocation {
    WorkloadAllocation {
        cluster,
        start: hour,
        end: UnixMillis(hour.0 + MILLIS_PER_HOUR),
        namespace: "web".into(),
        kind: kind.into(),
        name: name.into(),
        pods,
        nodes,
        cost: breakdown(cpu, memory, 0),
    }
}

pub async fn costs_are_reported_per_workload_with_storage_and_idle_apart(hub: TestHub) {
    let org = hub.default_org;
    let cluster = agent_cluster(&hub.db.store, org, "alpha").await;
    let hour = UnixMillis(UnixMillis::now().hour_start().0 - 2 * MILLIS_PER_HOUR);
    // web: $0.16 CPU, $0.04 memory, $0.01 storage; of the compute, the Deployment api has
    // $0.12 + $0.03 and the DaemonSet agent (3 pods on 3 nodes) $0.04 + $0.01. Idle: $0.30.
    let rows = [
        row(
            cluster,
            hour,
            "web",
            breakdown(160_000_000, 40_000_000, 10_000_000),
        ),
        row(cluster, hour, "__idle__", breakdown(300_000_000, 0, 0)),
    ];
    let split = [
        workload(
            cluster,
            hour,
            ("DaemonSet", "agent"),
            (3, 3),
            (40_000_000, 10_000_000),
        ),
        workload(
            cluster,
            hour,
            ("Deployment", "api"),
            (2, 1),
            (120_000_000, 30_000_000),
        ),
    ];
    let store = &hub.db.store;
    store
        .save_workload_cost_hour(org, cluster, hour, &split, Utc::now())
        .await
        .unwrap();
    store
        .save_cost_hour(org, cluster, hour, &rows, Utc::now())
        .await
        .unwrap();
    let viewer = hub
        .user(DEFAULT_ORG, "viewer@a.example", Role::Viewer)
        .await;

    let r = viewer
        .get("/api/v1/k8s/costs?window=24h&aggregate=workload&include_idle=true")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        keys(&r.json),
        [
            "__idle__",
            "Deployment/web/api",
            "DaemonSet/web/agent",
            "__storage__/web"
        ],
        "most expensive first: {}",
        r.json
    );
    let api = &r.json["lines"][1];
    assert_eq!(api["total_nanos"], 150_000_000);
    assert_eq!(api["cpu"]["cost"], 0.12);
    let agent = &r.json["lines"][2]["workload"];
    assert_eq!(agent["kind"], "DaemonSet");
    assert_eq!(agent["namespace"], "web");
    assert_eq!(agent["name"], "agent");
    assert_eq!(agent["cluster"], cluster.to_string());
    assert_eq!(agent["cluster_name"], "alpha");
    assert_eq!(
        (agent["pods"].as_u64(), agent["nodes"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(r.json["lines"][3]["storage_cost"], 0.01);
    assert_eq!(r.json["lines"][0]["workload"]["kind"], "__idle__");
    // The same total as by namespace.
    assert_eq!(r.json["total"]["total_nanos"], 510_000_000);
    let by_namespace = viewer
        .get("/api/v1/k8s/costs?window=24h&include_idle=true")
        .await;
    assert_eq!(
        by_namespace.json["total"]["total_nanos"],
        r.json["total"]["total_nanos"]
    );
    assert!(by_namespace.json["lines"][0].get("workload").is_none());

    // Without idle, filtered: the namespace's lines only.
    let r = viewer
        .get("/api/v1/k8s/costs?window=24h&aggregate=workload&filter=namespace:web")
        .await;
    assert_eq!(
        keys(&r.json),
        [
            "Deployment/web/api",
            "DaemonSet/web/agent",
            "__storage__/web"
        ]
    );

    // CSV: the same columns as every grouping, then what each line is.
    let r = viewer
        .get("/api/v1/k8s/costs?window=24h&aggregate=workload&format=csv")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let lines: Vec<&str> = r.text.split("\r\n").collect();
    assert!(
        lines[0].ends_with(
            "usage_unknown,idle_clamped,cluster,cluster_name,workload_kind,\
             workload_namespace,workload_name,pods,nodes"
        ),
        "{}",
        lines[0]
    );
    assert!(lines[2].starts_with("DaemonSet/web/agent,"), "{}", lines[2]);
    assert!(
        lines[2].ends_with(&format!(",{cluster},alpha,DaemonSet,web,agent,3,3")),
        "{}",
        lines[2]
    );
    let plain = viewer.get("/api/v1/k8s/costs?window=24h&format=csv").await;
    assert!(
        plain
            .text
            .lines()
            .next()
            .unwrap()
            .ends_with("usage_unknown,idle_clamped")
    );

    let r = viewer.get("/api/v1/k8s/costs?aggregate=pods").await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(
        r.json["error"]["message"],
        "unknown aggregate \"pods\": expected cluster, namespace, team, cost_center, label:KEY or workload"
    );

    let other = hub.user("bravo-org", "admin@b.example", Role::Admin).await;
    let r = other
        .get("/api/v1/k8s/costs?window=24h&aggregate=workload")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["lines"], serde_json::json!([]));
}
