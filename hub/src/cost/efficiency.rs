//! Efficiency: for each group (namespace, team, cost center, cluster, label value; or
//! workload, see [`workload_efficiency`]) over a window, CPU and memory requested vs used and what the unused request cost. The pure part of
//! `GET /api/v1/k8s/costs/efficiency`, computed from the stored hourly rows so it agrees with
//! the cost reports to the nano-dollar.
//!
//! # Method
//!
//! Only containers with both a request and usage data count (the rows' `measured_*`
//! quantities), so containers without metrics do not pass for efficient. Per hourly row and
//! resource, the request's cost is `cost × measured_requested / billed` (the row's average
//! price per billed unit, which differs per node in the `node` mode) and the unused request's
//! cost is `cost × max(0, measured_requested − measured_used) / billed`, each rounded half up
//! once; a group sums its rows. Usage above request in one hour does not offset waste in
//! another. Idle rows are not a group's: they are left out.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::str::FromStr;

use super::allocation::{Allocation, ResourceAllocation};
use super::{AggregateBy, NanoDollars, Window};

/// CPU or memory of a group: measured requests and usage in the units of
/// [`ResourceAllocation`] (millicore-milliseconds, byte-milliseconds) and their cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResourceEfficiency {
    /// Requests of the containers with usage data, over time.
    pub requested: u128,
    /// Their usage over time.
    pub used: u128,
    /// What those requests cost.
    pub requested_cost: NanoDollars,
    /// What the part of those requests that went unused cost.
    pub unused_cost: NanoDollars,
}

impl ResourceEfficiency {
    /// Used / requested; `None` without measured requests.
    pub fn efficiency(&self) -> Option<f64> {
        (self.requested > 0).then(|| self.used as f64 / self.requested as f64)
    }

    /// Adds one row's measured requests and usage and their (unused) cost: also what one
    /// FOCUS export line reports for its row.
    pub(crate) fn add_row(&mut self, row: &ResourceAllocation) {
        self.requested += row.measured_requested;
        self.used += row.measured_used;
        if row.billed == 0 {
            return;
        }
        let cost = u128::from(row.cost.0);
        let unused = row.measured_requested.saturating_sub(row.measured_used);
        self.requested_cost +=
            NanoDollars::round_half_up(cost * row.measured_requested, row.billed);
        self.unused_cost += NanoDollars::round_half_up(cost * unused, row.billed);
    }
}

/// One group's efficiency over the window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EfficiencyLine {
    /// The group's value.
    pub key: String,
    /// The cluster's name when the group is a workload (`aggregate=workload`), which is
    /// within one cluster; `None` for groups that span clusters.
    pub cluster: Option<String>,
    /// CPU.
    pub cpu: ResourceEfficiency,
    /// Memory.
    pub memory: ResourceEfficiency,
}

impl EfficiencyLine {
    /// CPU and memory unused request cost: the waste a right-sizing would save.
    pub fn unused_cost(&self) -> NanoDollars {
        self.cpu.unused_cost + self.memory.unused_cost
    }

    /// Cost-weighted efficiency of CPU and memory together: the share of the requests' cost
    /// that was used; `None` without measured requests.
    pub fn efficiency(&self) -> Option<f64> {
        let requested = self.cpu.requested_cost + self.memory.requested_cost;
        (requested.0 > 0).then(|| 1.0 - self.unused_cost().0 as f64 / requested.0 as f64)
    }
}

/// How efficiency lines are ordered (`sort=`): by unused cost or efficiency, either way, or
/// by key; ties by key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EfficiencySort {
    /// `-waste` (default): most unused cost first.
    #[default]
    MostWaste,
    /// `waste`.
    LeastWaste,
    /// `efficiency`: least efficient first.
    LeastEfficient,
    /// `-efficiency`.
    MostEfficient,
    /// `key`.
    Key,
}

/// A `sort` value that names no ordering.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown sort {0:?}: expected -waste, waste, efficiency, -efficiency or key")]
pub struct ParseEfficiencySortError(pub String);

impl FromStr for EfficiencySort {
    type Err = ParseEfficiencySortError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "-waste" => Ok(Self::MostWaste),
            "waste" => Ok(Self::LeastWaste),
            "efficiency" => Ok(Self::LeastEfficient),
            "-efficiency" => Ok(Self::MostEfficient),
            "key" => Ok(Self::Key),
            _ => Err(ParseEfficiencySortError(text.to_owned())),
        }
    }
}

/// The efficiency of every group of `rows` starting inside `window`, idle left out, ordered
/// by `sort`.
pub fn efficiency(
    rows: &[Allocation],
    window: Window,
    by: &AggregateBy,
    sort: EfficiencySort,
) -> Vec<EfficiencyLine> {
    let mut groups: BTreeMap<String, EfficiencyLine> = BTreeMap::new();
    for row in rows {
        if row.is_idle() || row.start < window.start || row.start >= window.end {
            continue;
        }
        let key = by.key_of(row);
        let line = groups
            .entry(key.to_string())
            .or_insert_with(|| EfficiencyLine {
                key: key.into_owned(),
                cluster: None,
                cpu: ResourceEfficiency::default(),
                memory: ResourceEfficiency::default(),
            });
        line.cpu.add_row(&row.cost.cpu);
        line.memory.add_row(&row.cost.memory);
    }
    let mut lines: Vec<EfficiencyLine> = groups.into_values().collect();
    sort_lines(&mut lines, sort);
    lines
}

/// Orders `lines` by `sort`, ties by key then cluster.
fn sort_lines(lines: &mut [EfficiencyLine], sort: EfficiencySort) {
    // Unknown efficiency sorts last either way.
    let by_efficiency =
        |a: &EfficiencyLine, b: &EfficiencyLine, most: bool| match (a.efficiency(), b.efficiency())
        {
            (Some(x), Some(y)) if most => y.total_cmp(&x),
            (Some(x), Some(y)) => x.total_cmp(&y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
    lines.sort_by(|a, b| {
        let primary = match sort {
            EfficiencySort::MostWaste => b.unused_cost().cmp(&a.unused_cost()),
            EfficiencySort::LeastWaste => a.unused_cost().cmp(&b.unused_cost()),
            EfficiencySort::LeastEfficient => by_efficiency(a, b, false),
            EfficiencySort::MostEfficient => by_efficiency(a, b, true),
            EfficiencySort::Key => Ordering::Equal,
        };
        primary
            .then_with(|| a.key.cmp(&b.key))
            .then_with(|| a.cluster.cmp(&b.cluster))
    });
}

mod workload;

pub use workload::workload_efficiency;

#[cfg(test)]
mod tests;
