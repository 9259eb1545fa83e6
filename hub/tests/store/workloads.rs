//! Workload kinds: StatefulSets, DaemonSets, ReplicaSets, Jobs and CronJobs are ingested
//! from snapshots and deltas like every kind (matching the reference inventory), pruned by a
//! relist, scoped by organization and removed with their cluster; a pod's top owner resolves
//! through its ReplicaSet or Job, and a workload's pod list follows the same chain.

use kubeworkz_hub::store::{DEFAULT_ORG, InventoryQuery, PageRequest, Store, TopOwner};
use kubeworkz_shared::change::{Change, Object, ObjectKind};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::inventory::Inventory;
use kubeworkz_shared::model::pod::PodPhase;
use kubeworkz_shared::model::{JobState, OwnerKind, PodOwner};

use crate::fixtures::*;
use crate::harness::TestStore;
use crate::support::workloads::*;

const WORKLOADS: [ObjectKind; 5] = ObjectKind::WORKLOADS;

/// The live objects of the workload kinds the store holds, in `Inventory` order.
async fn live_workloads(store: &Store, org: OrgId, cluster: ClusterId) -> Vec<Object> {
    live(store, org, cluster)
        .await
        .into_iter()
        .filter(|o| WORKLOADS.contains(&o.kind()))
        .collect()
}

fn reference_workloads(inventory: &Inventory) -> Vec<Object> {
    inventory
        .objects()
        .filter(|o| WORKLOADS.contains(&o.kind()))
        .cloned()
        .collect()
}

/// Names of a page of `kind` in namespace `batch` of `cluster` that `refine` narrows.
async fn names(
    store: &Store,
    org: OrgId,
    cluster: ClusterId,
    kind: ObjectKind,
    refine: impl FnOnce(&mut InventoryQuery),
) -> Vec<String> {
    let mut q = InventoryQuery::new(
        kind,
        Some(cluster),
        PageRequest {
            limit: 100,
            offset: 0,
        },
    );
    q.namespace = Some("batch".into());
    refine(&mut q);
    let page = store.inventory_page(org, &q).await.unwrap();
    page.items.into_iter().map(|i| i.name).collect()
}

pub async fn workloads_are_ingested_pruned_scoped_and_removed_with_their_cluster(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let other = store.ensure_organization("other").await.unwrap().id;
    let cluster = agent_cluster(store, org, "batch-eu").await;
    let mut cursors = Cursors::new(3);
    let mut reference = Inventory::new();
    let batches = vec![
        snapshot(
            &WORKLOADS,
            &[
                stateful_set("batch", "db", "s-1", 3, 2),
                daemon_set("batch", "exporter", "d-1", 4, 4),
                replica_set("batch", "web-7c9d", "r-1", Some("web")),
                cron_job("batch", "report", "c-1", "0 * * * *", false),
                job(
                    "batch",
                    "report-1",
                    "j-1",
                    Some("report"),
                    JobState::Complete,
                ),
                job("batch", "report-2", "j-2", Some("report"), JobState::Failed),
                job("batch", "manual", "j-3", None, JobState::Running),
            ],
        ),
        vec![
            Change::Upsert(stateful_set("batch", "db", "s-1", 3, 3)),
            Change::Upsert(cron_job("batch", "report", "c-1", "0 * * * *", true)),
            Change::Upsert(job("batch", "manual", "j-3", None, JobState::Complete)),
            delete_of(&daemon_set("batch", "exporter", "d-1", 4, 4)),
        ],
        // A relist of Jobs and ReplicaSets only: report-2 and the ReplicaSet are gone, a new
        // run appears; the other kinds are untouched.
        snapshot(
            &[ObjectKind::Job, ObjectKind::ReplicaSet],
            &[
                job(
                    "batch",
                    "report-1",
                    "j-1",
                    Some("report"),
                    JobState::Complete,
                ),
                job(
                    "batch",
                    "report-3",
                    "j-4",
                    Some("report"),
                    JobState::Running,
                ),
                job("batch", "manual", "j-3", None, JobState::Complete),
            ],
        ),
    ];
    for changes in batches {
        reference.apply_all(&changes);
        store
            .ingest_changes(org, cluster, cursors.next(), &batch(changes))
            .await
            .unwrap();
        assert_eq!(
            live_workloads(store, org, cluster).await,
            reference_workloads(&reference)
        );
    }
    let counts = store.inventory_counts(org, cluster).await.unwrap();
    assert_eq!(counts[&ObjectKind::StatefulSet], 1);
    assert_eq!(counts[&ObjectKind::DaemonSet], 0);
    assert_eq!(counts[&ObjectKind::ReplicaSet], 0);
    assert_eq!(counts[&ObjectKind::Job], 3);
    assert_eq!(counts[&ObjectKind::CronJob], 1);
    let history = store
        .inventory(org, cluster, ObjectKind::DaemonSet, false)
        .await
        .unwrap();
    assert!(
        history[0].deleted_at.is_some(),
        "a deleted kind keeps its history"
    );

    // The typed columns filter: a CronJob's Jobs, Jobs by status (the item's status).
    let runs = names(store, org, cluster, ObjectKind::Job, |q| {
        q.columns = vec![
            ("owner_kind", "CronJob".into()),
            ("owner_name", "report".into()),
        ];
    })
    .await;
    assert_eq!(runs, ["report-1", "report-3"]);
    let running = names(store, org, cluster, ObjectKind::Job, |q| {
        q.columns = vec![("status", "Running".into())];
    })
    .await;
    assert_eq!(running, ["report-3"]);
    let item = store
        .inventory_item(org, ObjectKind::Job, "j-4")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item.status.as_deref(), Some("Running"));
    assert!(
        item.data.contains("\"owner\":{\"kind\":\"CronJob\""),
        "{}",
        item.data
    );

    // Another organization sees none of it; deleting the cluster removes every row.
    assert_hidden_then_cascaded(store, (org, other), cluster, &WORKLOADS, "s-1").await;
}

