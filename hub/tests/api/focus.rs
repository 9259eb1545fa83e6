//! The FOCUS 1.2 export and the Prometheus cost series over real HTTP, on clusters filled by
//! the real ingest path whose hours the real cost run computed: the export of 24 hours is checked
//! column by column against the spec's rules (names, types and formats, nullability, allowed
//! values, units, UTC `Z` timestamps) and adds up to the cost report's total; `/metrics`
//! shows the last complete hour per cluster and namespace as the cost report does.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use kubeworkz_hub::cost::{ClusterPrices, CostWorker, CostWorkerConfig, run_hour};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::model::LabelKeys;
use kubeworkz_shared::time::{MILLIS_PER_HOUR, UnixMillis};

use crate::client::{TestHub, seed};

/// The FOCUS 1.2 columns the spec marks mandatory: every one must be in the header.
const MANDATORY: [&str; 21] = [
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "ContractedCost",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "ServiceCategory",
    "ServiceName",
];
/// FOCUS columns of the export that are not mandatory (conditional or recommended ones that
/// apply to Kubernetes allocation).
const CONDITIONAL: [&str; 11] = [
    "ChargeFrequency",
    "ConsumedQuantity",
    "ConsumedUnit",
    "PricingCategory",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceSubcategory",
    "SubAccountId",
    "SubAccountName",
    "Tags",
];
/// Decimal columns; the first six never null on a usage line.
const DECIMALS: [&str; 10] = [
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "ContractedCost",
    "PricingQuantity",
    "ConsumedQuantity",
    "x_IdleCost",
    "x_RequestedQuantity",
    "x_UsedQuantity",
    "x_UnusedRequestCost",
];
const DATETIMES: [&str; 4] = [
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargePeriodStart",
    "ChargePeriodEnd",
];
/// ServiceCategory's allowed values (FOCUS 1.2).
const SERVICE_CATEGORIES: [&str; 18] = [
    "AI and Machine Learning",
    "Analytics",
    "Business Applications",
    "Compute",
    "Databases",
    "Developer Tools",
    "Multicloud",
    "Identity",
    "Integration",
    "Internet of Things",
    "Management and Governance",
    "Media",
    "Migration",
    "Mobile",
    "Networking",
    "Security",
    "Storage",
    "Web",
];

/// RFC 4180 rows: quoted fields may hold commas, doubled quotes and line breaks.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(field.is_empty() && row.is_empty(), "the CSV ends with CRLF");
    rows
}

/// Exact nano-dollars of a plain decimal (`0.0075`); panics on anything else.
fn nanos(text: &str) -> u64 {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    assert!(
        !whole.is_empty()
            && whole.bytes().all(|b| b.is_ascii_digit())
            && fraction.len() <= 9
            && fraction.bytes().all(|b| b.is_ascii_digit())
            && text.contains('.') != fraction.is_empty(),
        "not a plain decimal: {text:?}"
    );
    whole.parse::<u64>().unwrap() * 1_000_000_000
        + format!("{fraction:0<9}").parse::<u64>().unwrap()
}

/// A FOCUS date-time: `YYYY-MM-DDTHH:MM:SSZ`.
fn datetime(text: &str) -> DateTime<Utc> {
    assert_eq!(text.len(), 20, "{text:?}");
    assert!(text.ends_with('Z'), "{text:?} is not UTC with Z");
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text:?}: {e}"))
        .with_timezone(&Utc)
}

/// Runs the real cost run over every hour of `[start, start + hours)` for `cluster`.
async fn cost_hours(hub: &TestHub, org: OrgId, cluster: ClusterId, start: i64, hours: i64) {
    for h in 0..hours {
        run_hour(
            &hub.db.store,
            org,
            cluster,
            UnixMillis(start + h * MILLIS_PER_HOUR),
            &ClusterPrices::uniform(Default::default()),
            &LabelKeys::default(),
        )
        .await
        .unwrap();
    }
}

