//! Every list pages by `cursor` (`next_cursor`, null on the last page), inventory lists also
//! sort by `name`/`-name` and filter by `q`; `limit`/`offset` keep working.

use kubeworkz_hub::store::Cursor;
use kubeworkz_shared::change::{Object, ObjectKind};
use kubeworkz_shared::model::pod::PodPhase;
use serde_json::Value;

use crate::client::{Caller, TestHub, seed};
use crate::fixtures;

/// Every page of `path` (which has a `?`) walked by `next_cursor`: the names per page.
pub(crate) async fn walk(admin: &Caller, path: &str, field: &str) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let url = match &next {
            Some(c) => format!("{path}&cursor={c}"),
            None => path.to_owned(),
        };
        let r = admin.get(&url).await;
        assert_eq!(r.status, 200, "{url}: {}", r.text);
        let items = r.json["items"].as_array().unwrap();
        pages.push(
            items
                .iter()
                .map(|i| i[field].as_str().unwrap().to_owned())
                .collect(),
        );
        match &r.json["next_cursor"] {
            Value::String(c) => next = Some(c.clone()),
            Value::Null => return pages,
            other => panic!("next_cursor: {other}"),
        }
        assert!(pages.len() < 20, "the cursor walk ends");
    }
}

pub async fn every_list_pages_by_cursor_and_inventory_lists_sort_and_filter(hub: TestHub) {
    let alpha = seed(&hub, hub.default_org, "alpha").await;
    seed(&hub, hub.default_org, "bravo").await;
    seed(&hub, hub.default_org, "charlie").await;
    let admin = hub.admin().await;
    let ns = &alpha.namespace_uid;

    let pods = walk(
        &admin,
        &format!("/api/v1/k8s/namespaces/{ns}/pods?limit=1"),
        "name",
    )
    .await;
    assert_eq!(pods, [vec!["web-1"], vec!["web-2"]]);
    let pods = walk(
        &admin,
        &format!("/api/v1/k8s/namespaces/{ns}/pods?limit=1&sort=-name"),
        "name",
    )
    .await;
    assert_eq!(pods, [vec!["web-2"], vec!["web-1"]]);
    let r = admin
        .get(&format!("/api/v1/k8s/namespaces/{ns}/pods?q=B-2"))
        .await;
    assert_eq!(
        (
            r.json["total"].as_u64(),
            r.json["items"][0]["name"].as_str()
        ),
        (Some(1), Some("web-2"))
    );
    assert!(r.json["next_cursor"].is_null(), "{}", r.text);

    let r = admin
        .get(&format!("/api/v1/k8s/namespaces/{ns}/pods?limit=1"))
        .await;
    let second = admin
        .get(&format!(
            "/api/v1/k8s/namespaces/{ns}/pods?limit=1&cursor={}",
            r.json["next_cursor"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        (
            second.json["offset"].as_u64(),
            second.json["total"].as_u64()
        ),
        (Some(1), Some(2))
    );
    let by_offset = admin
        .get(&format!(
            "/api/v1/k8s/namespaces/{ns}/pods?limit=1&offset=1"
        ))
        .await;
    assert_eq!(
        by_offset.json["items"], second.json["items"],
        "offset still works"
    );

    let c = alpha.cluster;
    let namespaces = walk(
        &admin,
        &format!("/api/v1/k8s/clusters/{c}/namespaces?limit=1"),
        "name",
    )
    .await;
    assert_eq!(namespaces, [vec!["web"]]);
    let nodes = walk(
        &admin,
        &format!("/api/v1/k8s/clusters/{c}/nodes?q=node&limit=5"),
        "name",
    )
    .await;
    assert_eq!(nodes, [vec!["node-a"]]);
    let releases = walk(&admin, "/api/v1/k8s/helm/releases?limit=2", "cluster_id").await;
    assert_eq!(releases.iter().map(Vec::len).collect::<Vec<_>>(), [2, 1]);
    let clusters = walk(&admin, "/api/v1/k8s/clusters?limit=2&sort=-name", "name").await;
    assert_eq!(clusters, [vec!["charlie", "bravo"], vec!["alpha"]]);
    let audit = admin.get("/api/v1/audit?limit=1").await;
    assert_eq!(audit.status, 200, "{}", audit.text);
    assert_eq!(
        audit.json["next_cursor"].is_string(),
        audit.json["total"].as_u64() > Some(1)
    );

    for bad in [
        format!("/api/v1/k8s/namespaces/{ns}/pods?sort=colour"),
        format!("/api/v1/k8s/namespaces/{ns}/pods?cursor=xyz"),
        "/api/v1/k8s/clusters?cursor=%7B%7D".to_owned(),
    ] {
        let r = admin.get(&bad).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
        assert_eq!(r.error_code(), "bad_request");
    }
}

pub async fn the_fleet_is_grouped_in_one_call(hub: TestHub) {
    seed(&hub, hub.default_org, "alpha").await;
    seed(&hub, hub.default_org, "bravo").await;
    let other = hub.db.store.ensure_organization("other").await.unwrap().id;
    seed(&hub, other, "theirs").await;
    let admin = hub.admin().await;
    let r = admin.get("/api/v1/k8s/fleet").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json,
        serde_json::json!({"groups": [{"key": "production", "clusters": 2, "healthy": 0,
            "degraded": 0, "critical": 0, "unknown": 2, "nodes": 2, "pods": 4,
            "cost_month_to_date": 0.0}]})
    );
    let r = admin.get("/api/v1/k8s/fleet?by=tag").await;
    assert_eq!(r.json["groups"][0]["key"], "eu");
    assert_eq!(r.json["groups"][0]["clusters"], 2);
    let r = admin.get("/api/v1/k8s/fleet?by=provider").await;
    assert_eq!(
        r.json["groups"][0]["key"], "",
        "no provider detected: {}",
        r.text
    );
    let r = admin.get("/api/v1/k8s/fleet?by=colour").await;
    assert_eq!((r.status, r.error_code()), (400, "bad_request".to_owned()));
}

pub async fn lists_download_every_row_with_their_filters(hub: TestHub) {
    let alpha = seed(&hub, hub.default_org, "alpha").await;
    seed(&hub, hub.default_org, "bravo").await;
    let other = hub.db.store.ensure_organization("other").await.unwrap().id;
    let theirs = seed(&hub, other, "theirs").await;
    let admin = hub.admin().await;
    let ns = &alpha.namespace_uid;

    let r = admin
        .get(&format!(
            "/api/v1/k8s/namespaces/{ns}/pods?format=csv&limit=1&sort=-name"
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.headers["content-disposition"],
        "attachment; filename=\"pods.csv\""
    );
    let lines: Vec<&str> = r.text.split("\r\n").collect();
    assert_eq!(lines[0], "namespace,name,status,phase,ready,node,restarts");
    assert_eq!(
        lines.len(),
        4,
        "every row despite limit=1, then the final CRLF: {}",
        r.text
    );
    assert_eq!(lines[1], "web,web-2,Running,Running,true,node-a,0");
    assert_eq!(
        lines[2], "web,web-1,Running,Running,true,node-a,0",
        "sorted as asked"
    );

    let r = admin
        .get("/api/v1/k8s/helm/releases?format=json&q=WE")
        .await;
    assert_eq!(r.headers["content-type"], "application/json");
    let releases = r.json.as_array().expect("an array");
    assert_eq!(
        releases.len(),
        2,
        "both clusters' releases, not the other org's"
    );
    assert_eq!(releases[0]["data"]["chart_name"], "nginx");

    let c = alpha.cluster;
    let r = admin
        .get(&format!("/api/v1/k8s/clusters/{c}/namespaces?format=csv"))
        .await;
    assert_eq!(
        r.text, "name,team,cost_center,deployments,pods,phase\r\nweb,shop,,1,2,Active\r\n",
        "the namespaces table's columns, counts included"
    );
    let r = admin
        .get(&format!(
            "/api/v1/k8s/clusters/{}/nodes?format=csv",
            theirs.cluster
        ))
        .await;
    assert_eq!(r.status, 404, "another organization's cluster");
    let r = admin
        .get(&format!("/api/v1/k8s/namespaces/{ns}/pods?format=xlsx"))
        .await;
    assert_eq!(r.status, 400);
}

/// A pod of namespace `web` with `restarts` on its one container.
fn restarting(name: &str, uid: &str, restarts: u32) -> Object {
    let Object::Pod(mut p) = fixtures::pod("web", name, uid, PodPhase::Running) else {
        unreachable!("pod builds a pod")
    };
    p.containers[0].restarts = restarts;
    Object::Pod(p)
}

pub async fn inventory_lists_sort_by_their_columns_page_by_cursor_and_refuse_others(hub: TestHub) {
    let alpha = seed(&hub, hub.default_org, "alpha").await;
    let pods = vec![
        restarting("web-1", "alpha-pod-1", 0),
        restarting("web-2", "alpha-pod-2", 0),
        restarting("crash-a", "alpha-pod-3", 7),
        restarting("crash-b", "alpha-pod-4", 3),
        restarting("crash-c", "alpha-pod-5", 7),
    ];
    hub.db
        .store
        .ingest_changes(
            hub.default_org,
            alpha.cluster,
            Cursor { epoch: 1, seq: 3 },
            &fixtures::batch(fixtures::snapshot(&[ObjectKind::Pod], &pods)),
        )
        .await
        .unwrap();
    let admin = hub.admin().await;
    let ns = &alpha.namespace_uid;
    let path = format!("/api/v1/k8s/namespaces/{ns}/pods?limit=2&sort=-restarts");
    assert_eq!(
        walk(&admin, &path, "name").await,
        [
            vec!["crash-c", "crash-a"],
            vec!["crash-b", "web-2"],
            vec!["web-1"]
        ],
        "most restarts first, ties by name in the same direction"
    );
    assert_eq!(
        walk(
            &admin,
            &format!("/api/v1/k8s/namespaces/{ns}/pods?limit=3&sort=restarts"),
            "name"
        )
        .await,
        [
            vec!["web-1", "web-2", "crash-b"],
            vec!["crash-a", "crash-c"]
        ]
    );
    let last = admin.get(&format!("{path}&last=true&offset=1")).await;
    assert_eq!(last.status, 200, "{}", last.text);
    let names: Vec<&str> = last.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["web-2", "web-1"],
        "the last page, read from the end"
    );
    assert_eq!(
        (last.json["offset"].as_u64(), last.json["total"].as_u64()),
        (Some(3), Some(5))
    );
    assert!(last.json["next_cursor"].is_null(), "{}", last.text);
    let first = admin.get(&path).await;
    let cursor = first.json["next_cursor"].as_str().unwrap().to_owned();
    let r = admin
        .get(&format!(
            "/api/v1/k8s/namespaces/{ns}/pods?limit=2&sort=name&cursor={cursor}"
        ))
        .await;
    assert_eq!(r.status, 400, "a cursor of another order: {}", r.text);

    let r = admin
        .get(&format!("/api/v1/k8s/namespaces/{ns}/pods?sort=ready"))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json["error"]["message"],
        "cannot sort this list by \"ready\": use one of name, age, node, restarts, phase, \
         status (with - first for descending)"
    );
    let r = admin
        .get(&format!(
            "/api/v1/k8s/clusters/{}/nodes?sort=-age",
            alpha.cluster
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = admin
        .get(&format!(
            "/api/v1/k8s/clusters/{}/namespaces?sort=-pods&limit=1",
            alpha.cluster
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (
            r.json["items"][0]["name"].as_str(),
            r.json["items"][0]["pods"].as_u64()
        ),
        (Some("web"), Some(5)),
        "namespaces sort by their live pods"
    );
    let cursor = r.json["next_cursor"].clone();
    assert!(cursor.is_null(), "one namespace, one page: {cursor}");
    let r = admin
        .get("/api/v1/k8s/helm/releases?sort=chart&limit=1")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["items"][0]["data"]["chart_name"], "nginx");
}

/// The rows of a CSV without quoted fields, each split into its fields.
pub(crate) fn csv_rows(text: &str) -> Vec<Vec<String>> {
    text.split_terminator("\r\n")
        .map(|line| line.split(',').map(str::to_owned).collect())
        .collect()
}

pub async fn the_cluster_list_and_the_audit_log_download_every_row(hub: TestHub) {
    for name in ["alpha", "bravo", "charlie"] {
        seed(&hub, hub.default_org, name).await;
    }
    let other = hub.db.store.ensure_organization("other").await.unwrap().id;
    seed(&hub, other, "theirs").await;
    let admin = hub.admin().await;

    let r = admin
        .get("/api/v1/k8s/clusters?format=csv&sort=-name&limit=1")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.headers["content-disposition"],
        "attachment; filename=\"clusters.csv\""
    );
    let rows = csv_rows(&r.text);
    assert_eq!(
        rows[0].join(","),
        "name,health,provider,environment,version,nodes,nodes_ready,namespaces,deployments,\
         pods,last_sync_at,tags,id"
    );
    let page = admin.get("/api/v1/k8s/clusters?sort=-name&limit=500").await;
    let items = page.json["items"].as_array().unwrap();
    assert_eq!(
        rows.len(),
        1 + items.len(),
        "every cluster, this org's only"
    );
    for (row, item) in rows[1..].iter().zip(items) {
        let counts = &item["counts"];
        let want = [
            item["name"].as_str().unwrap().to_owned(),
            "unknown".to_owned(),
            String::new(),
            "production".to_owned(),
            String::new(),
            counts["nodes"].to_string(),
            counts["nodes_ready"].to_string(),
            counts["namespaces"].to_string(),
            counts["deployments"].to_string(),
            counts["pods"].to_string(),
            item["last_sync_at"].as_str().unwrap_or_default().to_owned(),
            "eu".to_owned(),
            item["id"].as_str().unwrap().to_owned(),
        ];
        assert_eq!(row[..10], want[..10], "{row:?}");
        assert_eq!(row[11..], want[11..], "{row:?}");
    }
    let names: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(names, ["charlie", "bravo", "alpha"], "sorted as asked");
    assert_eq!(rows[1][9], "2", "two pods in the seeded cluster");

    let r = admin
        .get("/api/v1/k8s/clusters?format=json&search=RAV")
        .await;
    assert_eq!(r.headers["content-type"], "application/json");
    let clusters = r.json.as_array().expect("an array");
    assert_eq!(clusters.len(), 1, "filtered: {}", r.text);
    assert_eq!(clusters[0]["name"], "bravo");
    assert_eq!(clusters[0]["counts"]["pods"], 2);

    for (name, description) in [("alpha", "one"), ("bravo", "two")] {
        let id = items.iter().find(|c| c["name"] == name).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = admin
            .patch(
                &format!("/api/v1/k8s/clusters/{id}"),
                serde_json::json!({ "description": description }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let r = admin.get("/api/v1/audit?format=csv&limit=1").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let rows = csv_rows(&r.text);
    assert_eq!(
        rows[0].join(","),
        "at,actor,action,target,result,source_ip,request_id,id,detail"
    );
    let page = admin.get("/api/v1/audit?limit=500").await;
    let entries = page.json["items"].as_array().unwrap();
    assert!(entries.len() >= 2, "{}", page.text);
    assert_eq!(rows.len(), 1 + entries.len(), "every entry");
    for (row, entry) in rows[1..].iter().zip(entries) {
        let text = |k: &str| entry[k].as_str().unwrap_or_default().to_owned();
        assert_eq!(
            row[1..],
            [
                text("actor"),
                text("action"),
                text("target"),
                text("result"),
                text("source_ip"),
                text("request_id"),
                text("id"),
                text("detail")
            ],
            "{row:?}"
        );
    }
    let r = admin
        .get("/api/v1/audit?format=json&action=cluster.update")
        .await;
    let updates = r.json.as_array().expect("an array");
    assert_eq!(updates.len(), 2, "the filter applies: {}", r.text);
    assert!(updates.iter().all(|e| e["action"] == "cluster.update"));

    let walked = walk(&admin, "/api/v1/audit?limit=1", "id").await;
    let ids: Vec<&str> = entries.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(walked.concat(), ids, "the audit log's cursor walks it all");
    let walked = walk(&admin, "/api/v1/k8s/clusters?limit=2&sort=health", "name").await;
    assert_eq!(walked.concat().len(), 3);
    let r = admin.get("/api/v1/k8s/clusters?sort=colour").await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json["error"]["message"],
        "cannot sort by \"colour\": use one of name, created_at, environment, health, \
         last_sync (with - first for descending)"
    );
}
