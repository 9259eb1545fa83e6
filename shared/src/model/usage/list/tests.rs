//! Tests for folding a PodMetricsList body into the aggregator.

use super::super::PodMetrics;
use super::*;

/// One PodMetrics as metrics-server serves it, with labels and the fields the fold skips.
fn item(pod: &str, timestamp: &str, cpu: &str, memory: &str) -> String {
    format!(
        r#"{{"metadata": {{"name": "{pod}", "namespace": "shop",
                         "creationTimestamp": "2024-05-01T10:00:31Z",
                         "labels": {{"app": "web", "pod-template-hash": "7c9d8f6b5"}}}},
            "timestamp": "{timestamp}", "window": "30s",
            "containers": [
              {{"name": "app", "usage": {{"cpu": "{cpu}", "memory": "{memory}"}}}},
              {{"name": "proxy", "usage": {{"cpu": "1m", "memory": "12Mi"}}}}
            ]}}"#
    )
}

fn list(items: &[String], metadata: &str) -> String {
    format!(
        r#"{{"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": {metadata}, "items": [{}]}}"#,
        items.join(",")
    )
}

#[test]
fn a_list_records_what_each_item_recorded_on_its_own_would() {
    let items = [
        item("web-1", "2024-05-01T10:00:30Z", "250000000n", "300Mi"),
        item("web-2", "2024-05-01T10:00:30Z", "750m", "1Gi"),
        // A name with a JSON escape cannot be borrowed from the body.
        item("web-\\u0033", "2024-05-01T10:00:45Z", "2", "64Ki"),
    ];
    let mut streamed = UsageAggregator::new(60_000);
    let summary = record_pod_metrics_list(&mut streamed, list(&items, "{}").as_bytes()).unwrap();
    assert_eq!(
        summary,
        PodMetricsListSummary {
            recorded: 3,
            ..PodMetricsListSummary::default()
        }
    );

    let mut one_by_one = UsageAggregator::new(60_000);
    for item in &items {
        let metrics: PodMetrics = serde_json::from_str(item).unwrap();
        one_by_one.record_pod_metrics(&metrics).unwrap();
    }
    let buckets = streamed.open_buckets();
    assert_eq!(buckets.len(), 6);
    assert_eq!(buckets, one_by_one.open_buckets());
    assert_eq!(buckets[4].pod, "web-3");
    assert_eq!(buckets[4].cpu_millicore_seconds, 30 * 2000);
}

#[test]
fn the_continue_token_is_kept_and_an_empty_one_ends_the_list() {
    let items = [item("web-1", "2024-05-01T10:00:30Z", "1m", "1Mi")];
    let mut agg = UsageAggregator::new(60_000);
    let paged = list(
        &items,
        r#"{"resourceVersion": "12", "continue": "eyJ2IjoxfQ"}"#,
    );
    let summary = record_pod_metrics_list(&mut agg, paged.as_bytes()).unwrap();
    assert_eq!(summary.continue_token.as_deref(), Some("eyJ2IjoxfQ"));
    let last = list(&items, r#"{"continue": ""}"#);
    let summary = record_pod_metrics_list(&mut agg, last.as_bytes()).unwrap();
    assert_eq!(summary.continue_token, None);
}

#[test]
fn a_malformed_item_is_skipped_and_the_others_recorded() {
    let items = [
        item("web-1", "2024-05-01T10:00:30Z", "a lot", "1Mi"),
        item("web-2", "2024-05-01T10:00:30Z", "5m", "1Mi"),
    ];
    let mut agg = UsageAggregator::new(60_000);
    let summary = record_pod_metrics_list(&mut agg, list(&items, "{}").as_bytes()).unwrap();
    assert_eq!((summary.recorded, summary.skipped), (1, 1));
    assert_eq!(
        summary.first_error.unwrap().to_string(),
        "invalid usage of container \"app\": invalid number in quantity \"a lot\""
    );
    let pods: Vec<_> = agg.open_buckets().into_iter().map(|b| b.pod).collect();
    assert_eq!(pods, ["web-2", "web-2"]);
}

#[test]
fn null_or_absent_items_are_an_empty_list() {
    let mut agg = UsageAggregator::new(60_000);
    for body in [
        r#"{"kind": "PodMetricsList", "metadata": {}, "items": null}"#,
        r#"{"kind": "PodMetricsList"}"#,
    ] {
        let summary = record_pod_metrics_list(&mut agg, body.as_bytes()).unwrap();
        assert_eq!(summary, PodMetricsListSummary::default());
    }
    assert!(agg.open_buckets().is_empty());
}

#[test]
fn a_body_that_is_not_a_pod_metrics_list_is_an_error() {
    let mut agg = UsageAggregator::new(60_000);
    for body in [
        "",
        "[]",
        r#"{"items": [{"metadata": {"name": 7}}]}"#,
        r#"{"items": []} trailing"#,
        r#"{"items": [{"metadata": {}, "containers": []}"#,
    ] {
        assert!(
            record_pod_metrics_list(&mut agg, body.as_bytes()).is_err(),
            "{body:?}"
        );
    }
}
