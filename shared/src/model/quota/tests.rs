use super::*;

/// A compute quota as the quota controller leaves it: CPU requests exhausted, memory at
/// three quarters, pods not counted yet, and a scope selector.
const COMPUTE: &str = r#"{
  "apiVersion": "v1", "kind": "ResourceQuota",
  "metadata": {"name": "compute-resources", "namespace": "payments", "uid": "q-1",
    "labels": {"team": "pay"}, "creationTimestamp": "2024-05-01T10:00:00Z"},
  "spec": {
    "hard": {"requests.cpu": "4", "requests.memory": "8Gi", "pods": "10",
             "count/jobs.batch": "5"},
    "scopes": ["NotTerminating"],
    "scopeSelector": {"matchExpressions": [
      {"scopeName": "PriorityClass", "operator": "In", "values": ["high", "low"]},
      {"scopeName": "CrossNamespacePodAffinity", "operator": "Exists"}]}},
  "status": {"hard": {"requests.cpu": "4"},
    "used": {"requests.cpu": "4000m", "requests.memory": "6Gi", "count/jobs.batch": "0"}}
}"#;

const LIMITS: &str = r#"{
  "apiVersion": "v1", "kind": "LimitRange",
  "metadata": {"name": "defaults", "namespace": "payments", "uid": "l-1"},
  "spec": {"limits": [
    {"type": "Container", "default": {"cpu": "500m", "memory": "512Mi"},
     "defaultRequest": {"cpu": "250m"}, "max": {"cpu": "2"},
     "maxLimitRequestRatio": {"cpu": "4"}},
    {"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"}, "max": {"storage": "50Gi"}}]}
}"#;

#[test]
fn quota_projects_hard_and_used_as_canonical_amounts_and_scopes_in_words() {
    let quota: ResourceQuota = serde_json::from_str(COMPUTE).unwrap();
    let p = ResourceQuotaProjection::from(&quota);
    assert_eq!(
        (p.name.as_str(), p.namespace.as_str()),
        ("compute-resources", "payments")
    );
    assert_eq!(
        p.scopes,
        [
            "NotTerminating",
            "PriorityClass In high, low",
            "CrossNamespacePodAffinity Exists"
        ]
    );
    let by_name: BTreeMap<&str, &QuotaResource> = p
        .resources
        .iter()
        .map(|r| (r.resource.as_str(), r))
        .collect();
    assert_eq!(by_name["requests.cpu"].hard_milli, 4000);
    assert_eq!(by_name["requests.cpu"].used_milli, Some(4000));
    assert_eq!(by_name["requests.memory"].hard_milli, (8u64 << 30) * 1000);
    assert_eq!(
        by_name["requests.memory"].used_milli,
        Some((6u64 << 30) * 1000)
    );
    assert_eq!(by_name["pods"].used_milli, None);
    assert_eq!(by_name["count/jobs.batch"].used_milli, Some(0));
    // Ordered by resource name, as the API's map is.
    let names: Vec<&str> = p.resources.iter().map(|r| r.resource.as_str()).collect();
    assert_eq!(
        names,
        [
            "count/jobs.batch",
            "pods",
            "requests.cpu",
            "requests.memory"
        ]
    );
}

#[test]
fn percent_used_is_exact_and_unknown_without_a_count_or_a_hard_amount() {
    let quota: ResourceQuota = serde_json::from_str(COMPUTE).unwrap();
    let p = ResourceQuotaProjection::from(&quota);
    let percents: Vec<Option<u64>> = p
        .resources
        .iter()
        .map(QuotaResource::percent_used)
        .collect();
    assert_eq!(percents, [Some(0), None, Some(100), Some(75)]);
    let zero = QuotaResource {
        resource: "services.loadbalancers".into(),
        hard_milli: 0,
        used_milli: Some(0),
    };
    assert_eq!(zero.percent_used(), None);
    let over = QuotaResource {
        resource: "pods".into(),
        hard_milli: 10_000,
        used_milli: Some(12_000),
    };
    assert_eq!(over.percent_used(), Some(120));
    assert_eq!(over.usage_text(), "pods 12/10");
}

#[test]
fn amounts_read_back_as_people_write_them() {
    let cases: &[(&str, u64, &str)] = &[
        ("requests.cpu", 4000, "4"),
        ("limits.cpu", 500, "500m"),
        ("requests.memory", (8u64 << 30) * 1000, "8Gi"),
        ("memory", (1536u64 << 20) * 1000, "1536Mi"),
        ("requests.storage", 1_000_000_000_000, "1000000000"),
        ("requests.ephemeral-storage", 0, "0"),
        ("pods", 10_000, "10"),
        ("memory", 1500, "1500m"),
    ];
    for (resource, milli, want) in cases {
        assert_eq!(quantity_text(resource, *milli), *want, "{resource} {milli}");
    }
}

#[test]
fn limit_range_flattens_to_one_row_per_type_and_resource() {
    let range: LimitRange = serde_json::from_str(LIMITS).unwrap();
    let p = LimitRangeProjection::from(&range);
    assert_eq!(p.limits.len(), 3);
    assert_eq!(
        p.limits[0],
        LimitRangeLimit {
            type_: "Container".into(),
            resource: "cpu".into(),
            default_milli: Some(500),
            default_request_milli: Some(250),
            min_milli: None,
            max_milli: Some(2000),
            max_limit_request_ratio_milli: Some(4000),
        }
    );
    assert_eq!(p.limits[1].resource, "memory");
    assert_eq!(p.limits[1].default_milli, Some((512u64 << 20) * 1000));
    assert_eq!(p.limits[1].default_request_milli, None);
    assert_eq!(
        (
            p.limits[2].type_.as_str(),
            p.limits[2].min_milli,
            p.limits[2].max_milli
        ),
        (
            "PersistentVolumeClaim",
            Some((1u64 << 30) * 1000),
            Some((50u64 << 30) * 1000)
        )
    );
    let mut empty = range;
    empty.spec = None;
    assert!(LimitRangeProjection::from(&empty).limits.is_empty());
}
