//! Organization isolation: org B, admin there, walks every endpoint with org A's ids and
//! sees nothing (404 for A's resources, empty lists, A's data never in a body).

use serde_json::json;

use crate::client::{Caller, TestHub, seed};
use kubeworkz_hub::store::Role;

pub async fn another_organization_sees_nothing(hub: TestHub) {
    let a = seed(&hub, hub.default_org, "alpha").await;
    let admin_a = hub.admin().await;
    let token = admin_a
        .post(
            "/api/v1/k8s/enrollment-tokens",
            json!({"cluster_name": "edge"}),
        )
        .await
        .json["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let api_token = admin_a
        .post("/api/v1/auth/tokens", json!({"name": "a-bot"}))
        .await
        .json["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let viewer_a = admin_a
        .post(
            "/api/v1/users",
            json!({"email": "viewer@a.example", "password": crate::client::PASSWORD}),
        )
        .await
        .json["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = hub.user("bravo-org", "admin@b.example", Role::Admin).await;

    let c = a.cluster;
    let (ns, d, p) = (&a.namespace_uid, &a.deployment_uid, &a.pod_uid);
    let not_found = [
        format!("/api/v1/k8s/clusters/{c}"),
        format!("/api/v1/k8s/clusters/{c}/health"),
        format!("/api/v1/k8s/clusters/{c}/namespaces"),
        format!("/api/v1/k8s/clusters/{c}/nodes"),
        format!("/api/v1/k8s/namespaces/{ns}/deployments"),
        format!("/api/v1/k8s/namespaces/{ns}/pods"),
        format!("/api/v1/k8s/deployments/{d}/pods"),
        format!("/api/v1/k8s/deployments/{d}"),
        format!("/api/v1/k8s/pods/{p}"),
        format!("/api/v1/k8s/helm/releases?cluster={c}"),
        format!("/api/v1/k8s/metrics/cluster/{c}"),
        format!("/api/v1/k8s/metrics/namespace/{ns}"),
    ];
    for path in &not_found {
        let r = b.get(path).await;
        assert_eq!(r.status, 404, "{path}: {}", r.text);
        assert_eq!(r.error_code(), "not_found");
    }
    let empty = ["/api/v1/k8s/clusters", "/api/v1/k8s/helm/releases"];
    for path in empty {
        let r = b.get(path).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.json["total"], 0, "{path}: {}", r.text);
    }
    for path in ["/api/v1/k8s/enrollment-tokens", "/api/v1/auth/tokens"] {
        let r = b.get(path).await;
        assert_eq!(r.json["items"], json!([]), "{path}: {}", r.text);
    }
    let audit = b.get("/api/v1/audit").await;
    for entry in audit.json["items"].as_array().unwrap() {
        assert_eq!(entry["actor"], "admin@b.example", "{}", audit.text);
    }
    let users = b.get("/api/v1/users").await;
    assert_eq!(
        users.json["items"].as_array().unwrap().len(),
        1,
        "{}",
        users.text
    );
    assert!(!users.text.contains("example.com"), "org A's users leak");

    let mutations = [
        (
            "PATCH",
            format!("/api/v1/k8s/clusters/{c}"),
            json!({"name": "mine"}),
        ),
        ("DELETE", format!("/api/v1/k8s/clusters/{c}"), json!(null)),
        ("POST", format!("/api/v1/k8s/clusters/{c}/sync"), json!({})),
        (
            "DELETE",
            format!("/api/v1/k8s/enrollment-tokens/{token}"),
            json!(null),
        ),
        (
            "DELETE",
            format!("/api/v1/auth/tokens/{api_token}"),
            json!(null),
        ),
        (
            "PATCH",
            format!("/api/v1/users/{viewer_a}"),
            json!({"role": "admin"}),
        ),
        ("DELETE", format!("/api/v1/users/{viewer_a}"), json!(null)),
    ];
    for (method, path, body) in &mutations {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let body = (!body.is_null()).then(|| body.clone());
        let r = b.send(method.clone(), path, body).await;
        assert_eq!(r.status, 404, "{method} {path}: {}", r.text);
    }
    // Org A still has everything.
    assert_eq!(
        admin_a.get(&format!("/api/v1/k8s/clusters/{c}")).await.json["name"],
        "alpha"
    );
    let tokens = admin_a.get("/api/v1/k8s/enrollment-tokens").await;
    assert!(tokens.json["items"][0]["revoked_at"].is_null());
    let users = admin_a.get("/api/v1/users").await;
    assert!(users.text.contains("\"role\":\"viewer\""), "{}", users.text);
}

pub async fn another_organizations_user_writes_change_nothing(hub: TestHub) {
    let admin_a = hub.admin().await;
    let r = admin_a
        .post(
            "/api/v1/users",
            json!({"email": "ops@a.example", "password": crate::client::PASSWORD,
                   "role": "admin"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let ops = r.json["id"].as_str().unwrap().to_owned();
    let ops_session = hub.login("ops@a.example", crate::client::PASSWORD).await;
    let r = ops_session
        .post(
            "/api/v1/auth/tokens",
            json!({"name": "ops-bot", "role": "admin"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let ops_bot = hub.bearer(r.json["token"].as_str().unwrap());
    let b = hub.user("bravo-org", "admin@b.example", Role::Admin).await;

    let path = format!("/api/v1/users/{ops}");
    let r = b.delete(&path).await;
    assert_eq!(r.status, 404, "{}", r.text);
    ops_still_works(&hub, &ops_session, &ops_bot).await;
    for change in [
        json!({"password": "taken-over-password"}),
        json!({"disabled": true}),
        json!({"role": "viewer"}),
    ] {
        let r = b.patch(&path, change.clone()).await;
        assert_eq!(r.status, 404, "{change}: {}", r.text);
    }
    ops_still_works(&hub, &ops_session, &ops_bot).await;
    let tokens = admin_a.get("/api/v1/auth/tokens").await;
    assert!(
        tokens.json["items"][0]["revoked_at"].is_null(),
        "{}",
        tokens.text
    );
}

/// Org A's admin `ops`, their session and their token are untouched: each still works.
async fn ops_still_works(hub: &TestHub, session: &Caller, bot: &Caller) {
    let me = session.get("/api/v1/auth/me").await;
    assert_eq!(me.status, 200, "the session survived: {}", me.text);
    assert_eq!(me.json["role"], "admin");
    let me = bot.get("/api/v1/auth/me").await;
    assert_eq!(me.status, 200, "the token survived: {}", me.text);
    assert_eq!(me.json["role"], "admin");
    hub.login("ops@a.example", crate::client::PASSWORD).await;
}