fn owner(kind: &str, name: &str, uid: Option<&str>) -> Option<TopOwner> {
    Some(TopOwner {
        kind: kind.into(),
        name: name.into(),
        uid: uid.map(str::to_owned),
    })
}

pub async fn a_pods_top_owner_resolves_through_its_replicaset_or_job(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let cluster = agent_cluster(store, org, "owners").await;
    let other_cluster = agent_cluster(store, org, "elsewhere").await;
    let running = |name: &str, uid: &str, controller: Option<(OwnerKind, &str)>| {
        owned_by(pod("batch", name, uid, PodPhase::Running), controller)
    };
    let pods = [
        // Named like the Deployment controller's: the collector already resolved it.
        running("web-7c9d-a", "p-1", Some((OwnerKind::Deployment, "web"))),
        // A ReplicaSet named otherwise, owned by the Deployment web.
        running(
            "web-legacy-a",
            "p-2",
            Some((OwnerKind::ReplicaSet, "legacy")),
        ),
        // A bare ReplicaSet.
        running("bare-rs-a", "p-3", Some((OwnerKind::ReplicaSet, "bare"))),
        running("db-0", "p-4", Some((OwnerKind::StatefulSet, "db"))),
        running("db-1", "p-5", Some((OwnerKind::StatefulSet, "db"))),
        running(
            "exporter-x",
            "p-6",
            Some((OwnerKind::DaemonSet, "exporter")),
        ),
        running("report-1-a", "p-7", Some((OwnerKind::Job, "report-1"))),
        running("report-2-a", "p-8", Some((OwnerKind::Job, "report-2"))),
        running("manual-a", "p-9", Some((OwnerKind::Job, "manual"))),
        running("loner", "p-10", None),
        running(
            "rollout-a",
            "p-11",
            Some((OwnerKind::Other("Rollout".into()), "r")),
        ),
    ];
    let mut objects = vec![
        namespace("batch", "ns-1", None),
        deployment("batch", "web", "dep-1", 2),
        replica_set("batch", "legacy", "r-1", Some("web")),
        replica_set("batch", "bare", "r-2", None),
        stateful_set("batch", "db", "s-1", 2, 2),
        daemon_set("batch", "exporter", "d-1", 1, 1),
        cron_job("batch", "report", "c-1", "0 * * * *", false),
        job(
            "batch",
            "report-1",
            "j-1",
            Some("report"),
            JobState::Complete,
        ),
        job(
            "batch",
            "report-2",
            "j-2",
            Some("report"),
            JobState::Running,
        ),
        job("batch", "manual", "j-3", None, JobState::Running),
    ];
    objects.extend(pods.iter().cloned());
    let mut kinds = vec![
        ObjectKind::Namespace,
        ObjectKind::Deployment,
        ObjectKind::Pod,
    ];
    kinds.extend(WORKLOADS);
    let mut cursors = Cursors::new(1);
    store
        .ingest_changes(
            org,
            cluster,
            cursors.next(),
            &batch(snapshot(&kinds, &objects)),
        )
        .await
        .unwrap();
    // The same pods in another cluster, without their workloads: they must not mix.
    store
        .ingest_changes(
            org,
            other_cluster,
            Cursors::new(1).next(),
            &batch(snapshot(&[ObjectKind::Pod], &pods)),
        )
        .await
        .unwrap();

    let expected = [
        owner("Deployment", "web", Some("dep-1")),
        owner("Deployment", "web", Some("dep-1")),
        owner("ReplicaSet", "bare", Some("r-2")),
        owner("StatefulSet", "db", Some("s-1")),
        owner("StatefulSet", "db", Some("s-1")),
        owner("DaemonSet", "exporter", Some("d-1")),
        owner("CronJob", "report", Some("c-1")),
        owner("CronJob", "report", Some("c-1")),
        owner("Job", "manual", Some("j-3")),
        None,
        owner("Rollout", "r", None),
    ];
    for (pod, want) in pods.iter().zip(&expected) {
        let Object::Pod(p) = pod else { unreachable!() };
        let got = store
            .top_owner(org, cluster, "batch", p.owner.as_ref())
            .await
            .unwrap();
        assert_eq!(&got, want, "{}", p.name);
    }
    // Where the chain's links are not collected, the direct controller stands, without uid.
    let Object::Pod(legacy) = &pods[1] else {
        unreachable!()
    };
    assert_eq!(
        store
            .top_owner(org, other_cluster, "batch", legacy.owner.as_ref())
            .await
            .unwrap(),
        owner("ReplicaSet", "legacy", None)
    );
    let foreign = store.ensure_organization("other").await.unwrap().id;
    let report = PodOwner {
        kind: OwnerKind::Job,
        name: "report-1".into(),
    };
    assert_eq!(
        store
            .top_owner(foreign, cluster, "batch", Some(&report))
            .await
            .unwrap(),
        owner("Job", "report-1", None),
        "another organization resolves nothing of this one"
    );

    // A workload's pods follow the same chain.
    let pods_of = |kind: ObjectKind, name: &str| {
        let name = name.to_owned();
        names(store, org, cluster, ObjectKind::Pod, move |q| {
            q.owner = Some((kind, name))
        })
    };
    assert_eq!(
        pods_of(ObjectKind::Deployment, "web").await,
        ["web-7c9d-a", "web-legacy-a"]
    );
    assert_eq!(
        pods_of(ObjectKind::StatefulSet, "db").await,
        ["db-0", "db-1"]
    );
    assert_eq!(
        pods_of(ObjectKind::DaemonSet, "exporter").await,
        ["exporter-x"]
    );
    assert_eq!(pods_of(ObjectKind::Job, "manual").await, ["manual-a"]);
    assert_eq!(
        pods_of(ObjectKind::CronJob, "report").await,
        ["report-1-a", "report-2-a"]
    );
    assert!(pods_of(ObjectKind::Namespace, "batch").await.is_empty());

    // The Job goes: its pod's top owner is the Job alone, and the CronJob lists one pod.
    store
        .ingest_changes(
            org,
            cluster,
            cursors.next(),
            &batch(vec![delete_of(&objects[7])]),
        )
        .await
        .unwrap();
    let Object::Pod(first_run) = &pods[6] else {
        unreachable!()
    };
    assert_eq!(
        store
            .top_owner(org, cluster, "batch", first_run.owner.as_ref())
            .await
            .unwrap(),
        owner("Job", "report-1", None)
    );
    assert_eq!(pods_of(ObjectKind::CronJob, "report").await, ["report-2-a"]);
}
