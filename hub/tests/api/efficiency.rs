//! `GET /api/v1/k8s/costs/efficiency` over real HTTP: stored hours of two namespaces give each
//! its requested vs used CPU and memory and the unused requests' cost, sorted by waste or
//! efficiency, grouped by team; bad parameters are 400 in words; another organization sees
//! nothing.

use chrono::Utc;
use kubeworkz_hub::cost::{Allocation, CostBreakdown, NanoDollars, ResourceAllocation};
use kubeworkz_hub::store::Role;
use kubeworkz_shared::ids::ClusterId;
use kubeworkz_shared::time::{MILLIS_PER_HOUR, UnixMillis};
use serde_json::Value;

use crate::client::TestHub;
use crate::fixtures::agent_cluster;

/// One core-hour in millicore-milliseconds and one GiB-hour in byte-milliseconds.
const CORE_HOUR: u128 = 1000 * MILLIS_PER_HOUR as u128;
const GIB_HOUR: u128 = (1 << 30) * MILLIS_PER_HOUR as u128;

/// A resource with `requested` and `used` measured units billed `max` of them for `cost`.
fn resource(requested: u128, used: u128, unit: u128, cost: u64) -> ResourceAllocation {
    ResourceAllocation {
        requested: requested * unit,
        used: used * unit,
        billed: requested.max(used) * unit,
        measured_requested: requested * unit,
        measured_used: used * unit,
        cost: NanoDollars(cost),
    }
}

fn row(
    cluster: ClusterId,
    hour: UnixMillis,
    namespace: &str,
    team: &str,
    cpu: ResourceAllocation,
    memory: ResourceAllocation,
) -> Allocation {
    let mut cost = CostBreakdown {
        cpu,
        memory,
        ..CostBreakdown::default()
    };
    cost.total = cpu.cost + memory.cost;
    Allocation {
        cluster,
        start: hour,
        end: UnixMillis(hour.0 + MILLIS_PER_HOUR),
        namespace: namespace.into(),
        team: team.into(),
        cost_center: "unallocated".into(),
        labels: Default::default(),
        cost,
        pricing: None,
    }
}

/// The `key` of each line of an answer, in order.
pub fn keys(answer: &Value) -> Vec<String> {
    answer["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["key"].as_str().unwrap().to_owned())
        .collect()
}

pub async fn efficiency_is_reported_per_group_and_sorted_by_waste(hub: TestHub) {
    let org = hub.default_org;
    let cluster = agent_cluster(&hub.db.store, org, "alpha").await;
    let hour = UnixMillis(UnixMillis::now().hour_start().0 - 2 * MILLIS_PER_HOUR);
    // web: 4 cores requested, 1 used, for $0.16; 8 GiB requested, 6 used, for $0.04:
    // unused $0.12 + $0.01. api: 2 cores fully used ($0.08); 4 GiB requested, 1 used ($0.02):
    // unused $0.015.
    let rows = [
        row(
            cluster,
            hour,
            "api",
            "shop",
            resource(2, 2, CORE_HOUR, 80_000_000),
            resource(4, 1, GIB_HOUR, 20_000_000),
        ),
        row(
            cluster,
            hour,
            "web",
            "shop",
            resource(4, 1, CORE_HOUR, 160_000_000),
            resource(8, 6, GIB_HOUR, 40_000_000),
        ),
    ];
    hub.db
        .store
        .save_cost_hour(org, cluster, hour, &rows, Utc::now())
        .await
        .unwrap();
    let admin = hub.admin().await;

    let r = admin.get("/api/v1/k8s/costs/efficiency?window=24h").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        keys(&r.json),
        ["web", "api"],
        "most waste first: {}",
        r.json
    );
    let web = &r.json["lines"][0];
    assert_eq!(web["unused_nanos"], 130_000_000);
    assert_eq!(web["cpu"]["requested"], 4.0);
    assert_eq!(web["cpu"]["used"], 1.0);
    assert_eq!(web["cpu"]["efficiency"], 0.25);
    assert_eq!(web["cpu"]["unused_cost"], 0.12);
    assert_eq!(web["memory"]["efficiency"], 0.75);
    assert_eq!(web["efficiency"], 0.35); // 1 − 0.13 / 0.20
    assert_eq!(r.json["lines"][1]["unused_nanos"], 15_000_000);
    assert_eq!(r.json["groups"], 2);
    let r = admin
        .get("/api/v1/k8s/costs/efficiency?window=24h&limit=1")
        .await;
    assert_eq!(keys(&r.json), ["web"], "{}", r.json);
    assert_eq!(r.json["groups"], 2);

    let r = admin
        .get("/api/v1/k8s/costs/efficiency?window=24h&sort=-efficiency")
        .await;
    assert_eq!(keys(&r.json), ["api", "web"], "{}", r.json);
    let r = admin
        .get("/api/v1/k8s/costs/efficiency?window=24h&aggregate=team")
        .await;
    assert_eq!(keys(&r.json), ["shop"], "{}", r.json);
    assert_eq!(r.json["lines"][0]["unused_nanos"], 145_000_000);

    for (bad, message) in [
        (
            "sort=size",
            "unknown sort \"size\": expected -waste, waste, efficiency, -efficiency or key",
        ),
        (
            "aggregate=colour",
            "unknown aggregate \"colour\": expected cluster, namespace, team, cost_center, label:KEY or workload",
        ),
        ("window=100d", "window too long: at most 92 days"),
        ("limit=0", "limit must be from 1 to 1000"),
    ] {
        let r = admin
            .get(&format!("/api/v1/k8s/costs/efficiency?{bad}"))
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
        assert_eq!(r.json["error"]["message"], message, "{bad}");
    }

    let other = hub.user("bravo-org", "admin@b.example", Role::Admin).await;
    let r = other.get("/api/v1/k8s/costs/efficiency?window=24h").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["lines"], serde_json::json!([]));
}
