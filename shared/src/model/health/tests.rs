//! Table tests for the health rules.

use super::*;

fn healthy() -> HealthSignals {
    HealthSignals {
        apiserver_ready: ProbeResult::Ok,
        apiserver_live: ProbeResult::Ok,
        nodes_total: 4,
        nodes_not_ready: Vec::new(),
        scheduler_lease: LeaseFreshness::Fresh,
        controller_manager_lease: LeaseFreshness::Fresh,
        metrics_available: true,
        deployments_short: Vec::new(),
        heartbeat_age_millis: Some(5_000),
    }
}

fn not_ready(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("worker-{i}")).collect()
}

#[test]
fn rules_table() {
    type Case = (
        &'static str,
        fn(&mut HealthSignals),
        HealthStatus,
        &'static [&'static str],
    );
    let cases: &[Case] = &[
        ("all good", |_| {}, HealthStatus::Healthy, &[]),
        (
            "managed control plane: leases absent",
            |s| {
                s.scheduler_lease = LeaseFreshness::Absent;
                s.controller_manager_lease = LeaseFreshness::Absent;
            },
            HealthStatus::Healthy,
            &[],
        ),
        (
            "heartbeat not applicable",
            |s| s.heartbeat_age_millis = None,
            HealthStatus::Healthy,
            &[],
        ),
        (
            "one node not ready",
            |s| s.nodes_not_ready = not_ready(1),
            HealthStatus::Degraded,
            &["nodes not ready: worker-0"],
        ),
        (
            "exactly half ready is not critical",
            |s| s.nodes_not_ready = not_ready(2),
            HealthStatus::Degraded,
            &["nodes not ready: worker-0, worker-1"],
        ),
        (
            "fewer than half ready",
            |s| s.nodes_not_ready = not_ready(3),
            HealthStatus::Critical,
            &[
                "only 1 of 4 nodes ready",
                "nodes not ready: worker-0, worker-1, worker-2",
            ],
        ),
        (
            "no nodes",
            |s| s.nodes_total = 0,
            HealthStatus::Degraded,
            &["cluster has no nodes"],
        ),
        (
            "apiserver not ready",
            |s| {
                s.apiserver_ready = ProbeResult::Failing {
                    checks: vec!["etcd".into()],
                }
            },
            HealthStatus::Critical,
            &["apiserver not ready (failing checks: etcd)"],
        ),
        (
            "apiserver unreachable",
            |s| {
                let down = ProbeResult::Unreachable {
                    error: "connection refused".into(),
                };
                s.apiserver_ready = down.clone();
                s.apiserver_live = down;
            },
            HealthStatus::Critical,
            &[
                "apiserver not ready (unreachable: connection refused)",
                "apiserver not live (unreachable: connection refused)",
            ],
        ),
        (
            "heartbeat 119s is fine",
            |s| s.heartbeat_age_millis = Some(119_999),
            HealthStatus::Healthy,
            &[],
        ),
        (
            "heartbeat 2 minutes",
            |s| s.heartbeat_age_millis = Some(120_000),
            HealthStatus::Critical,
            &["no heartbeat from the agent for 120s"],
        ),
        (
            "stale scheduler lease",
            |s| s.scheduler_lease = LeaseFreshness::Stale { age_millis: 95_000 },
            HealthStatus::Degraded,
            &["kube-scheduler lease not renewed for 95s"],
        ),
        (
            "stale controller-manager lease",
            |s| s.controller_manager_lease = LeaseFreshness::Stale { age_millis: 30_000 },
            HealthStatus::Degraded,
            &["kube-controller-manager lease not renewed for 30s"],
        ),
        (
            "metrics missing",
            |s| s.metrics_available = false,
            HealthStatus::Degraded,
            &["metrics.k8s.io unavailable; costs use requests only"],
        ),
        (
            "deployment short",
            |s| {
                s.deployments_short = vec![ShortDeployment {
                    namespace: "production-api".into(),
                    name: "checkout".into(),
                    desired: 3,
                    available: 2,
                }];
            },
            HealthStatus::Degraded,
            &["deployments short of available replicas: production-api/checkout (2/3)"],
        ),
        (
            "critical wins over degraded, all reasons kept",
            |s| {
                s.metrics_available = false;
                s.heartbeat_age_millis = Some(600_000);
            },
            HealthStatus::Critical,
            &[
                "no heartbeat from the agent for 600s",
                "metrics.k8s.io unavailable; costs use requests only",
            ],
        ),
    ];
    for (name, change, status, reasons) in cases {
        let mut signals = healthy();
        change(&mut signals);
        let report = evaluate(&signals);
        let texts: Vec<String> = report.reasons.iter().map(ToString::to_string).collect();
        assert_eq!(report.status, *status, "{name}: {texts:?}");
        assert_eq!(texts, *reasons, "{name}");
    }
}

