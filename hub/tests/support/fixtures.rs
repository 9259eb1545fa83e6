//! Small, realistic projections and clusters for the conformance cases.

use std::collections::BTreeMap;

use kubeworkz_hub::store::{
    ClusterMode, Cursor, Environment, NewCluster, PageRequest, SealedKubeconfig, Store,
};
use kubeworkz_shared::change::{Change, ChangeBatch, Object, ObjectKind};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::model::node::{NodeResources, NodeRole};
use kubeworkz_shared::model::pod::{
    ContainerKind, ContainerProjection, ContainerState, LegacyContainerProjection,
    LegacyPodProjection, PodPhase, QosClass,
};
use kubeworkz_shared::model::{
    DeploymentProjection, DeploymentReplicas, DeploymentStrategy, HelmReleaseProjection,
    HelmReleaseStatus, NamespacePhase, NamespaceProjection, NodeProjection, OwnerKind, PodOwner,
    PodProjection, PvcPhase, PvcProjection, ResourceAmounts,
};
use kubeworkz_shared::time::UnixMillis;

/// When the fixture pods were created: fixed per test run, since creationTimestamp never
/// changes for a uid (pods are partitioned by it).
static CREATED: std::sync::LazyLock<UnixMillis> =
    std::sync::LazyLock::new(|| UnixMillis(UnixMillis::now().0 - 60_000));

pub fn namespace(name: &str, uid: &str, team: Option<&str>) -> Object {
    let mut labels = BTreeMap::new();
    if let Some(team) = team {
        labels.insert("team".to_owned(), team.to_owned());
    }
    Object::Namespace(NamespaceProjection {
        name: name.into(),
        uid: uid.into(),
        labels,
        phase: NamespacePhase::Active,
        created: Some(UnixMillis(1_700_000_000_000)),
    })
}

pub fn node(name: &str, uid: &str) -> Object {
    let resources = NodeResources {
        cpu_millis: 4_000,
        memory_bytes: 16 << 30,
        pods: 110,
        ephemeral_storage_bytes: 100 << 30,
        gpus: 0,
    };
    Object::Node(NodeProjection {
        name: name.into(),
        uid: uid.into(),
        role: NodeRole::Worker,
        instance_type: Some("m5.xlarge".into()),
        zone: Some("eu-west-1a".into()),
        region: Some("eu-west-1".into()),
        capacity: resources,
        allocatable: resources,
        conditions: vec![],
        kubelet_version: "v1.36.3".into(),
        provider_id: None,
        labels: BTreeMap::new(),
        taints: vec![],
        created: Some(UnixMillis(1_700_000_000_000)),
        unschedulable: false,
    })
}

pub fn deployment(namespace: &str, name: &str, uid: &str, replicas: u32) -> Object {
    Object::Deployment(DeploymentProjection {
        name: name.into(),
        namespace: namespace.into(),
        uid: uid.into(),
        replicas: DeploymentReplicas {
            desired: replicas,
            updated: replicas,
            ready: replicas,
            available: replicas,
            unavailable: 0,
        },
        conditions: vec![],
        strategy: DeploymentStrategy::RollingUpdate {
            max_surge: None,
            max_unavailable: None,
        },
        images: vec!["nginx:1.27".into()],
        labels: BTreeMap::new(),
        generation: 1,
        observed_generation: Some(1),
        created: Some(UnixMillis(1_700_000_000_000)),
    })
}

pub fn pod(namespace: &str, name: &str, uid: &str, phase: PodPhase) -> Object {
    let requests = ResourceAmounts {
        cpu_millis: Some(250),
        memory_bytes: Some(256 << 20),
        ephemeral_storage_bytes: None,
        gpus: None,
    };
    Object::Pod(PodProjection {
        name: name.into(),
        namespace: namespace.into(),
        uid: uid.into(),
        node: Some("node-a".into()),
        phase,
        owner: Some(PodOwner {
            kind: OwnerKind::Deployment,
            name: "web".into(),
        }),
        containers: vec![ContainerProjection {
            name: "app".into(),
            kind: ContainerKind::App,
            requests,
            limits: ResourceAmounts::default(),
            restarts: 0,
            ready: true,
            image: String::new(),
            state: None,
            last_termination_reason: None,
        }],
        overhead: ResourceAmounts::default(),
        ready: true,
        start_time: Some(*CREATED),
        qos_class: QosClass::Burstable,
        pvc_claims: vec![],
        created: Some(*CREATED),
        deleted: None,
        labels: Default::default(),
        reason: None,
    })
}

