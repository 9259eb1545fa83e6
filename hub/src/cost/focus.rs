//! The allocation as a FOCUS 1.2 cost-and-usage dataset (FinOps Open Cost and Usage
//! Specification): the pure mapping from stored hourly [`Allocation`] rows to FOCUS lines,
//! behind `GET /api/v1/k8s/costs/focus`, so that FinOps tools read the hub's costs like a
//! cloud bill.
//!
//! # Mapping (the table in `docs/costs.md`)
//!
//! One line per hourly row and resource with a cost or a billed quantity (CPU, memory,
//! storage, GPU, and network when its bytes are known), so `PricingQuantity` has one unit and
//! the lines of a row add up to its total exactly. The billing account is the organization,
//! the sub account the cluster, the resource the namespace (the idle row: the cluster itself).
//! Nothing is discounted: billed, effective, list and contracted cost are the same amount.
//! Amounts are exact decimals of the stored nano-dollars; quantities are rounded to nine
//! decimals; times are UTC with `Z`; an empty cell is null.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::time::UnixMillis;

use super::{Allocation, BYTES_PER_GB, NanoDollars, ResourceAllocation, ResourceEfficiency};

/// The dataset's columns in order: the FOCUS 1.2 columns the export fills (every mandatory
/// one, and the conditional ones that apply), alphabetical as the spec lists them, then the
/// hub's own `x_` columns.
pub const FOCUS_COLUMNS: [&str; 45] = [
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "PricingCategory",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "ServiceSubcategory",
    "SubAccountId",
    "SubAccountName",
    "Tags",
    "x_Namespace",
    "x_Team",
    "x_CostCenter",
    "x_Resource",
    "x_RequestedQuantity",
    "x_UsedQuantity",
    "x_Efficiency",
    "x_UnusedRequestCost",
    "x_IdleCost",
    "x_UsageUnknown",
    "x_IdleClamped",
    "x_PricingMode",
    "x_PriceCatalogDate",
];

/// The currency of every price and amount.
pub const FOCUS_CURRENCY: &str = "USD";
/// `ProviderName`, `PublisherName` and `ServiceName`'s product: the hub allocated the costs.
pub const FOCUS_PROVIDER: &str = "Kubeworkz";

/// Millicore-milliseconds in a core-hour; GPU-milliseconds in a GPU-hour.
const MCMS_PER_CORE_HOUR: u128 = 1000 * 3_600_000;
const MS_PER_HOUR: u128 = 3_600_000;
/// Byte-milliseconds in a GiB-hour.
const BMS_PER_GIB_HOUR: u128 = BYTES_PER_GB as u128 * MS_PER_HOUR;

/// What a line needs beyond its row: the organization (billing account) and cluster names.
#[derive(Debug, Clone)]
pub struct FocusContext {
    /// The organization's id.
    pub org_id: OrgId,
    /// The organization's name: the billing account's and the invoice issuer's.
    pub org_name: String,
    /// Cluster names by id (a row of an unknown cluster is named by its id).
    pub clusters: HashMap<ClusterId, String>,
}

/// One line of the dataset: one cell per [`FOCUS_COLUMNS`] entry, `None` for null.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FocusLine(pub Vec<Option<String>>);

impl FocusLine {
    /// The cell under `column`, if the column exists and the cell is not null.
    pub fn get(&self, column: &str) -> Option<&str> {
        let at = FOCUS_COLUMNS.iter().position(|c| *c == column)?;
        self.0.get(at)?.as_deref()
    }
}

/// The resources a row splits into, with their pricing units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resource {
    Cpu,
    Memory,
    Storage,
    Gpu,
    Network,
}

impl Resource {
    fn name(self) -> &'static str {
        match self {
            Resource::Cpu => "cpu",
            Resource::Memory => "memory",
            Resource::Storage => "storage",
            Resource::Gpu => "gpu",
            Resource::Network => "network",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Resource::Cpu => "CPU",
            Resource::Memory => "Memory",
            Resource::Storage => "Persistent volume storage",
            Resource::Gpu => "GPU",
            Resource::Network => "Network egress",
        }
    }

    /// The FOCUS unit (its UnitFormat) and how many stored units make one.
    fn unit(self) -> (&'static str, u128) {
        match self {
            Resource::Cpu => ("vCPU-Hours", MCMS_PER_CORE_HOUR),
            Resource::Memory | Resource::Storage => ("GiB-Hours", BMS_PER_GIB_HOUR),
            Resource::Gpu => ("GPU-Hours", MS_PER_HOUR),
            Resource::Network => ("GiB", BYTES_PER_GB as u128),
        }
    }
}

/// Exact decimal dollars of `amount`, without trailing zeros (`0.0075`, `12`).
pub fn dollars(amount: NanoDollars) -> String {
    decimal(u128::from(amount.0), 1_000_000_000)
}

