//! `GET /api/v1/k8s/search` over real HTTP: results, facets, cursor pages, scoping and the
//! position of a malformed query.

use kubeworkz_hub::store::Cursor;
use kubeworkz_shared::change::ObjectKind;
use kubeworkz_shared::model::pod::PodPhase;

use crate::client::{TestHub, seed};
use crate::fixtures;

/// `q` percent-encoded for a query string.
fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub async fn search_finds_pages_and_reports_bad_queries_by_position(hub: TestHub) {
    let alpha = seed(&hub, hub.default_org, "alpha").await;
    seed(&hub, hub.default_org, "bravo").await;
    let other = hub.db.store.ensure_organization("other").await.unwrap().id;
    seed(&hub, other, "theirs").await;
    let admin = hub.admin().await;

    let r = admin
        .get(&format!("/api/v1/k8s/search?q={}", encode("web")))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let items = r.json["items"].as_array().unwrap();
    let kinds: Vec<&str> = items.iter().map(|i| i["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "deployment",
            "deployment",
            "helm_release",
            "helm_release",
            "namespace",
            "namespace",
            "pod",
            "pod",
            "pod",
            "pod"
        ],
        "exact names first (by name, then kind), then prefixes, in two clusters: {}",
        r.text
    );
    assert_eq!(
        r.json["total"], 10,
        "the other organization's are not counted"
    );
    assert!(r.json["next_cursor"].is_null());
    let pod = items
        .iter()
        .find(|i| i["id"] == alpha.pod_uid.as_str())
        .expect("alpha's pod");
    assert_eq!(pod["cluster_name"], "alpha");
    assert_eq!(pod["cluster_id"], alpha.cluster.to_string());
    assert_eq!(pod["namespace"], "web");
    assert_eq!(pod["status"], "Running");
    assert_eq!(
        pod["link"],
        format!("/admin/kubernetes/pods/{}", alpha.pod_uid)
    );
    let ns = items
        .iter()
        .find(|i| i["id"] == alpha.namespace_uid.as_str())
        .expect("alpha's namespace");
    assert_eq!(ns["labels"]["team"], "shop");
    let facets = &r.json["facets"];
    assert_eq!(facets["kind"][0]["value"], "pod");
    assert_eq!(facets["kind"][0]["count"], 4);
    let clusters: Vec<&str> = facets["cluster"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["label"].as_str().unwrap())
        .collect();
    assert_eq!(clusters, ["alpha", "bravo"]);

    // Page by cursor: the same items, three at a time, then null.
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let mut path = format!("/api/v1/k8s/search?q={}&limit=3", encode("web"));
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let r = admin.get(&path).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["total"], 10, "facets and total cover every page");
        paged.extend(r.json["items"].as_array().unwrap().iter().cloned());
        match r.json["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(&paged, items);

    let q = encode("kind:pod node:node-* cluster:alpha -web-2");
    let r = admin.get(&format!("/api/v1/k8s/search?q={q}")).await;
    let names: Vec<&str> = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web-1"], "{}", r.text);

    let r = admin
        .get(&format!(
            "/api/v1/k8s/search?q={}",
            encode("web colour:red")
        ))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code(), "bad_query");
    assert_eq!(r.json["error"]["position"], 5);
    let message = r.json["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("unknown key \"colour\"") && message.contains("position 5"),
        "{message}"
    );
    let r = admin
        .get(&format!("/api/v1/k8s/search?q={}", encode("ns:\"web")))
        .await;
    assert_eq!(
        (r.status, r.json["error"]["position"].as_u64()),
        (400, Some(4))
    );
    for bad in ["limit=0", "limit=501", "cursor=nonsense"] {
        let r = admin.get(&format!("/api/v1/k8s/search?{bad}")).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
        assert_eq!(r.error_code(), "bad_request");
        assert!(r.json["error"].get("position").is_none(), "{}", r.text);
    }
    let anonymous = hub.anonymous();
    assert_eq!(anonymous.get("/api/v1/k8s/search?q=web").await.status, 401);
}

