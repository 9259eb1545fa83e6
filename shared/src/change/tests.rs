//! Keys, round trips and golden postcard bytes of the change stream.
//!
//! The golden tests fail when the encoding of an existing message changes. If that is
//! intended (it breaks agents in the field), bump `PROTOCOL_MAJOR`; otherwise append fields
//! or variants instead of changing existing ones.

use std::collections::BTreeMap;

use super::*;
use crate::model::deployment::{DeploymentReplicas, DeploymentStrategy};
use crate::model::helm::HelmReleaseStatus;
use crate::model::namespace::NamespacePhase;
use crate::model::node::{NodeResources, NodeRole, Taint};
use crate::model::pod::{
    ContainerKind, ContainerState, LegacyContainerProjection, OwnerKind, PodOwner, PodPhase,
    QosClass,
};
use crate::model::storage::{ClaimRef, PvcPhase};
use crate::model::{Condition, ConditionStatus, ResourceAmounts};
use crate::model::{DaemonSetCounts, JobState, StatefulSetReplicas, StatefulSetUpdateStrategy};
use crate::model::{LimitRangeLimit, QuotaResource};

const T: UnixMillis = UnixMillis(1_714_557_600_000);

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect()
}

fn namespace() -> NamespaceProjection {
    NamespaceProjection {
        name: "shop".into(),
        uid: "u1".into(),
        labels: labels(&[("team", "web")]),
        phase: NamespacePhase::Active,
        created: Some(T),
    }
}

/// A pod as an agent from before labels, images and container states sends it.
fn legacy_pod() -> LegacyPodProjection {
    LegacyPodProjection {
        name: "web-5d4f7-abcde".into(),
        namespace: "shop".into(),
        uid: "0b6e4a1c-5f3d-4c2e-9a8b-7d6c5e4f3a2b".into(),
        node: Some("n1".into()),
        phase: PodPhase::Running,
        owner: Some(PodOwner {
            kind: OwnerKind::Deployment,
            name: "web".into(),
        }),
        containers: vec![LegacyContainerProjection {
            name: "nginx".into(),
            kind: ContainerKind::App,
            requests: ResourceAmounts {
                cpu_millis: Some(100),
                memory_bytes: Some(1 << 27),
                ..Default::default()
            },
            limits: ResourceAmounts::default(),
            restarts: 1,
            ready: true,
        }],
        overhead: ResourceAmounts::default(),
        ready: true,
        start_time: Some(T),
        qos_class: QosClass::Burstable,
        pvc_claims: vec![],
        created: Some(T),
        deleted: None,
    }
}

/// The legacy pod as this version's agent sends it, with a crash-looping container.
fn pod() -> PodProjection {
    let mut pod = PodProjection::from(legacy_pod());
    pod.labels = labels(&[("app", "web")]);
    pod.reason = None;
    let container = &mut pod.containers[0];
    container.image = "nginx:1.25".into();
    container.state = Some(ContainerState::Waiting {
        reason: Some("CrashLoopBackOff".into()),
    });
    container.last_termination_reason = Some("OOMKilled".into());
    pod
}

