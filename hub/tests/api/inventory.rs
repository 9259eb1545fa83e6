//! Inventory, details, Helm releases and usage series of a seeded cluster.

use crate::client::{TestHub, seed};

pub async fn every_inventory_endpoint_answers(hub: TestHub) {
    let s = seed(&hub, hub.default_org, "alpha").await;
    let other = seed(&hub, hub.default_org, "bravo").await;
    let admin = hub.admin().await;
    let get = |path: String| {
        let admin = admin.clone();
        async move {
            let r = admin.get(&path).await;
            assert_eq!(r.status, 200, "{path}: {}", r.text);
            r.json
        }
    };
    let c = s.cluster;

    let namespaces = get(format!("/api/v1/k8s/clusters/{c}/namespaces")).await;
    assert_eq!(namespaces["total"], 1);
    let ns = &namespaces["items"][0];
    assert_eq!(ns["id"], s.namespace_uid.as_str());
    assert_eq!(ns["name"], "web");
    assert_eq!(ns["cluster_id"], c.to_string());
    assert_eq!(ns["data"]["labels"]["team"], "shop");
    assert_eq!(
        (&ns["deployments"], &ns["pods"]),
        (&1.into(), &2.into()),
        "live counts of this cluster's namespace only: {ns}"
    );

    let nodes = get(format!("/api/v1/k8s/clusters/{c}/nodes")).await;
    assert_eq!(nodes["total"], 1);
    assert_eq!(nodes["items"][0]["id"], s.node_uid.as_str());
    assert_eq!(nodes["items"][0]["data"]["instance_type"], "m5.xlarge");

    let ns_id = &s.namespace_uid;
    let deployments = get(format!("/api/v1/k8s/namespaces/{ns_id}/deployments")).await;
    assert_eq!(deployments["total"], 1);
    assert_eq!(deployments["items"][0]["id"], s.deployment_uid.as_str());

    let pods = get(format!("/api/v1/k8s/namespaces/{ns_id}/pods?limit=1")).await;
    assert_eq!(
        pods["total"], 2,
        "the other cluster's web pods are not counted"
    );
    assert_eq!(pods["items"].as_array().unwrap().len(), 1);
    assert_eq!(pods["items"][0]["name"], "web-1");
    let next = get(format!(
        "/api/v1/k8s/namespaces/{ns_id}/pods?limit=1&offset=1"
    ))
    .await;
    assert_eq!(next["items"][0]["name"], "web-2");

    let d = &s.deployment_uid;
    let owned = get(format!("/api/v1/k8s/deployments/{d}/pods")).await;
    assert_eq!(owned["total"], 2);
    let deployment = get(format!("/api/v1/k8s/deployments/{d}")).await;
    assert_eq!(deployment["name"], "web");
    assert_eq!(deployment["data"]["replicas"]["desired"], 2);
    let pod = get(format!("/api/v1/k8s/pods/{}", s.pod_uid)).await;
    assert_eq!(pod["name"], "web-1");
    assert_eq!(pod["namespace"], "web");
    assert_eq!(admin.get("/api/v1/k8s/pods/no-such-uid").await.status, 404);
    // A pod id is not a deployment id.
    let r = admin
        .get(&format!("/api/v1/k8s/deployments/{}", s.pod_uid))
        .await;
    assert_eq!(r.status, 404);

    let helm = get("/api/v1/k8s/helm/releases".into()).await;
    assert_eq!(helm["total"], 2, "both clusters' releases");
    let helm = get(format!(
        "/api/v1/k8s/helm/releases?cluster={}",
        other.cluster
    ))
    .await;
    assert_eq!(helm["total"], 1);
    assert_eq!(helm["items"][0]["cluster_id"], other.cluster.to_string());
    let helm =
        get("/api/v1/k8s/helm/releases?status=Deployed&chart=nginx&namespace=web".into()).await;
    assert_eq!(helm["total"], 2);
    let helm = get("/api/v1/k8s/helm/releases?chart=redis".into()).await;
    assert_eq!(helm["total"], 0);

    let series = get(format!("/api/v1/k8s/metrics/cluster/{c}")).await;
    let points = series["points"].as_array().unwrap();
    assert_eq!(points.len(), 24);
    assert_eq!(series["step_seconds"], 3600);
    let used: Vec<_> = points.iter().filter(|p| p["cpu_millicores"] != 0).collect();
    assert_eq!(used.len(), 1, "{series}");
    assert_eq!(used[0]["cpu_millicores"], 100);
    assert_eq!(used[0]["memory_bytes"], 1 << 20);
    let series = get(format!(
        "/api/v1/k8s/metrics/namespace/{ns_id}?window=2d&step=1d"
    ))
    .await;
    let points = series["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    let total: u64 = points
        .iter()
        .map(|p| p["cpu_millicores"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 360_000 / 86_400);
    let pod_usage = get(format!("/api/v1/k8s/pods/{}/usage", s.pod_uid)).await;
    let used: Vec<_> = pod_usage["points"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["cpu_millicores"] != 0)
        .collect();
    assert_eq!(used.len(), 1, "{pod_usage}");
    assert_eq!(used[0]["cpu_millicores"], 100);
    assert_eq!(used[0]["memory_max_bytes"], 2 << 20);
    let quiet = get("/api/v1/k8s/pods/alpha-pod-2/usage?window=6h".into()).await;
    let points = quiet["points"].as_array().unwrap();
    assert_eq!(points.len(), 6);
    assert!(
        points
            .iter()
            .all(|p| p["cpu_millicores"] == 0 && p["memory_max_bytes"] == 0),
        "the namespace's other pod recorded nothing: {quiet}"
    );
    let r = admin.get("/api/v1/k8s/pods/no-such-uid/usage").await;
    assert_eq!(r.status, 404);
    for bad in ["window=1y", "step=30m", "window=1h&step=2h", "window=100d"] {
        let r = admin
            .get(&format!("/api/v1/k8s/metrics/cluster/{c}?{bad}"))
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
    }
}
