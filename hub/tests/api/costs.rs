//! The cost endpoints over a seeded cluster whose current hour the real cost run computed:
//! grouped and per-namespace reports agree with each other, CSV exports, bad parameters are
//! 400, and another organization gets nothing.

use kubeworkz_hub::cost::{ClusterPrices, run_hour};
use kubeworkz_hub::store::Role;
use kubeworkz_shared::model::LabelKeys;
use kubeworkz_shared::time::{MILLIS_PER_HOUR, UnixMillis};
use serde_json::Value;

use crate::client::{TestHub, seed};

fn nanos(line: &Value) -> u64 {
    line["total_nanos"]
        .as_u64()
        .unwrap_or_else(|| panic!("{line}"))
}

pub async fn costs_are_reported_grouped_per_namespace_and_as_csv(hub: TestHub) {
    let s = seed(&hub, hub.default_org, "alpha").await;
    let hour = UnixMillis(UnixMillis::now().0.div_euclid(MILLIS_PER_HOUR) * MILLIS_PER_HOUR);
    let rows = run_hour(
        &hub.db.store,
        hub.default_org,
        s.cluster,
        hour,
        &ClusterPrices::uniform(Default::default()),
        &LabelKeys::default(),
    )
    .await
    .unwrap();
    assert!(rows.iter().any(|r| r.namespace == "web"), "{rows:?}");
    let admin = hub.admin().await;
    let get = |path: String| {
        let admin = admin.clone();
        async move {
            let r = admin.get(&path).await;
            assert_eq!(r.status, 200, "{path}: {}", r.text);
            r
        }
    };

    let by_namespace = get("/api/v1/k8s/costs?window=24h&aggregate=namespace".into())
        .await
        .json;
    let lines = by_namespace["lines"].as_array().unwrap();
    assert_eq!(
        lines.len(),
        1,
        "idle is left out by default: {by_namespace}"
    );
    assert_eq!(lines[0]["key"], "web");
    let web = nanos(&lines[0]);
    assert!(web > 0, "{by_namespace}");
    assert_eq!(nanos(&by_namespace["total"]), web);
    assert!(lines[0]["cpu"]["requested"].as_f64().unwrap() > 0.0);

    let by_team = get("/api/v1/k8s/costs?window=24h&aggregate=team".into())
        .await
        .json;
    assert_eq!(by_team["lines"][0]["key"], "shop", "{by_team}");
    assert_eq!(nanos(&by_team["total"]), web);
    let with_idle = get("/api/v1/k8s/costs?aggregate=namespace&include_idle=true".into())
        .await
        .json;
    let keys: Vec<_> = with_idle["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["key"].as_str().unwrap().to_owned())
        .collect();
    assert!(keys.contains(&"__idle__".to_owned()), "{with_idle}");
    let filtered = get("/api/v1/k8s/costs?aggregate=namespace&filter=team:nobody".into())
        .await
        .json;
    assert_eq!(filtered["lines"], serde_json::json!([]), "{filtered}");

    let ns = &s.namespace_uid;
    let series = get(format!(
        "/api/v1/k8s/namespaces/{ns}/costs?window=2d&step=1h"
    ))
    .await
    .json;
    assert_eq!(series["namespace"], "web");
    assert_eq!(nanos(&series["total"]), web, "the two reports agree");
    let steps = series["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1, "one hour has cost: {series}");
    assert_eq!(steps[0]["start"].as_i64(), Some(hour.0), "{series}");

    let csv = get("/api/v1/k8s/costs?window=24h&format=csv".into()).await;
    assert!(
        csv.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv"),
        "{:?}",
        csv.headers
    );
    let mut csv_lines = csv.text.lines();
    assert!(csv_lines.next().unwrap().starts_with("key,start,end,"));
    assert!(
        csv_lines.next().unwrap().starts_with("web,"),
        "{}",
        csv.text
    );
    let csv = get(format!("/api/v1/k8s/namespaces/{ns}/costs?format=csv")).await;
    assert!(csv.text.starts_with("key,start,end,"), "{}", csv.text);
    assert_eq!(csv.text.lines().count(), 2, "{}", csv.text);

    for bad in [
        "/api/v1/k8s/costs?window=forever",
        "/api/v1/k8s/costs?window=365d",
        "/api/v1/k8s/costs?aggregate=colour",
        "/api/v1/k8s/costs?filter=nonsense",
        "/api/v1/k8s/costs?format=xml",
    ] {
        let r = admin.get(bad).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
        assert_eq!(r.error_code(), "bad_request", "{bad}: {}", r.text);
    }
    let r = admin
        .get(&format!("/api/v1/k8s/namespaces/{ns}/costs?step=30m"))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);

    // Another organization: A's namespace is not found, and its costs are not in B's report.
    let b = hub.user("bravo-org", "admin@b.example", Role::Admin).await;
    let r = b.get(&format!("/api/v1/k8s/namespaces/{ns}/costs")).await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = b.get("/api/v1/k8s/costs?include_idle=true").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["lines"], serde_json::json!([]), "{}", r.text);
    // Anonymous callers are refused.
    assert_eq!(hub.anonymous().get("/api/v1/k8s/costs").await.status, 401);
}