/// One small but fully populated fixture per object variant, in [`ObjectKind::ALL`] order
/// (the legacy pod at the pod's index), then the current pod.
fn one_of_each_object() -> Vec<Object> {
    let ready = Condition {
        type_: "Ready".into(),
        status: ConditionStatus::True,
        reason: Some("KubeletReady".into()),
        last_transition: Some(T),
    };
    let resources = NodeResources {
        cpu_millis: 2000,
        memory_bytes: 1 << 30,
        pods: 110,
        ephemeral_storage_bytes: 1 << 34,
        gpus: 0,
    };
    vec![
        Object::Node(NodeProjection {
            name: "n1".into(),
            uid: "u0".into(),
            role: NodeRole::Worker,
            instance_type: Some("m5.large".into()),
            zone: Some("a".into()),
            region: None,
            capacity: resources,
            allocatable: resources,
            conditions: vec![ready.clone()],
            kubelet_version: "v1.30.0".into(),
            provider_id: None,
            labels: labels(&[("k", "v")]),
            taints: vec![Taint {
                key: "gpu".into(),
                value: None,
                effect: "NoSchedule".into(),
            }],
            created: Some(T),
            unschedulable: false,
        }),
        Object::Namespace(namespace()),
        Object::Deployment(DeploymentProjection {
            name: "web".into(),
            namespace: "shop".into(),
            uid: "u2".into(),
            replicas: DeploymentReplicas {
                desired: 3,
                updated: 3,
                ready: 2,
                available: 2,
                unavailable: 1,
            },
            conditions: vec![],
            strategy: DeploymentStrategy::RollingUpdate {
                max_surge: Some("25%".into()),
                max_unavailable: None,
            },
            images: vec!["nginx:1.27".into()],
            labels: BTreeMap::new(),
            generation: 2,
            observed_generation: Some(2),
            created: None,
        }),
        Object::LegacyPod(legacy_pod()),
        Object::PersistentVolumeClaim(PvcProjection {
            name: "data".into(),
            namespace: "shop".into(),
            uid: "u4".into(),
            requested_bytes: Some(10 << 30),
            storage_class: Some("gp3".into()),
            volume_name: Some("pv1".into()),
            phase: PvcPhase::Bound,
            capacity_bytes: Some(10 << 30),
            created: None,
        }),
        Object::PersistentVolume(PersistentVolumeProjection {
            name: "pv1".into(),
            uid: "u5".into(),
            capacity_bytes: Some(10 << 30),
            storage_class: Some("gp3".into()),
            csi_driver: Some("ebs.csi.aws.com".into()),
            claim: Some(ClaimRef {
                namespace: "shop".into(),
                name: "data".into(),
            }),
            phase: PvcPhase::Bound,
            created: None,
        }),
        Object::StorageClass(StorageClassProjection {
            name: "gp3".into(),
            uid: "u6".into(),
            provisioner: "ebs.csi.aws.com".into(),
            parameters: labels(&[("type", "gp3")]),
            is_default: true,
            created: None,
        }),
        Object::HelmRelease(HelmReleaseProjection {
            name: "web".into(),
            namespace: "shop".into(),
            uid: "u7".into(),
            revision: 2,
            status: HelmReleaseStatus::Deployed,
            chart_name: "web".into(),
            chart_version: "1.0.0".into(),
            app_version: Some("1.27".into()),
            updated: Some(T),
        }),
        Object::Pod(pod()),
        Object::StatefulSet(StatefulSetProjection {
            name: "db".into(),
            namespace: "shop".into(),
            uid: "u10".into(),
            replicas: StatefulSetReplicas {
                desired: 3,
                current: 3,
                ready: 2,
                available: 2,
                updated: 1,
            },
            service_name: Some("db-headless".into()),
            update_strategy: StatefulSetUpdateStrategy::RollingUpdate {
                partition: Some(1),
                max_unavailable: None,
            },
            images: vec!["postgres:16".into()],
            labels: labels(&[("app", "db")]),
            generation: 2,
            observed_generation: Some(2),
            created: Some(T),
        }),
        Object::DaemonSet(DaemonSetProjection {
            name: "agent".into(),
            namespace: "shop".into(),
            uid: "u11".into(),
            counts: DaemonSetCounts {
                desired: 4,
                current: 4,
                ready: 3,
                available: 3,
                updated: 4,
                misscheduled: 1,
            },
            update_strategy: "RollingUpdate".into(),
            images: vec!["agent:1".into()],
            labels: BTreeMap::new(),
            generation: 1,
            observed_generation: None,
            created: None,
        }),
        Object::ReplicaSet(ReplicaSetProjection {
            name: "web-5d4f7".into(),
            namespace: "shop".into(),
            uid: "u12".into(),
            owner: Some(PodOwner {
                kind: OwnerKind::Deployment,
                name: "web".into(),
            }),
            created: Some(T),
        }),
        Object::Job(JobProjection {
            name: "report-1".into(),
            namespace: "shop".into(),
            uid: "u13".into(),
            owner: Some(PodOwner {
                kind: OwnerKind::CronJob,
                name: "report".into(),
            }),
            completions: Some(1),
            parallelism: 1,
            succeeded: 0,
            failed: 2,
            active: 1,
            state: JobState::Running,
            start_time: Some(T),
            completion_time: None,
            images: vec!["report:2".into()],
            labels: BTreeMap::new(),
            created: Some(T),
        }),
        Object::CronJob(CronJobProjection {
            name: "report".into(),
            namespace: "shop".into(),
            uid: "u14".into(),
            schedule: "0 * * * *".into(),
            time_zone: None,
            suspend: false,
            concurrency_policy: "Forbid".into(),
            last_schedule: Some(T),
            last_successful: None,
            active: 1,
            images: vec!["report:2".into()],
            labels: BTreeMap::new(),
            created: Some(T),
        }),
        Object::ResourceQuota(ResourceQuotaProjection {
            name: "compute".into(),
            namespace: "shop".into(),
            uid: "u15".into(),
            scopes: vec!["NotTerminating".into()],
            resources: vec![
                QuotaResource {
                    resource: "pods".into(),
                    hard_milli: 10_000,
                    used_milli: None,
                },
                QuotaResource {
                    resource: "requests.cpu".into(),
                    hard_milli: 4000,
                    used_milli: Some(4000),
                },
            ],
            labels: labels(&[("team", "web")]),
            created: Some(T),
        }),
        Object::LimitRange(LimitRangeProjection {
            name: "defaults".into(),
            namespace: "shop".into(),
            uid: "u16".into(),
            limits: vec![LimitRangeLimit {
                type_: "Container".into(),
                resource: "cpu".into(),
                default_milli: Some(500),
                default_request_milli: Some(250),
                min_milli: None,
                max_milli: Some(2000),
                max_limit_request_ratio_milli: Some(4000),
            }],
            created: None,
        }),
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn objects_know_their_kind_and_key() {
    let objects = one_of_each_object();
    let kinds: Vec<_> = objects.iter().map(Object::kind).collect();
    assert_eq!(kinds[..8], ObjectKind::ALL[..8]);
    assert_eq!(kinds[8], ObjectKind::Pod);
    assert_eq!(kinds[9..], ObjectKind::ALL[8..]);
    assert_eq!(ObjectKind::ALL[8..13], ObjectKind::WORKLOADS);
    assert_eq!(ObjectKind::ALL[13..], ObjectKind::QUOTAS);
    assert_eq!(objects[8].key(), objects[3].key());
    for object in &objects {
        let key = object.key();
        assert_eq!(key.kind.is_namespaced(), !key.namespace.is_empty(), "{key}");
    }
    assert_eq!(
        objects[3].key().to_string(),
        "Pod shop/web-5d4f7-abcde (0b6e4a1c-5f3d-4c2e-9a8b-7d6c5e4f3a2b)"
    );
    assert_eq!(objects[7].key().name, "sh.helm.release.v1.web.v2");
    assert_eq!(objects[0].key().to_string(), "Node n1 (u0)");
}

/// An older agent's pod upgrades to the current projection with what it did not send empty;
/// every other object and change stays as it is.
#[test]
fn legacy_pods_upgrade_and_the_rest_stays() {
    let upgraded = Object::LegacyPod(legacy_pod()).upgraded();
    let Object::Pod(pod) = upgraded.clone() else {
        panic!("{upgraded:?}")
    };
    assert_eq!(pod.containers[0].restarts, 1);
    assert_eq!(pod.containers[0].image, "");
    assert_eq!(pod.containers[0].state, None);
    assert!(pod.labels.is_empty());
    assert_eq!(upgraded.key(), Object::LegacyPod(legacy_pod()).key());
    for object in one_of_each_object() {
        if !matches!(object, Object::LegacyPod(_)) {
            assert_eq!(object.clone().upgraded(), object);
        }
    }
    assert_eq!(
        Change::Upsert(Object::LegacyPod(legacy_pod())).upgraded(),
        Change::Upsert(upgraded)
    );
    let delete = Change::Delete(Object::Pod(pod).key());
    assert_eq!(delete.clone().upgraded(), delete);
}

#[test]
fn every_object_round_trips_through_postcard() {
    for object in one_of_each_object() {
        let bytes = postcard::to_allocvec(&object).unwrap();
        let back: Object = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, object);
    }
}

/// Every object's golden bytes decode to it through the budgeted decoder, and the largest
/// batches the agent sends of each kind (500 changes) stay within the limits of their frame:
/// the estimate per frame byte is printed for the record.
#[test]
fn largest_batches_of_every_kind_decode_within_their_frame_limits() {
    use crate::protocol::budget::decode;
    use crate::protocol::{AgentMessage, DecodeLimits};
    for (object, golden) in one_of_each_object().into_iter().zip(GOLDEN_OBJECTS) {
        let bytes: Vec<u8> = (0..golden.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&golden[i..i + 2], 16).unwrap())
            .collect();
        let limits = DecodeLimits::for_frame(bytes.len() as u32);
        assert_eq!(decode::<Object>(&bytes, &limits).unwrap().0, object);
    }
    let deletes = one_of_each_object()
        .iter()
        .map(|o| Change::Delete(o.key()))
        .collect::<Vec<_>>();
    let upserts = one_of_each_object().into_iter().map(Change::Upsert);
    for change in upserts.chain(deletes) {
        let message = AgentMessage::Batch {
            epoch: 1,
            seq: 1,
            batch: ChangeBatch {
                produced_at: T,
                changes: vec![change.clone(); 500],
            },
        };
        let bytes = postcard::to_allocvec(&message).unwrap();
        let limits = DecodeLimits::for_frame(bytes.len() as u32);
        let (back, spent) = decode::<AgentMessage>(&bytes, &limits)
            .unwrap_or_else(|err| panic!("{change:?}: {err}"));
        assert_eq!(back, message);
        println!(
            "500 × {:<60.60}: {:>7} bytes, estimate {:>8} ({:.1}/byte, {:.0}% of the limit)",
            format!("{change:?}"),
            bytes.len(),
            spent.decoded_bytes,
            spent.decoded_bytes as f64 / bytes.len() as f64,
            spent.decoded_bytes as f64 * 100.0 / limits.max_decoded_bytes as f64,
        );
    }
}

