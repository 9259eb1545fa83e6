//! Roles, enrollment tokens, users, the audit log, docs, metrics and probes.

use serde_json::{Value, json};

use crate::client::{PASSWORD, TestHub, seed};
use kubeworkz_hub::store::Role;
use kubeworkz_shared::ids::ClusterId;

pub async fn viewers_are_refused_every_mutation(hub: TestHub) {
    let a = seed(&hub, hub.default_org, "alpha").await;
    let admin = hub.admin().await;
    let user = admin
        .post(
            "/api/v1/users",
            json!({"email": "other@example.com", "password": PASSWORD}),
        )
        .await
        .json["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let viewer = hub
        .user("default", "viewer@example.com", Role::Viewer)
        .await;
    let c = a.cluster;
    let mutations = admin_only_mutations(c, &user);
    for (method, path, body) in &mutations {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let body = (!body.is_null()).then(|| body.clone());
        let r = viewer.send(method.clone(), path, body).await;
        assert_eq!(r.status, 403, "{method} {path}: {}", r.text);
        assert!(
            r.json["error"]["message"]
                .as_str()
                .unwrap()
                .contains("admin")
        );
    }
    for path in [
        "/api/v1/k8s/workers/status",
        "/api/v1/k8s/enrollment-tokens",
        "/api/v1/auth/tokens",
        "/api/v1/users",
        "/api/v1/audit",
    ] {
        assert_eq!(viewer.get(path).await.status, 403, "{path}");
    }
    // Viewers read everything else.
    assert_eq!(viewer.get("/api/v1/k8s/clusters").await.json["total"], 1);
    assert_eq!(
        viewer
            .get(&format!("/api/v1/k8s/clusters/{c}/health"))
            .await
            .status,
        200
    );
    // Nothing changed.
    let r = admin.get(&format!("/api/v1/k8s/clusters/{c}")).await;
    assert_eq!(r.json["name"], "alpha");
    assert_eq!(
        admin.get("/api/v1/users").await.json["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

/// Every mutation only an admin may make, on cluster `c` and user `user`: method, path, body.
pub fn admin_only_mutations(c: ClusterId, user: &str) -> Vec<(&'static str, String, Value)> {
    vec![
        (
            "POST",
            "/api/v1/k8s/clusters".into(),
            json!({"name": "x", "kubeconfig": "a: b"}),
        ),
        (
            "PATCH",
            format!("/api/v1/k8s/clusters/{c}"),
            json!({"name": "y"}),
        ),
        ("DELETE", format!("/api/v1/k8s/clusters/{c}"), Value::Null),
        ("POST", format!("/api/v1/k8s/clusters/{c}/sync"), json!({})),
        (
            "POST",
            "/api/v1/k8s/enrollment-tokens".into(),
            json!({"cluster_name": "z"}),
        ),
        (
            "DELETE",
            "/api/v1/k8s/enrollment-tokens/some-id".into(),
            Value::Null,
        ),
        ("POST", "/api/v1/auth/tokens".into(), json!({"name": "t"})),
        ("DELETE", format!("/api/v1/auth/tokens/{user}"), Value::Null),
        (
            "POST",
            "/api/v1/users".into(),
            json!({"email": "n@example.com", "password": PASSWORD}),
        ),
        (
            "PATCH",
            format!("/api/v1/users/{user}"),
            json!({"role": "admin"}),
        ),
        ("DELETE", format!("/api/v1/users/{user}"), Value::Null),
    ]
}

pub async fn enrollment_tokens_are_issued_listed_and_revoked(hub: TestHub) {
    let admin = hub.admin().await;
    let r = admin
        .post(
            "/api/v1/k8s/enrollment-tokens",
            json!({"cluster_name": "edge-1", "environment": "staging", "tags": ["eu"],
                   "ttl": "2h", "reusable": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let token = r.json["token"].as_str().unwrap().to_owned();
    let id = r.json["id"].as_str().unwrap().to_owned();
    assert!(token.starts_with("kwt1."), "{token}");
    assert!(r.json["helm"].as_str().unwrap().contains(&token));
    assert_eq!(r.json["environment"], "staging");
    assert_eq!(r.json["reusable"], true);
    // The token parses and names the stored id.
    let parsed: kubeworkz_shared::protocol::EnrollmentToken = token.parse().unwrap();
    assert_eq!(parsed.public_id(), id);
    let secret_part = token.split('.').nth(2).unwrap().to_owned();

    let list = admin.get("/api/v1/k8s/enrollment-tokens").await;
    assert_eq!(list.status, 200);
    assert_eq!(list.json["items"][0]["id"], id.as_str());
    assert_eq!(list.json["items"][0]["created_by"], "admin@example.com");
    assert!(
        !list.text.contains(&secret_part),
        "a listed token shows its secret"
    );

    for bad in [
        json!({"cluster_name": ""}),
        json!({"cluster_name": "x", "ttl": "31d"}),
        json!({"cluster_name": "x", "environment": "moon"}),
        json!({"cluster_name": "x", "extra": 1}),
    ] {
        let r = admin
            .post("/api/v1/k8s/enrollment-tokens", bad.clone())
            .await;
        assert_eq!(r.status, 422, "{bad}: {}", r.text);
    }
    let path = format!("/api/v1/k8s/enrollment-tokens/{id}");
    assert_eq!(admin.delete(&path).await.status, 204);
    assert_eq!(admin.delete(&path).await.status, 404, "already revoked");
    let list = admin.get("/api/v1/k8s/enrollment-tokens").await;
    assert!(list.json["items"][0]["revoked_at"].is_string());
}

pub async fn users_are_managed_by_admins(hub: TestHub) {
    let admin = hub.admin().await;
    let r = admin
        .post(
            "/api/v1/users",
            json!({"email": "Viewer@Example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["email"], "viewer@example.com");
    assert_eq!(r.json["role"], "viewer");
    let id = r.json["id"].as_str().unwrap().to_owned();
    let dup = admin
        .post(
            "/api/v1/users",
            json!({"email": "viewer@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(dup.status, 409);
    for bad in [
        json!({"email": "weak@example.com", "password": "short"}),
        json!({"email": "not-an-email", "password": PASSWORD}),
        json!({"email": "r@example.com", "password": PASSWORD, "role": "owner"}),
    ] {
        assert_eq!(
            admin.post("/api/v1/users", bad.clone()).await.status,
            422,
            "{bad}"
        );
    }
    let viewer = hub.login("viewer@example.com", PASSWORD).await;
    assert_eq!(viewer.get("/api/v1/auth/me").await.json["role"], "viewer");

    let path = format!("/api/v1/users/{id}");
    let r = admin.patch(&path, json!({"role": "admin"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["role"], "admin");
    assert_eq!(
        viewer.get("/api/v1/users").await.status,
        200,
        "the role applies at once"
    );
    let new_password = "another-long-password";
    assert_eq!(
        admin
            .patch(&path, json!({"password": new_password}))
            .await
            .status,
        200
    );
    assert_eq!(
        viewer.get("/api/v1/auth/me").await.status,
        401,
        "sessions end on reset"
    );
    hub.login("viewer@example.com", new_password).await;

    let me = admin.get("/api/v1/auth/me").await.json["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = admin.delete(&format!("/api/v1/users/{me}")).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(admin.delete(&path).await.status, 204);
    assert_eq!(admin.delete(&path).await.status, 404);
    let users = admin.get("/api/v1/users").await;
    assert_eq!(users.json["items"].as_array().unwrap().len(), 1);
}

pub async fn the_audit_log_records_mutations_with_filters(hub: TestHub) {
    let a = seed(&hub, hub.default_org, "alpha").await;
    let admin = hub.admin().await;
    let path = format!("/api/v1/k8s/clusters/{}", a.cluster);
    let response = admin
        .request(reqwest::Method::PATCH, &path)
        .header(
            "cookie",
            format!(
                "kubeworkz_session={}; csrf_token={}",
                admin.session.as_ref().unwrap(),
                admin.csrf.as_ref().unwrap()
            ),
        )
        .header("x-csrf-token", admin.csrf.as_ref().unwrap())
        .header("x-request-id", "audit-req-1")
        .json(&json!({"description": "audited"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    admin.patch(&path, json!({"name": ""})).await;
    admin
        .post(
            "/api/v1/users",
            json!({"email": "u@example.com", "password": PASSWORD}),
        )
        .await;

    let r = admin.get("/api/v1/audit?action=cluster.update").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["total"], 2);
    let items = r.json["items"].as_array().unwrap();
    // Newest first.
    assert_eq!(items[0]["result"], "failure: unprocessable");
    let ok = &items[1];
    assert_eq!(ok["result"], "success");
    assert_eq!(ok["actor"], "admin@example.com");
    assert_eq!(ok["target"], format!("cluster:{}", a.cluster));
    assert_eq!(ok["request_id"], "audit-req-1");
    assert_eq!(ok["source_ip"], "127.0.0.1");
    let r = admin
        .get("/api/v1/audit?result=success&action=user.create")
        .await;
    assert_eq!(r.json["total"], 1);
    let r = admin.get("/api/v1/audit?actor=nobody").await;
    assert_eq!(r.json["total"], 0);
    let r = admin.get("/api/v1/audit?since=2999-01-01T00:00:00Z").await;
    assert_eq!(r.json["total"], 0);
    let all = admin.get("/api/v1/audit?limit=2").await;
    assert!(
        all.json["total"].as_u64().unwrap() >= 4,
        "logins are audited too"
    );
    assert_eq!(all.json["items"].as_array().unwrap().len(), 2);
    assert_eq!(admin.get("/api/v1/audit?since=yesterday").await.status, 400);
}

pub async fn docs_metrics_and_probes_answer(hub: TestHub) {
    let anonymous = hub.anonymous();
    let doc = anonymous.get("/api/v1/docs/openapi.json").await;
    assert_eq!(doc.status, 200);
    assert!(doc.json["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc.json["paths"].as_object().unwrap();
    for path in [
        "/api/v1/k8s/clusters",
        "/api/v1/k8s/clusters/{id}",
        "/api/v1/k8s/clusters/{id}/sync",
        "/api/v1/k8s/clusters/{id}/health",
        "/api/v1/k8s/clusters/{id}/namespaces",
        "/api/v1/k8s/clusters/{id}/nodes",
        "/api/v1/k8s/namespaces/{id}/deployments",
        "/api/v1/k8s/namespaces/{id}/pods",
        "/api/v1/k8s/deployments/{id}/pods",
        "/api/v1/k8s/deployments/{id}",
        "/api/v1/k8s/pods/{id}",
        "/api/v1/k8s/helm/releases",
        "/api/v1/k8s/metrics/cluster/{id}",
        "/api/v1/k8s/metrics/namespace/{id}",
        "/api/v1/k8s/namespaces/{id}/costs",
        "/api/v1/k8s/costs",
        "/api/v1/k8s/workers/status",
        "/api/v1/k8s/enrollment-tokens",
        "/api/v1/auth/login",
        "/api/v1/audit",
        "/api/v1/users",
    ] {
        assert!(paths.contains_key(path), "{path} is not documented");
    }
    let page = anonymous.get("/api/v1/docs").await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("openapi.json"));
    // Probes' exact bytes: load balancers and scripts match on them.
    assert_eq!(anonymous.get("/healthz").await.text, r#"{"status":"ok"}"#);
    let ready = anonymous.get("/readyz").await;
    let database = hub.db.store.backend().as_str();
    assert_eq!(
        ready.text,
        format!(r#"{{"database":"{database}","status":"ready","replica":"","pull_clusters":0}}"#)
    );
    let metrics = anonymous.get("/metrics").await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .text
            .contains("kubeworkz_http_responses_total{class=\"2xx\"}")
    );
    assert!(metrics.text.contains("kubeworkz_build_info"));
}

/// The number of enabled admins `GET /api/v1/users` lists.
async fn enabled_admins(caller: &crate::client::Caller) -> usize {
    let users = caller.get("/api/v1/users").await;
    assert_eq!(users.status, 200, "{}", users.text);
    users.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["role"] == "admin" && u["disabled"] != true)
        .count()
}

pub async fn the_last_admin_cannot_be_demoted_disabled_or_deleted(hub: TestHub) {
    let admin = hub.admin().await;
    let me = admin.get("/api/v1/auth/me").await.json["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let my_path = format!("/api/v1/users/{me}");
    for change in [json!({"role": "viewer"}), json!({"disabled": true})] {
        let r = admin.patch(&my_path, change.clone()).await;
        assert_eq!(r.status, 409, "{change}: {}", r.text);
        assert!(
            r.json["error"]["message"]
                .as_str()
                .unwrap()
                .contains("at least one enabled admin"),
            "{}",
            r.text
        );
    }
    assert_eq!(admin.delete(&my_path).await.status, 409);
    // A disabled admin does not count as one that remains.
    let r = admin
        .post(
            "/api/v1/users",
            json!({"email": "idle@example.com", "password": PASSWORD, "role": "admin"}),
        )
        .await;
    let idle = r.json["id"].as_str().unwrap().to_owned();
    let r = admin
        .patch(&format!("/api/v1/users/{idle}"), json!({"disabled": true}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = admin.patch(&my_path, json!({"role": "viewer"})).await;
    assert_eq!(r.status, 409, "{}", r.text);
    // With another enabled admin the first may step down, and then that one is the last.
    let r = admin
        .patch(&format!("/api/v1/users/{idle}"), json!({"disabled": false}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = admin.patch(&my_path, json!({"role": "viewer"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let idle_admin = hub.login("idle@example.com", PASSWORD).await;
    let idle_path = format!("/api/v1/users/{idle}");
    for change in [json!({"role": "viewer"}), json!({"disabled": true})] {
        let r = idle_admin.patch(&idle_path, change.clone()).await;
        assert_eq!(r.status, 409, "{change}: {}", r.text);
    }
    assert_eq!(enabled_admins(&idle_admin).await, 1);
    let audit = idle_admin
        .get("/api/v1/audit?action=user.update&result=failure:%20conflict")
        .await;
    assert!(audit.json["total"].as_u64().unwrap() >= 2, "{}", audit.text);
}

pub async fn concurrent_mutual_demotions_keep_an_admin(hub: TestHub) {
    let first = hub.admin().await;
    let first_id = first.get("/api/v1/auth/me").await.json["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = first
        .post(
            "/api/v1/users",
            json!({"email": "second@example.com", "password": PASSWORD, "role": "admin"}),
        )
        .await;
    let second_id = r.json["id"].as_str().unwrap().to_owned();
    let second = hub.login("second@example.com", PASSWORD).await;
    let (first_path, second_path) = (
        format!("/api/v1/users/{first_id}"),
        format!("/api/v1/users/{second_id}"),
    );
    for round in 0..5 {
        let demote_second = first.patch(&second_path, json!({"role": "viewer"}));
        let demote_first = second.patch(&first_path, json!({"role": "viewer"}));
        let (a, b) = tokio::join!(demote_second, demote_first);
        // The loser is refused as the last admin (409), or already as a viewer (403).
        assert_eq!(
            [a.status, b.status].iter().filter(|s| **s == 200).count(),
            1,
            "round {round}: {} / {}",
            a.text,
            b.text
        );
        // Whoever is still admin promotes the other again for the next round.
        let (admin, other) = if a.status == 200 {
            (&first, &second_id)
        } else {
            (&second, &first_id)
        };
        assert_eq!(enabled_admins(admin).await, 1, "round {round}");
        let r = admin
            .patch(&format!("/api/v1/users/{other}"), json!({"role": "admin"}))
            .await;
        assert_eq!(r.status, 200, "round {round}: {}", r.text);
    }
}
