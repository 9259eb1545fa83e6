//! Right-sizing's gather on the real store: live namespaces in scope, and per workload
//! container the hourly usage of every pod of the workload (deleted ones too) summed over
//! delivering messages, with the newest live pod's requests and template.

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
fn workload_pod(
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

fn bucket(namespace: &str, pod: &str, hour: i64, cpu_millis: u64, max: u64) -> UsageBucket {
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

fn at(millis: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(millis).unwrap()
}

/// Cluster `prod` with namespace `web` (Deployment `web`: live `web-1` and `web-2`, deleted
/// `web-0`; bare pod `solo`) and `api` (one pod); usage of the last 30 hours.
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
    let now_hour = UnixMillis::now().hour_start().0;
    let first = now_hour - 30 * MILLIS_PER_HOUR;
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
    // A restarted collector's second bucket for web-1's last hour: summed with the first.
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
    // The window leaves out the first two hours.
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
    assert_eq!(api[0].samples.len(), 28);

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
    // 28 hours of web-1 and web-2, and deleted web-0's hours 2, 3 and 4; nothing of the
    // ghost.
    assert_eq!(deployment.samples.len(), 28 * 2 + 3);
    let mut cpu: Vec<u64> = deployment
        .samples
        .iter()
        .map(|s| s.cpu_millicore_seconds / 3600)
        .collect();
    cpu.sort_unstable();
    cpu.dedup();
    assert_eq!(cpu, [100, 200, 300, 800], "web-1's last hour sums to 200");
    let last = deployment
        .samples
        .iter()
        .find(|s| s.cpu_millicore_seconds == 200 * 3600)
        .expect("web-1's last hour");
    assert_eq!(last.hour_start.0, first + 29 * MILLIS_PER_HOUR);
    assert_eq!(last.memory_max_bytes, 150 * MIB);
    assert_eq!(last.covered_millis, 7_200_000);
    assert!(
        deployment
            .samples
            .iter()
            .all(|s| s.hour_start.0 >= first + 2 * MILLIS_PER_HOUR)
    );
    assert_eq!(web[1].samples.len(), 28);
    assert_eq!(web[1].pod_template, None);
    assert_eq!(web[1].cpu_request_millis, Some(100));

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
