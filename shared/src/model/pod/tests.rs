//! Tests for the pod projection, on pods shaped like the apiserver returns them.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::*;

/// A running Deployment pod with an init container, a native sidecar and two app containers.
const CHECKOUT_POD: &str = r#"{
  "apiVersion": "v1", "kind": "Pod",
  "metadata": {
    "name": "checkout-7c9d8f6b5-x2k4q", "namespace": "production-api",
    "uid": "3a0b9f44-58c1-4d8a-9e2b-6f1d0c7e8a21",
    "creationTimestamp": "2024-05-01T09:59:30Z",
    "labels": {"app": "checkout", "pod-template-hash": "7c9d8f6b5"},
    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
      "name": "checkout-7c9d8f6b5", "uid": "e1", "controller": true, "blockOwnerDeletion": true}]
  },
  "spec": {
    "nodeName": "ip-10-0-1-23.ec2.internal",
    "initContainers": [
      {"name": "migrate", "image": "registry.example/checkout:1.8.0",
       "resources": {"requests": {"cpu": "2", "memory": "1Gi"}}},
      {"name": "mesh", "image": "envoyproxy/envoy:v1.30.1", "restartPolicy": "Always",
       "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}
    ],
    "containers": [
      {"name": "app", "image": "registry.example/checkout:1.8.0",
       "resources": {"requests": {"cpu": "500m", "memory": "512Mi", "ephemeral-storage": "1Gi"},
                     "limits": {"cpu": "1", "memory": "512Mi", "nvidia.com/gpu": "1"}}},
      {"name": "metrics", "image": "prom/statsd-exporter:v0.26.0",
       "resources": {"requests": {"cpu": "50m", "memory": "32Mi"}}}
    ],
    "volumes": [
      {"name": "data", "persistentVolumeClaim": {"claimName": "checkout-cache"}},
      {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "1Gi"}}}}}},
      {"name": "kube-api-access-abcde", "projected": {"sources": []}}
    ]
  },
  "status": {
    "phase": "Running", "qosClass": "Burstable", "startTime": "2024-05-01T09:59:31Z",
    "conditions": [
      {"type": "Initialized", "status": "True"},
      {"type": "Ready", "status": "True", "lastTransitionTime": "2024-05-01T10:00:02Z"}
    ],
    "initContainerStatuses": [
      {"name": "migrate", "ready": false, "restartCount": 0, "image": "i", "imageID": "d"},
      {"name": "mesh", "ready": true, "restartCount": 1, "image": "i", "imageID": "d"}
    ],
    "containerStatuses": [
      {"name": "app", "ready": true, "restartCount": 3, "image": "i", "imageID": "d"},
      {"name": "metrics", "ready": true, "restartCount": 0, "image": "i", "imageID": "d"}
    ]
  }
}"#;

fn checkout_pod() -> Pod {
    serde_json::from_str(CHECKOUT_POD).unwrap()
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect()
}

fn controller(kind: &str, name: &str) -> OwnerReference {
    OwnerReference {
        api_version: "apps/v1".into(),
        kind: kind.into(),
        name: name.into(),
        uid: "u".into(),
        controller: Some(true),
        block_owner_deletion: None,
    }
}

#[test]
fn pod_projects_placement_state_and_claims() {
    let p = PodProjection::from(&checkout_pod());
    assert_eq!(p.name, "checkout-7c9d8f6b5-x2k4q");
    assert_eq!(p.namespace, "production-api");
    assert_eq!(p.uid, "3a0b9f44-58c1-4d8a-9e2b-6f1d0c7e8a21");
    assert_eq!(p.node.as_deref(), Some("ip-10-0-1-23.ec2.internal"));
    assert_eq!(p.phase, PodPhase::Running);
    assert_eq!(
        p.owner,
        Some(PodOwner {
            kind: OwnerKind::Deployment,
            name: "checkout".into()
        })
    );
    assert!(p.ready);
    assert_eq!(p.qos_class, QosClass::Burstable);
    assert_eq!(
        p.start_time,
        UnixMillis::parse_rfc3339("2024-05-01T09:59:31Z")
    );
    assert_eq!(
        p.pvc_claims,
        ["checkout-cache", "checkout-7c9d8f6b5-x2k4q-scratch"]
    );
    assert_eq!(p.deleted, None);
    assert_eq!(p.restarts(), 4);
}

#[test]
fn containers_keep_kind_order_requests_limits_and_status() {
    let p = PodProjection::from(&checkout_pod());
    let kinds: Vec<_> = p
        .containers
        .iter()
        .map(|c| (c.name.as_str(), c.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("migrate", ContainerKind::Init),
            ("mesh", ContainerKind::Sidecar),
            ("app", ContainerKind::App),
            ("metrics", ContainerKind::App),
        ]
    );
    let app = &p.containers[2];
    assert_eq!(
        app.requests,
        ResourceAmounts {
            cpu_millis: Some(500),
            memory_bytes: Some(512 << 20),
            ephemeral_storage_bytes: Some(1 << 30),
            gpus: None,
        }
    );
    assert_eq!(app.limits.cpu_millis, Some(1000));
    assert_eq!(app.limits.gpus, Some(1));
    assert_eq!((app.restarts, app.ready), (3, true));
    assert_eq!(
        (p.containers[0].restarts, p.containers[0].ready),
        (0, false)
    );
}

