//! ResourceQuotas and LimitRanges against a real control plane (the apiserver's quota
//! admission and kube-controller-manager's quota controller, which fills `status.used`):
//! each kind is collected on create, change and delete, a used-up quota is a health reason
//! until it is raised, and a restart relists so that a quota deleted while the collector was
//! away goes downstream; a switched-off kind is never watched.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use k8s_openapi::api::core::v1::{LimitRange, Pod, ResourceQuota};
use kube::api::{Api, DeleteParams, PostParams};
use kubeworkz_shared::change::{Object, ObjectKind};
use kubeworkz_shared::collect::CollectorConfig;
use kubeworkz_shared::inventory::Inventory;
use kubeworkz_shared::model::health::HealthReason;
use kubeworkz_shared::model::{LimitRangeProjection, ResourceQuotaProjection};
use kubeworkz_testkit::cluster::{ClusterSpec, NodeSpec, TestCluster};
use serde_json::json;
use support::{Downstream, merge, object, test_config};

mod support;

const NS: &str = "payments";

fn quota(name: &str, pods: &str, cpu: &str) -> ResourceQuota {
    object(json!({
        "metadata": {"name": name},
        "spec": {"hard": {"pods": pods, "requests.cpu": cpu}},
    }))
}

fn limit_range(name: &str, max_cpu: &str) -> LimitRange {
    object(json!({
        "metadata": {"name": name},
        "spec": {"limits": [{"type": "Container", "max": {"cpu": max_cpu},
            "default": {"cpu": "500m"}, "defaultRequest": {"cpu": "500m"}}]},
    }))
}

fn pod(name: &str) -> Pod {
    object(json!({
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "app", "image": "api:1",
            "resources": {"requests": {"cpu": "500m"}}}]},
    }))
}

fn quota_in(inv: &Inventory, name: &str) -> Option<ResourceQuotaProjection> {
    match inv.get(ObjectKind::ResourceQuota, NS, name) {
        Some(Object::ResourceQuota(q)) => Some(q.clone()),
        _ => None,
    }
}

fn range_in(inv: &Inventory, name: &str) -> Option<LimitRangeProjection> {
    match inv.get(ObjectKind::LimitRange, NS, name) {
        Some(Object::LimitRange(r)) => Some(r.clone()),
        _ => None,
    }
}

/// `(hard, used)` of `resource` in `quota`, in thousandths.
fn amounts(quota: &ResourceQuotaProjection, resource: &str) -> Option<(u64, Option<u64>)> {
    quota
        .resources
        .iter()
        .find(|r| r.resource == resource)
        .map(|r| (r.hard_milli, r.used_milli))
}

fn exhausted(reasons: &[HealthReason]) -> Option<String> {
    reasons.iter().find_map(|r| match r {
        HealthReason::QuotasExhausted(_) => Some(r.to_string()),
        _ => None,
    })
}