/// Pins each message of the stream. A failure prints the new bytes; read the module docs
/// before updating them.
#[test]
fn change_messages_have_pinned_encodings() {
    let batch = ChangeBatch {
        produced_at: T,
        changes: vec![
            Change::SnapshotBegin {
                kinds: vec![ObjectKind::Namespace, ObjectKind::Pod],
            },
            Change::Upsert(Object::Namespace(namespace())),
            Change::Delete(ObjectKey {
                kind: ObjectKind::Pod,
                namespace: "shop".into(),
                name: "web-1".into(),
                uid: "u9".into(),
            }),
            Change::SnapshotEnd {
                kinds: vec![ObjectKind::Namespace, ObjectKind::Pod],
            },
        ],
    };
    let golden: [&str; 4] = [
        GOLDEN_SNAPSHOT_BEGIN,
        GOLDEN_UPSERT,
        GOLDEN_DELETE,
        GOLDEN_SNAPSHOT_END,
    ];
    for (change, want) in batch.changes.iter().zip(golden) {
        assert_eq!(
            hex(&postcard::to_allocvec(change).unwrap()),
            want,
            "{change:?}"
        );
    }
    let bytes = postcard::to_allocvec(&batch).unwrap();
    assert_eq!(hex(&bytes), GOLDEN_BATCH);
    assert_eq!(postcard::from_bytes::<ChangeBatch>(&bytes).unwrap(), batch);
}

