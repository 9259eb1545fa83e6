//! `GET /api/v1/k8s/costs/recommendations` over real HTTP: stored pods and hourly usage give
//! one recommendation per workload container (replicas of a Deployment share one), with the
//! monthly saving of all replicas at seed prices, ordered by saving, paged by cursor,
//! filtered, downloaded as CSV; bad parameters are 400 in words; another organization sees
//! nothing. Both read the daily workload rollup, folded here as the cost run folds each hour;
//! the efficiency report by workload is checked on the same data.

use kubeworkz_hub::store::{Cursor, Role};
use kubeworkz_shared::change::{Object, ObjectKind};
use kubeworkz_shared::model::UsageBucket;
use kubeworkz_shared::model::pod::PodPhase;
use kubeworkz_shared::time::{MILLIS_PER_HOUR, UnixMillis};
use serde_json::Value;

use crate::client::TestHub;
use crate::fixtures::{agent_cluster, batch, namespace, pod, snapshot};

const MIB: u64 = 1 << 20;

/// A pod of Deployment `owner` (`None`: no owner) with one container `app` requesting `cpu`
/// millicores and `memory` bytes.
fn app_pod(ns: &str, name: &str, owner: Option<&str>, cpu: u64, memory: u64) -> Object {
    let Object::Pod(mut p) = pod(ns, name, &format!("uid-{name}"), PodPhase::Running) else {
        unreachable!("the fixture makes pods")
    };
    match owner {
        Some(owner) => p.owner.as_mut().unwrap().name = owner.into(),
        None => p.owner = None,
    }
    p.containers[0].requests.cpu_millis = Some(cpu);
    p.containers[0].requests.memory_bytes = Some(memory);
    Object::Pod(p)
}

/// `hours` full hours ending at the current hour of `cpu` millicores and a `memory` peak.
fn hours(ns: &str, pod: &str, hours: i64, cpu: u64, memory: u64) -> Vec<UsageBucket> {
    let now_hour = UnixMillis::now().hour_start().0;
    (1..=hours)
        .map(|h| UsageBucket {
            namespace: ns.into(),
            pod: pod.into(),
            container: "app".into(),
            hour_start: UnixMillis(now_hour - h * MILLIS_PER_HOUR),
            cpu_millicore_seconds: cpu * 3600,
            memory_byte_seconds: memory * 3600,
            memory_max_bytes: memory,
            samples: 120,
            covered_millis: 3_600_000,
        })
        .collect()
}

