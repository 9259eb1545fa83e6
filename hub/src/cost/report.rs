//! The queries behind the cost API, as plain async functions over `&dyn Store` returning serde
//! types, so the HTTP layer only parses parameters and picks JSON or CSV:
//!
//! - [`namespace_costs`]: one namespace over a window in steps (`window=7d&step=1d`), each
//!   point broken down by CPU, memory, storage and network with efficiency = usage / request;
//! - [`costs`]: the organization's costs over a window grouped by `aggregate`
//!   (`cluster|namespace|team|cost_center|label:KEY`), optionally filtered, idle included on
//!   request; [`CostReport::to_csv`] is the CSV export.
//!
//! Both read the stored hourly rows and sum them exactly (the engine's [`aggregate`]), so they
//! agree with each other and, over whole days, with the daily rollups behind
//! `v_k8s_namespace_costs`.

use std::str::FromStr;

use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::time::{MILLIS_PER_HOUR, UnixMillis};
use serde::{Deserialize, Serialize};

use super::window::MILLIS_PER_DAY;
use super::{
    AggregateBy, Allocation, BYTES_PER_GB, CostBreakdown, IDLE_NAMESPACE, ResourceAllocation,
    Window, aggregate,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

/// CPU or memory of a cost line, in core-hours or GiB-hours.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ResourceLine {
    /// What was billed: max(request, usage) over time.
    pub billed: f64,
    /// Requested.
    pub requested: f64,
    /// Used (where usage was measured).
    pub used: f64,
    /// Usage / request over containers with both; `None` without such containers.
    pub efficiency: Option<f64>,
    /// Cost in dollars (presentation; `total_nanos` of the line is exact).
    pub cost: f64,
}

impl ResourceLine {
    fn from(resource: &ResourceAllocation, unit: f64) -> Self {
        Self {
            billed: resource.billed as f64 / unit,
            requested: resource.requested as f64 / unit,
            used: resource.used as f64 / unit,
            efficiency: resource.efficiency(),
            cost: resource.cost.to_dollars_f64(),
        }
    }
}

/// One line of a cost answer: a group (or a time step) with its breakdown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostLine {
    /// The group's value (namespace, team, cluster id, label value, `__idle__`), or the
    /// step's start for a series.
    pub key: String,
    /// Start of the window or step.
    pub start: UnixMillis,
    /// End of the window or step (exclusive).
    pub end: UnixMillis,
    /// CPU in core-hours.
    pub cpu: ResourceLine,
    /// Memory in GiB-hours.
    pub memory: ResourceLine,
    /// Persistent volumes in GiB-hours.
    pub storage_gib_hours: f64,
    /// Storage cost in dollars.
    pub storage_cost: f64,
    /// Egress in GiB, when known.
    pub network_egress_gib: Option<f64>,
    /// Network cost in dollars.
    pub network_cost: f64,
    /// Total in dollars.
    pub total_cost: f64,
    /// Total in nano-dollars: exact, what sums and comparisons use.
    pub total_nanos: u64,
    /// Some container had no usage data (billed its request).
    pub usage_unknown: bool,
    /// Idle was clamped at zero (allocations above node capacity).
    pub idle_clamped: bool,
}

const MILLICORE_MS_PER_CORE_HOUR: f64 = 1000.0 * MILLIS_PER_HOUR as f64;
const BYTE_MS_PER_GIB_HOUR: f64 = BYTES_PER_GB as f64 * MILLIS_PER_HOUR as f64;

