//! Right-sizing's gather on the real store: live namespaces in scope, and per workload
//! container the daily rollup's days of the window (whole UTC days) merged, folded from the
//! hourly usage of every pod of the workload (deleted ones too) summed over delivering
//! messages, with the newest live pod's requests and template.

use chrono::{DateTime, Utc};
use kubeworkz_hub::store::{
    DEFAULT_ORG, RightsizingNamespace, RightsizingScope, Store, WorkloadContainerUsage,
};
use kubeworkz_shared::change::{Change, Object, ObjectKind};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::model::UsageBucket;
use kubeworkz_shared::model::pod::PodPhase;
use kubeworkz_shared::time::{MILLIS_PER_HOUR, UnixMillis};

use crate::fixtures::*;
use crate::harness::TestStore;

const MIB: u64 = 1 << 20;

/// `pod` with a `cpu`/`memory` request, created `age_s` seconds ago, of `owner` (`None`: a
/// bare pod) and template `hash`.
pub fn workload_pod(
    namespace: &str,
    name: &str,
    owner: Option<&str>,
    hash: &str,
    cpu: u64,
    memory: u64,
    age_s: i64,
) -> Object {
    let Object::Pod(mut p) = pod(namespace, name, &format!("uid-{name}"), PodPhase::Running) else {
        unreachable!("the fixture makes pods")
    };
    match owner {
        Some(owner) => p.owner.as_mut().unwrap().name = owner.into(),
        None => p.owner = None,
    }
    if !hash.is_empty() {
        p.labels = [("pod-template-hash".to_owned(), hash.to_owned())].into();
    }
    p.containers[0].requests.cpu_millis = Some(cpu);
    p.containers[0].requests.memory_bytes = Some(memory);
    p.created = Some(UnixMillis(UnixMillis::now().0 - age_s * 1000));
    Object::Pod(p)
}

pub fn bucket(namespace: &str, pod: &str, hour: i64, cpu_millis: u64, max: u64) -> UsageBucket {
    UsageBucket {
        namespace: namespace.into(),
        pod: pod.into(),
        container: "app".into(),
        hour_start: UnixMillis(hour),
        cpu_millicore_seconds: cpu_millis * 3600,
        memory_byte_seconds: max * 3600,
        memory_max_bytes: max,
        samples: 120,
        covered_millis: 3_600_000,
    }
}

pub fn at(millis: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(millis).unwrap()
}

/// The start of the UTC day `days` before today's.
pub fn day_before(days: i64) -> i64 {
    let today = UnixMillis::now().0.div_euclid(24 * MILLIS_PER_HOUR) * 24 * MILLIS_PER_HOUR;
    today - days * 24 * MILLIS_PER_HOUR
}

/// Cluster `prod` with namespace `web` (Deployment `web`: live `web-1` and `web-2`, deleted
/// `web-0`; bare pod `solo`) and `api` (one pod); 30 hours of usage from the start of the day
/// before yesterday (its 24 hours and 6 of yesterday's), folded into the rollup, then a late
/// second bucket of web-1's last hour folded again.
async fn seeded(store: &Store) -> (OrgId, ClusterId, i64) {
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let cluster = agent_cluster(store, org, "prod").await;
    let mut cursors = Cursors::new(1);
    let old = workload_pod("web", "web-0", Some("web"), "aaa", 900, 900 * MIB, 300);
    let objects = [
        namespace("web", "uid-ns-web", None),
        namespace("api", "uid-ns-api", None),
        old.clone(),
        // web-2 is the newest: its template and requests are the workload's.
        workload_pod("web", "web-1", Some("web"), "aaa", 900, 900 * MIB, 200),
        workload_pod("web", "web-2", Some("web"), "bbb", 500, 512 * MIB, 100),
        workload_pod("web", "solo", None, "", 100, 64 * MIB, 100),
        workload_pod("api", "api-1", Some("api"), "ccc", 200, 128 * MIB, 100),
    ];
    store
        .ingest_changes(
            org,
            cluster,
            cursors.next(),
            &batch(snapshot(
                &[ObjectKind::Namespace, ObjectKind::Pod],
                &objects,
            )),
        )
        .await
        .unwrap();
    store
        .ingest_changes(org, cluster, cursors.next(), &batch(vec![delete_of(&old)]))
        .await
        .unwrap();
    let first = day_before(2);
    let mut buckets = Vec::new();
    for h in 0..30 {
        let hour = first + h * MILLIS_PER_HOUR;
        buckets.push(bucket("web", "web-1", hour, 100, 100 * MIB));
        buckets.push(bucket("web", "web-2", hour, 300, 200 * MIB));
        buckets.push(bucket("web", "solo", hour, 10, 10 * MIB));
        buckets.push(bucket("api", "api-1", hour, 50, 50 * MIB));
        if h < 5 {
            buckets.push(bucket("web", "web-0", hour, 800, 700 * MIB));
            // A pod the hub no longer holds: its usage has no workload.
            buckets.push(bucket("web", "ghost", hour, 5000, 5000 * MIB));
        }
    }
    store
        .ingest_usage(org, cluster, cursors.next(), &buckets)
        .await
        .unwrap();
    for h in 0..30 {
        let hour = UnixMillis(first + h * MILLIS_PER_HOUR);
        store.fold_workload_usage(org, cluster, hour).await.unwrap();
    }
    // A restarted collector's second bucket for web-1's last hour: summed with the first
    // once the hour is folded again.
    let last = first + 29 * MILLIS_PER_HOUR;
    store
        .ingest_usage(
            org,
            cluster,
            cursors.next(),
            &[bucket("web", "web-1", last, 100, 150 * MIB)],
        )
        .await
        .unwrap();
    store
        .fold_workload_usage(org, cluster, UnixMillis(last))
        .await
        .unwrap();
    (org, cluster, first)
}

