//! A namespace's quotas, limit ranges and health over real HTTP: used against hard as people
//! read it with how full each resource is, the limit table, failing pods and exhausted quotas
//! as reasons that follow the inventory, 404 for an unknown namespace or another
//! organization's, and 401 without a session.

use kubeworkz_hub::store::Cursor;
use kubeworkz_shared::change::{Change, Object};
use kubeworkz_shared::model::pod::PodPhase;

use crate::client::{Caller, Resp, TestHub, seed};
use crate::fixtures;
use crate::support::quotas::*;

const CPU: u64 = 1000;
const GI: u64 = (1 << 30) * 1000;

async fn ok(caller: &Caller, path: &str) -> Resp {
    let r = caller.get(path).await;
    assert_eq!(r.status, 200, "{path}: {}", r.text);
    r
}

/// The quotas of namespace `web`: CPU requests used up, memory at 95 %, pods at half,
/// services not counted yet; and a limit range.
fn bounds(prefix: &str) -> Vec<Object> {
    vec![
        quota(
            "web",
            "compute-resources",
            &format!("{prefix}-q1"),
            &[
                ("pods", 10 * CPU, Some(5 * CPU)),
                ("requests.cpu", 4 * CPU, Some(4 * CPU)),
                ("requests.memory", 20 * GI, Some(19 * GI)),
                ("services", 5 * CPU, None),
            ],
        ),
        quota(
            "other",
            "elsewhere",
            &format!("{prefix}-q2"),
            &[("pods", CPU, Some(CPU))],
        ),
        limit_range("web", "defaults", &format!("{prefix}-l1"), 2 * CPU),
    ]
}

pub async fn a_namespaces_quotas_limits_and_health_are_shown(hub: TestHub) {
    let alpha = seed(&hub, hub.default_org, "alpha").await;
    let other = hub.db.store.ensure_organization("other").await.unwrap().id;
    let theirs = seed(&hub, other, "theirs").await;
    let store = &hub.db.store;
    for (org, seeded, prefix) in [
        (hub.default_org, &alpha, "alpha"),
        (other, &theirs, "theirs"),
    ] {
        let mut changes: Vec<Change> = bounds(prefix).into_iter().map(Change::Upsert).collect();
        changes.push(Change::Upsert(waiting_pod(
            "web",
            "web-crash",
            &format!("{prefix}-crash"),
            "CrashLoopBackOff",
            false,
        )));
        store
            .ingest_changes(
                org,
                seeded.cluster,
                Cursor { epoch: 1, seq: 3 },
                &fixtures::batch(changes),
            )
            .await
            .unwrap();
    }
    let admin = hub.admin().await;
    let web = &alpha.namespace_uid;

    let r = ok(&admin, &format!("/api/v1/k8s/namespaces/{web}/quotas")).await;
    let quotas = r.json["quotas"].as_array().unwrap();
    assert_eq!(quotas.len(), 1, "only this namespace's: {}", r.text);
    assert_eq!(quotas[0]["name"], "compute-resources");
    assert_eq!(quotas[0]["id"], "alpha-q1");
    let resources = &quotas[0]["resources"];
    let row = |i: usize| {
        let r = &resources[i];
        (
            r["resource"].as_str().unwrap().to_owned(),
            r["used"].as_str().map(str::to_owned),
            r["hard"].as_str().unwrap().to_owned(),
            r["percent_used"].as_u64(),
            r["level"].as_str().unwrap().to_owned(),
        )
    };
    let s = |v: &str| v.to_owned();
    assert_eq!(
        row(0),
        (s("pods"), Some(s("5")), s("10"), Some(50), s("ok"))
    );
    assert_eq!(
        row(1),
        (
            s("requests.cpu"),
            Some(s("4")),
            s("4"),
            Some(100),
            s("exhausted")
        )
    );
    assert_eq!(
        row(2),
        (
            s("requests.memory"),
            Some(s("19Gi")),
            s("20Gi"),
            Some(95),
            s("near")
        )
    );
    assert_eq!(row(3), (s("services"), None, s("5"), None, s("unknown")));
    let limits = &r.json["limit_ranges"][0];
    assert_eq!(limits["name"], "defaults");
    assert_eq!(limits["limits"][0]["type"], "Container");
    assert_eq!(limits["limits"][0]["default"], "500m");
    assert_eq!(limits["limits"][0]["default_request"], "250m");
    assert_eq!(limits["limits"][0]["max"], "2");
    assert_eq!(limits["limits"][0]["min"], serde_json::Value::Null);
    assert_eq!(limits["limits"][0]["max_limit_request_ratio"], "4");
    assert_eq!(limits["limits"][1]["max"], "50Gi");

    let r = ok(&admin, &format!("/api/v1/k8s/namespaces/{web}/health")).await;
    assert_eq!(r.json["status"], "degraded", "{}", r.text);
    let reasons = r.json["reasons"].as_array().unwrap();
    assert_eq!(reasons.len(), 2, "{}", r.text);
    assert_eq!(reasons[0]["code"], "pods_failing");
    assert_eq!(
        reasons[0]["message"],
        "pods failing: 1 in CrashLoopBackOff (web/web-crash)"
    );
    assert_eq!(reasons[1]["code"], "quotas_exhausted");
    assert_eq!(reasons[1]["severity"], "degraded");
    assert_eq!(
        reasons[1]["message"],
        "quota compute-resources in web: requests.cpu 4/4 used"
    );

    // The pod recovers and the quota is raised: the namespace is healthy again.
    let mut raised = bounds("alpha").remove(0);
    if let Object::ResourceQuota(q) = &mut raised {
        q.resources[1].hard_milli = 8 * CPU;
    }
    store
        .ingest_changes(
            hub.default_org,
            alpha.cluster,
            Cursor { epoch: 1, seq: 4 },
            &fixtures::batch(vec![
                Change::Upsert(raised),
                Change::Upsert(fixtures::pod(
                    "web",
                    "web-crash",
                    "alpha-crash",
                    PodPhase::Running,
                )),
            ]),
        )
        .await
        .unwrap();
    let r = ok(&admin, &format!("/api/v1/k8s/namespaces/{web}/health")).await;
    assert_eq!(r.json["status"], "healthy", "{}", r.text);
    assert_eq!(r.json["reasons"], serde_json::json!([]));
    let r = ok(&admin, &format!("/api/v1/k8s/namespaces/{web}/quotas")).await;
    assert_eq!(r.json["quotas"][0]["resources"][1]["hard"], "8");
    assert_eq!(r.json["quotas"][0]["resources"][1]["level"], "ok");

    // Another organization's namespace, an unknown one, and no session.
    let theirs_ns = &theirs.namespace_uid;
    for tail in ["quotas", "health"] {
        for id in [theirs_ns.as_str(), "no-such-namespace"] {
            let r = admin
                .get(&format!("/api/v1/k8s/namespaces/{id}/{tail}"))
                .await;
            assert_eq!(r.status, 404, "{id}/{tail}: {}", r.text);
        }
        let r = hub
            .anonymous()
            .get(&format!("/api/v1/k8s/namespaces/{web}/{tail}"))
            .await;
        assert_eq!(r.status, 401);
    }
}