fn workloads(answer: &Value) -> Vec<String> {
    answer["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["workload"].as_str().unwrap().to_owned())
        .collect()
}

/// Cluster `alpha`: Deployment `web` (two replicas), Deployment `api` (one, under-requested),
/// bare pod `idle` and Deployment `new` (ten hours only), their usage folded into the rollup.
async fn seeded(hub: &TestHub) -> kubeworkz_shared::ids::ClusterId {
    let org = hub.default_org;
    let store = &hub.db.store;
    let cluster = agent_cluster(store, org, "alpha").await;
    let objects = [
        namespace("web", "uid-ns-web", None),
        namespace("api", "uid-ns-api", None),
        namespace("tiny", "uid-ns-tiny", None),
        app_pod("web", "web-1", Some("web"), 1000, 1024 * MIB),
        app_pod("web", "web-2", Some("web"), 1000, 1024 * MIB),
        app_pod("api", "api-1", Some("api"), 100, 128 * MIB),
        app_pod("tiny", "idle", None, 50, 64 * MIB),
        app_pod("tiny", "new", Some("new"), 50, 64 * MIB),
    ];
    let kinds = [ObjectKind::Namespace, ObjectKind::Pod];
    store
        .ingest_changes(
            org,
            cluster,
            Cursor { epoch: 1, seq: 1 },
            &batch(snapshot(&kinds, &objects)),
        )
        .await
        .unwrap();
    let usage: Vec<UsageBucket> = [
        hours("web", "web-1", 48, 200, 256 * MIB),
        hours("web", "web-2", 48, 400, 512 * MIB),
        hours("api", "api-1", 48, 300, 256 * MIB),
        hours("tiny", "idle", 24, 20, 32 * MIB),
        // Ten hours: not enough for a recommendation.
        hours("tiny", "new", 10, 500, 512 * MIB),
    ]
    .concat();
    store
        .ingest_usage(org, cluster, Cursor { epoch: 1, seq: 2 }, &usage)
        .await
        .unwrap();
    let now_hour = UnixMillis::now().hour_start().0;
    store
        .fold_unfolded_workload_usage(
            org,
            cluster,
            UnixMillis(now_hour - 48 * MILLIS_PER_HOUR),
            UnixMillis(now_hour),
        )
        .await
        .unwrap();
    cluster
}

pub async fn recommendations_are_per_workload_container_sorted_and_paged(hub: TestHub) {
    let cluster = seeded(&hub).await;
    let admin = hub.admin().await;

    let r = admin.get("/api/v1/k8s/costs/recommendations").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(workloads(&r.json), ["web", "idle", "api"], "{}", r.json);
    assert_eq!(r.json["total"], 3);
    assert_eq!(r.json["next_cursor"], Value::Null);
    let web = &r.json["items"][0];
    // 96 pod-hours, 48 at 200m and 48 at 400m: nearest rank ceil(0.95 × 96) = 92 → 400m,
    // + 25 % = 500m; peak 512 MiB + 25 % = 640 MiB.
    assert_eq!(web["workload_kind"], "Deployment");
    assert_eq!(web["cluster"], "alpha");
    assert_eq!(web["cluster_id"], cluster.to_string());
    assert_eq!(web["namespace"], "web");
    assert_eq!(web["container"], "app");
    assert_eq!(web["replicas"], 2);
    assert_eq!(web["cpu_request_millis"], 1000);
    assert_eq!(web["cpu_p95_millis"], 400);
    assert_eq!(web["cpu_recommended_millis"], 500);
    assert_eq!(web["memory_request_bytes"], 1024 * MIB);
    assert_eq!(web["memory_peak_bytes"], 512 * MIB);
    assert_eq!(web["memory_recommended_bytes"], 640 * MIB);
    assert_eq!(web["hours_of_data"], 48);
    assert_eq!(web["days_of_data"], 2.0);
    // Per replica an hour: 0.5 cores × $0.04 + 0.375 GiB × $0.005 = $0.021875; × 730 hours
    // × 2 replicas = $31.9375.
    assert_eq!(web["monthly_saving_nanos"], 31_937_500_000_i64);
    assert_eq!(web["monthly_saving"], 31.9375);
    // idle (no owner: the pod is the workload): 20m → 25m, 32 MiB → 40 MiB; saving
    // (25m × 0.04 / 1000 + 24/1024 GiB × 0.005) × 730 = $0.815546875.
    let idle = &r.json["items"][1];
    assert_eq!(idle["workload_kind"], "Pod");
    assert_eq!(idle["monthly_saving_nanos"], 815_546_875);
    assert_eq!(idle["days_of_data"], 1.0);
    // api is under-requested: 100m → 375m, 128 MiB → 320 MiB costs
    // (0.275 × 0.04 + 0.1875 × 0.005) × 730 = $8.714375 more.
    let api = &r.json["items"][2];
    assert_eq!(api["monthly_saving_nanos"], -8_714_375_000_i64);
    assert!((api["monthly_saving"].as_f64().unwrap() + 8.714375).abs() < 1e-9);

    // Paged one at a time by cursor, and the other way round.
    let mut seen = Vec::new();
    let mut path = "/api/v1/k8s/costs/recommendations?limit=1".to_owned();
    loop {
        let r = admin.get(&path).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["total"], 3);
        seen.extend(workloads(&r.json));
        match r.json["next_cursor"].as_str() {
            Some(cursor) => {
                path = format!("/api/v1/k8s/costs/recommendations?limit=1&cursor={cursor}")
            }
            None => break,
        }
    }
    assert_eq!(seen, ["web", "idle", "api"]);
    let first = admin.get("/api/v1/k8s/costs/recommendations?limit=1").await;
    let cursor = first.json["next_cursor"].as_str().unwrap().to_owned();
    let r = admin
        .get("/api/v1/k8s/costs/recommendations?sort=saving")
        .await;
    assert_eq!(workloads(&r.json), ["api", "idle", "web"], "{}", r.json);

    // Filters.
    let r = admin
        .get("/api/v1/k8s/costs/recommendations?namespace=api")
        .await;
    assert_eq!(workloads(&r.json), ["api"], "{}", r.json);
    let r = admin
        .get(&format!(
            "/api/v1/k8s/costs/recommendations?cluster={cluster}&namespace=tiny"
        ))
        .await;
    assert_eq!(workloads(&r.json), ["idle"], "{}", r.json);
    let r = admin
        .get(&format!(
            "/api/v1/k8s/costs/recommendations?cluster={}",
            uuid::Uuid::new_v4()
        ))
        .await;
    assert_eq!(r.json["total"], 0, "{}", r.json);

    // Every line as CSV.
    let csv = admin
        .get("/api/v1/k8s/costs/recommendations?format=csv&limit=1")
        .await;
    assert_eq!(csv.status, 200, "{}", csv.text);
    assert!(
        csv.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let lines: Vec<&str> = csv.text.lines().collect();
    assert_eq!(lines.len(), 4, "{}", csv.text);
    assert_eq!(
        lines[0],
        "cluster,namespace,workload_kind,workload,pod_template,container,replicas,\
         cpu_request_millis,cpu_recommended_millis,cpu_p95_millis,memory_request_bytes,\
         memory_recommended_bytes,memory_peak_bytes,monthly_change,monthly_amount,days_of_data"
    );
    assert_eq!(
        lines[1],
        format!(
            "alpha,web,Deployment,web,,app,2,1000,500,400,{},{},{},saving,31.9375,2.00",
            1024 * MIB,
            640 * MIB,
            512 * MIB
        )
    );
    assert!(
        lines[3].starts_with("alpha,api,Deployment,api,"),
        "{}",
        lines[3]
    );
    assert!(
        lines[3].ends_with(",extra_cost,8.714375,2.00"),
        "{}",
        lines[3]
    );

    for (bad, message) in [
        (
            "sort=size",
            "unknown sort \"size\": expected -saving or saving",
        ),
        ("limit=0", "limit must be between 1 and 500"),
        ("window=100d", "window too long: at most 92 days"),
        ("cursor=nonsense", "cursor is not one this list returned"),
        (
            &format!("sort=saving&cursor={cursor}") as &str,
            "cursor is not one this list returned",
        ),
    ] {
        let r = admin
            .get(&format!("/api/v1/k8s/costs/recommendations?{bad}"))
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
        assert_eq!(r.json["error"]["message"], message, "{bad}");
    }
    let r = admin
        .get("/api/v1/k8s/costs/recommendations?cluster=nope")
        .await;
    assert_eq!(r.status, 400, "{}", r.text);

    let other = hub.user("bravo-org", "admin@b.example", Role::Admin).await;
    let r = other.get("/api/v1/k8s/costs/recommendations").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["items"], serde_json::json!([]));
}

