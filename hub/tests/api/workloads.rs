//! The workload answers over real HTTP: each kind's lists per cluster and namespace with
//! their filters, sorts and downloads, one workload, its pods through the owner chain, a
//! CronJob's Jobs, a pod's top owner, bad input, and another organization's workloads.

use kubeworkz_hub::store::Cursor;
use kubeworkz_shared::change::{Object, ObjectKind};
use kubeworkz_shared::model::pod::PodPhase;
use kubeworkz_shared::model::{JobState, OwnerKind};

use crate::client::{Caller, Resp, TestHub, seed};
use crate::fixtures;
use crate::lists::{csv_rows, walk};
use crate::support::workloads::*;

/// Workloads in namespace `web` (seeded) and `batch` of cluster `prefix`, and pods of each.
fn workloads(prefix: &str) -> Vec<Object> {
    let uid = |s: &str| format!("{prefix}-{s}");
    let pod = |ns: &str, name: &str, owner: Option<(OwnerKind, &str)>| {
        owned_by(
            fixtures::pod(ns, name, &uid(name), PodPhase::Running),
            owner,
        )
    };
    vec![
        fixtures::namespace("batch", &uid("ns-batch"), None),
        stateful_set("web", "db", &uid("db"), 3, 2),
        stateful_set("web", "cache", &uid("cache"), 1, 1),
        daemon_set("batch", "exporter", &uid("exporter"), 4, 3),
        cron_job("batch", "nightly", &uid("nightly"), "0 2 * * *", false),
        job(
            "batch",
            "nightly-1",
            &uid("nightly-1"),
            Some("nightly"),
            JobState::Complete,
        ),
        job(
            "batch",
            "nightly-2",
            &uid("nightly-2"),
            Some("nightly"),
            JobState::Failed,
        ),
        job(
            "batch",
            "backfill",
            &uid("backfill"),
            None,
            JobState::Running,
        ),
        replica_set("web", "web-legacy", &uid("rs"), Some("web")),
        pod("web", "db-0", Some((OwnerKind::StatefulSet, "db"))),
        pod("web", "db-1", Some((OwnerKind::StatefulSet, "db"))),
        pod(
            "web",
            "web-legacy-x",
            Some((OwnerKind::ReplicaSet, "web-legacy")),
        ),
        pod(
            "batch",
            "exporter-a",
            Some((OwnerKind::DaemonSet, "exporter")),
        ),
        pod("batch", "nightly-1-a", Some((OwnerKind::Job, "nightly-1"))),
        pod("batch", "nightly-2-a", Some((OwnerKind::Job, "nightly-2"))),
        pod("batch", "backfill-a", Some((OwnerKind::Job, "backfill"))),
        pod("batch", "loner", None),
    ]
}

fn names(r: &Resp) -> Vec<String> {
    r.json["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", r.text))
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn ok(admin: &Caller, path: &str) -> Resp {
    let r = admin.get(path).await;
    assert_eq!(r.status, 200, "{path}: {}", r.text);
    r
}

