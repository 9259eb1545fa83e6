//! The JSON and CSV shapes of the cost endpoints, built from [`crate::cost::report`]'s exact
//! sums. Here, and only here, integers become presentation units: core-hours, GiB-hours and
//! dollars as floats for charts and spreadsheets, next to the exact `total_nanos` that sums
//! and comparisons use.

use kubeworkz_shared::time::{MILLIS_PER_HOUR, UnixMillis};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::cost::{
    BYTES_PER_GB, CostLine, CostReport, EfficiencyLine, NamespaceCosts, NanoDollars, PricedHours,
    PricingMode, ResourceAllocation, ResourceEfficiency, Window,
};

const MILLICORE_MS_PER_CORE_HOUR: f64 = 1000.0 * MILLIS_PER_HOUR as f64;
const BYTE_MS_PER_GIB_HOUR: f64 = BYTES_PER_GB as f64 * MILLIS_PER_HOUR as f64;

/// A half-open period `[start, end)` in milliseconds since the epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct CostWindowView {
    /// First instant inside.
    pub start: i64,
    /// First instant after.
    pub end: i64,
}

impl From<Window> for CostWindowView {
    fn from(window: Window) -> Self {
        Self {
            start: window.start.0,
            end: window.end.0,
        }
    }
}

/// CPU (in core-hours) or memory (in GiB-hours) of a cost line.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct ResourceCostView {
    /// What was billed: max(request, usage) over time.
    pub billed: f64,
    /// Requested.
    pub requested: f64,
    /// Used (where usage was measured).
    pub used: f64,
    /// Usage / request over containers with both; null without such containers.
    #[schema(required = true)]
    pub efficiency: Option<f64>,
    /// Cost in dollars (presentation; the line's `total_nanos` is exact).
    pub cost: f64,
}

impl ResourceCostView {
    fn new(resource: &ResourceAllocation, unit: f64) -> Self {
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
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CostLineView {
    /// The group's value (namespace, team, cluster id, label value, `__idle__`), or the
    /// step's start (RFC 3339) for a series.
    pub key: String,
    /// Start of the window or step, in milliseconds since the epoch.
    pub start: i64,
    /// End of the window or step (exclusive), in milliseconds since the epoch.
    pub end: i64,
    /// CPU in core-hours.
    pub cpu: ResourceCostView,
    /// Memory in GiB-hours.
    pub memory: ResourceCostView,
    /// Persistent volumes in GiB-hours.
    pub storage_gib_hours: f64,
    /// Storage cost in dollars.
    pub storage_cost: f64,
    /// Egress in GiB; null when unknown.
    #[schema(required = true)]
    pub network_egress_gib: Option<f64>,
    /// Network cost in dollars.
    pub network_cost: f64,
    /// GPUs requested, in GPU-hours.
    pub gpu_hours: f64,
    /// GPU cost in dollars (GPUs are priced in the `node` pricing mode).
    pub gpu_cost: f64,
    /// Total in dollars.
    pub total_cost: f64,
    /// Total in nano-dollars: exact, what sums and comparisons use.
    pub total_nanos: u64,
    /// Some container had no usage data (billed its request).
    pub usage_unknown: bool,
    /// Idle was clamped at zero (allocations above node capacity).
    pub idle_clamped: bool,
    /// What the line is under `aggregate=workload`; absent in the other groupings (whose
    /// answers keep their bytes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload: Option<WorkloadLineView>,
}

/// The workload of an `aggregate=workload` line: a workload of a namespace, a namespace's
/// `__storage__` or `__unattributed__` compute, or a cluster's `__idle__`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct WorkloadLineView {
    /// The cluster's id.
    pub cluster: Uuid,
    /// The cluster's name; null when the cluster is gone.
    #[schema(required = true)]
    pub cluster_name: Option<String>,
    /// `Deployment`, `StatefulSet`, `DaemonSet`, `Job`, `CronJob`, `Pod` (a bare pod), another
    /// controller's kind, or `__storage__`, `__unattributed__`, `__idle__`.
    pub kind: String,
    /// The namespace; empty for `__idle__`.
    pub namespace: String,
    /// The workload's name; empty for the namespace and cluster lines.
    pub name: String,
    /// The most pods it had in one hour of the window.
    pub pods: u32,
    /// The most nodes its pods ran on in one hour of the window (a DaemonSet's spread).
    pub nodes: u32,
}

impl From<CostLine> for CostLineView {
    fn from(line: CostLine) -> Self {
        let cost = &line.cost;
        Self {
            key: line.key,
            start: line.start.0,
            end: line.end.0,
            cpu: ResourceCostView::new(&cost.cpu, MILLICORE_MS_PER_CORE_HOUR),
            memory: ResourceCostView::new(&cost.memory, BYTE_MS_PER_GIB_HOUR),
            storage_gib_hours: cost.storage.byte_millis as f64 / BYTE_MS_PER_GIB_HOUR,
            storage_cost: cost.storage.cost.to_dollars_f64(),
            network_egress_gib: cost
                .network
                .map(|n| n.egress_bytes as f64 / BYTES_PER_GB as f64),
            network_cost: cost.network.map_or(0.0, |n| n.cost.to_dollars_f64()),
            gpu_hours: cost.gpu.gpu_millis as f64 / MILLIS_PER_HOUR as f64,
            gpu_cost: cost.gpu.cost.to_dollars_f64(),
            total_cost: cost.total.to_dollars_f64(),
            total_nanos: cost.total.0,
            usage_unknown: cost.flags.usage_unknown,
            idle_clamped: cost.flags.idle_clamped,
            workload: line.workload.map(|w| WorkloadLineView {
                cluster: *w.cluster.as_uuid(),
                cluster_name: None,
                kind: w.kind,
                namespace: w.namespace,
                name: w.name,
                pods: w.pods,
                nodes: w.nodes,
            }),
        }
    }
}

/// What priced some of the cluster-hours of an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PricedHoursView {
    /// `unit` or `node`; null for hours computed before pricing was recorded.
    #[schema(required = true)]
    pub mode: Option<PricingMode>,
    /// The node price catalog's date (`YYYY-MM-DD`) in the `node` mode, else null.
    #[schema(required = true)]
    pub catalog_date: Option<String>,
    /// Cluster-hours priced so.
    pub cluster_hours: u64,
}

