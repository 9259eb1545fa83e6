use chrono::{TimeZone, Utc};
use uuid::Uuid;

use super::*;

fn object(namespace: &str, name: &str, data: serde_json::Value) -> ObjectView {
    let at = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
    ObjectView {
        id: "uid-1".into(),
        cluster_id: Uuid::nil(),
        namespace: namespace.into(),
        name: name.into(),
        data: serde_json::value::to_raw_value(&data).unwrap(),
        first_seen_at: at,
        updated_at: at,
        status: None,
    }
}

fn header_width(header: &str) -> usize {
    header.split(',').count()
}

#[test]
fn a_pod_row_is_the_pods_table() {
    let pod = serde_json::json!({
        "name": "web-1", "namespace": "shop", "uid": "uid-1", "node": "node-a",
        "phase": "Running", "owner": null, "overhead": {}, "ready": false,
        "start_time": null, "qos_class": "Burstable", "pvc_claims": [], "created": null,
        "containers": [
            {"name": "app", "kind": "App", "requests": {}, "limits": {}, "restarts": 3, "ready": false},
            {"name": "side", "kind": "App", "requests": {}, "limits": {}, "restarts": 4, "ready": true}
        ]
    });
    let (header, fields) = object_columns(ObjectKind::Pod);
    let mut object = object("shop", "web-1", pod);
    object.status = Some("CrashLoopBackOff".into());
    let row = fields(&object);
    assert_eq!(header, "namespace,name,status,phase,ready,node,restarts");
    assert_eq!(
        row,
        [
            "shop",
            "web-1",
            "CrashLoopBackOff",
            "Running",
            "false",
            "node-a",
            "7"
        ]
    );
}

#[test]
fn a_projection_that_does_not_read_keeps_its_names_and_the_width() {
    for kind in [
        ObjectKind::Pod,
        ObjectKind::Deployment,
        ObjectKind::Node,
        ObjectKind::HelmRelease,
        ObjectKind::PersistentVolumeClaim,
        ObjectKind::StorageClass,
        ObjectKind::StatefulSet,
        ObjectKind::DaemonSet,
        ObjectKind::Job,
        ObjectKind::CronJob,
    ] {
        let (header, fields) = object_columns(kind);
        let row = fields(&object("ns", "x", serde_json::json!({"unexpected": true})));
        assert_eq!(row.len(), header_width(header), "{kind:?}");
        assert!(row.contains(&"x".to_owned()), "{kind:?}: the name stays");
    }
}

#[test]
fn a_cluster_never_judged_is_unknown_and_lists_join_by_semicolons() {
    let at = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
    let view = ClusterView {
        id: Uuid::nil(),
        name: "prod-eu".into(),
        description: String::new(),
        environment: "production",
        tags: vec!["eu".into(), "tier-1".into()],
        provider: Some("eks".into()),
        version: None,
        api_server_url: None,
        mode: "agent",
        enabled: true,
        health: None,
        last_sync_at: Some(at),
        last_error: None,
        last_heartbeat_at: None,
        created_by: None,
        created_at: at,
        updated_at: at,
        counts: super::super::views::CountsView {
            nodes: 3,
            nodes_ready: 2,
            namespaces: 4,
            deployments: 5,
            pods: 6,
        },
        collected_by: None,
    };
    let row = cluster_fields(&view);
    assert_eq!(row.len(), header_width(CLUSTER_HEADER));
    assert_eq!(
        row,
        [
            "prod-eu",
            "unknown",
            "eks",
            "production",
            "",
            "3",
            "2",
            "4",
            "5",
            "6",
            "2023-11-14T22:13:20.000Z",
            "eu;tier-1",
            "00000000-0000-0000-0000-000000000000"
        ]
    );
}