/// What a pass over `scope` and `[from, to)` hands over, namespace by namespace.
async fn gathered(
    store: &Store,
    org: OrgId,
    scope: &RightsizingScope,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(RightsizingNamespace, Vec<WorkloadContainerUsage>)> {
    let mut out = Vec::new();
    store
        .rightsizing_gather(org, scope, from, to, &mut |place, containers| {
            out.push((place.clone(), containers))
        })
        .await
        .unwrap();
    out
}

pub async fn rightsizing_gathers_workload_containers_per_namespace(t: TestStore) {
    let store = &t.store;
    let (org, cluster, first) = seeded(store).await;
    // Whole UTC days: a window from the first day's third hour still reads that day whole.
    let from = at(first + 2 * MILLIS_PER_HOUR);
    let to = at(UnixMillis::now().0 + MILLIS_PER_HOUR);

    let all = gathered(store, org, &RightsizingScope::default(), from, to).await;
    let names: Vec<_> = all.iter().map(|(n, _)| n.namespace.as_str()).collect();
    assert_eq!(names, ["api", "web"]);
    assert!(
        all.iter()
            .all(|(n, _)| n.cluster == cluster && n.cluster_name == "prod")
    );
    let api = &all[0].1;
    assert_eq!(api.len(), 1);
    assert_eq!(api[0].workload_name, "api");
    assert_eq!((api[0].usage.hours, api[0].usage.pod_hours), (30, 30));

    let web = &all[1].1;
    let keys: Vec<_> = web
        .iter()
        .map(|c| {
            (
                c.workload_kind.as_str(),
                c.workload_name.as_str(),
                c.container.as_str(),
            )
        })
        .collect();
    assert_eq!(keys, [("Deployment", "web", "app"), ("Pod", "solo", "app")]);
    let deployment = &web[0];
    assert_eq!(deployment.replicas, 2, "web-0 is deleted");
    assert_eq!(deployment.pod_template.as_deref(), Some("bbb"));
    assert_eq!(deployment.cpu_request_millis, Some(500));
    assert_eq!(deployment.memory_request_bytes, Some(512 * MIB));
    // 30 hours of web-1 and web-2, and deleted web-0's first five (three pods then); nothing
    // of the ghost.
    let usage = &deployment.usage;
    assert_eq!(usage.hours, 30);
    assert_eq!(usage.pod_hours, 30 * 2 + 5);
    assert_eq!(usage.replicas_max, 3);
    assert_eq!(usage.cpu.len(), 65);
    // Hourly averages: web-1 100m (its last hour 200m over two buckets' 7,200 s is still
    // 100m), web-2 300m, web-0 800m: nearest rank ceil(0.95 × 65) = 62 → 800m.
    assert_eq!(usage.cpu.percentile(95), Some(800));
    assert_eq!(usage.cpu.percentile(50), Some(300));
    assert_eq!(usage.memory_peak_bytes, 700 * MIB);
    // Requests over the covered time: web-1 900m × (29 × 3,600 s + 7,200 s), web-2 500m ×
    // 30 h, web-0 900m × 5 h; used 3,100 + 9,000 + 4,000 millicore-hours.
    assert_eq!(
        usage.cpu_requested_mcs,
        900 * 3600 * 31 + 500 * 3600 * 30 + 900 * 3600 * 5
    );
    assert_eq!(usage.cpu_used_mcs, 3600 * (3100 + 9000 + 4000));
    assert_eq!(
        usage.cpu_unused_mcs,
        usage.cpu_requested_mcs - usage.cpu_used_mcs,
        "never over the request here"
    );
    assert_eq!(web[1].usage.pod_hours, 30);
    assert_eq!(web[1].pod_template, None);
    assert_eq!(web[1].cpu_request_millis, Some(100));

    // From yesterday: its six hours only (web-0 ran the day before).
    let yesterday = gathered(
        store,
        org,
        &RightsizingScope::default(),
        at(first + 24 * MILLIS_PER_HOUR),
        to,
    )
    .await;
    let deployment = &yesterday[1].1[0];
    assert_eq!(deployment.usage.hours, 6);
    assert_eq!(deployment.usage.pod_hours, 12);
    assert_eq!(deployment.usage.memory_peak_bytes, 200 * MIB);
    assert_eq!(deployment.usage.cpu.percentile(95), Some(300));

    // Scopes: one namespace of the cluster (the deleted pod's usage still counts), another
    // cluster, another organization.
    let one = RightsizingScope {
        cluster: Some(cluster),
        namespace: Some("web".into()),
    };
    let only_web = gathered(store, org, &one, from, to).await;
    assert_eq!(only_web.len(), 1);
    assert_eq!(only_web[0].1, *web);
    let elsewhere = RightsizingScope {
        cluster: Some(ClusterId::new()),
        namespace: None,
    };
    assert!(gathered(store, org, &elsewhere, from, to).await.is_empty());
    let other_org = store.ensure_organization("other").await.unwrap().id;
    assert!(
        gathered(store, other_org, &RightsizingScope::default(), from, to)
            .await
            .is_empty()
    );
    // A namespace without live pods is not visited.
    let change = Change::Upsert(namespace("empty", "uid-ns-empty", None));
    store
        .ingest_changes(
            org,
            cluster,
            Cursors { epoch: 1, seq: 10 }.next(),
            &batch(vec![change]),
        )
        .await
        .unwrap();
    assert_eq!(
        gathered(store, org, &RightsizingScope::default(), from, to)
            .await
            .len(),
        2
    );
}
