//! The queries behind the cost API, as plain async functions over `&Store` returning
//! exact sums, so the HTTP layer (`hub::api`, which owns the JSON and CSV shapes) only parses
//! parameters and presents:
//!
//! - [`namespace_costs`]: one namespace over a window in steps (`window=7d&step=1d`), each
//!   point a [`CostBreakdown`] (CPU, memory, storage and network, with the sums efficiency
//!   is computed from);
//! - [`costs`]: the organization's costs over a window grouped by `aggregate`
//!   (`cluster|namespace|team|cost_center|label:KEY`), optionally filtered, idle included on
//!   request.
//!
//! Both read the stored hourly rows and sum them exactly (the engine's [`aggregate`]), so they
//! agree with each other and, over whole days, with the daily rollups behind
//! `v_k8s_namespace_costs`.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::time::{MILLIS_PER_HOUR, UnixMillis};

use super::window::MILLIS_PER_DAY;
use super::{
    AggregateBy, Allocation, CostBreakdown, EfficiencyLine, EfficiencySort, IDLE_NAMESPACE,
    Pricing, Window, WorkloadRef, aggregate, aggregate_workloads, efficiency,
};
use crate::store::{CostPeriod, CostRowFilter, Store, StoreError};

/// Why a cost query was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A `step` that is not a whole number of hours or days.
    #[error("unknown step {0:?}: expected a whole number of hours or days, e.g. 1h or 1d")]
    BadStep(String),
    /// A `filter` that does not parse.
    #[error(
        "bad filter {0:?}: expected FIELD:VALUE[,VALUE…] joined by +, FIELD one of cluster, namespace, team, cost_center or label:KEY"
    )]
    BadFilter(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The `step` of a namespace cost series: a whole number of hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Length in milliseconds.
    pub millis: i64,
}

impl FromStr for Step {
    type Err = ReportError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || ReportError::BadStep(text.to_owned());
        let unit_at = text.len().checked_sub(1).ok_or_else(bad)?;
        // Not a char boundary when the text ends in a multi-byte character: not a step.
        let (number, unit) = text.split_at_checked(unit_at).ok_or_else(bad)?;
        let unit = match unit {
            "h" => MILLIS_PER_HOUR,
            "d" => MILLIS_PER_DAY,
            _ => return Err(bad()),
        };
        let count: i64 = number.parse().map_err(|_| bad())?;
        if count <= 0 || count > 366 * 24 {
            return Err(bad());
        }
        Ok(Self {
            millis: count * unit,
        })
    }
}

/// One line of a cost answer: a group (or a time step) and its exact sums.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostLine {
    /// The group's value (namespace, team, cluster id, label value, `__idle__`), or the
    /// step's start for a series.
    pub key: String,
    /// Start of the window or step.
    pub start: UnixMillis,
    /// End of the window or step (exclusive).
    pub end: UnixMillis,
    /// Quantities, costs and flags summed over the line's rows.
    pub cost: CostBreakdown,
    /// The workload (cluster, kind, namespace, name, pods, nodes) of an `aggregate=workload`
    /// line; `None` in the other groupings.
    pub workload: Option<WorkloadRef>,
}

impl CostLine {
    fn new(key: String, start: UnixMillis, end: UnixMillis, cost: CostBreakdown) -> Self {
        Self {
            key,
            start,
            end,
            cost,
            workload: None,
        }
    }
}

/// What [`namespace_costs`] answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceCosts {
    /// The cluster.
    pub cluster: ClusterId,
    /// The namespace.
    pub namespace: String,
    /// The window.
    pub window: Window,
    /// The step, in milliseconds.
    pub step_millis: i64,
    /// One line per step that has cost, oldest first; `key` is the step's start.
    pub steps: Vec<CostLine>,
    /// The whole window.
    pub total: CostLine,
    /// What priced the hours of the answer.
    pub pricing: Vec<PricedHours>,
}

async fn hourly_rows(
    store: &Store,
    org: OrgId,
    window: Window,
    cluster: Option<ClusterId>,
    namespace: Option<&str>,
) -> Result<Vec<Allocation>, StoreError> {
    let filter = CostRowFilter {
        period: CostPeriod::Hour,
        start: window.start,
        end: window.end,
        cluster,
        namespace: namespace.map(str::to_owned),
    };
    store.cost_rows(org, &filter).await
}