fn pricing_views(pricing: Vec<PricedHours>) -> Vec<PricedHoursView> {
    pricing
        .into_iter()
        .map(|p| PricedHoursView {
            mode: p.pricing.as_ref().map(|p| p.mode),
            catalog_date: p.pricing.and_then(|p| p.catalog_date),
            cluster_hours: p.cluster_hours,
        })
        .collect()
}

/// The organization's costs over a window, one line per group.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CostReportView {
    /// The window.
    pub window: CostWindowView,
    /// One line per group, most expensive first.
    pub lines: Vec<CostLineView>,
    /// Everything in the answer; its key is `total`.
    pub total: CostLineView,
    /// Which pricing mode and catalog priced the answer's hours, most hours first.
    pub pricing: Vec<PricedHoursView>,
}

impl From<CostReport> for CostReportView {
    fn from(report: CostReport) -> Self {
        Self {
            window: report.window.into(),
            lines: report.lines.into_iter().map(CostLineView::from).collect(),
            total: report.total.into(),
            pricing: pricing_views(report.pricing),
        }
    }
}

/// One namespace's costs over a window, in steps.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct NamespaceCostsView {
    /// The cluster.
    pub cluster: Uuid,
    /// The namespace.
    pub namespace: String,
    /// The window.
    pub window: CostWindowView,
    /// The step, in milliseconds.
    pub step_millis: i64,
    /// One line per step that has cost, oldest first; `key` is the step's start.
    pub steps: Vec<CostLineView>,
    /// The whole window; its key is the namespace.
    pub total: CostLineView,
    /// Which pricing mode and catalog priced the namespace's hours, most hours first.
    pub pricing: Vec<PricedHoursView>,
}

impl From<NamespaceCosts> for NamespaceCostsView {
    fn from(costs: NamespaceCosts) -> Self {
        Self {
            cluster: *costs.cluster.as_uuid(),
            namespace: costs.namespace,
            window: costs.window.into(),
            step_millis: costs.step_millis,
            steps: costs.steps.into_iter().map(CostLineView::from).collect(),
            total: costs.total.into(),
            pricing: pricing_views(costs.pricing),
        }
    }
}

/// CPU (core-hours) or memory (GiB-hours) requested and used by the containers with usage
/// data, and what the requests and their unused part cost.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct ResourceEfficiencyView {
    /// Requested.
    pub requested: f64,
    /// Used.
    pub used: f64,
    /// Used / requested; null without measured requests.
    #[schema(required = true)]
    pub efficiency: Option<f64>,
    /// What the requests cost, in dollars.
    pub requested_cost: f64,
    /// What their unused part cost, in dollars.
    pub unused_cost: f64,
}

impl ResourceEfficiencyView {
    fn new(resource: &ResourceEfficiency, unit: f64) -> Self {
        Self {
            requested: resource.requested as f64 / unit,
            used: resource.used as f64 / unit,
            efficiency: resource.efficiency(),
            requested_cost: resource.requested_cost.to_dollars_f64(),
            unused_cost: resource.unused_cost.to_dollars_f64(),
        }
    }
}

