//! The operator role and the organization's operation switches over real HTTP: who reads
//! logs, events and live YAML, who changes the switches, and what an operator may not manage.

use serde_json::{Value, json};

use crate::client::{Caller, PASSWORD, TestHub, seed};
use crate::support::hub::{cli, cli_with_stdin};
use kubeworkz_hub::store::Role;

/// The status of each of a pod's, a deployment's and a node's reads that go to the cluster.
async fn live_reads(caller: &Caller, s: &crate::client::Seeded) -> Vec<(String, u16)> {
    let paths = [
        format!("/api/v1/k8s/pods/{}/logs", s.pod_uid),
        format!("/api/v1/k8s/pods/{}/events", s.pod_uid),
        format!("/api/v1/k8s/deployments/{}/events", s.deployment_uid),
        format!("/api/v1/k8s/nodes/{}/events", s.node_uid),
        format!("/api/v1/k8s/namespaces/{}/events", s.namespace_uid),
        format!("/api/v1/k8s/pods/{}/yaml", s.pod_uid),
        format!("/api/v1/k8s/deployments/{}/yaml", s.deployment_uid),
    ];
    let mut out = Vec::new();
    for path in paths {
        let r = caller.get(&path).await;
        out.push((path, r.status));
    }
    out
}

pub async fn viewers_read_logs_and_events_unless_the_organization_turns_it_off(hub: TestHub) {
    let s = seed(&hub, hub.default_org, "alpha").await;
    let admin = hub.admin().await;
    let viewer = hub.user("default", "v@example.com", Role::Viewer).await;
    let operator = hub.user("default", "o@example.com", Role::Operator).await;
    // The seeded cluster's agent is away: a read that passes the role check answers 503.
    for caller in [&viewer, &operator, &admin] {
        for (path, status) in live_reads(caller, &s).await {
            assert_eq!(status, 503, "{path}");
        }
    }
    let r = viewer.get("/api/v1/organization/operations").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json,
        json!({"viewers_read_logs": true, "operators_exec": false})
    );
    let off = json!({"viewers_read_logs": false, "operators_exec": true});
    for caller in [&viewer, &operator] {
        let r = caller
            .send(
                reqwest::Method::PUT,
                "/api/v1/organization/operations",
                Some(off.clone()),
            )
            .await;
        assert_eq!(r.status, 403, "{}", r.text);
    }
    let r = admin
        .send(
            reqwest::Method::PUT,
            "/api/v1/organization/operations",
            Some(off.clone()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json, off);
    assert_eq!(
        viewer.get("/api/v1/organization/operations").await.json,
        off
    );

    for (path, status) in live_reads(&viewer, &s).await {
        let want = if path.ends_with("/yaml") { 503 } else { 403 };
        assert_eq!(status, want, "{path}");
    }
    let r = viewer
        .get(&format!("/api/v1/k8s/pods/{}/logs", s.pod_uid))
        .await;
    assert_eq!(
        r.json["error"]["message"],
        "this organization lets only operators and admins read logs and events"
    );
    for caller in [&operator, &admin] {
        for (path, status) in live_reads(caller, &s).await {
            assert_eq!(status, 503, "{path}");
        }
    }

    // Bad bodies are refused in words and change nothing.
    for bad in [
        json!({"viewers_read_logs": "yes", "operators_exec": false}),
        json!({"viewers_read_logs": true}),
        json!({"viewers_read_logs": true, "operators_exec": false, "everyone": true}),
    ] {
        let r = admin
            .send(
                reqwest::Method::PUT,
                "/api/v1/organization/operations",
                Some(bad.clone()),
            )
            .await;
        assert!(r.status == 400 || r.status == 422, "{bad}: {}", r.text);
        assert!(r.json["error"]["message"].as_str().is_some(), "{}", r.text);
    }
    assert_eq!(admin.get("/api/v1/organization/operations").await.json, off);

    let audit = admin
        .get("/api/v1/audit?action=organization.operations")
        .await;
    let items = audit.json["items"].as_array().unwrap();
    let details: Vec<&Value> = items.iter().map(|e| &e["detail"]).collect();
    assert!(
        details.contains(&&json!(
            "viewers_read_logs true -> false, operators_exec false -> true"
        )),
        "{details:?}"
    );
    assert!(items.iter().all(|e| e["actor"] == "admin@example.com"
        || e["result"].as_str().unwrap().starts_with("failure")));
}

