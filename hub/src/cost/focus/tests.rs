//! The FOCUS mapping of rows, with expectations computed by hand in the comments.

use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::time::UnixMillis;

use super::super::{
    AllocationFlags, CostBreakdown, IDLE_NAMESPACE, NetworkAllocation, Pricing, PricingMode,
};
use super::*;

const HOUR: i64 = 3_600_000;
/// 2026-03-31T23:00:00Z: the last hour of March.
const LAST_OF_MARCH: i64 = 1_774_998_000_000;

fn ctx(cluster: ClusterId) -> FocusContext {
    FocusContext {
        org_id: OrgId::from_uuid(uuid::Uuid::from_u128(7)),
        org_name: "acme".to_owned(),
        clusters: [(cluster, "prod-eu-1".to_owned())].into(),
    }
}

fn web(cluster: ClusterId) -> Allocation {
    let mut cost = CostBreakdown::default();
    // 1.5 cores billed for the hour (requested 2, used 1.5: half a core unused), $0.06.
    cost.cpu = ResourceAllocation {
        requested: 2 * MCMS_PER_CORE_HOUR,
        used: 3 * MCMS_PER_CORE_HOUR / 2,
        billed: 2 * MCMS_PER_CORE_HOUR,
        measured_requested: 2 * MCMS_PER_CORE_HOUR,
        measured_used: 3 * MCMS_PER_CORE_HOUR / 2,
        cost: NanoDollars(80_000_000),
    };
    // 1 GiB-hour of memory: $0.005.
    cost.memory.billed = BMS_PER_GIB_HOUR;
    cost.memory.requested = BMS_PER_GIB_HOUR;
    cost.memory.cost = NanoDollars(5_000_000);
    // 3 GiB of egress at $0.05: $0.15.
    cost.network = Some(NetworkAllocation {
        egress_bytes: 3 << 30,
        cost: NanoDollars(150_000_000),
    });
    cost.flags = AllocationFlags {
        usage_unknown: true,
        idle_clamped: false,
    };
    cost.total = NanoDollars(235_000_000);
    Allocation {
        cluster,
        start: UnixMillis(LAST_OF_MARCH),
        end: UnixMillis(LAST_OF_MARCH + HOUR),
        namespace: "web".to_owned(),
        team: "platform".to_owned(),
        cost_center: "unallocated".to_owned(),
        labels: [("team".to_owned(), "platform".to_owned())].into(),
        cost,
        pricing: Some(Pricing {
            mode: PricingMode::Node,
            catalog_date: Some("2026-01-15".to_owned()),
        }),
    }
}

#[test]
fn decimals_are_exact_for_money_and_nine_places_for_quantities() {
    assert_eq!(dollars(NanoDollars(0)), "0");
    assert_eq!(dollars(NanoDollars(7_500_000)), "0.0075");
    assert_eq!(dollars(NanoDollars(12_000_000_001)), "12.000000001");
    // A third of a core-hour: 0.333333333 (rounded at the ninth place).
    assert_eq!(
        decimal(MCMS_PER_CORE_HOUR / 3, MCMS_PER_CORE_HOUR),
        "0.333333333"
    );
    // Two thirds round up.
    assert_eq!(
        decimal(2 * MCMS_PER_CORE_HOUR / 3, MCMS_PER_CORE_HOUR),
        "0.666666667"
    );
}

#[test]
fn timestamps_are_utc_with_z_and_the_billing_period_is_the_month() {
    assert_eq!(timestamp(UnixMillis(LAST_OF_MARCH)), "2026-03-31T23:00:00Z");
    let (start, end) = month_of(UnixMillis(LAST_OF_MARCH));
    assert_eq!(timestamp(start), "2026-03-01T00:00:00Z");
    assert_eq!(timestamp(end), "2026-04-01T00:00:00Z");
    // December rolls into the next year.
    let (_, end) = month_of(UnixMillis(1_798_675_200_000)); // 2026-12-31T00:00:00Z
    assert_eq!(timestamp(end), "2027-01-01T00:00:00Z");
}

