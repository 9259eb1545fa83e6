//! The agent chart's Helm repository (`/charts`) and the install line that points at it.

use kubeworkz_shared::VERSION;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::client::{Options, TestHub};

/// Helm reads `index.yaml` and then the archive its entry names, relative to the repository,
/// with no credentials; the digest it checks is the archive's SHA-256.
pub async fn the_chart_repository_is_served_without_login(hub: TestHub) {
    let anonymous = hub.anonymous();
    let index = anonymous.get("/charts/index.yaml").await;
    assert_eq!(index.status, 200, "{}", index.text);
    let index: serde_yaml::Value = serde_yaml::from_str(&index.text).unwrap();
    let entry = &index["entries"]["kubeworkz-agent"][0];
    assert_eq!(entry["version"].as_str(), Some(VERSION));
    let url = entry["urls"][0].as_str().unwrap().to_owned();
    assert_eq!(url, format!("kubeworkz-agent-{VERSION}.tgz"));

    let archive = anonymous
        .request(reqwest::Method::GET, &format!("/charts/{url}"))
        .send()
        .await
        .unwrap();
    assert_eq!(archive.status(), 200);
    let bytes = archive.bytes().await.unwrap();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip");
    assert_eq!(
        entry["digest"].as_str(),
        Some(hex::encode(Sha256::digest(&bytes)).as_str())
    );

    let missing = anonymous.get("/charts/kubeworkz-agent-0.0.0.tgz").await;
    assert_eq!(missing.status, 404);
}

/// The enrollment token's install line installs the chart from the hub's own repository at
/// the hub's version: under `--public-url` when set, else at the address the request came to.
pub async fn the_install_line_names_the_hubs_chart_repository(hub: TestHub) {
    let body = json!({"cluster_name": "edge-1"});
    let r = hub
        .admin()
        .await
        .post("/api/v1/k8s/enrollment-tokens", body.clone())
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let helm = r.json["helm"].as_str().unwrap();
    let want = format!(
        "helm install kubeworkz-agent kubeworkz-agent --repo {}/charts --version {VERSION} ",
        hub.base
    );
    assert!(helm.starts_with(&want), "{helm}");
    let token = r.json["token"].as_str().unwrap();
    assert!(helm.ends_with(&format!("--set token={token}")), "{helm}");

    let hub = hub
        .restart(Options {
            public_url: Some("https://kubeworkz.example.com/"),
            ..Options::default()
        })
        .await;
    let r = hub
        .admin()
        .await
        .post("/api/v1/k8s/enrollment-tokens", body)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let helm = r.json["helm"].as_str().unwrap();
    assert!(
        helm.contains(&format!(
            " --repo https://kubeworkz.example.com/charts --version {VERSION} "
        )),
        "{helm}"
    );
}