/// One namespace's costs over `window` in steps of `step` (aligned to UTC multiples of the
/// step). A namespace of another organization, or unknown, has no rows: empty steps.
pub async fn namespace_costs(
    store: &Store,
    org: OrgId,
    cluster: ClusterId,
    namespace: &str,
    window: Window,
    step: Step,
) -> Result<NamespaceCosts, ReportError> {
    let rows = hourly_rows(store, org, window, Some(cluster), Some(namespace)).await?;
    let mut steps: Vec<CostLine> = Vec::new();
    let mut current: Option<(i64, CostBreakdown)> = None;
    let mut total = CostBreakdown::default();
    let close = |start: i64, cost: &CostBreakdown| {
        let from = UnixMillis(start.max(window.start.0));
        let to = UnixMillis((start + step.millis).min(window.end.0));
        CostLine::new(from.to_string(), from, to, *cost)
    };
    // Rows come ordered by start.
    for row in &rows {
        total.add(&row.cost);
        let bucket = row.start.0.div_euclid(step.millis) * step.millis;
        match &mut current {
            Some((start, cost)) if *start == bucket => cost.add(&row.cost),
            _ => {
                if let Some((start, cost)) = current.take() {
                    steps.push(close(start, &cost));
                }
                current = Some((bucket, row.cost));
            }
        }
    }
    if let Some((start, cost)) = current {
        steps.push(close(start, &cost));
    }
    Ok(NamespaceCosts {
        cluster,
        namespace: namespace.to_owned(),
        window,
        step_millis: step.millis,
        steps,
        total: CostLine::new(namespace.to_owned(), window.start, window.end, total),
        pricing: priced_hours(&rows),
    })
}

/// A `filter` parameter: every clause must match (`+` joins clauses); a clause matches when
/// the row's field is one of its values. `namespace:web,api+team:platform`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostFilter(Vec<(AggregateBy, Vec<String>)>);

impl FromStr for CostFilter {
    type Err = ReportError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || ReportError::BadFilter(text.to_owned());
        let mut clauses = Vec::new();
        for clause in text.split('+') {
            let (field, values) = clause.trim().rsplit_once(':').ok_or_else(bad)?;
            let field = AggregateBy::from_str(field.trim()).map_err(|_| bad())?;
            let values: Vec<String> = values
                .split(',')
                .map(|v| v.trim().trim_matches('"').to_owned())
                .collect();
            if values.iter().any(String::is_empty) {
                return Err(bad());
            }
            clauses.push((field, values));
        }
        Ok(Self(clauses))
    }
}

impl CostFilter {
    /// Whether `row` passes every clause.
    pub fn matches(&self, row: &Allocation) -> bool {
        self.0.iter().all(|(field, values)| {
            let value = field.key_of(row);
            values.iter().any(|v| *v == value)
        })
    }
}

/// The parameters of [`costs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostQuery {
    /// The window.
    pub window: Window,
    /// The grouping.
    pub aggregate: AggregateBy,
    /// Only rows matching this.
    pub filter: Option<CostFilter>,
    /// Include each cluster's `__idle__` row (its own group under any grouping).
    pub include_idle: bool,
}

/// How many cluster-hours of an answer one pricing priced: a reader sees which mode and
/// catalog date the costs are in (and when a window mixes them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedHours {
    /// The mode and catalog date; `None` for hours computed before pricing was recorded.
    pub pricing: Option<Pricing>,
    /// Cluster-hours priced so.
    pub cluster_hours: u64,
}

/// The pricings of `rows`, each with its distinct cluster-hours, most hours first.
fn priced_hours(rows: &[Allocation]) -> Vec<PricedHours> {
    let hours: BTreeSet<(Option<&Pricing>, ClusterId, i64)> = rows
        .iter()
        .map(|row| (row.pricing.as_ref(), row.cluster, row.start.0))
        .collect();
    let mut counts: BTreeMap<Option<&Pricing>, u64> = BTreeMap::new();
    for (pricing, _, _) in &hours {
        *counts.entry(*pricing).or_default() += 1;
    }
    let mut out: Vec<PricedHours> = counts
        .into_iter()
        .map(|(pricing, cluster_hours)| PricedHours {
            pricing: pricing.cloned(),
            cluster_hours,
        })
        .collect();
    out.sort_by_key(|p| std::cmp::Reverse(p.cluster_hours));
    out
}

/// What [`costs`] answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostReport {
    /// The window.
    pub window: Window,
    /// One line per group, most expensive first.
    pub lines: Vec<CostLine>,
    /// Everything in the answer.
    pub total: CostLine,
    /// What priced the hours of the answer.
    pub pricing: Vec<PricedHours>,
}

/// The hourly rows of `query`'s window, idle and filter applied.
async fn selected_rows(
    store: &Store,
    org: OrgId,
    query: &CostQuery,
) -> Result<Vec<Allocation>, ReportError> {
    Ok(hourly_rows(store, org, query.window, None, None)
        .await?
        .into_iter()
        .filter(|row| query.include_idle || row.namespace != IDLE_NAMESPACE)
        .filter(|row| query.filter.as_ref().is_none_or(|f| f.matches(row)))
        .collect())
}

