//! Regressions found by the schemathesis run (`tests/schemathesis.sh`): the OpenAPI document
//! itself, and answers that broke their documented status or schema.

use std::collections::HashMap;

use crate::client::TestHub;
use crate::harness::Backend;
use crate::support::hub::cli;

/// `kubeworkz-hub openapi` prints the document the hub serves, without a database (the UI's
/// types are generated from its output, and CI compares it with the committed copy).
#[tokio::test]
async fn the_cli_prints_the_served_document() {
    let hub = TestHub::start(Backend::Sqlite).await;
    let served = hub.anonymous().get("/api/v1/docs/openapi.json").await;
    assert_eq!(served.status, 200);
    let dir = tempfile::tempdir().unwrap();
    let nowhere = format!(
        "sqlite://{}",
        dir.path().join("absent/kubeworkz.db").display()
    );
    let (ok, stdout, stderr) = cli(&nowhere, &["openapi"]);
    assert!(ok, "{stderr}");
    let printed: serde_json::Value = serde_json::from_str(&stdout).expect("the output is JSON");
    assert_eq!(printed, served.json);
    assert!(stdout.ends_with("}\n"), "one document and a newline");
    assert!(
        !dir.path().join("absent").exists(),
        "no database was opened"
    );
}

/// Every operation has an id, and no two share one (utoipa named them after the handler
/// function, so the clusters' and the audit log's `list` collided and validators refused the
/// document).
pub async fn operation_ids_are_unique(hub: TestHub) {
    let doc = hub.anonymous().get("/api/v1/docs/openapi.json").await;
    assert_eq!(doc.status, 200);
    let mut seen: HashMap<String, String> = HashMap::new();
    for (path, item) in doc.json["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"))
                .to_owned();
            let here = format!("{method} {path}");
            if let Some(other) = seen.insert(id.clone(), here.clone()) {
                panic!("operationId {id:?} is used by {other} and {here}");
            }
        }
    }
    assert_eq!(seen["get_k8s_clusters"], "get /api/v1/k8s/clusters");
    assert_eq!(
        seen["get_k8s_clusters_id_namespaces"],
        "get /api/v1/k8s/clusters/{id}/namespaces"
    );
}

/// Every `$ref` names a schema the document defines (the cost endpoints' `format` parameter
/// pointed at a `Format` schema that was never registered).
pub async fn every_reference_resolves(hub: TestHub) {
    let doc = hub.anonymous().get("/api/v1/docs/openapi.json").await;
    assert_eq!(doc.status, 200);
    let schemas = doc.json["components"]["schemas"].as_object().unwrap();
    let mut refs = Vec::new();
    collect_refs(&doc.json, &mut refs);
    assert!(refs.len() > 20, "the document has references: {refs:?}");
    for reference in refs {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected reference {reference}"));
        assert!(schemas.contains_key(name), "{reference} is not defined");
    }
}

fn collect_refs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                match value.as_str() {
                    Some(reference) if key == "$ref" => out.push(reference.to_owned()),
                    _ => collect_refs(value, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// A cost window or step ending in a multi-byte character is a 400 (it was split inside the
/// character: the handler panicked and the connection closed without an answer).
pub async fn multi_byte_windows_and_steps_are_bad_requests(hub: TestHub) {
    let admin = hub.admin().await;
    for query in [
        "window=%C2%80",
        "window=7%C3%A9",
        "window=24h&aggregate=%C2%80",
    ] {
        let r = admin.get(&format!("/api/v1/k8s/costs?{query}")).await;
        assert_eq!(r.status, 400, "{query}: {}", r.text);
        assert_eq!(r.json["error"]["code"], "bad_request", "{query}");
    }
    let r = admin.get("/api/v1/k8s/costs?window=24h").await;
    assert_eq!(r.status, 200, "the hub still answers: {}", r.text);
}

/// Out-of-range page sizes are a documented 400 on every list that takes `limit` (the audit
/// log answered an undocumented 400, and its schema allowed 0).
pub async fn page_limits_are_documented_and_enforced(hub: TestHub) {
    let doc = hub.anonymous().get("/api/v1/docs/openapi.json").await;
    let admin = hub.admin().await;
    for path in [
        "/api/v1/audit",
        "/api/v1/k8s/clusters",
        "/api/v1/k8s/helm/releases",
    ] {
        let operation = &doc.json["paths"][path]["get"];
        assert!(
            operation["responses"]["400"].is_object(),
            "{path} does not document 400"
        );
        let limit = operation["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "limit")
            .unwrap_or_else(|| panic!("{path} has no limit parameter"));
        assert_eq!(limit["schema"]["minimum"], 1, "{path}");
        assert_eq!(limit["schema"]["maximum"], 500, "{path}");
        for bad in ["0", "501"] {
            let r = admin.get(&format!("{path}?limit={bad}")).await;
            assert_eq!(r.status, 400, "{path}?limit={bad}: {}", r.text);
        }
        let r = admin.get(&format!("{path}?limit=500")).await;
        assert_eq!(r.status, 200, "{path}?limit=500: {}", r.text);
    }
}