fn rfc3339(millis: i64) -> String {
    Utc.timestamp_millis_opt(millis)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

pub async fn a_days_focus_export_follows_the_spec_column_by_column(hub: TestHub) {
    let alpha = seed(&hub, hub.default_org, "alpha").await.cluster;
    let beta = seed(&hub, hub.default_org, "beta").await.cluster;
    let other = hub.db.store.ensure_organization("other").await.unwrap().id;
    let theirs = seed(&hub, other, "theirs").await.cluster;
    // The 24 hours up to the end of the current one: the hub has known the pods since this
    // hour (ingest time bounds what ran), the nodes all day.
    let day = (UnixMillis::now().0.div_euclid(MILLIS_PER_HOUR) - 23) * MILLIS_PER_HOUR;
    for (org, cluster) in [
        (hub.default_org, alpha),
        (hub.default_org, beta),
        (other, theirs),
    ] {
        cost_hours(&hub, org, cluster, day, 24).await;
    }
    let window = format!("{},{}", rfc3339(day), rfc3339(day + 24 * MILLIS_PER_HOUR));
    let admin = hub.admin().await;

    let r = admin
        .get(&format!(
            "/api/v1/k8s/costs/focus?window={window}&include_idle=true"
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        r.headers["content-disposition"],
        "attachment; filename=\"kubeworkz-focus.csv\""
    );
    let rows = parse_csv(&r.text);
    let header = &rows[0];
    let at = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    };
    // Names: every mandatory column, spelled as the spec does; anything not FOCUS is `x_`.
    for name in MANDATORY.iter().chain(&CONDITIONAL) {
        at(name);
    }
    let focus: BTreeSet<&str> = MANDATORY.iter().chain(&CONDITIONAL).copied().collect();
    for name in header {
        assert!(
            focus.contains(name.as_str()) || name.starts_with("x_"),
            "{name} is neither a FOCUS column nor prefixed x_"
        );
    }
    assert_eq!(
        header.len(),
        BTreeSet::from_iter(header).len(),
        "unique names"
    );
    // FOCUS columns come first, in the spec's (alphabetical) order, then the x_ columns.
    let split = header.iter().position(|h| h.starts_with("x_")).unwrap();
    assert!(header[split..].iter().all(|h| h.starts_with("x_")));
    assert!(
        header[..split].windows(2).all(|w| w[0] < w[1]),
        "{header:?}"
    );

    let lines = &rows[1..];
    assert!(!lines.is_empty());
    let mut hours: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut total = 0u64;
    for line in lines {
        assert_eq!(line.len(), header.len(), "{line:?}");
        let cell = |name: &str| line[at(name)].as_str();
        // Types: decimals parse, and are never null where the spec says so.
        for (i, name) in DECIMALS.iter().enumerate() {
            if i < 6 || !cell(name).is_empty() {
                nanos(cell(name));
            }
        }
        if !cell("x_Efficiency").is_empty() {
            let e: f64 = cell("x_Efficiency").parse().unwrap();
            assert!((0.0..=10.0).contains(&e), "{line:?}");
        }
        // Nothing is discounted: the four costs are one amount.
        let billed = cell("BilledCost");
        for same in ["EffectiveCost", "ListCost", "ContractedCost"] {
            assert_eq!(cell(same), billed, "{same}");
        }
        total += nanos(billed);
        // Date-times: UTC with Z; an hour inside the window, inside its month's billing period.
        for name in DATETIMES {
            datetime(cell(name));
        }
        let (start, end) = (
            datetime(cell("ChargePeriodStart")),
            datetime(cell("ChargePeriodEnd")),
        );
        assert_eq!(end - start, Duration::hours(1));
        assert!(start.timestamp_millis() >= day && end.timestamp_millis() <= day + 86_400_000);
        let (period_start, period_end) = (
            datetime(cell("BillingPeriodStart")),
            datetime(cell("BillingPeriodEnd")),
        );
        assert_eq!(period_start.day(), 1);
        assert_eq!(period_start.time(), chrono::NaiveTime::MIN);
        assert!(period_start <= start && end <= period_end);
        assert_eq!(period_end.day(), 1);
        // Nullability and allowed values.
        for name in [
            "BillingAccountId",
            "BillingAccountName",
            "ChargeDescription",
            "InvoiceIssuerName",
            "ProviderName",
            "PublisherName",
            "ServiceName",
            "SubAccountId",
            "SubAccountName",
            "ResourceId",
            "ResourceName",
        ] {
            assert!(!cell(name).is_empty(), "{name} is null: {line:?}");
        }
        assert_eq!(cell("ChargeClass"), "", "not a correction: null");
        assert_eq!(cell("ChargeCategory"), "Usage");
        assert_eq!(cell("ChargeFrequency"), "Usage-Based");
        assert_eq!(cell("PricingCategory"), "Standard");
        assert!(SERVICE_CATEGORIES.contains(&cell("ServiceCategory")));
        assert_eq!(cell("BillingCurrency"), "USD");
        assert_eq!(cell("BillingAccountId"), hub.default_org.to_string());
        assert_eq!(cell("BillingAccountName"), "default");
        // Units: a usage line has one, in the spec's unit format, the same for consumption.
        let unit = cell("PricingUnit");
        assert!(
            ["vCPU-Hours", "GiB-Hours", "GPU-Hours", "GiB"].contains(&unit),
            "{unit}"
        );
        assert_eq!(cell("ConsumedUnit"), unit);
        assert_eq!(cell("ConsumedQuantity"), cell("PricingQuantity"));
        let (cluster, namespace) = (cell("SubAccountName"), cell("x_Namespace"));
        assert!(
            ["alpha", "beta"].contains(&cluster),
            "another org's cluster: {cluster}"
        );
        // Tags: a JSON object of strings on namespace lines; null on the cluster's idle lines.
        if namespace == "__idle__" {
            assert_eq!(cell("Tags"), "");
            assert_eq!(cell("ResourceType"), "Cluster");
            assert_eq!(cell("x_IdleCost"), billed);
        } else {
            let tags: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(cell("Tags")).unwrap();
            assert!(tags.values().all(serde_json::Value::is_string));
            assert_eq!(cell("ResourceType"), "Namespace");
            assert_eq!(
                cell("ResourceId"),
                format!("{}/{namespace}", cell("SubAccountId"))
            );
            assert_eq!(cell("x_IdleCost"), "0");
        }
        hours
            .entry(format!("{cluster}/{namespace}"))
            .or_default()
            .insert(cell("ChargePeriodStart").to_owned());
    }
    // Both clusters' web and idle; idle every hour of the day, web since it was seen.
    assert_eq!(
        hours.keys().collect::<Vec<_>>(),
        ["alpha/__idle__", "alpha/web", "beta/__idle__", "beta/web"]
    );
    assert_eq!(hours["alpha/__idle__"].len(), 24, "{hours:?}");
    assert_eq!(hours["beta/__idle__"].len(), 24, "{hours:?}");
    assert!(hours["alpha/web"].contains(&rfc3339(day + 23 * MILLIS_PER_HOUR)));

    // The amounts add up to the cost report's total for the same window, idle or not, filtered.
    for query in [
        "include_idle=true",
        "",
        "filter=namespace:web",
        "filter=cluster:nobody",
    ] {
        let report = admin
            .get(&format!("/api/v1/k8s/costs?window={window}&{query}"))
            .await;
        assert_eq!(report.status, 200, "{}", report.text);
        let expected = report.json["total"]["total_nanos"].as_u64().unwrap();
        let export = admin
            .get(&format!("/api/v1/k8s/costs/focus?window={window}&{query}"))
            .await;
        let export_rows = parse_csv(&export.text);
        let sum: u64 = export_rows[1..]
            .iter()
            .map(|l| nanos(&l[at("BilledCost")]))
            .sum();
        assert_eq!(sum, expected, "{query}");
        if query == "include_idle=true" {
            assert_eq!(sum, total);
        }
    }

    // Bad parameters are a 400 before anything streams; another organization sees its own.
    for bad in [
        "window=yesteryear",
        "filter=colour:red",
        "window=2020-01-01T00:00:00Z,2021-01-01T00:00:00Z",
    ] {
        let r = admin.get(&format!("/api/v1/k8s/costs/focus?{bad}")).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
    }
    let anonymous = hub.anonymous().get("/api/v1/k8s/costs/focus").await;
    assert_eq!(anonymous.status, 401);
}

pub async fn metrics_show_the_last_complete_hours_cost_per_cluster_and_namespace(hub: TestHub) {
    seed(&hub, hub.default_org, "alpha").await;
    seed(&hub, hub.default_org, "beta").await;
    let anonymous = hub.anonymous();
    let before = anonymous.get("/metrics").await;
    assert!(
        !before.text.contains("kubeworkz_cost_hourly_dollars"),
        "{}",
        before.text
    );

    // The real cost run, two hours ahead: the clusters' first hours are due.
    let now = UnixMillis::now().0 + 2 * MILLIS_PER_HOUR;
    let mut worker = CostWorker::new(hub.db.store.clone(), CostWorkerConfig::default(), None)
        .with_clock(Arc::new(move || UnixMillis(now)))
        .with_gauges(hub.cost_gauges.clone());
    let report = worker.run_once().await.unwrap();
    assert!(report.hours >= 2, "{report}");

    let text = anonymous.get("/metrics").await.text;
    let mut gauges: BTreeMap<String, u64> = BTreeMap::new();
    let mut hour = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').unwrap();
        if series == "kubeworkz_cost_hour_start_seconds" {
            hour = Some(value.parse::<i64>().unwrap() * 1000);
        } else if series.contains("cost_hourly_dollars") {
            gauges.insert(series.to_owned(), nanos(value));
        }
    }
    let hour = hour.expect("the hour reported");
    let window = format!("{},{}", rfc3339(hour), rfc3339(hour + MILLIS_PER_HOUR));
    let admin = hub.admin().await;
    let report = admin
        .get(&format!(
            "/api/v1/k8s/costs?window={window}&aggregate=cluster&include_idle=true"
        ))
        .await;
    let clusters = hub.db.store.list_clusters(hub.default_org).await.unwrap();
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for line in report.json["lines"].as_array().unwrap() {
        let id = line["key"].as_str().unwrap();
        let name = &clusters
            .iter()
            .find(|c| c.id.to_string() == id)
            .unwrap()
            .name;
        let nanos = line["total_nanos"].as_u64().unwrap();
        assert!(nanos > 0);
        expected.insert(
            format!("kubeworkz_cluster_cost_hourly_dollars{{cluster=\"{name}\"}}"),
            nanos,
        );
        let namespaces = admin
            .get(&format!(
                "/api/v1/k8s/costs?window={window}&aggregate=namespace&include_idle=true&filter=cluster:{id}"
            ))
            .await;
        for ns in namespaces.json["lines"].as_array().unwrap() {
            expected.insert(
                format!(
                    "kubeworkz_cost_hourly_dollars{{cluster=\"{name}\",namespace=\"{}\"}}",
                    ns["key"].as_str().unwrap()
                ),
                ns["total_nanos"].as_u64().unwrap(),
            );
        }
    }
    assert_eq!(gauges, expected, "{text}");
    assert_eq!(
        gauges.len(),
        6,
        "2 clusters, each with web and idle: {text}"
    );
    assert!(text.contains("kubeworkz_cost_series_dropped 0"), "{text}");
}
