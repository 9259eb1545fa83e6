//! ResourceQuota and LimitRange projections: what a namespace may use and how much of it is
//! used, and the defaults and bounds its containers get — what the namespace page shows and
//! what quota exhaustion in health is judged from.
//!
//! Amounts are kept as canonical numbers: thousandths of the resource's unit (millicores for
//! `cpu`, millibytes for `memory`, thousandths of an object for `count/…` and `pods`), parsed
//! exactly by [`crate::quantity`], so `4` and `4000m` are the same amount and a ratio of used
//! to hard is integer arithmetic. [`quantity_text`] writes one back the way people read it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{LimitRange, ResourceQuota};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde::{Deserialize, Serialize};

use super::Labels;
use crate::quantity::parse_scaled;
use crate::time::UnixMillis;

/// One resource a quota limits, e.g. `requests.cpu`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaResource {
    /// The resource name as the quota writes it: `requests.cpu`, `pods`, `count/jobs.batch`.
    pub resource: String,
    /// `spec.hard`, in thousandths of the unit.
    pub hard_milli: u64,
    /// `status.used`, in thousandths of the unit; `None` until the quota controller has
    /// counted it.
    pub used_milli: Option<u64>,
}

impl QuotaResource {
    /// Used as a share of hard, in percent rounded down; `None` when not counted yet or when
    /// hard is zero (a quota of zero forbids the resource outright: a rule, not a shortage).
    pub fn percent_used(&self) -> Option<u64> {
        let used = self.used_milli?;
        (self.hard_milli > 0).then(|| (u128::from(used) * 100 / u128::from(self.hard_milli)) as u64)
    }

    /// `requests.cpu 4/4`: the resource with used and hard as people read them.
    pub fn usage_text(&self) -> String {
        format!(
            "{} {}/{}",
            self.resource,
            quantity_text(&self.resource, self.used_milli.unwrap_or(0)),
            quantity_text(&self.resource, self.hard_milli)
        )
    }
}

/// The kept part of a `ResourceQuota`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceQuotaProjection {
    /// Quota name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Object uid.
    #[serde(with = "crate::uid")]
    pub uid: String,
    /// Which pods the quota counts, in words: `spec.scopes` as written (`Terminating`,
    /// `BestEffort`, …) then each `scopeSelector` expression (`PriorityClass In high, low`).
    /// Empty: every object in the namespace.
    pub scopes: Vec<String>,
    /// Each limited resource, by name.
    pub resources: Vec<QuotaResource>,
    /// Labels.
    pub labels: Labels,
    /// Creation time.
    pub created: Option<UnixMillis>,
}

impl From<&ResourceQuota> for ResourceQuotaProjection {
    fn from(quota: &ResourceQuota) -> Self {
        let meta = &quota.metadata;
        let spec = quota.spec.as_ref();
        let used = quota.status.as_ref().and_then(|s| s.used.as_ref());
        let mut scopes: Vec<String> = spec.and_then(|s| s.scopes.clone()).unwrap_or_default();
        let expressions = spec
            .and_then(|s| s.scope_selector.as_ref())
            .and_then(|s| s.match_expressions.as_ref());
        for e in expressions.into_iter().flatten() {
            let values = e.values.as_deref().unwrap_or_default();
            scopes.push(if values.is_empty() {
                format!("{} {}", e.scope_name, e.operator)
            } else {
                format!("{} {} {}", e.scope_name, e.operator, values.join(", "))
            });
        }
        let resources = spec
            .and_then(|s| s.hard.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|(resource, hard)| {
                Some(QuotaResource {
                    resource: resource.clone(),
                    hard_milli: milli(hard)?,
                    used_milli: used.and_then(|u| u.get(resource)).and_then(milli),
                })
            })
            .collect();
        Self {
            name: super::name_of(meta),
            namespace: super::namespace_of(meta),
            uid: super::uid_of(meta),
            scopes,
            resources,
            labels: super::labels_of(meta),
            created: super::created_of(meta),
        }
    }
}