/// The report of `lines` made from `rows`: their total and pricing beside them.
fn report(window: Window, rows: &[Allocation], lines: Vec<CostLine>) -> CostReport {
    let mut total = CostBreakdown::default();
    for line in &lines {
        total.add(&line.cost);
    }
    CostReport {
        window,
        lines,
        total: CostLine::new("total".to_owned(), window.start, window.end, total),
        pricing: priced_hours(rows),
    }
}

/// The organization's costs over a window, grouped, filtered, with or without idle.
pub async fn costs(
    store: &Store,
    org: OrgId,
    query: &CostQuery,
) -> Result<CostReport, ReportError> {
    let window = query.window;
    let rows = selected_rows(store, org, query).await?;
    let lines = aggregate(&rows, window, &query.aggregate)
        .into_iter()
        .map(|group| CostLine::new(group.key, window.start, window.end, group.cost))
        .collect();
    Ok(report(window, &rows, lines))
}

/// The organization's costs over a window grouped by workload (`aggregate=workload`): the
/// same rows as [`costs`], filtered and with idle the same way (`query.aggregate` unused),
/// each namespace-hour's compute under its workloads ([`aggregate_workloads`]), so the total
/// is the same as any grouping's.
pub async fn workload_costs(
    store: &Store,
    org: OrgId,
    query: &CostQuery,
) -> Result<CostReport, ReportError> {
    let window = query.window;
    let rows = selected_rows(store, org, query).await?;
    let workloads = store
        .workload_cost_rows(org, window.start, window.end)
        .await?;
    let lines = aggregate_workloads(&rows, &workloads, window)
        .into_iter()
        .map(|group| CostLine {
            workload: Some(group.workload.clone()),
            ..CostLine::new(group.workload.key(), window.start, window.end, group.cost)
        })
        .collect();
    Ok(report(window, &rows, lines))
}

/// The organization's efficiency per group over `window`, ordered by `sort`
/// ([`super::efficiency`]).
pub async fn efficiency_report(
    store: &Store,
    org: OrgId,
    window: Window,
    by: &AggregateBy,
    sort: EfficiencySort,
) -> Result<Vec<EfficiencyLine>, ReportError> {
    let rows = hourly_rows(store, org, window, None, None).await?;
    Ok(efficiency(&rows, window, by, sort))
}

/// Efficiency per workload over the whole UTC days the window touches (the daily workload
/// rollup's granularity: its first day from midnight), priced at each cluster's unit prices.
pub async fn workload_efficiency_report(
    store: &Store,
    org: OrgId,
    window: Window,
    sort: EfficiencySort,
) -> Result<Vec<EfficiencyLine>, ReportError> {
    let book = store.price_book(org).await?;
    let from_day = window.start.0.div_euclid(MILLIS_PER_DAY) * MILLIS_PER_DAY;
    let at = |t: i64| chrono::DateTime::from_timestamp_millis(t).unwrap_or_default();
    let totals = store
        .workload_totals(org, at(from_day), at(window.end.0))
        .await?;
    Ok(super::workload_efficiency(
        &totals,
        |cluster| book.for_cluster(cluster).base,
        sort,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_ending_in_a_multi_byte_character_is_refused_not_a_panic() {
        for text in ["\u{80}", "1\u{e9}", "\u{1f600}"] {
            assert!(
                matches!(text.parse::<Step>(), Err(ReportError::BadStep(_))),
                "{text:?}"
            );
        }
        assert_eq!("2h".parse::<Step>().unwrap().millis, 2 * MILLIS_PER_HOUR);
    }

    #[test]
    fn steps_are_whole_hours_or_days() {
        assert_eq!("1h".parse::<Step>().unwrap().millis, MILLIS_PER_HOUR);
        assert_eq!("1d".parse::<Step>().unwrap().millis, MILLIS_PER_DAY);
        assert_eq!("6h".parse::<Step>().unwrap().millis, 6 * MILLIS_PER_HOUR);
        for bad in ["", "d", "0d", "-1h", "1.5h", "30m", "1w", "x1d"] {
            assert!(bad.parse::<Step>().is_err(), "{bad}");
        }
    }

    #[test]
    fn filters_parse_and_refuse_with_the_reason() {
        let filter: CostFilter = "namespace:web,api+label:app.kubernetes.io/part-of:\"shop\""
            .parse()
            .unwrap();
        assert_eq!(
            filter,
            CostFilter(vec![
                (AggregateBy::Namespace, vec!["web".into(), "api".into()]),
                (
                    AggregateBy::Label("app.kubernetes.io/part-of".into()),
                    vec!["shop".into()]
                ),
            ])
        );
        for bad in ["web", "colour:red", "team:", "team:a,,b"] {
            let err = bad.parse::<CostFilter>().unwrap_err();
            assert!(err.to_string().starts_with("bad filter"), "{bad}: {err}");
        }
    }
}