#[tokio::test]
async fn quotas_and_limit_ranges_are_collected_on_create_change_and_delete() -> Result<()> {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let cluster =
        TestCluster::start(ClusterSpec::new("quotas", vec![NodeSpec::new("node-a")])).await?;
    let client = cluster.client();
    cluster.create_namespace(NS).await?;
    let down = Downstream::start(client.clone(), Arc::default());
    let post = PostParams::default();

    // A quota: collected with its hard amounts, then the quota controller counts its use.
    let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), NS);
    quotas.create(&post, &quota("compute", "2", "1")).await?;
    down.until("compute counted at zero", |inv| {
        quota_in(inv, "compute").is_some_and(|q| {
            amounts(&q, "pods") == Some((2000, Some(0)))
                && amounts(&q, "requests.cpu") == Some((1000, Some(0)))
        })
    })
    .await?;

    // Two pods of 500m use it up: the controller counts them and health says so.
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    for name in ["api-0", "api-1"] {
        pods.create(&post, &pod(name)).await?;
    }
    down.until("compute used up", |inv| {
        quota_in(inv, "compute").is_some_and(|q| {
            amounts(&q, "pods") == Some((2000, Some(2000)))
                && amounts(&q, "requests.cpu") == Some((1000, Some(1000)))
        })
    })
    .await?;
    down.until_health("the exhausted quota named", |h| {
        exhausted(&h.reasons).as_deref()
            == Some("quota compute in payments: pods 2/2, requests.cpu 1/1 used")
    })
    .await?;

    // Raised: the change is collected and the reason goes.
    merge(
        &quotas,
        "compute",
        json!({"spec": {"hard": {"pods": "10", "requests.cpu": "4"}}}),
    )
    .await?;
    down.until("compute raised", |inv| {
        quota_in(inv, "compute")
            .is_some_and(|q| amounts(&q, "requests.cpu") == Some((4000, Some(1000))))
    })
    .await?;
    down.until_health("no exhausted quota", |h| exhausted(&h.reasons).is_none())
        .await?;

    // A limit range: created, changed, deleted.
    let ranges: Api<LimitRange> = Api::namespaced(client.clone(), NS);
    ranges.create(&post, &limit_range("defaults", "2")).await?;
    down.until("defaults with its container cpu row", |inv| {
        range_in(inv, "defaults").is_some_and(|r| {
            r.limits.len() == 1
                && r.limits[0].type_ == "Container"
                && r.limits[0].max_milli == Some(2000)
                && r.limits[0].default_request_milli == Some(500)
        })
    })
    .await?;
    merge(
        &ranges,
        "defaults",
        json!({"spec": {"limits": [{"type": "Container", "max": {"cpu": "3"}}]}}),
    )
    .await?;
    down.until("defaults raised", |inv| {
        range_in(inv, "defaults").is_some_and(|r| r.limits[0].max_milli == Some(3000))
    })
    .await?;
    ranges.delete("defaults", &DeleteParams::default()).await?;
    quotas.delete("compute", &DeleteParams::default()).await?;
    down.until("both deleted", |inv| {
        range_in(inv, "defaults").is_none() && quota_in(inv, "compute").is_none()
    })
    .await?;
    down.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_restart_relists_quotas_and_a_switched_off_kind_is_never_asked() -> Result<()> {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let cluster = TestCluster::start(ClusterSpec::new(
        "quota-relist",
        vec![NodeSpec::new("node-a")],
    ))
    .await?;
    let client = cluster.client();
    cluster.create_namespace(NS).await?;
    let post = PostParams::default();
    let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), NS);
    quotas.create(&post, &quota("doomed", "5", "1")).await?;
    let ranges: Api<LimitRange> = Api::namespaced(client.clone(), NS);
    ranges.create(&post, &limit_range("defaults", "2")).await?;

    let downstream = Arc::new(Mutex::new(Inventory::new()));
    let first = Downstream::start(client.clone(), downstream.clone());
    first
        .until("doomed and defaults", |inv| {
            quota_in(inv, "doomed").is_some() && range_in(inv, "defaults").is_some()
        })
        .await?;
    first.stop().await;

    // While no collector runs: the quota goes, another comes.
    quotas.delete("doomed", &DeleteParams::default()).await?;
    quotas.create(&post, &quota("newcomer", "3", "2")).await?;

    // Restarted without LimitRanges: the relist applies the deletion and the newcomer; limit
    // ranges are neither listed (their last state stays downstream) nor snapshotted.
    let config = CollectorConfig {
        quotas: vec![ObjectKind::ResourceQuota],
        ..test_config()
    };
    assert!(!config.kinds().contains(&ObjectKind::LimitRange));
    let second = Downstream::start_with(client.clone(), downstream.clone(), config);
    second
        .until("the relist removed doomed and added newcomer", |inv| {
            quota_in(inv, "doomed").is_none() && quota_in(inv, "newcomer").is_some()
        })
        .await?;
    ranges.delete("defaults", &DeleteParams::default()).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        range_in(&second.inventory.lock().unwrap(), "defaults").is_some(),
        "a switched-off kind is not watched"
    );
    second.stop().await;
    Ok(())
}