impl CostLine {
    fn new(key: String, start: UnixMillis, end: UnixMillis, cost: &CostBreakdown) -> Self {
        Self {
            key,
            start,
            end,
            cpu: ResourceLine::from(&cost.cpu, MILLICORE_MS_PER_CORE_HOUR),
            memory: ResourceLine::from(&cost.memory, BYTE_MS_PER_GIB_HOUR),
            storage_gib_hours: cost.storage.byte_millis as f64 / BYTE_MS_PER_GIB_HOUR,
            storage_cost: cost.storage.cost.to_dollars_f64(),
            network_egress_gib: cost
                .network
                .map(|n| n.egress_bytes as f64 / BYTES_PER_GB as f64),
            network_cost: cost.network.map_or(0.0, |n| n.cost.to_dollars_f64()),
            total_cost: cost.total.to_dollars_f64(),
            total_nanos: cost.total.0,
            usage_unknown: cost.flags.usage_unknown,
            idle_clamped: cost.flags.idle_clamped,
        }
    }
}

/// What [`namespace_costs`] answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
}

async fn hourly_rows(
    store: &dyn Store,
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
    store: &dyn Store,
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
        CostLine::new(from.to_string(), from, to, cost)
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
        total: CostLine::new(namespace.to_owned(), window.start, window.end, &total),
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
    fn matches(&self, row: &Allocation) -> bool {
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

/// What [`costs`] answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostReport {
    /// The window.
    pub window: Window,
    /// One line per group, most expensive first.
    pub lines: Vec<CostLine>,
    /// Everything in the answer.
    pub total: CostLine,
}

/// The organization's costs over a window, grouped, filtered, with or without idle.
pub async fn costs(
    store: &dyn Store,
    org: OrgId,
    query: &CostQuery,
) -> Result<CostReport, ReportError> {
    let window = query.window;
    let rows: Vec<Allocation> = hourly_rows(store, org, window, None, None)
        .await?
        .into_iter()
        .filter(|row| query.include_idle || row.namespace != IDLE_NAMESPACE)
        .filter(|row| query.filter.as_ref().is_none_or(|f| f.matches(row)))
        .collect();
    let mut total = CostBreakdown::default();
    let lines = aggregate(&rows, window, &query.aggregate)
        .into_iter()
        .map(|group| {
            total.add(&group.cost);
            CostLine::new(group.key, window.start, window.end, &group.cost)
        })
        .collect();
    Ok(CostReport {
        window,
        lines,
        total: CostLine::new("total".to_owned(), window.start, window.end, &total),
    })
}

impl CostReport {
    /// The lines as CSV (RFC 4180), money as exact decimal dollars. Keys that a spreadsheet
    /// would run as a formula (`=`, `+`, `-`, `@`) are prefixed with `'`.
    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "key,start,end,cpu_core_hours,cpu_request_core_hours,cpu_usage_core_hours,\
             cpu_efficiency,cpu_cost,memory_gib_hours,memory_request_gib_hours,\
             memory_usage_gib_hours,memory_efficiency,memory_cost,storage_gib_hours,\
             storage_cost,network_egress_gib,network_cost,total_cost,usage_unknown,idle_clamped\r\n",
        );
        for line in &self.lines {
            let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.6}"));
            let fields = [
                csv_text(&line.key),
                line.start.to_string(),
                line.end.to_string(),
                format!("{:.6}", line.cpu.billed),
                format!("{:.6}", line.cpu.requested),
                format!("{:.6}", line.cpu.used),
                opt(line.cpu.efficiency),
                format!("{:.9}", line.cpu.cost),
                format!("{:.6}", line.memory.billed),
                format!("{:.6}", line.memory.requested),
                format!("{:.6}", line.memory.used),
                opt(line.memory.efficiency),
                format!("{:.9}", line.memory.cost),
                format!("{:.6}", line.storage_gib_hours),
                format!("{:.9}", line.storage_cost),
                opt(line.network_egress_gib),
                format!("{:.9}", line.network_cost),
                super::NanoDollars(line.total_nanos).to_string(),
                line.usage_unknown.to_string(),
                line.idle_clamped.to_string(),
            ];
            out.push_str(&fields.join(","));
            out.push_str("\r\n");
        }
        out
    }
}

fn csv_text(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
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

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_text("web"), "web");
        assert_eq!(csv_text("a,b"), "\"a,b\"");
        assert_eq!(csv_text("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_text("=cmd()"), "'=cmd()");
    }
}
