//! The workload kinds against a real control plane (real StatefulSet, DaemonSet, Deployment,
//! Job and garbage-collector controllers; KWOK plays the kubelets and completes Job pods):
//! each kind is collected on create, change and delete, pods name their controller, and a
//! restart relists so that a workload deleted while the collector was away goes downstream.

use std::sync::{Arc, Mutex};

use anyhow::Result;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::api::{Api, DeleteParams, PostParams};
use kubeworkz_shared::change::{Object, ObjectKind};
use kubeworkz_shared::collect::CollectorConfig;
use kubeworkz_shared::inventory::Inventory;
use kubeworkz_shared::model::{
    JobState, OwnerKind, PodOwner, PodProjection, StatefulSetUpdateStrategy,
};
use kubeworkz_testkit::cluster::{ClusterSpec, NodeSpec, TestCluster};
use serde_json::{Value, json};
use support::{Downstream, merge, object, test_config};

mod support;

const NS: &str = "apps";

/// A pod template running `image`, labelled `app: name`.
fn template(name: &str, image: &str, restart: &str) -> Value {
    json!({
        "metadata": {"labels": {"app": name}},
        "spec": {"restartPolicy": restart, "containers": [{"name": "app", "image": image}]},
    })
}

fn stateful_set(name: &str, replicas: i32) -> StatefulSet {
    object(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas, "serviceName": format!("{name}-headless"),
            "selector": {"matchLabels": {"app": name}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
            "template": template(name, "postgres:16", "Always"),
        },
    }))
}

fn daemon_set(name: &str) -> DaemonSet {
    object(json!({
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": template(name, "prom/node-exporter:v1.8.0", "Always"),
        },
    }))
}

fn deployment(name: &str) -> Deployment {
    object(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": template(name, "nginx:1.27", "Always"),
        },
    }))
}

/// A CronJob that runs only when told (suspended, yearly), so the test decides when.
fn cron_job(name: &str) -> CronJob {
    object(json!({
        "metadata": {"name": name},
        "spec": {
            "schedule": "0 0 1 1 *", "suspend": true, "concurrencyPolicy": "Forbid",
            "jobTemplate": {"spec": {"template": template(name, "report:2", "Never")}},
        },
    }))
}

/// A Job started from the CronJob by hand, as `kubectl create job --from=cronjob/…` does:
/// the CronJob is its controller.
fn job_of(cron: &CronJob, name: &str) -> Job {
    let meta = &cron.metadata;
    object(json!({
        "metadata": {"name": name, "ownerReferences": [{
            "apiVersion": "batch/v1", "kind": "CronJob", "name": meta.name, "uid": meta.uid,
            "controller": true, "blockOwnerDeletion": true,
        }]},
        "spec": {"completions": 2, "parallelism": 1,
                 "template": template("report", "report:2", "Never")},
    }))
}

/// The projection of `kind` named `name` in [`NS`], if the downstream holds it.
fn find(inv: &Inventory, kind: ObjectKind, name: &str) -> Option<Object> {
    inv.objects()
        .find(|o| {
            let key = o.key();
            key.kind == kind && key.namespace == NS && key.name == name
        })
        .cloned()
}

