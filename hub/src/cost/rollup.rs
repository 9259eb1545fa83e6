//! Pure roll-ups of allocation rows: daily rows for storage and charts, and the grouping the
//! allocation API answers (`aggregate=namespace|cluster|team|cost_center|label:KEY` over a
//! `window`, accumulated; `workload` in [`aggregate_workloads`]). Sums are exact: they add the rows' already rounded costs.

use std::collections::BTreeMap;
use std::str::FromStr;

use kubeworkz_shared::ids::ClusterId;
use kubeworkz_shared::model::Labels;
use kubeworkz_shared::time::UnixMillis;

use super::Pricing;
use super::allocation::{Allocation, CostBreakdown};
use super::window::{MILLIS_PER_DAY, Window};

/// Sums hourly rows into one row per UTC day, cluster and namespace attribution. A namespace
/// relabeled during a day gets one row per attribution (team, cost center, labels), so history
/// keeps what each hour was charged to. Output is sorted by cluster, day, namespace.
pub fn rollup_daily(rows: &[Allocation]) -> Vec<Allocation> {
    type DayKey<'a> = (ClusterId, i64, &'a str, &'a str, &'a str, &'a Labels);
    let mut days: BTreeMap<DayKey<'_>, (CostBreakdown, Option<&Pricing>)> = BTreeMap::new();
    for row in rows {
        let day = row.start.0.div_euclid(MILLIS_PER_DAY) * MILLIS_PER_DAY;
        let key = (
            row.cluster,
            day,
            row.namespace.as_str(),
            row.team.as_str(),
            row.cost_center.as_str(),
            &row.labels,
        );
        let day = days.entry(key).or_default();
        day.0.add(&row.cost);
        day.1 = row.pricing.as_ref().or(day.1);
    }
    days.into_iter()
        .map(
            |((cluster, day, namespace, team, cost_center, labels), (cost, pricing))| Allocation {
                cluster,
                start: UnixMillis(day),
                end: UnixMillis(day + MILLIS_PER_DAY),
                namespace: namespace.to_owned(),
                team: team.to_owned(),
                cost_center: cost_center.to_owned(),
                labels: labels.clone(),
                cost,
                pricing: pricing.cloned(),
            },
        )
        .collect()
}

/// What rows are grouped by: OpenCost's `aggregate` parameter. (`workload` groups the
/// workload split of the rows, not the rows: [`aggregate_workloads`].)
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AggregateBy {
    /// `cluster`: the cluster id.
    Cluster,
    /// `namespace`.
    Namespace,
    /// `team`: the team label (configured key) as it was when the cost arose.
    Team,
    /// `cost_center` (also `costcenter`, `cost-center`).
    CostCenter,
    /// `label:KEY`: a namespace label's value, `unallocated` without it.
    Label(String),
}

/// An `aggregate` value that names no known grouping.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown aggregate {0:?}: expected cluster, namespace, team, cost_center, label:KEY or workload"
)]
pub struct ParseAggregateError(pub String);

impl FromStr for AggregateBy {
    type Err = ParseAggregateError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "cluster" => Ok(Self::Cluster),
            "namespace" => Ok(Self::Namespace),
            "team" => Ok(Self::Team),
            "cost_center" | "costcenter" | "cost-center" => Ok(Self::CostCenter),
            _ => match text.strip_prefix("label:") {
                Some(key) if !key.is_empty() => Ok(Self::Label(key.to_owned())),
                _ => Err(ParseAggregateError(text.to_owned())),
            },
        }
    }
}

impl AggregateBy {
    pub(crate) fn key_of<'a>(&self, row: &'a Allocation) -> std::borrow::Cow<'a, str> {
        match self {
            Self::Cluster => row.cluster.to_string().into(),
            Self::Namespace => row.namespace.as_str().into(),
            Self::Team => row.team.as_str().into(),
            Self::CostCenter => row.cost_center.as_str().into(),
            Self::Label(key) => row.label_value(key).into(),
        }
    }
}

/// One group of an aggregation over a window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AggregateRow {
    /// The group's value (namespace name, team, label value, cluster id, `__idle__`, …).
    pub key: String,
    /// The window the rows were taken from.
    pub window: Window,
    /// Summed quantities, costs and flags.
    pub cost: CostBreakdown,
}

/// Groups the rows that start inside `window` by `by` and sums them (OpenCost's
/// `accumulate=true`). Sorted by total cost, highest first, then by key.
pub fn aggregate(rows: &[Allocation], window: Window, by: &AggregateBy) -> Vec<AggregateRow> {
    let mut groups: BTreeMap<std::borrow::Cow<'_, str>, CostBreakdown> = BTreeMap::new();
    for row in rows.iter().filter(|row| window.contains(row.start)) {
        groups.entry(by.key_of(row)).or_default().add(&row.cost);
    }
    let mut result: Vec<AggregateRow> = groups
        .into_iter()
        .map(|(key, cost)| AggregateRow {
            key: key.into_owned(),
            window,
            cost,
        })
        .collect();
    result.sort_by(|a, b| {
        b.cost
            .total
            .cmp(&a.cost.total)
            .then_with(|| a.key.cmp(&b.key))
    });
    result
}

mod workloads;

pub use workloads::{
    STORAGE_KIND, UNATTRIBUTED_KIND, WorkloadGroup, WorkloadRef, aggregate_workloads,
};

#[cfg(test)]
mod tests;