#[test]
fn effective_requests_follow_the_init_and_sidecar_rule() {
    let p = PodProjection::from(&checkout_pod());
    let effective = p.effective_requests();
    // cpu: apps 550m + sidecar 100m = 650m < init peak 2000m (migrate runs before mesh).
    assert_eq!(effective.cpu_millis, Some(2000));
    // memory: apps 544Mi + sidecar 64Mi = 608Mi < migrate's 1Gi.
    assert_eq!(effective.memory_bytes, Some(1 << 30));
    assert_eq!(effective.ephemeral_storage_bytes, Some(1 << 30));
    assert_eq!(effective.gpus, None);
}

#[test]
fn sidecars_started_before_an_init_container_add_to_its_step() {
    let mut pod = checkout_pod();
    let spec = pod.spec.as_mut().unwrap();
    spec.init_containers.as_mut().unwrap().reverse(); // mesh (sidecar) first, then migrate
    spec.overhead = Some([("cpu".to_owned(), Quantity("250m".into()))].into());
    let effective = PodProjection::from(&pod).effective_requests();
    // migrate's step: 2000m + 100m sidecar, plus 250m overhead.
    assert_eq!(effective.cpu_millis, Some(2350));
}

#[test]
fn effective_requests_are_unset_when_nothing_requests_them() {
    let mut pod = checkout_pod();
    let spec = pod.spec.as_mut().unwrap();
    spec.init_containers = None;
    for c in &mut spec.containers {
        c.resources = None;
    }
    let p = PodProjection::from(&pod);
    assert!(p.effective_requests().is_empty());
}

#[test]
fn replicaset_owners_resolve_to_deployments_only_when_the_hash_matches() {
    let hash = labels(&[("pod-template-hash", "7c9d8f6b5")]);
    let cases = [
        (
            controller("ReplicaSet", "checkout-7c9d8f6b5"),
            &hash,
            OwnerKind::Deployment,
            "checkout",
        ),
        (
            controller("ReplicaSet", "my-app-v2-7c9d8f6b5"),
            &hash,
            OwnerKind::Deployment,
            "my-app-v2",
        ),
        (
            controller("ReplicaSet", "checkout-5f6d7c8b9"),
            &hash,
            OwnerKind::ReplicaSet,
            "checkout-5f6d7c8b9",
        ),
        (
            controller("ReplicaSet", "handmade"),
            &Labels::new(),
            OwnerKind::ReplicaSet,
            "handmade",
        ),
        (
            controller("ReplicaSet", "7c9d8f6b5"),
            &hash,
            OwnerKind::ReplicaSet,
            "7c9d8f6b5",
        ),
        (
            controller("StatefulSet", "postgres"),
            &hash,
            OwnerKind::StatefulSet,
            "postgres",
        ),
        (
            controller("DaemonSet", "aws-node"),
            &Labels::new(),
            OwnerKind::DaemonSet,
            "aws-node",
        ),
        (
            controller("Job", "backup-28571520"),
            &Labels::new(),
            OwnerKind::Job,
            "backup-28571520",
        ),
        (
            controller("Node", "kind-control-plane"),
            &Labels::new(),
            OwnerKind::Node,
            "kind-control-plane",
        ),
        (
            controller("Rollout", "canary"),
            &hash,
            OwnerKind::Other("Rollout".into()),
            "canary",
        ),
    ];
    for (owner, labels, kind, name) in cases {
        let resolved = resolve_owner(std::slice::from_ref(&owner), labels).unwrap();
        assert_eq!(
            (resolved.kind, resolved.name.as_str()),
            (kind, name),
            "{}",
            owner.name
        );
    }
}

#[test]
fn only_the_controller_reference_is_the_owner() {
    let mut not_controller = controller("ReplicaSet", "checkout-7c9d8f6b5");
    not_controller.controller = None;
    assert_eq!(resolve_owner(&[not_controller], &Labels::new()), None);
    assert_eq!(resolve_owner(&[], &Labels::new()), None);
}

#[test]
fn qos_class_is_derived_when_status_has_none() {
    let amounts = |cpu: Option<u64>, mem: Option<u64>| ResourceAmounts {
        cpu_millis: cpu,
        memory_bytes: mem,
        ..ResourceAmounts::default()
    };
    let c = |requests, limits| ContainerProjection {
        name: "c".into(),
        kind: ContainerKind::App,
        requests,
        limits,
        restarts: 0,
        ready: true,
        image: String::new(),
        state: None,
        last_termination_reason: None,
    };
    let none = ResourceAmounts::default();
    let full = amounts(Some(500), Some(1 << 30));
    let cases = [
        (vec![c(none, none)], QosClass::BestEffort),
        (vec![c(full, full)], QosClass::Guaranteed),
        (vec![c(none, full)], QosClass::Guaranteed),
        (vec![c(full, full), c(none, none)], QosClass::Burstable),
        (
            vec![c(amounts(Some(100), Some(1 << 30)), full)],
            QosClass::Burstable,
        ),
        (vec![c(full, amounts(Some(500), None))], QosClass::Burstable),
    ];
    for (containers, want) in cases {
        assert_eq!(derive_qos_class(&containers), want, "{containers:?}");
    }

    let mut pod = checkout_pod();
    pod.status.as_mut().unwrap().qos_class = None;
    assert_eq!(PodProjection::from(&pod).qos_class, QosClass::Burstable);
}