#[test]
fn a_row_splits_into_one_line_per_resource_that_adds_up_to_its_total() {
    let cluster = ClusterId::from_uuid(uuid::Uuid::from_u128(1));
    let lines = focus_lines(&web(cluster), &ctx(cluster));
    // CPU, memory and network: storage and GPU are zero and left out.
    let resources: Vec<&str> = lines.iter().map(|l| l.get("x_Resource").unwrap()).collect();
    assert_eq!(resources, ["cpu", "memory", "network"]);
    let billed: Vec<&str> = lines.iter().map(|l| l.get("BilledCost").unwrap()).collect();
    assert_eq!(billed, ["0.08", "0.005", "0.15"]); // 0.235 in all, the row's total

    let cpu = &lines[0];
    assert_eq!(cpu.0.len(), FOCUS_COLUMNS.len());
    for same in ["EffectiveCost", "ListCost", "ContractedCost"] {
        assert_eq!(cpu.get(same), Some("0.08"), "{same}");
    }
    assert_eq!(cpu.get("PricingQuantity"), Some("2"));
    assert_eq!(cpu.get("PricingUnit"), Some("vCPU-Hours"));
    assert_eq!(cpu.get("ConsumedQuantity"), Some("2"));
    // 1.5 of 2 cores used: 0.75; the unused half core costs 0.08 × 0.5 / 2 = $0.02.
    assert_eq!(cpu.get("x_Efficiency"), Some("0.75"));
    assert_eq!(cpu.get("x_UnusedRequestCost"), Some("0.02"));
    assert_eq!(cpu.get("x_RequestedQuantity"), Some("2"));
    assert_eq!(cpu.get("x_UsedQuantity"), Some("1.5"));
    assert_eq!(cpu.get("x_IdleCost"), Some("0"));
    assert_eq!(cpu.get("ChargePeriodStart"), Some("2026-03-31T23:00:00Z"));
    assert_eq!(cpu.get("ChargePeriodEnd"), Some("2026-04-01T00:00:00Z"));
    assert_eq!(cpu.get("BillingPeriodStart"), Some("2026-03-01T00:00:00Z"));
    assert_eq!(cpu.get("ChargeClass"), None);
    assert_eq!(cpu.get("BillingAccountName"), Some("acme"));
    assert_eq!(cpu.get("SubAccountName"), Some("prod-eu-1"));
    assert_eq!(
        cpu.get("ResourceId"),
        Some("00000000-0000-0000-0000-000000000001/web")
    );
    assert_eq!(cpu.get("Tags"), Some(r#"{"team":"platform"}"#));
    assert_eq!(cpu.get("x_UsageUnknown"), Some("true"));
    assert_eq!(cpu.get("x_PricingMode"), Some("node"));
    assert_eq!(cpu.get("x_PriceCatalogDate"), Some("2026-01-15"));
    assert_eq!(
        cpu.get("ChargeDescription"),
        Some("CPU of namespace web in cluster prod-eu-1")
    );

    // Memory has a request but no measured usage: no efficiency, nothing known unused.
    assert_eq!(lines[1].get("PricingUnit"), Some("GiB-Hours"));
    assert_eq!(lines[1].get("PricingQuantity"), Some("1"));
    assert_eq!(lines[1].get("x_Efficiency"), None);
    assert_eq!(lines[1].get("x_UnusedRequestCost"), Some("0"));
    // Network: 3 GiB, no request figures.
    assert_eq!(lines[2].get("PricingUnit"), Some("GiB"));
    assert_eq!(lines[2].get("PricingQuantity"), Some("3"));
    assert_eq!(lines[2].get("x_RequestedQuantity"), None);
}

#[test]
fn the_idle_row_is_the_clusters_with_its_cost_as_idle() {
    let cluster = ClusterId::from_uuid(uuid::Uuid::from_u128(1));
    let mut idle = web(cluster);
    idle.namespace = IDLE_NAMESPACE.to_owned();
    idle.team = IDLE_NAMESPACE.to_owned();
    idle.cost.network = None;
    let lines = focus_lines(&idle, &ctx(cluster));
    assert_eq!(lines.len(), 2);
    let cpu = &lines[0];
    assert_eq!(cpu.get("ResourceType"), Some("Cluster"));
    assert_eq!(cpu.get("ResourceName"), Some("prod-eu-1"));
    assert_eq!(cpu.get("x_IdleCost"), Some("0.08"));
    assert_eq!(cpu.get("Tags"), None);
    assert_eq!(cpu.get("x_Efficiency"), None);
    assert_eq!(
        cpu.get("ChargeDescription"),
        Some("Idle CPU capacity of cluster prod-eu-1")
    );
}

#[test]
fn a_row_without_cost_or_quantity_has_no_lines() {
    let cluster = ClusterId::from_uuid(uuid::Uuid::from_u128(1));
    let mut empty = web(cluster);
    empty.cost = CostBreakdown::default();
    assert!(focus_lines(&empty, &ctx(cluster)).is_empty());
}