fn lease(renew_time: Option<&str>, duration: Option<i32>) -> Lease {
    let mut spec = serde_json::json!({"holderIdentity": "cp-1_6f1d2c3b-1a2b-4c5d-8e9f-0a1b2c3d4e5f",
                                      "leaseTransitions": 2});
    if let Some(t) = renew_time {
        spec["renewTime"] = t.into();
    }
    if let Some(d) = duration {
        spec["leaseDurationSeconds"] = d.into();
    }
    serde_json::from_value(serde_json::json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "kube-scheduler", "namespace": "kube-system"},
        "spec": spec
    }))
    .unwrap()
}

#[test]
fn lease_freshness_uses_duration_plus_skew() {
    let now = UnixMillis::parse_rfc3339("2024-05-01T10:00:00Z").unwrap();
    let cases = [
        (
            Some("2024-05-01T09:59:58.123456Z"),
            Some(15),
            LeaseFreshness::Fresh,
        ),
        (
            Some("2024-05-01T09:59:35Z"),
            Some(15),
            LeaseFreshness::Fresh,
        ),
        (
            Some("2024-05-01T09:59:34.999999Z"),
            Some(15),
            LeaseFreshness::Stale { age_millis: 25_001 },
        ),
        (
            Some("2024-05-01T09:59:00Z"),
            None,
            LeaseFreshness::Stale { age_millis: 60_000 },
        ),
        (
            Some("2024-05-01T09:59:00Z"),
            Some(60),
            LeaseFreshness::Fresh,
        ),
        // A renewer whose clock runs ahead of ours is not stale.
        (
            Some("2024-05-01T10:00:05Z"),
            Some(15),
            LeaseFreshness::Fresh,
        ),
        (None, Some(15), LeaseFreshness::Absent),
    ];
    for (renew, duration, want) in cases {
        assert_eq!(
            LeaseFreshness::of(Some(&lease(renew, duration)), now),
            want,
            "{renew:?}"
        );
    }
    assert_eq!(LeaseFreshness::of(None, now), LeaseFreshness::Absent);
}

#[test]
fn failing_checks_are_named_from_verbose_output() {
    let body = "[+]ping ok\n[+]log ok\n[-]etcd failed: reason withheld\n[+]informer-sync ok\n\
                [-]poststarthook/rbac/bootstrap-roles failed: reason withheld\n\
                [+]shutdown ok\nreadyz check failed\n";
    assert_eq!(
        failing_checks(body),
        ["etcd", "poststarthook/rbac/bootstrap-roles"]
    );
    assert!(failing_checks("[+]ping ok\nreadyz check passed\n").is_empty());
}

#[test]
fn short_deployments_are_collected_from_projections() {
    use k8s_openapi::api::apps::v1::Deployment;
    let deployment = |name: &str, replicas: i32, available: i32| -> DeploymentProjection {
        let d: Deployment = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": "shop", "uid": name, "generation": 1},
            "spec": {"replicas": replicas, "selector": {}, "template": {}},
            "status": {"availableReplicas": available, "observedGeneration": 1}
        }))
        .unwrap();
        DeploymentProjection::from(&d)
    };
    let all = [
        deployment("web", 3, 3),
        deployment("api", 3, 1),
        deployment("idle", 0, 0),
    ];
    assert_eq!(
        deployments_short(&all),
        [ShortDeployment {
            namespace: "shop".into(),
            name: "api".into(),
            desired: 3,
            available: 1
        }]
    );
}

#[test]
fn health_report_has_a_pinned_encoding() {
    let mut signals = healthy();
    signals.apiserver_ready = ProbeResult::Failing {
        checks: vec!["etcd".into()],
    };
    signals.scheduler_lease = LeaseFreshness::Stale { age_millis: 30_000 };
    let report = evaluate(&signals);
    let hex: String = postcard::to_allocvec(&report)
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(hex, GOLDEN_HEALTH_REPORT);
    assert_eq!(
        postcard::from_bytes::<HealthReport>(&postcard::to_allocvec(&report).unwrap()).unwrap(),
        report
    );
}

const GOLDEN_HEALTH_REPORT: &str = "020200010104657463640600e0d403";
