//! Registration by kubeconfig against a real test cluster (JSON and multipart), a new
//! kubeconfig by PATCH, and no kubeconfig secret in any response. One cluster serves both
//! backends; this test is in nextest's `kube` group.

use kubeworkz_hub::pull::EgressPolicy;
use kubeworkz_testkit::cluster::{ClusterSpec, NodeSpec, TestCluster};
use serde_json::json;

use crate::client::{Caller, TestHub};
use crate::harness::Backend;

/// Credential values of a kubeconfig that must never come back.
fn secrets_of(kubeconfig: &str) -> Vec<String> {
    let doc: serde_yaml::Value = serde_yaml::from_str(kubeconfig).unwrap();
    let mut secrets = Vec::new();
    for user in doc["users"].as_sequence().into_iter().flatten() {
        for field in ["client-key-data", "token", "client-certificate-data"] {
            if let Some(value) = user["user"][field].as_str() {
                secrets.extend(
                    value
                        .as_bytes()
                        .chunks(32)
                        .filter(|w| w.len() == 32)
                        .map(|w| String::from_utf8_lossy(w).into_owned()),
                );
            }
        }
    }
    assert!(!secrets.is_empty());
    secrets
}

fn multipart(fields: &[(&str, &str)], kubeconfig: &str) -> (String, Vec<u8>) {
    let boundary = "kubeworkz-test-boundary";
    let mut body = String::new();
    for (name, value) in fields {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"kubeconfig\"; \
         filename=\"config\"\r\nContent-Type: application/yaml\r\n\r\n{kubeconfig}\r\n--{boundary}--\r\n"
    ));
    (
        format!("multipart/form-data; boundary={boundary}"),
        body.into_bytes(),
    )
}

async fn register_on(backend: Backend, cluster: &TestCluster) {
    // Test clusters run on loopback, which registration refuses unless allowed.
    let hub = TestHub::start_with_egress(backend, EgressPolicy::allowing_loopback()).await;
    let admin = hub.admin().await;
    let yaml = cluster.kubeconfig_yaml();
    let secrets = secrets_of(yaml);
    let mut bodies = Vec::new();

    let r = admin
        .post(
            "/api/v1/k8s/clusters",
            json!({"name": "real", "environment": "staging", "tags": ["lab"],
                   "description": "testkit", "kubeconfig": yaml}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json["cluster"]["id"].as_str().unwrap().to_owned();
    assert_eq!(r.json["cluster"]["mode"], "kubeconfig");
    assert_eq!(r.json["cluster"]["environment"], "staging");
    assert_eq!(r.json["cluster"]["api_server_url"], cluster.server_url());
    assert_eq!(r.json["cluster"]["version"], cluster.server_version());
    assert!(r.json["cluster"]["provider"].is_string());
    bodies.push(r.text);

    // Multipart with the kubeconfig as a file; the same name again is a conflict.
    for (name, status) in [("real", 409), ("real-2", 201)] {
        let (content_type, body) = multipart(
            &[
                ("name", name),
                ("environment", "development"),
                ("tags", "a, b"),
            ],
            yaml,
        );
        let mut request = admin
            .request(reqwest::Method::POST, "/api/v1/k8s/clusters")
            .header("content-type", content_type)
            .header("x-csrf-token", admin.csrf.as_ref().unwrap())
            .header(
                "cookie",
                format!(
                    "kubeworkz_session={}; csrf_token={}",
                    admin.session.as_ref().unwrap(),
                    admin.csrf.as_ref().unwrap()
                ),
            );
        request = request.body(body);
        let r = Caller::read(request.send().await.unwrap()).await;
        assert_eq!(r.status, status, "{name}: {}", r.text);
        if status == 201 {
            assert_eq!(r.json["cluster"]["tags"], json!(["a", "b"]));
        }
        bodies.push(r.text);
    }

    // A replacement kubeconfig is checked and stored; a broken one is refused.
    let path = format!("/api/v1/k8s/clusters/{id}");
    let r = admin
        .patch(&path, json!({"kubeconfig": yaml, "name": "real-renamed"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["name"], "real-renamed");
    bodies.push(r.text);
    // One that reaches the same API server by another address moves the stored URL.
    let moved = cluster.server_url().replace("127.0.0.1", "localhost");
    let r = admin
        .patch(
            &path,
            json!({"kubeconfig": yaml.replace(&cluster.server_url(), &moved)}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["api_server_url"], moved);
    bodies.push(r.text);
    let unreachable = yaml.replace(&cluster.server_url(), "https://127.0.0.1:1");
    let r = admin.patch(&path, json!({"kubeconfig": unreachable})).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(
        r.json["error"]["message"],
        "connection test failed: 127.0.0.1:1: connection refused (nothing listens on that port)"
    );
    bodies.push(r.text);

    let r = admin.post(&format!("{path}/sync"), json!({})).await;
    assert_eq!(r.status, 202);
    assert_eq!(
        r.json["status"], "resync_requested",
        "no supervisor runs in this test hub: the request waits in the store"
    );
    for path in ["/api/v1/k8s/clusters", &path, "/api/v1/audit"] {
        bodies.push(admin.get(path).await.text);
    }
    for body in &bodies {
        for secret in &secrets {
            assert!(
                !body.contains(secret.as_str()),
                "a response carries kubeconfig secrets"
            );
        }
    }
}

#[tokio::test]
async fn register_real_cluster_by_kubeconfig_on_both_backends() {
    let cluster = TestCluster::start(ClusterSpec::new("api-reg", vec![NodeSpec::new("node-a")]))
        .await
        .expect("test cluster");
    register_on(Backend::Sqlite, &cluster).await;
    register_on(Backend::Postgres, &cluster).await;
}