/// One resource's bounds for one type of object in a `LimitRange`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitRangeLimit {
    /// `Container`, `Pod` or `PersistentVolumeClaim`.
    pub type_: String,
    /// `cpu`, `memory`, `storage`, …
    pub resource: String,
    /// `default`: the limit a container gets when it sets none (thousandths of the unit).
    pub default_milli: Option<u64>,
    /// `defaultRequest`: the request a container gets when it sets none.
    pub default_request_milli: Option<u64>,
    /// `min`.
    pub min_milli: Option<u64>,
    /// `max`.
    pub max_milli: Option<u64>,
    /// `maxLimitRequestRatio`, in thousandths (`2` is 2000).
    pub max_limit_request_ratio_milli: Option<u64>,
}

/// The kept part of a `LimitRange`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitRangeProjection {
    /// LimitRange name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Object uid.
    #[serde(with = "crate::uid")]
    pub uid: String,
    /// Every (type, resource) the range bounds, in the order of its items, resources by name.
    pub limits: Vec<LimitRangeLimit>,
    /// Creation time.
    pub created: Option<UnixMillis>,
}

impl From<&LimitRange> for LimitRangeProjection {
    fn from(range: &LimitRange) -> Self {
        let meta = &range.metadata;
        let items = range.spec.as_ref().map(|s| s.limits.as_slice());
        let mut limits = Vec::new();
        for item in items.unwrap_or_default() {
            let lists = [
                item.default.as_ref(),
                item.default_request.as_ref(),
                item.min.as_ref(),
                item.max.as_ref(),
                item.max_limit_request_ratio.as_ref(),
            ];
            let mut names: Vec<&String> = lists.iter().flatten().flat_map(|l| l.keys()).collect();
            names.sort();
            names.dedup();
            let get = |list: Option<&BTreeMap<String, Quantity>>, name: &str| {
                list.and_then(|l| l.get(name)).and_then(milli)
            };
            for name in names {
                limits.push(LimitRangeLimit {
                    type_: item.type_.clone(),
                    resource: name.clone(),
                    default_milli: get(lists[0], name),
                    default_request_milli: get(lists[1], name),
                    min_milli: get(lists[2], name),
                    max_milli: get(lists[3], name),
                    max_limit_request_ratio_milli: get(lists[4], name),
                });
            }
        }
        Self {
            name: super::name_of(meta),
            namespace: super::namespace_of(meta),
            uid: super::uid_of(meta),
            limits,
            created: super::created_of(meta),
        }
    }
}

/// A quantity in thousandths of its unit; `None` when it does not parse (the apiserver
/// validates quantities, so only a newer grammar could get here) or is negative.
fn milli(quantity: &Quantity) -> Option<u64> {
    parse_scaled(&quantity.0, 3).ok()
}

/// Binary suffixes, largest first, with their power of two.
const BINARY: [(&str, u32); 6] = [
    ("Ei", 60),
    ("Pi", 50),
    ("Ti", 40),
    ("Gi", 30),
    ("Mi", 20),
    ("Ki", 10),
];

/// An amount of `resource` (in thousandths) as people write it: whole amounts plainly
/// (`4`, `10`), fractions in milli (`500m`), and bytes of memory or storage with the largest
/// binary suffix that divides them (`8Gi`, `1536Mi`).
pub fn quantity_text(resource: &str, milli: u64) -> String {
    if !milli.is_multiple_of(1000) {
        return format!("{milli}m");
    }
    let whole = milli / 1000;
    let bytes = ["memory", "storage"]
        .iter()
        .any(|unit| resource.contains(unit));
    if bytes && whole > 0 {
        for (suffix, exp2) in BINARY {
            if whole.is_multiple_of(1u64 << exp2) {
                return format!("{}{suffix}", whole >> exp2);
            }
        }
    }
    whole.to_string()
}

#[cfg(test)]
mod tests;