#[test]
fn pending_and_terminating_pods() {
    let pod: Pod = serde_json::from_str(
        r#"{"metadata": {"name": "web-0", "namespace": "default", "uid": "u",
              "deletionTimestamp": "2024-05-01T10:05:00Z"},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            "status": {"phase": "Pending"}}"#,
    )
    .unwrap();
    let p = PodProjection::from(&pod);
    assert_eq!(p.phase, PodPhase::Pending);
    assert_eq!(p.node, None);
    assert_eq!(p.owner, None);
    assert!(!p.ready);
    assert_eq!(p.qos_class, QosClass::BestEffort);
    assert_eq!(p.deleted, UnixMillis::parse_rfc3339("2024-05-01T10:05:00Z"));
}

#[test]
fn labels_images_states_and_reasons_are_kept() {
    let mut pod = checkout_pod();
    let status = pod.status.as_mut().unwrap();
    status.reason = Some("Evicted".into());
    let app = &mut status.container_statuses.as_mut().unwrap()[0];
    app.state = serde_json::from_str(
        r#"{"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}}"#,
    )
    .unwrap();
    app.last_state =
        serde_json::from_str(r#"{"terminated": {"reason": "OOMKilled", "exitCode": 137}}"#)
            .unwrap();
    let metrics = &mut status.container_statuses.as_mut().unwrap()[1];
    metrics.state = serde_json::from_str(r#"{"running": {}}"#).unwrap();
    let migrate = &mut status.init_container_statuses.as_mut().unwrap()[0];
    migrate.state =
        serde_json::from_str(r#"{"terminated": {"reason": "Completed", "exitCode": 0}}"#).unwrap();
    let mesh = &mut status.init_container_statuses.as_mut().unwrap()[1];
    mesh.state = serde_json::from_str(r#"{"running": {}}"#).unwrap();

    let p = PodProjection::from(&pod);
    assert_eq!(
        p.labels,
        labels(&[("app", "checkout"), ("pod-template-hash", "7c9d8f6b5")])
    );
    assert_eq!(p.reason.as_deref(), Some("Evicted"));
    let images: Vec<_> = p.containers.iter().map(|c| c.image.as_str()).collect();
    assert_eq!(
        images,
        [
            "registry.example/checkout:1.8.0",
            "envoyproxy/envoy:v1.30.1",
            "registry.example/checkout:1.8.0",
            "prom/statsd-exporter:v0.26.0",
        ]
    );
    assert_eq!(
        p.containers[2].state,
        Some(ContainerState::Waiting {
            reason: Some("CrashLoopBackOff".into())
        })
    );
    assert_eq!(
        p.containers[2].last_termination_reason.as_deref(),
        Some("OOMKilled")
    );
    assert_eq!(p.containers[3].state, Some(ContainerState::Running));
    assert_eq!(
        p.containers[0].state,
        Some(ContainerState::Terminated {
            reason: Some("Completed".into()),
            exit_code: 0
        })
    );
    assert_eq!(p.containers[1].state, Some(ContainerState::Running));
    assert_eq!(
        PodProjection::from(&checkout_pod()).containers[1].state,
        None
    );
    assert_eq!(pod_status(&p), "CrashLoopBackOff");
}

/// Rows stored before labels, images and states existed still decode, with those empty.
#[test]
fn json_of_a_legacy_projection_decodes_with_defaults() {
    let legacy = LegacyPodProjection {
        name: "web-0".into(),
        namespace: "shop".into(),
        uid: "u1".into(),
        node: None,
        phase: PodPhase::Running,
        owner: None,
        containers: vec![LegacyContainerProjection {
            name: "web".into(),
            kind: ContainerKind::App,
            requests: ResourceAmounts::default(),
            limits: ResourceAmounts::default(),
            restarts: 2,
            ready: true,
        }],
        overhead: ResourceAmounts::default(),
        ready: true,
        start_time: None,
        qos_class: QosClass::BestEffort,
        pvc_claims: vec![],
        created: None,
        deleted: None,
    };
    let json = serde_json::to_string(&legacy).unwrap();
    let decoded: PodProjection = serde_json::from_str(&json).unwrap();
    assert_eq!(decoded, PodProjection::from(legacy));
    assert!(decoded.labels.is_empty());
    assert_eq!(decoded.containers[0].image, "");
    assert_eq!(decoded.containers[0].restarts, 2);
    assert_eq!(pod_status(&decoded), "Running");
}
