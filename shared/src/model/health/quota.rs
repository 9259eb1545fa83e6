//! Quotas used up: a namespace whose ResourceQuota has a resource at or over its hard amount
//! cannot create what needs more of it (the apiserver refuses new pods, claims or objects),
//! which nothing else in the verdict shows. Judged from the quota's own `status.used`, what
//! the quota controller counted.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::failing::EXAMPLES;
use crate::model::quota::ResourceQuotaProjection;

/// Used at or above this share of hard (percent), a quota resource is exhausted.
pub const EXHAUSTED_PERCENT: u64 = 100;

/// Used at or above this share of hard (percent), a quota resource is nearly exhausted: shown
/// beside the quota, not a health reason, since the verdict has no level below Degraded.
pub const NEARLY_EXHAUSTED_PERCENT: u64 = 90;

/// One quota with resources used up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExhaustedQuota {
    /// Namespace.
    pub namespace: String,
    /// Quota name.
    pub name: String,
    /// The exhausted resources with used and hard (`requests.cpu 4/4`), by resource name.
    pub resources: Vec<String>,
}

impl ExhaustedQuota {
    /// `quota`'s exhausted resources, or `None` when it has room for everything it limits. A
    /// hard amount of zero forbids the resource on purpose and a resource not yet counted is
    /// unknown: neither counts.
    pub fn of(quota: &ResourceQuotaProjection) -> Option<Self> {
        let resources: Vec<String> = quota
            .resources
            .iter()
            .filter(|r| r.percent_used().is_some_and(|p| p >= EXHAUSTED_PERCENT))
            .map(|r| r.usage_text())
            .collect();
        (!resources.is_empty()).then(|| Self {
            namespace: quota.namespace.clone(),
            name: quota.name.clone(),
            resources,
        })
    }
}

impl fmt::Display for ExhaustedQuota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "quota {} in {}: {} used",
            self.name,
            self.namespace,
            self.resources.join(", ")
        )
    }
}

/// The exhausted quotas of a cluster: how many, and the first few by namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExhaustedQuotas {
    /// How many quotas have a resource used up.
    pub count: u32,
    /// At most [`EXAMPLES`] of them, in order.
    pub quotas: Vec<ExhaustedQuota>,
}

impl ExhaustedQuotas {
    /// Gathers `quotas` (in namespace and name order); `None` when there is none.
    pub fn gather<'a>(quotas: impl IntoIterator<Item = &'a ExhaustedQuota>) -> Option<Self> {
        let mut all = Self {
            count: 0,
            quotas: Vec::new(),
        };
        for quota in quotas {
            all.count += 1;
            if all.quotas.len() < EXAMPLES {
                all.quotas.push(quota.clone());
            }
        }
        (all.count > 0).then_some(all)
    }
}

impl fmt::Display for ExhaustedQuotas {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quotas: Vec<String> = self.quotas.iter().map(ToString::to_string).collect();
        write!(f, "{}", quotas.join("; "))?;
        let rest = (self.count as usize).saturating_sub(self.quotas.len());
        if rest > 0 {
            write!(f, "; and {rest} more quotas")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::QuotaResource;
    use crate::model::health::{HealthReason, HealthReport, HealthStatus};

    fn quota(name: &str, resources: &[(&str, u64, Option<u64>)]) -> ResourceQuotaProjection {
        ResourceQuotaProjection {
            name: name.into(),
            namespace: "payments".into(),
            uid: format!("u-{name}"),
            scopes: vec![],
            resources: resources
                .iter()
                .map(|(resource, hard, used)| QuotaResource {
                    resource: (*resource).into(),
                    hard_milli: *hard,
                    used_milli: *used,
                })
                .collect(),
            labels: Default::default(),
            created: None,
        }
    }

    #[test]
    fn only_resources_at_or_over_hard_exhaust_a_quota() {
        let full = quota(
            "compute-resources",
            &[
                ("pods", 10_000, Some(9_000)),
                ("requests.cpu", 4000, Some(4000)),
                ("requests.memory", (8 << 30) * 1000, Some((9 << 30) * 1000)),
            ],
        );
        let exhausted = ExhaustedQuota::of(&full).unwrap();
        assert_eq!(
            exhausted.to_string(),
            "quota compute-resources in payments: requests.cpu 4/4, \
             requests.memory 9Gi/8Gi used"
        );
        let room = quota(
            "room",
            &[
                ("pods", 10_000, Some(9_999)),
                ("services.nodeports", 0, Some(0)),
                ("requests.cpu", 4000, None),
            ],
        );
        assert_eq!(ExhaustedQuota::of(&room), None);
    }

    #[test]
    fn exhausted_quotas_are_a_degraded_reason_counted_with_five_named() {
        let quotas: Vec<ExhaustedQuota> = (0..7)
            .map(|i| {
                ExhaustedQuota::of(&quota(&format!("q{i}"), &[("pods", 1000, Some(1000))])).unwrap()
            })
            .collect();
        assert_eq!(ExhaustedQuotas::gather([]), None);
        let all = ExhaustedQuotas::gather(&quotas).unwrap();
        assert_eq!((all.count, all.quotas.len()), (7, EXAMPLES));
        let report = HealthReport::from_reasons(vec![]).with_exhausted_quotas(Some(all.clone()));
        assert_eq!(report.status, HealthStatus::Degraded);
        let text = report.reasons[0].to_string();
        assert!(
            text.starts_with("quota q0 in payments: pods 1/1 used; quota q1 in payments"),
            "{text}"
        );
        assert!(text.ends_with("; and 2 more quotas"), "{text}");
        let healthy = HealthReport::from_reasons(vec![]).with_exhausted_quotas(None);
        assert_eq!(healthy.status, HealthStatus::Healthy);
        assert_eq!(
            postcard::to_allocvec(&HealthReason::QuotasExhausted(all)).unwrap()[0],
            0x0a,
            "appended after PodsFailing"
        );
    }

    /// Appended to what agents send: the reason's variant index and fields are pinned.
    #[test]
    fn golden_bytes() {
        let reason = HealthReason::QuotasExhausted(ExhaustedQuotas {
            count: 1,
            quotas: vec![ExhaustedQuota {
                namespace: "a".into(),
                name: "q".into(),
                resources: vec!["pods 1/1".into()],
            }],
        });
        let bytes = postcard::to_allocvec(&reason).unwrap();
        assert_eq!(
            bytes,
            [
                0x0a, 0x01, 0x01, 0x01, b'a', 0x01, b'q', 0x01, 0x08, b'p', b'o', b'd', b's', b' ',
                b'1', b'/', b'1'
            ]
        );
        assert_eq!(
            postcard::from_bytes::<HealthReason>(&bytes).unwrap(),
            reason
        );
    }
}
