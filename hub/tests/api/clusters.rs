//! Clusters: list filters, sort and pages; read, edit, sync, health, delete; refused
//! registrations (the successful ones need a real cluster: `register.rs`).

use chrono::Utc;
use kubeworkz_hub::store::{ClusterPatch, Environment};
use kubeworkz_shared::model::{HealthReason, HealthReport, HealthStatus};
use serde_json::{Value, json};

use crate::client::{TestHub, seed};
use crate::support::fixtures;

fn names(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

pub async fn the_cluster_list_filters_sorts_and_pages(hub: TestHub) {
    let org = hub.default_org;
    let a = seed(&hub, org, "alpha").await;
    let b = seed(&hub, org, "bravo").await;
    seed(&hub, org, "charlie").await;
    let store = &hub.db.store;
    store
        .update_cluster(
            org,
            b.cluster,
            &ClusterPatch {
                environment: Some(Environment::Staging),
                tags: Some(vec!["gpu".into()]),
                description: Some("Training Fleet".into()),
                ..ClusterPatch::default()
            },
        )
        .await
        .unwrap();
    let report = HealthReport {
        status: HealthStatus::Degraded,
        reasons: vec![HealthReason::MetricsUnavailable],
    };
    store
        .record_health(org, a.cluster, &report, Utc::now())
        .await
        .unwrap();
    let admin = hub.admin().await;

    let all = admin.get("/api/v1/k8s/clusters").await;
    assert_eq!(all.status, 200, "{}", all.text);
    assert_eq!(all.json["total"], 3);
    assert_eq!(names(&all.json), ["alpha", "bravo", "charlie"]);
    let alpha = &all.json["items"][0];
    assert_eq!(alpha["counts"]["nodes"], 1);
    assert_eq!(alpha["counts"]["pods"], 2);
    assert_eq!(alpha["counts"]["deployments"], 1);
    assert_eq!(alpha["counts"]["namespaces"], 1);
    assert_eq!(alpha["health"]["status"], "degraded");
    assert_eq!(alpha["health"]["reasons"][0]["code"], "metrics_unavailable");
    assert!(alpha.get("kubeconfig").is_none());

    let get = |q: &str| {
        let admin = admin.clone();
        let q = q.to_owned();
        async move { admin.get(&format!("/api/v1/k8s/clusters?{q}")).await.json }
    };
    assert_eq!(names(&get("environment=staging").await), ["bravo"]);
    assert_eq!(names(&get("tag=gpu").await), ["bravo"]);
    assert_eq!(
        names(&get("tag=eu").await),
        ["alpha", "charlie"],
        "bravo's tags were replaced"
    );
    assert_eq!(names(&get("search=fleet").await), ["bravo"]);
    assert_eq!(names(&get("search=ARL").await), ["charlie"]);
    assert_eq!(
        names(&get("search=%25").await).len(),
        0,
        "LIKE wildcards are literal"
    );
    assert_eq!(names(&get("health=degraded").await), ["alpha"]);
    assert_eq!(names(&get("health=unknown").await), ["bravo", "charlie"]);
    assert_eq!(names(&get("mode=agent").await).len(), 3);
    assert_eq!(names(&get("mode=kubeconfig").await).len(), 0);
    assert_eq!(
        names(&get("sort=-name").await),
        ["charlie", "bravo", "alpha"]
    );
    let page = get("sort=name&limit=2&offset=1").await;
    assert_eq!(names(&page), ["bravo", "charlie"]);
    assert_eq!(page["total"], 3);
    assert_eq!(page["limit"], 2);
    assert_eq!(page["offset"], 1);
    for bad in [
        "sort=secret",
        "environment=prod",
        "health=bad",
        "mode=x",
        "limit=501",
    ] {
        let r = admin.get(&format!("/api/v1/k8s/clusters?{bad}")).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
    }
}

pub async fn a_cluster_is_read_edited_synced_and_deleted(hub: TestHub) {
    let org = hub.default_org;
    let a = seed(&hub, org, "alpha").await;
    seed(&hub, org, "bravo").await;
    let admin = hub.admin().await;
    let path = format!("/api/v1/k8s/clusters/{}", a.cluster);

    let r = admin.get(&path).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["mode"], "agent");
    assert_eq!(r.json["counts"]["nodes_ready"], 0);

    let r = admin
        .patch(
            &path,
            json!({"name": "alpha-2", "description": "edge", "environment": "development",
                   "tags": ["x", "y"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["name"], "alpha-2");
    assert_eq!(r.json["environment"], "development");
    assert_eq!(r.json["tags"], json!(["x", "y"]));
    let r = admin.patch(&path, json!({"name": "bravo"})).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.error_code(), "conflict");
    assert_eq!(
        admin
            .patch(&path, json!({"environment": "moon"}))
            .await
            .status,
        422
    );
    assert_eq!(admin.patch(&path, json!({"name": ""})).await.status, 422);
    assert_eq!(
        admin.patch(&path, json!({"colour": "red"})).await.status,
        422
    );
    let r = admin
        .patch(&path, json!({"kubeconfig": "apiVersion: v1"}))
        .await;
    assert_eq!(
        r.status, 409,
        "an agent cluster has no kubeconfig: {}",
        r.text
    );

    let r = admin.post(&format!("{path}/sync"), json!({})).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.json["status"], "agent_resync_requested");
    // Recorded in the store, for whichever replica holds the agent's connection.
    let links = hub.db.store.agent_links(&[a.cluster]).await.unwrap();
    assert!(links[0].resync_requested_at.is_some(), "{links:?}");

    let r = admin.get(&format!("{path}/health")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["status"], "unknown");
    assert_eq!(r.json["components"][0]["status"], "unknown");
    assert_eq!(r.json["nodes"], 1);
    let report = HealthReport {
        status: HealthStatus::Critical,
        reasons: vec![HealthReason::ApiNotReady(
            kubeworkz_shared::model::health::ProbeResult::Failing {
                checks: vec!["etcd".into()],
            },
        )],
    };
    hub.db
        .store
        .record_health(org, a.cluster, &report, Utc::now())
        .await
        .unwrap();
    let r = admin.get(&format!("{path}/health")).await;
    assert_eq!(r.json["status"], "critical");
    let components = r.json["components"].as_array().unwrap();
    assert_eq!(
        components[0],
        json!({"component": "apiserver_ready", "status": "failing"})
    );
    assert_eq!(
        components[1],
        json!({"component": "apiserver_live", "status": "ok"})
    );

    let r = admin.delete(&path).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(admin.get(&path).await.status, 404);
    assert_eq!(admin.delete(&path).await.status, 404);
    assert!(
        hub.db
            .store
            .agent_cluster(a.cluster)
            .await
            .unwrap()
            .is_none()
    );
    let r = admin
        .get(&format!("/api/v1/k8s/clusters/{}/namespaces", a.cluster))
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(admin.get("/api/v1/k8s/clusters").await.json["total"], 1);
    assert_eq!(
        admin.get("/api/v1/k8s/clusters/not-a-uuid").await.status,
        404
    );
}

pub async fn bad_registrations_are_refused_clearly(hub: TestHub) {
    let admin = hub.admin().await;
    let secret = "c2VjcmV0LXRva2VuLXZhbHVlLXRoYXQtbXVzdC1uZXZlci1sZWFr";
    let huge = format!(
        "apiVersion: v1\nkind: Config\n# {}\nusers:\n- name: u\n  user:\n    token: {secret}\n",
        "x".repeat(600 * 1024)
    );
    let r = admin
        .post(
            "/api/v1/k8s/clusters",
            json!({"name": "big", "kubeconfig": huge}),
        )
        .await;
    assert_eq!(r.status, 413, "{}", &r.text[..r.text.len().min(300)]);
    assert_eq!(r.error_code(), "payload_too_large");
    // Just over the kubeconfig limit but inside the body limit: still 413.
    let over = format!("# {}\n", "y".repeat(512 * 1024));
    let r = admin
        .post(
            "/api/v1/k8s/clusters",
            json!({"name": "big", "kubeconfig": over}),
        )
        .await;
    assert_eq!(r.status, 413, "{}", &r.text[..r.text.len().min(300)]);

    let broken = format!("users: [ {{ token: {secret}");
    let r = admin
        .post(
            "/api/v1/k8s/clusters",
            json!({"name": "broken", "kubeconfig": broken}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(!r.text.contains(secret), "the error echoes the kubeconfig");
    let plugin = "apiVersion: v1\nkind: Config\ncurrent-context: ctx\n\
         clusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n\
         contexts:\n- name: ctx\n  context:\n    cluster: c\n    user: u\n\
         users:\n- name: u\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: aws\n";
    let r = admin
        .post(
            "/api/v1/k8s/clusters",
            json!({"name": "eks", "kubeconfig": plugin}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("agent")
    );
    let r = admin
        .post(
            "/api/v1/k8s/clusters",
            json!({"name": "x", "kubeconfig": plugin, "environment": "moon"}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(
        admin
            .post("/api/v1/k8s/clusters", json!({"name": "x"}))
            .await
            .status,
        422,
        "missing kubeconfig"
    );
    assert_eq!(
        admin
            .post(
                "/api/v1/k8s/clusters",
                json!({"name": "", "kubeconfig": plugin})
            )
            .await
            .status,
        422
    );
    assert_eq!(
        admin.get("/api/v1/k8s/clusters").await.json["total"],
        0,
        "nothing stored"
    );
    let audit = admin.get("/api/v1/audit?action=cluster.create").await;
    assert!(audit.json["total"].as_u64().unwrap() >= 5);
    assert!(
        audit.json["items"][0]["result"]
            .as_str()
            .unwrap()
            .starts_with("failure")
    );
}

pub async fn a_pull_clusters_detail_names_the_replica_collecting_it(hub: TestHub) {
    let org = hub.default_org;
    let agent = seed(&hub, org, "alpha").await;
    let pulled = fixtures::pull_cluster(&hub.db.store, org, "pulled").await;
    let admin = hub.admin().await;
    let detail = |id: String| {
        let admin = &admin;
        async move { admin.get(&format!("/api/v1/k8s/clusters/{id}")).await }
    };
    let r = detail(agent.cluster.to_string()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["collected_by"], Value::Null, "agent mode");
    let r = detail(pulled.to_string()).await;
    assert_eq!(
        r.json["collected_by"],
        Value::Null,
        "no replica holds it yet"
    );
    let lease = hub
        .db
        .store
        .acquire_lease(
            &format!("pull:{pulled}"),
            "replica-x",
            std::time::Duration::from_secs(60),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        detail(pulled.to_string()).await.json["collected_by"],
        "replica-x"
    );
    hub.db.store.release_lease(&lease.fence()).await.unwrap();
    assert_eq!(
        detail(pulled.to_string()).await.json["collected_by"],
        Value::Null
    );
}
