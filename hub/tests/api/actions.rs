//! Workload actions over real HTTP, up to the cluster: who may act, what a bad request is
//! told, and that every attempt that reached a handler is in the audit log. Actions that
//! change a real cluster, and idempotent retries of them, are in `kube_actions.rs`.

use reqwest::Method;
use serde_json::{Value, json};

use crate::client::{Caller, TestHub, seed};
use kubeworkz_hub::store::Role;

/// Scale, restart and delete of the seeded objects: method, path, body.
fn actions(s: &crate::client::Seeded) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (
            Method::POST,
            format!("/api/v1/k8s/deployments/{}/scale", s.deployment_uid),
            Some(json!({"replicas": 3})),
        ),
        (
            Method::POST,
            format!("/api/v1/k8s/deployments/{}/restart", s.deployment_uid),
            None,
        ),
        (
            Method::DELETE,
            format!("/api/v1/k8s/pods/{}", s.pod_uid),
            None,
        ),
    ]
}

async fn send_with_key(caller: &Caller, method: Method, path: &str, key: &str) -> (u16, Value) {
    let body = Some(json!({"replicas": 1}));
    let r = caller
        .send_with(method, path, body, &[("idempotency-key", key)])
        .await;
    (r.status, r.json)
}

pub async fn viewers_are_refused_every_action_and_operators_reach_the_cluster(hub: TestHub) {
    let s = seed(&hub, hub.default_org, "alpha").await;
    let admin = hub.admin().await;
    let viewer = hub.user("default", "v@example.com", Role::Viewer).await;
    let operator = hub.user("default", "o@example.com", Role::Operator).await;
    for (method, path, body) in actions(&s) {
        let r = viewer.send(method.clone(), &path, body.clone()).await;
        assert_eq!(r.status, 403, "{method} {path}: {}", r.text);
        assert_eq!(
            r.json["error"]["message"],
            "this needs the operator or admin role"
        );
        // The agent is away: operators and admins pass the role check and are told why
        // nothing happened.
        for caller in [&operator, &admin] {
            let r = caller.send(method.clone(), &path, body.clone()).await;
            assert_eq!(r.status, 503, "{method} {path}: {}", r.text);
            assert_eq!(r.json["error"]["message"], "agent not connected");
        }
    }
    // The pod is still in the inventory.
    assert_eq!(
        admin
            .get(&format!("/api/v1/k8s/pods/{}", s.pod_uid))
            .await
            .status,
        200
    );
    let audit = admin.get("/api/v1/audit?action=deployment.scale").await;
    let items = audit.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{}", audit.text);
    assert_eq!(items[1]["actor"], "o@example.com");
    assert_eq!(items[0]["actor"], "admin@example.com");
    for item in items {
        assert_eq!(item["result"], "failure: cluster_unavailable");
        assert_eq!(item["detail"], "agent not connected");
        assert_eq!(
            item["target"],
            format!("cluster:{}/web/deployment/web", s.cluster)
        );
    }
    for action in ["deployment.restart", "pod.delete"] {
        let audit = admin.get(&format!("/api/v1/audit?action={action}")).await;
        assert_eq!(audit.json["total"], 2, "{action}: {}", audit.text);
    }
    let audit = admin.get("/api/v1/audit?action=pod.delete").await;
    assert_eq!(
        audit.json["items"][0]["target"],
        format!("cluster:{}/web/pod/web-1", s.cluster)
    );
}

pub async fn bad_action_requests_are_refused_in_words(hub: TestHub) {
    let s = seed(&hub, hub.default_org, "alpha").await;
    let operator = hub.user("default", "o@example.com", Role::Operator).await;
    let scale = format!("/api/v1/k8s/deployments/{}/scale", s.deployment_uid);
    for replicas in [json!(-1), json!(10_001), json!(1_u64 << 40)] {
        let r = operator.post(&scale, json!({ "replicas": replicas })).await;
        assert_eq!(r.status, 400, "{replicas}: {}", r.text);
        assert_eq!(
            r.json["error"]["message"],
            "replicas must be from 0 to 10000"
        );
    }
    for body in [
        json!({"replicas": "three"}),
        json!({}),
        json!({"replicas": 2, "force": true}),
    ] {
        let r = operator.post(&scale, body.clone()).await;
        assert!(r.status == 400 || r.status == 422, "{body}: {}", r.text);
        assert!(r.json["error"]["message"].as_str().is_some(), "{}", r.text);
    }
    for path in [
        "/api/v1/k8s/deployments/no-such-uid/scale".to_owned(),
        format!("/api/v1/k8s/deployments/{}/scale", s.pod_uid),
    ] {
        let r = operator.post(&path, json!({"replicas": 1})).await;
        assert_eq!(r.status, 404, "{path}: {}", r.text);
    }
    let r = operator
        .send(Method::DELETE, "/api/v1/k8s/pods/no-such-uid", None)
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    for key in ["", "has space", "ü", &"k".repeat(256)] {
        let (status, body) = send_with_key(&operator, Method::POST, &scale, key).await;
        assert_eq!(status, 400, "{key:?}: {body}");
        assert_eq!(
            body["error"]["message"],
            "Idempotency-Key must be 1 to 255 visible ASCII characters"
        );
    }
    // A failed attempt is not remembered: the same key runs again, and so does the same key
    // with another request.
    for _ in 0..2 {
        let (status, body) = send_with_key(&operator, Method::POST, &scale, "retry-7").await;
        assert_eq!(status, 503, "{body}");
    }
    let restart = format!("/api/v1/k8s/deployments/{}/restart", s.deployment_uid);
    let (status, body) = send_with_key(&operator, Method::POST, &restart, "retry-7").await;
    assert_eq!(status, 503, "{body}");

    let admin = hub.admin().await;
    let audit = admin
        .get("/api/v1/audit?action=deployment.scale&result=failure:%20bad_request")
        .await;
    let details: Vec<&str> = audit.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["detail"].as_str().unwrap())
        .collect();
    assert!(
        details.contains(&"replicas must be from 0 to 10000"),
        "{details:?}"
    );
    let audit = admin
        .get("/api/v1/audit?action=deployment.scale&result=failure:%20not_found")
        .await;
    assert_eq!(
        audit.json["items"][0]["target"],
        format!("deployment:{}", s.pod_uid)
    );
}