#[test]
fn every_object_kind_has_a_pinned_encoding() {
    let objects = one_of_each_object();
    for (object, want) in objects.iter().zip(GOLDEN_OBJECTS) {
        assert_eq!(
            hex(&postcard::to_allocvec(object).unwrap()),
            want,
            "{:?}",
            object.kind()
        );
    }
    assert_eq!(objects.len(), GOLDEN_OBJECTS.len());
}

const GOLDEN_SNAPSHOT_BEGIN: &str = "00020103";
const GOLDEN_UPSERT: &str = "01010473686f700102753101047465616d0377656200018084c6b9e663";
const GOLDEN_DELETE: &str = "02030473686f70057765622d3101027539";
const GOLDEN_SNAPSHOT_END: &str = "03020103";
const GOLDEN_BATCH: &str = concat!(
    "8084c6b9e663040002010301010473686f700102753101047465616d0377656200018084c6b9e663020304",
    "73686f70057765622d310102753903020103",
);
const GOLDEN_OBJECTS: [&str; 16] = [
    concat!(
        "00026e31010275300101086d352e6c6172676501016100d00f80808080046e808080804000d00f80808080",
        "046e8080808040000105526561647900010c4b7562656c65745265616479018084c6b9e6630776312e3330",
        "2e300001016b01760103677075000a4e6f5363686564756c65018084c6b9e66300",
    ),
    "010473686f700102753101047465616d0377656200018084c6b9e663",
    "02037765620473686f700102753203030202010000010332352500010a6e67696e783a312e32370004010400",
    concat!(
        "030f7765622d35643466372d61626364650473686f70000b6e4a1c5f3d4c2e9a8b7d6c5e4f3a2b01026e31",
        "0101000377656201056e67696e78000164018080804000000000000001010000000001018084c6b9e66301",
        "00018084c6b9e66300",
    ),
    "0404646174610473686f7001027534018080808028010367703301037076310101808080802800",
    concat!(
        "0503707631010275350180808080280103677033010f6562732e6373692e6177732e636f6d010473686f70",
        "04646174610100",
    ),
    "0603677033010275360f6562732e6373692e6177732e636f6d010474797065036770330100",
    "07037765620473686f700102753702010377656205312e302e300104312e3237018084c6b9e663",
    concat!(
        "080f7765622d35643466372d61626364650473686f70000b6e4a1c5f3d4c2e9a8b7d6c5e4f3a2b01026e31",
        "0101000377656201056e67696e78000164018080804000000000000001010a6e67696e783a312e32350100",
        "011043726173684c6f6f704261636b4f666601094f4f4d4b696c6c65640000000001018084c6b9e6630100",
        "018084c6b9e6630001036170700377656200",
    ),
    concat!(
        "090264620473686f7001037531300303020201010b64622d686561646c65737300010100010b706f73746772",
        "65733a31360103617070026462040104018084c6b9e663",
    ),
    concat!(
        "0a056167656e740473686f7001037531310404030304010d526f6c6c696e6755706461746501076167656e74",
        "3a3100020000",
    ),
    "0b097765622d35643466370473686f700103753132010003776562018084c6b9e663",
    concat!(
        "0c087265706f72742d310473686f7001037531330107067265706f727401010100020100018084c6b9e66300",
        "01087265706f72743a3200018084c6b9e663",
    ),
    concat!(
        "0d067265706f72740473686f7001037531340930202a202a202a202a000006466f72626964018084c6b9e663",
        "000101087265706f72743a3200018084c6b9e663",
    ),
    concat!(
        "0e07636f6d707574650473686f700103753135010e4e6f745465726d696e6174696e670204706f6473904e",
        "000c72657175657374732e637075a01f01a01f01047465616d03776562018084c6b9e663",
    ),
    concat!(
        "0f0864656661756c74730473686f7001037531360109436f6e7461696e65720363707501f40301fa0100",
        "01d00f01a01f00",
    ),
];