pub async fn workloads_are_listed_shown_and_linked_to_their_pods(hub: TestHub) {
    let alpha = seed(&hub, hub.default_org, "alpha").await;
    let other = hub.db.store.ensure_organization("other").await.unwrap().id;
    let theirs = seed(&hub, other, "theirs").await;
    let mut kinds = vec![ObjectKind::Namespace, ObjectKind::Pod];
    kinds.extend(ObjectKind::WORKLOADS);
    for (org, seeded, prefix) in [
        (hub.default_org, &alpha, "alpha"),
        (other, &theirs, "theirs"),
    ] {
        let mut objects = workloads(prefix);
        // The seeded namespace and pods stay: a snapshot of their kinds lists them again.
        objects.push(fixtures::namespace(
            "web",
            &format!("{prefix}-ns"),
            Some("shop"),
        ));
        for n in 1..=2 {
            objects.push(fixtures::pod(
                "web",
                &format!("web-{n}"),
                &format!("{prefix}-pod-{n}"),
                PodPhase::Running,
            ));
        }
        hub.db
            .store
            .ingest_changes(
                org,
                seeded.cluster,
                Cursor { epoch: 1, seq: 3 },
                &fixtures::batch(fixtures::snapshot(&kinds, &objects)),
            )
            .await
            .unwrap();
    }
    let admin = hub.admin().await;
    let c = alpha.cluster;
    let web = &alpha.namespace_uid;

    // Lists: per cluster (every namespace) and per namespace, sorted and filtered.
    let r = ok(
        &admin,
        &format!("/api/v1/k8s/clusters/{c}/workloads/statefulsets"),
    )
    .await;
    assert_eq!(names(&r), ["cache", "db"]);
    assert_eq!(r.json["items"][1]["data"]["replicas"]["ready"], 2);
    assert_eq!(r.json["items"][1]["data"]["service_name"], "db-headless");
    let pages = walk(
        &admin,
        &format!("/api/v1/k8s/namespaces/{web}/workloads/statefulsets?limit=1&sort=-ready"),
        "name",
    )
    .await;
    assert_eq!(pages, [vec!["db"], vec!["cache"]]);
    let r = ok(
        &admin,
        &format!("/api/v1/k8s/namespaces/{web}/workloads/deployments"),
    )
    .await;
    assert_eq!(names(&r), ["web"]);
    let r = ok(
        &admin,
        &format!("/api/v1/k8s/clusters/{c}/workloads/daemonsets"),
    )
    .await;
    assert_eq!(r.json["items"][0]["data"]["counts"]["desired"], 4);
    let jobs = format!("/api/v1/k8s/clusters/{c}/workloads/jobs");
    let r = ok(&admin, &jobs).await;
    assert_eq!(names(&r), ["backfill", "nightly-1", "nightly-2"]);
    assert_eq!(r.json["items"][2]["status"], "Failed");
    let r = ok(&admin, &format!("{jobs}?status=Failed")).await;
    assert_eq!(names(&r), ["nightly-2"]);
    let r = ok(&admin, &format!("{jobs}?cronjob=nightly&sort=-status")).await;
    assert_eq!(names(&r), ["nightly-2", "nightly-1"]);

    // One workload, its pods through the chain, a CronJob's Jobs.
    let r = ok(&admin, "/api/v1/k8s/workloads/cronjobs/alpha-nightly").await;
    assert_eq!(r.json["name"], "nightly");
    assert_eq!(r.json["data"]["schedule"], "0 2 * * *");
    let pods = |kind: &str, uid: &str| {
        let admin = admin.clone();
        let path = format!("/api/v1/k8s/workloads/{kind}/{uid}/pods");
        async move { names(&ok(&admin, &path).await) }
    };
    assert_eq!(pods("statefulsets", "alpha-db").await, ["db-0", "db-1"]);
    assert_eq!(
        pods("deployments", "alpha-deploy").await,
        ["web-1", "web-2", "web-legacy-x"],
        "a Deployment's pods, through a ReplicaSet named otherwise too"
    );
    assert_eq!(pods("daemonsets", "alpha-exporter").await, ["exporter-a"]);
    assert_eq!(
        pods("cronjobs", "alpha-nightly").await,
        ["nightly-1-a", "nightly-2-a"]
    );
    assert_eq!(pods("jobs", "alpha-backfill").await, ["backfill-a"]);
    let r = ok(&admin, "/api/v1/k8s/workloads/cronjobs/alpha-nightly/jobs").await;
    assert_eq!(names(&r), ["nightly-1", "nightly-2"]);

    // A pod says its top owner, with the id of its page when the hub holds it.
    let owner = |uid: &str| {
        let admin = admin.clone();
        let path = format!("/api/v1/k8s/pods/{uid}");
        async move { ok(&admin, &path).await.json["top_owner"].clone() }
    };
    assert_eq!(
        owner("alpha-nightly-2-a").await,
        serde_json::json!({"kind": "CronJob", "name": "nightly", "id": "alpha-nightly"})
    );
    assert_eq!(
        owner("alpha-web-legacy-x").await,
        serde_json::json!({"kind": "Deployment", "name": "web", "id": "alpha-deploy"})
    );
    assert_eq!(
        owner("alpha-db-0").await,
        serde_json::json!({"kind": "StatefulSet", "name": "db", "id": "alpha-db"})
    );
    assert_eq!(owner("alpha-loner").await, serde_json::Value::Null);
    let pod = ok(&admin, "/api/v1/k8s/pods/alpha-pod-1").await;
    assert_eq!(
        pod.json["name"], "web-1",
        "the pod's own fields stay: {}",
        pod.text
    );
    assert_eq!(pod.json["top_owner"]["kind"], "Deployment");

    // Downloads have the kind's columns.
    let r = ok(&admin, &format!("{jobs}?format=csv&cronjob=nightly")).await;
    assert_eq!(
        csv_rows(&r.text),
        [
            "namespace,name,status,succeeded,failed,active,completions,cronjob",
            "batch,nightly-1,Complete,1,0,0,1,nightly",
            "batch,nightly-2,Failed,0,6,0,1,nightly",
        ]
        .map(|line| line.split(',').map(str::to_owned).collect::<Vec<_>>())
    );

    // Bad input is refused in words; an unknown kind or id names nothing.
    let r = admin.get(&format!("{jobs}?status=Stuck")).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json["error"]["message"],
        "status must be one of Running, Complete, Failed, Suspended, not \"Stuck\""
    );
    let r = admin
        .get(&format!(
            "/api/v1/k8s/clusters/{c}/workloads/statefulsets?cronjob=x"
        ))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json["error"]["message"],
        "status and cronjob filter only the jobs list"
    );
    let r = admin
        .get(&format!(
            "/api/v1/k8s/clusters/{c}/workloads/cronjobs?sort=ready"
        ))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    for path in [
        format!("/api/v1/k8s/clusters/{c}/workloads/replicasets"),
        "/api/v1/k8s/workloads/pods/alpha-db".to_owned(),
        "/api/v1/k8s/workloads/statefulsets/alpha-db/jobs".to_owned(),
        "/api/v1/k8s/workloads/statefulsets/alpha-nightly".to_owned(),
    ] {
        assert_eq!(admin.get(&path).await.status, 404, "{path}");
    }

    // Another organization's workloads are not found, nor listed.
    for path in [
        format!("/api/v1/k8s/clusters/{}/workloads/jobs", theirs.cluster),
        format!(
            "/api/v1/k8s/namespaces/{}/workloads/statefulsets",
            theirs.namespace_uid
        ),
        "/api/v1/k8s/workloads/statefulsets/theirs-db".to_owned(),
        "/api/v1/k8s/workloads/statefulsets/theirs-db/pods".to_owned(),
        "/api/v1/k8s/workloads/cronjobs/theirs-nightly/jobs".to_owned(),
    ] {
        assert_eq!(admin.get(&path).await.status, 404, "{path}");
    }
}