pub async fn efficiency_by_workload_is_priced_and_sorted_by_waste(hub: TestHub) {
    seeded(&hub).await;
    let admin = hub.admin().await;
    let r = admin
        .get("/api/v1/k8s/costs/efficiency?aggregate=workload&window=7d")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let keys: Vec<&str> = r.json["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["key"].as_str().unwrap())
        .collect();
    // Most waste first; api and new waste nothing (ties by key).
    assert_eq!(
        keys,
        [
            "Deployment/web/web",
            "Pod/tiny/idle",
            "Deployment/api/api",
            "Deployment/tiny/new"
        ],
        "{}",
        r.json
    );
    assert_eq!(r.json["groups"], 4);
    let web = &r.json["lines"][0];
    assert_eq!(web["cluster"], "alpha");
    // 96 pod-hours at 1 core requested: 96 core-hours ($3.84), used 48 × 0.2 + 48 × 0.4 =
    // 28.8, unused 67.2 core-hours ($2.688). Memory: 96 GiB-hours ($0.48), used 36, unused
    // 60 GiB-hours ($0.30).
    assert_eq!(web["cpu"]["requested"], 96.0);
    assert!((web["cpu"]["used"].as_f64().unwrap() - 28.8).abs() < 1e-9);
    assert!((web["cpu"]["efficiency"].as_f64().unwrap() - 0.3).abs() < 1e-9);
    assert!((web["cpu"]["requested_cost"].as_f64().unwrap() - 3.84).abs() < 1e-9);
    assert!((web["cpu"]["unused_cost"].as_f64().unwrap() - 2.688).abs() < 1e-9);
    assert_eq!(web["memory"]["requested"], 96.0);
    assert_eq!(web["memory"]["used"], 36.0);
    assert!((web["memory"]["unused_cost"].as_f64().unwrap() - 0.3).abs() < 1e-9);
    assert_eq!(web["unused_nanos"], 2_988_000_000_u64);
    // idle: 24 h at 50m / 64 MiB requested, 20m / 32 MiB used: 0.72 core-hours ($0.0288)
    // and 0.75 GiB-hours ($0.00375) unused.
    assert_eq!(r.json["lines"][1]["unused_nanos"], 32_550_000);
    // api uses three times its CPU request: efficiency 3, nothing unused.
    let api = &r.json["lines"][2];
    assert!((api["cpu"]["efficiency"].as_f64().unwrap() - 3.0).abs() < 1e-9);
    assert_eq!(api["unused_nanos"], 0);
    // Another organization sees none of it; a bad grouping is a 400 in words.
    let other = hub
        .user("charlie-org", "admin@c.example", Role::Admin)
        .await;
    let r = other
        .get("/api/v1/k8s/costs/efficiency?aggregate=workload")
        .await;
    assert_eq!(r.json["groups"], 0, "{}", r.json);
    let r = admin
        .get("/api/v1/k8s/costs/efficiency?aggregate=workloads")
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
}