/// `pod` (from [`pod`]) with labels and its container's image; the container runs, or waits
/// for `waiting` (as a crash-looping one does: not ready, restarted, last killed for memory).
pub fn dressed_pod(
    mut pod: Object,
    labels: &[(&str, &str)],
    image: &str,
    waiting: Option<&str>,
) -> Object {
    let Object::Pod(p) = &mut pod else {
        unreachable!("the fixture makes pods")
    };
    p.labels = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let container = &mut p.containers[0];
    container.image = image.into();
    container.state = Some(match waiting {
        Some(reason) => ContainerState::Waiting {
            reason: Some(reason.into()),
        },
        None => ContainerState::Running,
    });
    if waiting.is_some() {
        container.ready = false;
        container.restarts = 12;
        container.last_termination_reason = Some("OOMKilled".into());
        p.ready = false;
    }
    pod
}

/// [`pod`] as an agent from before labels, images and container states sends it.
pub fn legacy_pod(namespace: &str, name: &str, uid: &str, phase: PodPhase) -> Object {
    let Object::Pod(p) = pod(namespace, name, uid, phase) else {
        unreachable!("the fixture makes pods")
    };
    Object::LegacyPod(LegacyPodProjection {
        name: p.name,
        namespace: p.namespace,
        uid: p.uid,
        node: p.node,
        phase: p.phase,
        owner: p.owner,
        containers: p
            .containers
            .into_iter()
            .map(|c| LegacyContainerProjection {
                name: c.name,
                kind: c.kind,
                requests: c.requests,
                limits: c.limits,
                restarts: c.restarts,
                ready: c.ready,
            })
            .collect(),
        overhead: p.overhead,
        ready: p.ready,
        start_time: p.start_time,
        qos_class: p.qos_class,
        pvc_claims: p.pvc_claims,
        created: p.created,
        deleted: p.deleted,
    })
}

pub fn helm_release(namespace: &str, name: &str, revision: u32, uid: &str) -> Object {
    Object::HelmRelease(HelmReleaseProjection {
        name: name.into(),
        namespace: namespace.into(),
        uid: uid.into(),
        revision,
        status: HelmReleaseStatus::Deployed,
        chart_name: "nginx".into(),
        chart_version: "1.0.0".into(),
        app_version: Some("1.27".into()),
        updated: Some(UnixMillis(1_700_000_000_000)),
    })
}

/// A claim of `class` (`None`: the default class); bound claims have `capacity` bytes and a
/// volume, pending ones neither.
pub fn pvc(
    namespace: &str,
    name: &str,
    uid: &str,
    class: Option<&str>,
    capacity: Option<u64>,
) -> Object {
    Object::PersistentVolumeClaim(PvcProjection {
        name: name.into(),
        namespace: namespace.into(),
        uid: uid.into(),
        requested_bytes: Some(capacity.unwrap_or(1 << 30)),
        storage_class: class.map(Into::into),
        volume_name: capacity.map(|_| format!("pv-{uid}")),
        phase: if capacity.is_some() {
            PvcPhase::Bound
        } else {
            PvcPhase::Pending
        },
        capacity_bytes: capacity,
        created: Some(*CREATED),
    })
}

pub fn delete_of(object: &Object) -> Change {
    Change::Delete(object.key())
}

pub fn snapshot(kinds: &[ObjectKind], objects: &[Object]) -> Vec<Change> {
    let mut changes = vec![Change::SnapshotBegin {
        kinds: kinds.to_vec(),
    }];
    changes.extend(objects.iter().cloned().map(Change::Upsert));
    changes.push(Change::SnapshotEnd {
        kinds: kinds.to_vec(),
    });
    changes
}

pub fn batch(changes: Vec<Change>) -> ChangeBatch {
    ChangeBatch {
        produced_at: UnixMillis::now(),
        changes,
    }
}