pub async fn operators_cannot_manage_clusters_tokens_or_users(hub: TestHub) {
    let s = seed(&hub, hub.default_org, "alpha").await;
    let admin = hub.admin().await;
    let r = admin
        .post(
            "/api/v1/users",
            json!({"email": "oscar@example.com", "password": PASSWORD, "role": "operator"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["role"], "operator");
    let user = r.json["id"].as_str().unwrap().to_owned();
    let operator = hub.login("oscar@example.com", PASSWORD).await;
    assert_eq!(
        operator.get("/api/v1/auth/me").await.json["role"],
        "operator"
    );
    let c = s.cluster;
    let mutations = crate::admin::admin_only_mutations(c, &user);
    for (method, path, body) in &mutations {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let body = (!body.is_null()).then(|| body.clone());
        let r = operator.send(method.clone(), path, body).await;
        assert_eq!(r.status, 403, "{method} {path}: {}", r.text);
        assert_eq!(r.json["error"]["message"], "this needs the admin role");
    }
    for path in ["/api/v1/users", "/api/v1/audit", "/api/v1/auth/tokens"] {
        assert_eq!(operator.get(path).await.status, 403, "{path}");
    }
    assert_eq!(
        operator
            .get(&format!("/api/v1/k8s/clusters/{c}"))
            .await
            .json["name"],
        "alpha"
    );
    // Roles are named in words when wrong.
    let r = admin
        .patch(&format!("/api/v1/users/{user}"), json!({"role": "root"}))
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(
        r.json["error"]["message"],
        "unknown role \"root\": use viewer, operator or admin"
    );
    let r = admin
        .patch(&format!("/api/v1/users/{user}"), json!({"role": "viewer"}))
        .await;
    assert_eq!(r.json["role"], "viewer", "{}", r.text);
}

/// `org operations` and `user create --role operator` against the database a running API
/// serves: the switches change, the change is audited as `cli`, and the API sees both.
pub async fn the_cli_sets_operation_switches_and_creates_operators(hub: TestHub) {
    let db = hub.db.url.expose().to_owned();
    let (ok, out, err) = cli(&db, &["org", "operations"]);
    assert!(ok, "{out}{err}");
    assert_eq!(out.trim(), "viewers_read_logs=true operators_exec=false");
    let (ok, out, err) = cli(&db, &["org", "operations", "--viewers-read-logs", "false"]);
    assert!(ok, "{out}{err}");
    assert_eq!(out.trim(), "viewers_read_logs=false operators_exec=false");
    let (ok, out, err) = cli(&db, &["org", "operations", "--operators-exec", "maybe"]);
    assert!(!ok && err.contains("maybe"), "{out}{err}");
    let (ok, out, err) = cli_with_stdin(
        &db,
        &[
            "user",
            "create",
            "--email",
            "op@example.com",
            "--role",
            "operator",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(ok, "{out}{err}");
    let (ok, out, err) = cli_with_stdin(
        &db,
        &[
            "user",
            "create",
            "--email",
            "x@example.com",
            "--role",
            "root",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(!ok && err.contains("operator"), "{out}{err}");

    let admin = hub.admin().await;
    assert_eq!(
        admin.get("/api/v1/organization/operations").await.json,
        json!({"viewers_read_logs": false, "operators_exec": false})
    );
    let audit = admin
        .get("/api/v1/audit?action=organization.operations")
        .await;
    let items = audit.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", audit.text);
    assert_eq!(items[0]["actor"], "cli");
    assert_eq!(items[0]["detail"], "viewers_read_logs true -> false");
    let operator = hub.login("op@example.com", PASSWORD).await;
    assert_eq!(
        operator.get("/api/v1/auth/me").await.json["role"],
        "operator"
    );
}