/// What a hub from before `Object::Pod` (eight variants, pods at index 3) makes of a current
/// agent's pod: the frame does not decode, which that hub answers by closing the connection
/// as a protocol error, so hubs are upgraded before agents.
#[test]
fn a_hub_without_the_current_pod_refuses_it_as_undecodable() {
    use crate::protocol::budget::decode;
    use crate::protocol::{DecodeLimits, FrameError};
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    enum EarlierObject {
        Node(NodeProjection),
        Namespace(NamespaceProjection),
        Deployment(DeploymentProjection),
        Pod(LegacyPodProjection),
        PersistentVolumeClaim(PvcProjection),
        PersistentVolume(PersistentVolumeProjection),
        StorageClass(StorageClassProjection),
        HelmRelease(HelmReleaseProjection),
    }
    let legacy = postcard::to_allocvec(&Object::LegacyPod(legacy_pod())).unwrap();
    let limits = DecodeLimits::for_frame(legacy.len() as u32);
    assert!(matches!(
        decode::<EarlierObject>(&legacy, &limits).unwrap().0,
        EarlierObject::Pod(_)
    ));
    let current = postcard::to_allocvec(&Object::Pod(pod())).unwrap();
    let limits = DecodeLimits::for_frame(current.len() as u32);
    let err: FrameError = decode::<EarlierObject>(&current, &limits).unwrap_err();
    assert_eq!(
        err.to_string(),
        "frame does not decode: Serde Deserialization Error"
    );
}
