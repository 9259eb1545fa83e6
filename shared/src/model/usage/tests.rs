//! Tests for metrics.k8s.io types and the hourly usage aggregator.

use super::*;

const HOUR_10: i64 = 1_714_557_600_000; // 2024-05-01T10:00:00Z

fn at(minute: i64, second: i64) -> UnixMillis {
    UnixMillis(HOUR_10 + minute * 60_000 + second * 1000)
}

/// A PodMetrics as metrics-server serves it from `/apis/metrics.k8s.io/v1beta1`.
fn pod_metrics(timestamp: &str, cpu: &str, memory: &str) -> PodMetrics {
    serde_json::from_str(&format!(
        r#"{{"kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": {{"name": "checkout-7c9d8f6b5-x2k4q", "namespace": "production-api",
                          "creationTimestamp": "2024-05-01T10:00:31Z",
                          "labels": {{"app": "checkout"}}}},
            "timestamp": "{timestamp}", "window": "30s",
            "containers": [
              {{"name": "app", "usage": {{"cpu": "{cpu}", "memory": "{memory}"}}}},
              {{"name": "metrics", "usage": {{"cpu": "1m", "memory": "12Mi"}}}}
            ]}}"#
    ))
    .unwrap()
}

fn sample(timestamp: UnixMillis, cpu_millis: u64, memory_bytes: u64) -> ContainerSample<'static> {
    ContainerSample {
        namespace: "production-api",
        pod: "checkout-7c9d8f6b5-x2k4q",
        container: "app",
        timestamp,
        window_millis: 30_000,
        cpu_millis,
        memory_bytes,
    }
}

#[test]
fn metrics_server_json_deserializes() {
    let m = pod_metrics("2024-05-01T10:00:30Z", "250000000n", "300Mi");
    assert_eq!(m.metadata.namespace.as_deref(), Some("production-api"));
    assert_eq!(m.window, "30s");
    assert_eq!(m.containers.len(), 2);
    assert_eq!(m.containers[0].usage["cpu"].0, "250000000n");

    let node: NodeMetrics = serde_json::from_str(
        r#"{"kind": "NodeMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": {"name": "ip-10-0-1-23.ec2.internal"},
            "timestamp": "2024-05-01T10:00:24Z", "window": "20.042s",
            "usage": {"cpu": "183941474n", "memory": "1423572Ki"}}"#,
    )
    .unwrap();
    assert_eq!(quantity::cpu_millis(&node.usage["cpu"]), Ok(184));
    assert_eq!(parse_go_duration_millis(&node.window), Ok(20_042));
}

#[test]
fn metrics_types_name_the_metrics_api_for_kube() {
    use k8s_openapi::{ListableResource, Resource};
    assert_eq!(PodMetrics::API_VERSION, "metrics.k8s.io/v1beta1");
    assert_eq!(PodMetrics::URL_PATH_SEGMENT, "pods");
    assert_eq!(NodeMetrics::LIST_KIND, "NodeMetricsList");
}

#[test]
fn go_durations_parse_to_millis() {
    let cases: &[(&str, i64)] = &[
        ("30s", 30_000),
        ("20.042s", 20_042),
        ("1m0s", 60_000),
        ("1m30.5s", 90_500),
        ("1h2m3s", 3_723_000),
        ("300ms", 300),
        ("1500us", 2),
        ("1500µs", 2),
        ("1ns", 1),
        ("0s", 0),
        ("0", 0),
    ];
    for (text, want) in cases {
        assert_eq!(parse_go_duration_millis(text), Ok(*want), "{text}");
    }
    for text in ["", "30", "s", "1d", "-5s", "1.2.3s", "30 s"] {
        assert_eq!(
            parse_go_duration_millis(text),
            Err(UsageError::InvalidWindow(text.into())),
            "{text:?}"
        );
    }
}

#[test]
fn steady_samples_fill_one_hour_exactly() {
    let mut agg = UsageAggregator::new(60_000);
    // 120 samples 30 s apart, the first at 10:00:30 standing for its 30 s window.
    for i in 1..=120 {
        agg.record_sample(&sample(UnixMillis(HOUR_10 + i * 30_000), 500, 1 << 30));
    }
    let buckets = agg.take_completed(UnixMillis(HOUR_10 + 3_600_000));
    assert_eq!(buckets.len(), 1);
    let b = &buckets[0];
    assert_eq!(b.hour_start, UnixMillis(HOUR_10));
    assert_eq!(b.cpu_millicore_seconds, 500 * 3600);
    assert_eq!(b.memory_byte_seconds, (1 << 30) * 3600);
    assert_eq!(b.memory_max_bytes, 1 << 30);
    assert_eq!(b.samples, 120);
    assert_eq!(b.covered_millis, 3_600_000);
    assert_eq!(b.average_cpu_millis(), Some(500));
    assert_eq!(b.average_memory_bytes(), Some(1 << 30));
}