/// The pods in [`NS`] whose controller is `owner`, not being deleted.
fn pods_of(inv: &Inventory, kind: OwnerKind, name: &str) -> Vec<PodProjection> {
    let owner = Some(PodOwner {
        kind,
        name: name.to_owned(),
    });
    inv.objects()
        .filter_map(|o| match o {
            Object::Pod(p) if p.namespace == NS && p.owner == owner && p.deleted.is_none() => {
                Some(p.clone())
            }
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn workloads_are_collected_on_create_change_and_delete() -> Result<()> {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let cluster = TestCluster::start(ClusterSpec::new(
        "workloads",
        vec![NodeSpec::new("node-a"), NodeSpec::new("node-b")],
    ))
    .await?;
    let client = cluster.client();
    cluster.create_namespace(NS).await?;
    let down = Downstream::start(client.clone(), Arc::default());
    let post = PostParams::default();

    // StatefulSet: created, its pods name it, scaled.
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), NS);
    sets.create(&post, &stateful_set("db", 2)).await?;
    down.until("db with 2 ready pods it controls", |inv| {
        matches!(find(inv, ObjectKind::StatefulSet, "db"), Some(Object::StatefulSet(s))
            if s.replicas.ready == 2
                && s.service_name.as_deref() == Some("db-headless")
                && s.images == ["postgres:16"]
                && s.update_strategy == StatefulSetUpdateStrategy::RollingUpdate {
                    partition: Some(0), max_unavailable: None })
            && pods_of(inv, OwnerKind::StatefulSet, "db").len() == 2
    })
    .await?;
    merge(&sets, "db", json!({"spec": {"replicas": 3}})).await?;
    down.until("db scaled to 3", |inv| {
        matches!(find(inv, ObjectKind::StatefulSet, "db"), Some(Object::StatefulSet(s))
            if s.replicas.desired == 3 && s.replicas.ready == 3)
            && pods_of(inv, OwnerKind::StatefulSet, "db").len() == 3
    })
    .await?;

    // DaemonSet: one pod per node, then a change of its update strategy.
    let daemons: Api<DaemonSet> = Api::namespaced(client.clone(), NS);
    daemons.create(&post, &daemon_set("exporter")).await?;
    down.until("exporter on both nodes", |inv| {
        matches!(find(inv, ObjectKind::DaemonSet, "exporter"), Some(Object::DaemonSet(d))
            if d.counts.desired == 2 && d.counts.ready == 2 && d.counts.misscheduled == 0)
            && pods_of(inv, OwnerKind::DaemonSet, "exporter").len() == 2
    })
    .await?;
    merge(
        &daemons,
        "exporter",
        json!({"spec": {"updateStrategy": {"type": "OnDelete", "rollingUpdate": null}}}),
    )
    .await?;
    down.until("exporter updated OnDelete", |inv| {
        matches!(find(inv, ObjectKind::DaemonSet, "exporter"), Some(Object::DaemonSet(d))
            if d.update_strategy == "OnDelete")
    })
    .await?;

    // ReplicaSet: the Deployment's, with the Deployment as its controller.
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), NS);
    deploys.create(&post, &deployment("web")).await?;
    down.until("web's ReplicaSet owned by web", |inv| {
        inv.objects().any(|o| {
            matches!(o, Object::ReplicaSet(r) if r.namespace == NS
                && r.name.starts_with("web-")
                && r.owner == Some(PodOwner { kind: OwnerKind::Deployment, name: "web".into() }))
        })
    })
    .await?;

    // CronJob and a Job it controls: the Job runs both completions to the end.
    let crons: Api<CronJob> = Api::namespaced(client.clone(), NS);
    let cron = crons.create(&post, &cron_job("report")).await?;
    down.until("report suspended", |inv| {
        matches!(find(inv, ObjectKind::CronJob, "report"), Some(Object::CronJob(c))
            if c.suspend && c.schedule == "0 0 1 1 *" && c.concurrency_policy == "Forbid")
    })
    .await?;
    let jobs: Api<Job> = Api::namespaced(client.clone(), NS);
    jobs.create(&post, &job_of(&cron, "report-manual")).await?;
    down.until("report-manual complete, owned by report", |inv| {
        matches!(find(inv, ObjectKind::Job, "report-manual"), Some(Object::Job(j))
            if j.state == JobState::Complete
                && j.succeeded == 2
                && j.completions == Some(2)
                && j.completion_time.is_some()
                && j.owner == Some(PodOwner { kind: OwnerKind::CronJob, name: "report".into() }))
            && !pods_of(inv, OwnerKind::Job, "report-manual").is_empty()
    })
    .await?;
    merge(&crons, "report", json!({"spec": {"suspend": false}})).await?;
    down.until("report resumed", |inv| {
        matches!(find(inv, ObjectKind::CronJob, "report"), Some(Object::CronJob(c)) if !c.suspend)
    })
    .await?;

    // Delete: each goes, the CronJob's Job with it (garbage collector).
    sets.delete("db", &DeleteParams::background()).await?;
    crons.delete("report", &DeleteParams::background()).await?;
    deploys.delete("web", &DeleteParams::background()).await?;
    down.until("db, report, its job and web's ReplicaSet deleted", |inv| {
        find(inv, ObjectKind::StatefulSet, "db").is_none()
            && find(inv, ObjectKind::CronJob, "report").is_none()
            && find(inv, ObjectKind::Job, "report-manual").is_none()
            && inv.count(ObjectKind::ReplicaSet) == 0
            && find(inv, ObjectKind::DaemonSet, "exporter").is_some()
    })
    .await?;
    down.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_restart_relists_workloads_and_switched_off_kinds_are_never_asked() -> Result<()> {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let cluster =
        TestCluster::start(ClusterSpec::new("wl-relist", vec![NodeSpec::new("node-a")])).await?;
    let client = cluster.client();
    cluster.create_namespace(NS).await?;
    let post = PostParams::default();
    let daemons: Api<DaemonSet> = Api::namespaced(client.clone(), NS);
    daemons.create(&post, &daemon_set("doomed")).await?;
    let crons: Api<CronJob> = Api::namespaced(client.clone(), NS);
    crons.create(&post, &cron_job("nightly")).await?;

    let downstream = Arc::new(Mutex::new(Inventory::new()));
    let first = Downstream::start(client.clone(), downstream.clone());
    first
        .until("doomed and nightly", |inv| {
            find(inv, ObjectKind::DaemonSet, "doomed").is_some()
                && find(inv, ObjectKind::CronJob, "nightly").is_some()
        })
        .await?;
    first.stop().await;

    // While no collector runs: the DaemonSet goes, a StatefulSet comes.
    daemons
        .delete("doomed", &DeleteParams::foreground())
        .await?;
    let gone = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while daemons.get_opt("doomed").await?.is_some() {
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        anyhow::Ok(())
    });
    gone.await??;
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), NS);
    sets.create(&post, &stateful_set("newcomer", 1)).await?;

    // Restarted without CronJobs: the relist applies the deletion and the newcomer; CronJobs
    // are neither listed (their last state stays downstream) nor snapshotted.
    let config = CollectorConfig {
        workloads: ObjectKind::WORKLOADS
            .into_iter()
            .filter(|k| *k != ObjectKind::CronJob)
            .collect(),
        ..test_config()
    };
    assert!(!config.kinds().contains(&ObjectKind::CronJob));
    let second = Downstream::start_with(client.clone(), downstream.clone(), config);
    second
        .until("the relist removed doomed and added newcomer", |inv| {
            find(inv, ObjectKind::DaemonSet, "doomed").is_none()
                && find(inv, ObjectKind::StatefulSet, "newcomer").is_some()
        })
        .await?;
    crons.delete("nightly", &DeleteParams::background()).await?;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(
        find(
            &second.inventory.lock().unwrap(),
            ObjectKind::CronJob,
            "nightly"
        )
        .is_some(),
        "a switched-off kind is not watched"
    );
    second.stop().await;
    Ok(())
}
