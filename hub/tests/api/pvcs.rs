//! The PVC lists of a cluster and of a namespace over real HTTP: filters, every sort walked
//! by cursor, downloads, another organization's objects, and search's link to a claim.

use kubeworkz_hub::store::Cursor;
use kubeworkz_shared::change::{Object, ObjectKind};

use crate::client::{TestHub, seed};
use crate::fixtures;
use crate::lists::{csv_rows, walk};

const GIB: u64 = 1 << 30;

/// Claims in `web` (seeded) and `data` of cluster `prefix`: bound ones of gp3 and io2, one
/// pending claim of the default class.
fn claims(prefix: &str) -> Vec<Object> {
    let uid = |s: &str| format!("{prefix}-pvc-{s}");
    vec![
        fixtures::namespace("data", &format!("{prefix}-ns-data"), None),
        fixtures::pvc("web", "cache", &uid("cache"), Some("gp3"), Some(10 * GIB)),
        fixtures::pvc("web", "logs", &uid("logs"), None, None),
        fixtures::pvc("web", "db", &uid("db"), Some("io2"), Some(100 * GIB)),
        fixtures::pvc(
            "data",
            "archive",
            &uid("archive"),
            Some("gp3"),
            Some(500 * GIB),
        ),
        fixtures::pvc("data", "scratch", &uid("scratch"), Some("gp3"), Some(GIB)),
    ]
}