#[test]
fn a_sample_straddling_the_hour_is_split_between_hours() {
    let mut agg = UsageAggregator::new(60_000);
    agg.record_sample(&sample(at(59, 45), 1000, 100));
    agg.record_sample(&sample(at(60, 15), 2000, 300));
    let buckets = agg.open_buckets();
    assert_eq!(buckets.len(), 2);
    let (ten, eleven) = (&buckets[0], &buckets[1]);
    assert_eq!(ten.hour_start, UnixMillis(HOUR_10));
    // 30 s at 1000m, then 15 s at 2000m before 11:00.
    assert_eq!(ten.cpu_millicore_seconds, 30 * 1000 + 15 * 2000);
    assert_eq!((ten.covered_millis, ten.samples), (45_000, 1));
    assert_eq!(ten.memory_max_bytes, 300);
    assert_eq!(eleven.hour_start, at(60, 0));
    assert_eq!(eleven.cpu_millicore_seconds, 15 * 2000);
    assert_eq!(eleven.memory_byte_seconds, 15 * 300);
    assert_eq!((eleven.covered_millis, eleven.samples), (15_000, 1));
}

#[test]
fn a_sample_ending_exactly_on_the_hour_belongs_to_the_hour_before() {
    let mut agg = UsageAggregator::new(60_000);
    agg.record_sample(&sample(at(60, 0), 100, 1));
    let buckets = agg.open_buckets();
    assert_eq!(buckets.len(), 1);
    assert_eq!(buckets[0].hour_start, UnixMillis(HOUR_10));
    assert_eq!(buckets[0].samples, 1);
}

#[test]
fn repeated_and_older_samples_are_ignored() {
    let mut agg = UsageAggregator::new(60_000);
    agg.record_sample(&sample(at(10, 0), 100, 1));
    agg.record_sample(&sample(at(10, 0), 900, 9));
    agg.record_sample(&sample(at(9, 30), 900, 9));
    let b = &agg.open_buckets()[0];
    assert_eq!(
        (b.samples, b.cpu_millicore_seconds, b.memory_max_bytes),
        (1, 3000, 1)
    );
}

#[test]
fn silence_longer_than_max_gap_is_not_counted_as_usage() {
    let mut agg = UsageAggregator::new(60_000);
    agg.record_sample(&sample(at(10, 0), 100, 1));
    agg.record_sample(&sample(at(20, 0), 100, 1)); // ten minutes later: only its window counts
    let b = &agg.open_buckets()[0];
    assert_eq!(b.covered_millis, 60_000);
    assert_eq!(b.cpu_millicore_seconds, 6000);
}

#[test]
fn pod_metrics_record_every_container() {
    let mut agg = UsageAggregator::new(60_000);
    agg.record_pod_metrics(&pod_metrics("2024-05-01T10:00:30Z", "250000000n", "300Mi"))
        .unwrap();
    agg.record_pod_metrics(&pod_metrics("2024-05-01T10:01:00Z", "750m", "500Mi"))
        .unwrap();
    let buckets = agg.open_buckets();
    assert_eq!(buckets.len(), 2);
    let app = buckets.iter().find(|b| b.container == "app").unwrap();
    assert_eq!(app.pod, "checkout-7c9d8f6b5-x2k4q");
    assert_eq!(app.namespace, "production-api");
    assert_eq!(app.cpu_millicore_seconds, 30 * 250 + 30 * 750);
    assert_eq!(app.memory_max_bytes, 500 << 20);
    assert_eq!(app.samples, 2);
}

#[test]
fn malformed_metrics_record_nothing() {
    let mut agg = UsageAggregator::new(60_000);
    let bad = pod_metrics("2024-05-01T10:00:30Z", "a lot", "300Mi");
    let err = agg.record_pod_metrics(&bad).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid usage of container \"app\": invalid number in quantity \"a lot\""
    );
    let mut bad_window = pod_metrics("2024-05-01T10:00:30Z", "1m", "1Mi");
    bad_window.window = "soon".into();
    assert!(agg.record_pod_metrics(&bad_window).is_err());
    let mut no_time = pod_metrics("2024-05-01T10:00:30Z", "1m", "1Mi");
    no_time.timestamp = None;
    agg.record_pod_metrics(&no_time).unwrap();
    assert_eq!(agg.open_buckets().len(), 0);
}

#[test]
fn take_completed_keeps_the_open_hour_and_forgets_gone_containers() {
    let mut agg = UsageAggregator::new(60_000);
    agg.record_sample(&sample(at(59, 30), 100, 1));
    agg.record_sample(&sample(at(60, 30), 100, 1));
    assert!(agg.take_completed(at(59, 59)).is_empty());
    let done = agg.take_completed(at(61, 0));
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].hour_start, UnixMillis(HOUR_10));
    assert_eq!(agg.open_buckets().len(), 1);
    // Two hours later the container has not reported: it is forgotten, so a new sample
    // starts from its window instead of bridging the gap.
    let later = at(180, 0);
    assert_eq!(agg.take_completed(later).len(), 1);
    agg.record_sample(&sample(later, 100, 1));
    assert_eq!(agg.open_buckets()[0].covered_millis, 30_000);
}

#[test]
fn usage_bucket_has_a_pinned_encoding() {
    let bucket = UsageBucket {
        namespace: "shop".into(),
        pod: "web-1".into(),
        container: "nginx".into(),
        hour_start: UnixMillis(HOUR_10),
        cpu_millicore_seconds: 1_800_000,
        memory_byte_seconds: 3600 << 20,
        memory_max_bytes: 2 << 20,
        samples: 120,
        covered_millis: 3_600_000,
    };
    let hex: String = postcard::to_allocvec(&bucket)
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(hex, GOLDEN_USAGE_BUCKET);
}

const GOLDEN_USAGE_BUCKET: &str =
    "0473686f70057765622d31056e67696e788084c6b9e663c0ee6d808080880e808080017880dddb01";