/// One group's efficiency over the window.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct EfficiencyLineView {
    /// The group's value (namespace, team, cost center, cluster id, label value, or
    /// `Kind/namespace/name` of a workload).
    pub key: String,
    /// The cluster's name of a workload line (`aggregate=workload`); null otherwise.
    #[schema(required = true)]
    pub cluster: Option<String>,
    /// CPU in core-hours.
    pub cpu: ResourceEfficiencyView,
    /// Memory in GiB-hours.
    pub memory: ResourceEfficiencyView,
    /// Share of the requests' cost that was used (CPU and memory); null without measured
    /// requests.
    #[schema(required = true)]
    pub efficiency: Option<f64>,
    /// Cost of the unused requests in dollars: the waste.
    pub unused_cost: f64,
    /// The same in nano-dollars: exact, what sorting uses.
    pub unused_nanos: u64,
}

impl From<EfficiencyLine> for EfficiencyLineView {
    fn from(line: EfficiencyLine) -> Self {
        Self {
            cpu: ResourceEfficiencyView::new(&line.cpu, MILLICORE_MS_PER_CORE_HOUR),
            memory: ResourceEfficiencyView::new(&line.memory, BYTE_MS_PER_GIB_HOUR),
            efficiency: line.efficiency(),
            unused_cost: line.unused_cost().to_dollars_f64(),
            unused_nanos: line.unused_cost().0,
            key: line.key,
            cluster: line.cluster,
        }
    }
}

/// Efficiency per group over a window.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct EfficiencyReportView {
    /// The window.
    pub window: CostWindowView,
    /// How many groups there are: `lines` holds the first `limit` of them.
    pub groups: usize,
    /// One line per group, in the order asked for, at most `limit`.
    pub lines: Vec<EfficiencyLineView>,
}

/// `lines` as CSV (RFC 4180) for spreadsheets: times in RFC 3339, quantities to six decimals,
/// money to the nano-dollar and the total as exact decimal dollars. Keys that a spreadsheet
/// would run as a formula (`=`, `+`, `-`, `@`) are prefixed with `'`.
pub fn csv(lines: &[CostLineView]) -> String {
    let mut out = String::from(
        "key,start,end,cpu_core_hours,cpu_request_core_hours,cpu_usage_core_hours,\
         cpu_efficiency,cpu_cost,memory_gib_hours,memory_request_gib_hours,\
         memory_usage_gib_hours,memory_efficiency,memory_cost,storage_gib_hours,\
         storage_cost,network_egress_gib,network_cost,gpu_hours,gpu_cost,total_cost,\
         usage_unknown,idle_clamped",
    );
    // The workload grouping's lines say what each is in columns of their own.
    let workloads = lines.iter().any(|line| line.workload.is_some());
    if workloads {
        out.push_str(
            ",cluster,cluster_name,workload_kind,workload_namespace,workload_name,pods,nodes",
        );
    }
    out.push_str("\r\n");
    for line in lines {
        let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.6}"));
        let fields = [
            csv_text(&line.key),
            UnixMillis(line.start).to_string(),
            UnixMillis(line.end).to_string(),
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
            format!("{:.6}", line.gpu_hours),
            format!("{:.9}", line.gpu_cost),
            NanoDollars(line.total_nanos).to_string(),
            line.usage_unknown.to_string(),
            line.idle_clamped.to_string(),
        ];
        out.push_str(&fields.join(","));
        if workloads {
            let w = line.workload.as_ref();
            let text = |pick: fn(&WorkloadLineView) -> String| w.map(pick).unwrap_or_default();
            let workload = [
                text(|w| w.cluster.to_string()),
                csv_text(&text(|w| w.cluster_name.clone().unwrap_or_default())),
                csv_text(&text(|w| w.kind.clone())),
                csv_text(&text(|w| w.namespace.clone())),
                csv_text(&text(|w| w.name.clone())),
                text(|w| w.pods.to_string()),
                text(|w| w.nodes.to_string()),
            ];
            out.push(',');
            out.push_str(&workload.join(","));
        }
        out.push_str("\r\n");
    }
    out
}

/// One CSV field (RFC 4180): quoted when it holds a comma, quote or line break, and a
/// leading `=`, `+`, `-` or `@` prefixed with `'`: a spreadsheet opening the file would otherwise
/// run the cell as a formula, and names and labels come from the clusters, not from us.
pub(super) fn csv_text(value: &str) -> String {
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
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_text("web"), "web");
        assert_eq!(csv_text("a,b"), "\"a,b\"");
        assert_eq!(csv_text("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_text("=cmd()"), "'=cmd()");
    }
}