/// `numerator / unit` as a decimal rounded half up to nine places, without trailing zeros.
fn decimal(numerator: u128, unit: u128) -> String {
    const SCALE: u128 = 1_000_000_000;
    let scaled = (numerator * SCALE + unit / 2) / unit;
    let (whole, fraction) = (scaled / SCALE, scaled % SCALE);
    if fraction == 0 {
        return whole.to_string();
    }
    let digits = format!("{fraction:09}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// A FOCUS date-time: RFC 3339 in UTC, seconds, `Z`.
pub fn timestamp(at: UnixMillis) -> String {
    DateTime::<Utc>::from_timestamp_millis(at.0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The UTC calendar month containing `at`: the billing period.
fn month_of(at: UnixMillis) -> (UnixMillis, UnixMillis) {
    let day = DateTime::<Utc>::from_timestamp_millis(at.0)
        .unwrap_or_default()
        .date_naive();
    let first = NaiveDate::from_ymd_opt(day.year(), day.month(), 1).unwrap_or(day);
    let next = first
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(first);
    let millis =
        |d: NaiveDate| UnixMillis(d.and_time(Default::default()).and_utc().timestamp_millis());
    (millis(first), millis(next))
}

/// The resources of `row` that cost something or billed a quantity, with the quantity
/// (stored units), the cost, and CPU's or memory's request figures.
fn parts(row: &Allocation) -> Vec<(Resource, u128, NanoDollars, Option<&ResourceAllocation>)> {
    let cost = &row.cost;
    let mut out = vec![
        (
            Resource::Cpu,
            cost.cpu.billed,
            cost.cpu.cost,
            Some(&cost.cpu),
        ),
        (
            Resource::Memory,
            cost.memory.billed,
            cost.memory.cost,
            Some(&cost.memory),
        ),
        (
            Resource::Storage,
            cost.storage.byte_millis,
            cost.storage.cost,
            None,
        ),
        (Resource::Gpu, cost.gpu.gpu_millis, cost.gpu.cost, None),
    ];
    if let Some(network) = cost.network {
        out.push((
            Resource::Network,
            u128::from(network.egress_bytes),
            network.cost,
            None,
        ));
    }
    out.retain(|(_, quantity, amount, _)| *quantity > 0 || amount.0 > 0);
    out
}

/// The FOCUS lines of one hourly row: one per resource with a cost or a quantity; their
/// `BilledCost` adds up to the row's total.
pub fn focus_lines(row: &Allocation, ctx: &FocusContext) -> Vec<FocusLine> {
    let cluster_id = row.cluster.to_string();
    let cluster_name = ctx
        .clusters
        .get(&row.cluster)
        .cloned()
        .unwrap_or_else(|| cluster_id.clone());
    let (period_start, period_end) = month_of(row.start);
    let idle = row.is_idle();
    let (resource_id, resource_name, resource_type) = if idle {
        (cluster_id.clone(), cluster_name.clone(), "Cluster")
    } else {
        (
            format!("{cluster_id}/{}", row.namespace),
            row.namespace.clone(),
            "Namespace",
        )
    };
    let tags = (!idle).then(|| serde_json::to_string(&row.labels).unwrap_or_default());
    let flag = |b: bool| Some(if b { "true" } else { "false" }.to_owned());
    parts(row)
        .into_iter()
        .map(|(resource, quantity, amount, requests)| {
            let (unit, per) = resource.unit();
            let quantity = decimal(quantity, per);
            let cost = dollars(amount);
            let description = if idle {
                format!(
                    "Idle {} capacity of cluster {cluster_name}",
                    resource.label()
                )
            } else {
                format!(
                    "{} of namespace {} in cluster {cluster_name}",
                    resource.label(),
                    row.namespace
                )
            };
            let mut waste = ResourceEfficiency::default();
            if let Some(r) = requests.filter(|_| !idle) {
                waste.add_row(r);
            }
            let requested = requests
                .filter(|_| !idle)
                .map(|r| decimal(r.requested, per));
            let used = requests.filter(|_| !idle).map(|r| decimal(r.used, per));
            let efficiency = requests
                .filter(|r| !idle && r.measured_requested > 0)
                .map(|r| decimal(r.measured_used, r.measured_requested));
            let cells: [Option<String>; 45] = [
                Some(cost.clone()),
                Some(ctx.org_id.to_string()),
                Some(ctx.org_name.clone()),
                Some(FOCUS_CURRENCY.to_owned()),
                Some(timestamp(period_end)),
                Some(timestamp(period_start)),
                Some("Usage".to_owned()),
                None,
                Some(description),
                Some("Usage-Based".to_owned()),
                Some(timestamp(row.end)),
                Some(timestamp(row.start)),
                Some(quantity.clone()),
                Some(unit.to_owned()),
                Some(cost.clone()),
                Some(cost.clone()),
                Some(ctx.org_name.clone()),
                Some(cost.clone()),
                Some("Standard".to_owned()),
                Some(quantity),
                Some(unit.to_owned()),
                Some(FOCUS_PROVIDER.to_owned()),
                Some(FOCUS_PROVIDER.to_owned()),
                Some(resource_id.clone()),
                Some(resource_name.clone()),
                Some(resource_type.to_owned()),
                Some("Compute".to_owned()),
                Some("Kubernetes".to_owned()),
                Some("Containers".to_owned()),
                Some(cluster_id.clone()),
                Some(cluster_name.clone()),
                tags.clone(),
                Some(row.namespace.clone()),
                Some(row.team.clone()),
                Some(row.cost_center.clone()),
                Some(resource.name().to_owned()),
                requested,
                used,
                efficiency,
                requests
                    .filter(|_| !idle)
                    .map(|_| dollars(waste.unused_cost)),
                Some(if idle { cost } else { "0".to_owned() }),
                flag(row.cost.flags.usage_unknown),
                flag(row.cost.flags.idle_clamped),
                row.pricing.as_ref().map(|p| p.mode.as_str().to_owned()),
                row.pricing.as_ref().and_then(|p| p.catalog_date.clone()),
            ];
            FocusLine(cells.into())
        })
        .collect()
}

#[cfg(test)]
mod tests;