/// Registers an agent-mode cluster in `org`.
pub async fn agent_cluster(store: &Store, org: OrgId, name: &str) -> ClusterId {
    let id = ClusterId::new();
    store
        .create_cluster(&NewCluster {
            id,
            org_id: org,
            name: name.into(),
            description: String::new(),
            environment: Environment::Production,
            tags: vec!["eu".into()],
            mode: ClusterMode::Agent,
            api_server_url: None,
            provider: None,
            version: None,
            kubeconfig: None,
            created_by: Some("test".into()),
        })
        .await
        .expect("create cluster");
    id
}

/// Registers a pull-mode cluster in `org` (API server `https://127.0.0.1:6443`, a sealed
/// kubeconfig of bytes 1, 2, 3).
pub async fn pull_cluster(store: &Store, org: OrgId, name: &str) -> ClusterId {
    let id = ClusterId::new();
    store
        .create_cluster(&NewCluster {
            id,
            org_id: org,
            name: name.into(),
            description: "by kubeconfig".into(),
            environment: Environment::Development,
            tags: vec![],
            mode: ClusterMode::Kubeconfig,
            api_server_url: Some("https://127.0.0.1:6443".into()),
            provider: None,
            version: None,
            kubeconfig: Some(SealedKubeconfig {
                blob: vec![1, 2, 3],
                key_id: "k1".into(),
            }),
            created_by: Some("cli".into()),
        })
        .await
        .expect("create cluster");
    id
}

/// A sequence of cursors in one epoch.
#[derive(Debug)]
pub struct Cursors {
    pub epoch: u64,
    pub seq: u64,
}

impl Cursors {
    pub fn new(epoch: u64) -> Self {
        Self { epoch, seq: 0 }
    }

    pub fn next(&mut self) -> Cursor {
        self.seq += 1;
        Cursor {
            epoch: self.epoch,
            seq: self.seq,
        }
    }
}

/// Every live object the store holds for the cluster, in `Inventory` order.
pub async fn live(store: &Store, org: OrgId, cluster: ClusterId) -> Vec<Object> {
    let mut objects = Vec::new();
    for kind in ObjectKind::ALL {
        for record in store.inventory(org, cluster, kind, true).await.unwrap() {
            objects.push(record.object);
        }
    }
    objects.sort_by_key(|o| {
        let k = o.key();
        (k.kind, k.namespace, k.name)
    });
    objects
}

/// Each live namespace's (deployments, pods), by name, as the namespaces page shows them.
pub async fn page_namespace_counts(
    store: &Store,
    org: OrgId,
    cluster: ClusterId,
) -> BTreeMap<String, (u64, u64)> {
    let page = PageRequest {
        limit: 1_000,
        offset: 0,
    };
    let paged = store.namespace_page(org, cluster, page).await.unwrap();
    paged
        .items
        .into_iter()
        .map(|n| (n.item.name, (n.counts.deployments, n.counts.pods)))
        .collect()
}

/// Each live namespace's (deployments, pods), by name, counted from `live` objects.
pub fn namespace_counts_of(live: &[Object]) -> BTreeMap<String, (u64, u64)> {
    let mut counts: BTreeMap<String, (u64, u64)> = live
        .iter()
        .filter_map(|o| match o {
            Object::Namespace(n) => Some((n.name.clone(), (0, 0))),
            _ => None,
        })
        .collect();
    for object in live {
        match object {
            Object::Deployment(d) => {
                if let Some(c) = counts.get_mut(&d.namespace) {
                    c.0 += 1;
                }
            }
            Object::Pod(p) => {
                if let Some(c) = counts.get_mut(&p.namespace) {
                    c.1 += 1;
                }
            }
            _ => {}
        }
    }
    counts
}

/// Another organization sees none of `kinds` (no list row, not the object `uid` of the first
/// kind), then deleting `cluster` removes every row of them, history included.
pub async fn assert_hidden_then_cascaded(
    store: &Store,
    (org, other): (OrgId, OrgId),
    cluster: ClusterId,
    kinds: &[ObjectKind],
    uid: &str,
) {
    for kind in kinds {
        let q = kubeworkz_hub::store::InventoryQuery::new(*kind, None, Default::default());
        assert_eq!(store.inventory_page(other, &q).await.unwrap().total, 0);
    }
    assert!(
        store
            .inventory_item(other, kinds[0], uid)
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.delete_cluster(org, cluster).await.unwrap());
    for kind in kinds {
        let rows = store.inventory(org, cluster, *kind, false).await.unwrap();
        assert!(rows.is_empty(), "{kind:?} rows cascade");
    }
}