pub async fn search_exports_stream_every_match_as_csv_or_json(hub: TestHub) {
    seed(&hub, hub.default_org, "alpha").await;
    let store = &hub.db.store;
    let odd = fixtures::agent_cluster(store, hub.default_org, "eu,west").await;
    let mut objects = vec![fixtures::namespace("=1+1", "odd-ns", Some("-team"))];
    for p in 0..610 {
        let name = format!("bulk-{p:04}");
        objects.push(fixtures::pod(
            "bulk",
            &name,
            &format!("bulk-{p}"),
            PodPhase::Pending,
        ));
    }
    store
        .ingest_changes(
            hub.default_org,
            odd,
            Cursor { epoch: 1, seq: 1 },
            &fixtures::batch(fixtures::snapshot(&ObjectKind::ALL, &objects)),
        )
        .await
        .unwrap();
    let admin = hub.admin().await;

    let r = admin
        .get(&format!(
            "/api/v1/k8s/search/export?format=csv&q={}",
            encode("kind:pod")
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        r.headers["content-disposition"],
        "attachment; filename=\"kubeworkz-search.csv\""
    );
    let lines: Vec<&str> = r.text.split("\r\n").collect();
    assert_eq!(lines[0], "kind,cluster,namespace,name,status,labels,link");
    assert_eq!(lines.last(), Some(&""), "every row ends with CRLF");
    let rows = &lines[1..lines.len() - 1];
    assert_eq!(
        rows.len(),
        612,
        "610 pods over two pages of 500, and alpha's two"
    );
    assert!(
        rows[0]
            .starts_with("pod,\"eu,west\",bulk,bulk-0000,Pending,,/admin/kubernetes/pods/bulk-0")
    );
    let links: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r.rsplit(',').next().unwrap()).collect();
    assert_eq!(links.len(), 612, "no row twice across pages");

    let r = admin
        .get(&format!(
            "/api/v1/k8s/search/export?format=csv&q={}",
            encode("kind:ns 1")
        ))
        .await;
    assert_eq!(
        r.text,
        "kind,cluster,namespace,name,status,labels,link\r\n\
         namespace,\"eu,west\",,'=1+1,Active,team=-team,/admin/kubernetes/namespaces/odd-ns\r\n"
    );

    let r = admin
        .get(&format!(
            "/api/v1/k8s/search/export?q={}",
            encode("web kind:deploy")
        ))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "application/json");
    let hits = r.json.as_array().expect("a JSON array");
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["cluster_name"], "alpha");
    let all = admin
        .get("/api/v1/k8s/search/export?format=json&q=bulk")
        .await;
    assert_eq!(
        all.json.as_array().unwrap().len(),
        610,
        "{}",
        &all.text[..200]
    );
    let none = admin
        .get("/api/v1/k8s/search/export?q=nothing-matches")
        .await;
    assert_eq!(none.text, "[]");

    let r = admin.get("/api/v1/k8s/search/export?q=colour:red").await;
    assert_eq!((r.status, r.error_code()), (400, "bad_query".to_owned()));
    let r = admin.get("/api/v1/k8s/search/export?format=xml").await;
    assert_eq!(r.status, 400);
    assert_eq!(
        hub.anonymous()
            .get("/api/v1/k8s/search/export")
            .await
            .status,
        401
    );
}

/// A pod whose container crash-loops is found by `status:CrashLoopBackOff`, `label:` and
/// `image:`, and its page and its namespace's list say `CrashLoopBackOff` where the phase
/// says `Running`.
pub async fn pods_are_searched_and_shown_by_their_kubectl_status(hub: TestHub) {
    let alpha = seed(&hub, hub.default_org, "alpha").await;
    let crashing = fixtures::dressed_pod(
        fixtures::pod("web", "web-crash", "alpha-crash", PodPhase::Running),
        &[("app", "web")],
        "nginx:1.25",
        Some("CrashLoopBackOff"),
    );
    hub.db
        .store
        .ingest_changes(
            hub.default_org,
            alpha.cluster,
            Cursor { epoch: 1, seq: 3 },
            &fixtures::batch(vec![kubeworkz_shared::change::Change::Upsert(crashing)]),
        )
        .await
        .unwrap();
    let admin = hub.admin().await;
    for q in [
        "status:CrashLoopBackOff",
        "status:crashloopbackoff label:app=web",
        "image:nginx:1.25 kind:pod",
    ] {
        let r = admin
            .get(&format!("/api/v1/k8s/search?q={}", encode(q)))
            .await;
        assert_eq!(r.status, 200, "{q}: {}", r.text);
        let items = r.json["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{q}: {}", r.text);
        assert_eq!(items[0]["id"], "alpha-crash");
        assert_eq!(items[0]["status"], "CrashLoopBackOff");
        assert_eq!(items[0]["labels"]["app"], "web");
        assert_eq!(r.json["facets"]["status"][0]["value"], "CrashLoopBackOff");
        assert_eq!(r.json["total"], 1);
        assert_eq!(r.json["total_is_estimate"], false);
    }
    let r = admin.get("/api/v1/k8s/pods/alpha-crash").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["status"], "CrashLoopBackOff");
    assert_eq!(r.json["data"]["phase"], "Running");
    assert_eq!(r.json["data"]["labels"]["app"], "web");
    let container = &r.json["data"]["containers"][0];
    assert_eq!(container["image"], "nginx:1.25");
    assert_eq!(container["state"]["Waiting"]["reason"], "CrashLoopBackOff");
    assert_eq!(container["last_termination_reason"], "OOMKilled");
    let r = admin
        .get(&format!(
            "/api/v1/k8s/namespaces/{}/pods",
            alpha.namespace_uid
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let statuses: Vec<(&str, &str)> = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["name"].as_str().unwrap(), i["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("web-1", "Running"),
            ("web-2", "Running"),
            ("web-crash", "CrashLoopBackOff")
        ]
    );
    let r = admin
        .get(&format!("/api/v1/k8s/deployments/{}", alpha.deployment_uid))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.json["status"].is_null(),
        "only pods carry a status: {}",
        r.text
    );
}
