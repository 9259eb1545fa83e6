//! Clusters: registration, organization scoping, status recording, cascade delete.

use chrono::Utc;
use kubeworkz_hub::store::{
    ClusterMode, DEFAULT_ORG, Environment, NewCluster, SealedKubeconfig, StoreError,
};
use kubeworkz_shared::change::ObjectKind;
use kubeworkz_shared::ids::ClusterId;
use kubeworkz_shared::model::pod::PodPhase;
use kubeworkz_shared::model::{HealthReason, HealthReport, HealthStatus};

use crate::fixtures::{Cursors, agent_cluster, batch, namespace, pod, pull_cluster, snapshot};
use crate::harness::TestStore;

pub async fn clusters_are_created_listed_and_scoped_by_organization(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let other = store.ensure_organization("other").await.unwrap().id;
    let b = agent_cluster(store, org, "b-cluster").await;
    let a = agent_cluster(store, org, "a-cluster").await;
    let theirs = agent_cluster(store, other, "a-cluster").await; // same name, other org: fine

    let listed: Vec<_> = store.list_clusters(org).await.unwrap();
    assert_eq!(
        listed.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![a, b],
        "ordered by name, only this org's"
    );
    let cluster = &listed[0];
    assert_eq!(cluster.name, "a-cluster");
    assert_eq!(cluster.environment, Environment::Production);
    assert_eq!(cluster.tags, vec!["eu".to_owned()]);
    assert_eq!(cluster.mode, ClusterMode::Agent);
    assert!(cluster.enabled);
    assert!(cluster.health.is_none());

    // Another organization's cluster is not found, not forbidden.
    assert!(store.cluster(org, theirs).await.unwrap().is_none());
    assert!(!store.delete_cluster(org, theirs).await.unwrap());
    assert!(store.cluster(other, theirs).await.unwrap().is_some());
    assert!(
        !store
            .record_sync_error(org, theirs, Some("x"))
            .await
            .unwrap(),
        "writes are scoped too"
    );
}

pub async fn a_taken_name_is_a_conflict(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    agent_cluster(store, org, "prod").await;
    let err = store
        .create_cluster(&NewCluster {
            id: ClusterId::new(),
            org_id: org,
            name: "prod".into(),
            description: String::new(),
            environment: Environment::Staging,
            tags: vec![],
            mode: ClusterMode::Agent,
            api_server_url: None,
            provider: None,
            version: None,
            kubeconfig: None,
            created_by: None,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(store.list_clusters(org).await.unwrap().len(), 1);
}

pub async fn health_errors_identity_and_heartbeats_are_recorded(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let id = agent_cluster(store, org, "c").await;
    let report = HealthReport {
        status: HealthStatus::Degraded,
        reasons: vec![HealthReason::NodesNotReady {
            nodes: vec!["node-b".into()],
        }],
    };
    let at = Utc::now();
    assert!(store.record_health(org, id, &report, at).await.unwrap());
    assert!(
        store
            .record_sync_error(org, id, Some("apiserver unreachable"))
            .await
            .unwrap()
    );
    assert!(
        store
            .record_identity(org, id, Some("eks"), Some("v1.36.3-eks-1"))
            .await
            .unwrap()
    );
    assert!(store.record_heartbeat(org, id, at).await.unwrap());
    let cluster = store.cluster(org, id).await.unwrap().unwrap();
    let health = cluster.health.expect("health recorded");
    assert_eq!(health.status, HealthStatus::Degraded);
    assert_eq!(health.reasons, report.reasons);
    assert_eq!(cluster.last_error.as_deref(), Some("apiserver unreachable"));
    assert_eq!(cluster.provider.as_deref(), Some("eks"));
    assert!(cluster.last_heartbeat_at.is_some());
    store.record_sync_error(org, id, None).await.unwrap();
    let cluster = store.cluster(org, id).await.unwrap().unwrap();
    assert_eq!(cluster.last_error, None);
}

pub async fn pull_targets_are_enabled_kubeconfig_clusters_of_every_org(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let other = store.ensure_organization("other").await.unwrap().id;
    agent_cluster(store, org, "agent-one").await;
    let mut pulls = Vec::new();
    for (org, name) in [(org, "pull-a"), (other, "pull-b")] {
        let id = pull_cluster(store, org, name).await;
        pulls.push((org, id));
    }
    let targets = store.pull_targets(true).await.unwrap();
    assert_eq!(targets.len(), 2);
    assert!(targets.iter().all(|t| t.kubeconfig.blob == [1, 2, 3]));
    // Disabled clusters are not collected; re-sealing replaces the blob.
    let (org_a, id_a) = pulls[0];
    store.set_cluster_enabled(org_a, id_a, false).await.unwrap();
    let (org_b, id_b) = pulls[1];
    let resealed = SealedKubeconfig {
        blob: vec![9; 40],
        key_id: "k2".into(),
    };
    assert!(
        store
            .replace_kubeconfig(org_b, id_b, &resealed, None)
            .await
            .unwrap()
    );
    let targets = store.pull_targets(true).await.unwrap();
    assert_eq!(targets.len(), 1);
    assert_eq!(targets[0].id, id_b);
    assert_eq!(targets[0].kubeconfig, resealed);
    assert_eq!(store.pull_targets(false).await.unwrap().len(), 2);
    let url = |c: Option<kubeworkz_hub::store::Cluster>| c.unwrap().api_server_url;
    assert_eq!(
        url(store.cluster(org_b, id_b).await.unwrap()).as_deref(),
        Some("https://127.0.0.1:6443"),
        "re-sealing keeps the URL"
    );
    // A replacement kubeconfig pointing elsewhere moves the URL; other orgs cannot.
    let moved = Some("https://10.0.0.9:6443");
    assert!(
        !store
            .replace_kubeconfig(org_a, id_b, &resealed, moved)
            .await
            .unwrap()
    );
    assert!(
        store
            .replace_kubeconfig(org_b, id_b, &resealed, moved)
            .await
            .unwrap()
    );
    assert_eq!(
        url(store.cluster(org_b, id_b).await.unwrap()).as_deref(),
        moved
    );
}

pub async fn deleting_a_cluster_removes_everything_collected_from_it(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let doomed = agent_cluster(store, org, "doomed").await;
    let kept = agent_cluster(store, org, "kept").await;
    for id in [doomed, kept] {
        let mut cursors = Cursors::new(1);
        let objects = [
            namespace("web", "ns-1", None),
            pod("web", "p", "pod-1", PodPhase::Running),
        ];
        store
            .ingest_changes(
                org,
                id,
                cursors.next(),
                &batch(snapshot(
                    &[ObjectKind::Namespace, ObjectKind::Pod],
                    &objects,
                )),
            )
            .await
            .unwrap();
    }
    assert!(store.delete_cluster(org, doomed).await.unwrap());
    assert!(store.cluster(org, doomed).await.unwrap().is_none());
    let gone = store
        .inventory(org, doomed, ObjectKind::Pod, false)
        .await
        .unwrap();
    assert!(gone.is_empty(), "pod rows cascade");
    let counts = store.inventory_counts(org, kept).await.unwrap();
    assert_eq!(counts[&ObjectKind::Pod], 1);
    assert_eq!(counts[&ObjectKind::Namespace], 1);
}