pub async fn pvcs_are_listed_filtered_sorted_and_downloaded(hub: TestHub) {
    let alpha = seed(&hub, hub.default_org, "alpha").await;
    let bravo = seed(&hub, hub.default_org, "bravo").await;
    let other = hub.db.store.ensure_organization("other").await.unwrap().id;
    let theirs = seed(&hub, other, "theirs").await;
    for (org, cluster, prefix) in [
        (hub.default_org, alpha.cluster, "alpha"),
        (hub.default_org, bravo.cluster, "bravo"),
        (other, theirs.cluster, "theirs"),
    ] {
        let kinds = [ObjectKind::Namespace, ObjectKind::PersistentVolumeClaim];
        let mut objects = claims(prefix);
        objects.push(fixtures::namespace(
            "web",
            &format!("{prefix}-ns"),
            Some("shop"),
        ));
        hub.db
            .store
            .ingest_changes(
                org,
                cluster,
                Cursor { epoch: 1, seq: 3 },
                &fixtures::batch(fixtures::snapshot(&kinds, &objects)),
            )
            .await
            .unwrap();
    }
    let admin = hub.admin().await;
    let c = alpha.cluster;
    let ns = &alpha.namespace_uid;
    let cluster_list = format!("/api/v1/k8s/clusters/{c}/pvcs");

    let r = admin.get(&cluster_list).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let rows: Vec<(&str, &str)> = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["namespace"].as_str().unwrap(),
                i["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("data", "archive"),
            ("data", "scratch"),
            ("web", "cache"),
            ("web", "db"),
            ("web", "logs")
        ],
        "this cluster's claims only, by namespace and name"
    );
    assert_eq!(r.json["items"][0]["data"]["capacity_bytes"], 500 * GIB);

    let names = |path: String| {
        let admin = admin.clone();
        async move { walk(&admin, &path, "name").await }
    };
    assert_eq!(
        names(format!("/api/v1/k8s/namespaces/{ns}/pvcs?limit=2")).await,
        [vec!["cache", "db"], vec!["logs"]]
    );
    assert_eq!(
        names(format!("{cluster_list}?limit=2&sort=-capacity")).await,
        [
            vec!["archive", "db"],
            vec!["cache", "scratch"],
            vec!["logs"]
        ],
        "largest first; a pending claim has no capacity"
    );
    assert_eq!(
        names(format!("{cluster_list}?limit=3&sort=capacity")).await,
        [vec!["logs", "scratch", "cache"], vec!["db", "archive"]]
    );
    assert_eq!(
        names(format!("{cluster_list}?limit=2&sort=storage_class")).await,
        [
            vec!["logs", "archive"],
            vec!["cache", "scratch"],
            vec!["db"]
        ],
        "the default class first, ties by name"
    );
    assert_eq!(
        names(format!("{cluster_list}?limit=4&sort=-phase")).await,
        [vec!["logs", "scratch", "db", "cache"], vec!["archive"]]
    );

    let filtered = admin.get(&format!("{cluster_list}?phase=Pending")).await;
    assert_eq!(filtered.json["total"], 1, "{}", filtered.text);
    assert_eq!(filtered.json["items"][0]["name"], "logs");
    let filtered = admin
        .get(&format!("{cluster_list}?storage_class=gp3&q=CA"))
        .await;
    assert_eq!(filtered.json["total"], 1, "{}", filtered.text);
    assert_eq!(filtered.json["items"][0]["name"], "cache");

    let r = admin.get(&format!("{cluster_list}?phase=Sideways")).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json["error"]["message"],
        "phase must be one of Pending, Bound, Lost, not \"Sideways\""
    );
    let r = admin.get(&format!("{cluster_list}?sort=ready")).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json["error"]["message"],
        "cannot sort this list by \"ready\": use one of name, age, phase, capacity, \
         storage_class (with - first for descending)"
    );
    let first = admin
        .get(&format!("{cluster_list}?limit=1&sort=capacity"))
        .await;
    let cursor = first.json["next_cursor"].as_str().unwrap();
    let r = admin
        .get(&format!(
            "{cluster_list}?limit=1&sort=phase&cursor={cursor}"
        ))
        .await;
    assert_eq!(r.status, 400, "a cursor of another order: {}", r.text);

    let last = admin
        .get(&format!("{cluster_list}?limit=2&sort=-capacity&last=true"))
        .await;
    let names_of = |r: &crate::client::Resp| -> Vec<String> {
        r.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names_of(&last), ["scratch", "logs"], "{}", last.text);
    assert_eq!(last.json["offset"], 3);

    let r = admin
        .get(&format!(
            "/api/v1/k8s/namespaces/{ns}/pvcs?format=csv&sort=-capacity&limit=1"
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.headers["content-disposition"],
        "attachment; filename=\"pvcs.csv\""
    );
    let gib = |n: u64| (n * GIB).to_string();
    assert_eq!(
        csv_rows(&r.text),
        [
            [
                "namespace",
                "name",
                "phase",
                "requested_bytes",
                "capacity_bytes",
                "storage_class",
                "volume"
            ]
            .map(String::from)
            .to_vec(),
            vec![
                "web".into(),
                "db".into(),
                "Bound".into(),
                gib(100),
                gib(100),
                "io2".into(),
                "pv-alpha-pvc-db".into()
            ],
            vec![
                "web".into(),
                "cache".into(),
                "Bound".into(),
                gib(10),
                gib(10),
                "gp3".into(),
                "pv-alpha-pvc-cache".into()
            ],
            vec![
                "web".into(),
                "logs".into(),
                "Pending".into(),
                gib(1),
                String::new(),
                String::new(),
                String::new()
            ],
        ],
        "every row of the namespace, sorted as asked"
    );
    let r = admin
        .get(&format!("{cluster_list}?format=json&phase=Bound"))
        .await;
    assert_eq!(r.json.as_array().map(Vec::len), Some(4), "{}", r.text);

    let r = admin
        .get(&format!("/api/v1/k8s/clusters/{}/pvcs", theirs.cluster))
        .await;
    assert_eq!(r.status, 404, "another organization's cluster");
    let r = admin
        .get(&format!(
            "/api/v1/k8s/namespaces/{}/pvcs",
            theirs.namespace_uid
        ))
        .await;
    assert_eq!(r.status, 404, "another organization's namespace");
    let r = admin
        .get(&format!(
            "/api/v1/k8s/clusters/{}/pvcs?format=csv",
            theirs.cluster
        ))
        .await;
    assert_eq!(
        r.status, 404,
        "no download of another organization's claims"
    );

    let r = admin
        .get("/api/v1/k8s/search?q=kind:pvc%20archive%20cluster:alpha")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json["items"][0]["link"],
        format!("/admin/kubernetes/clusters/{c}?pvcs.q=archive#pvcs"),
        "a claim links to its cluster's claims, filtered to it"
    );
}
