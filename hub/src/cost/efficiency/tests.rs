//! Efficiency with expectations computed by hand in the comments.

use kubeworkz_shared::ids::ClusterId;
use kubeworkz_shared::time::UnixMillis;

use super::super::allocation::{CostBreakdown, IDLE_NAMESPACE};
use super::*;

const HOUR: i64 = 3_600_000;

fn dollars(text: &str) -> NanoDollars {
    text.parse().expect("dollars")
}

/// (measured requested, measured used, billed, cost)
type Resource = (u128, u128, u128, &'static str);

fn resource((requested, used, billed, cost): Resource) -> ResourceAllocation {
    ResourceAllocation {
        requested,
        used,
        billed,
        measured_requested: requested,
        measured_used: used,
        cost: dollars(cost),
    }
}

fn row(hour: i64, namespace: &str, team: &str, cpu: Resource, memory: Resource) -> Allocation {
    Allocation {
        cluster: ClusterId::from_uuid(uuid::Uuid::nil()),
        start: UnixMillis(hour * HOUR),
        end: UnixMillis((hour + 1) * HOUR),
        namespace: namespace.to_owned(),
        team: team.to_owned(),
        cost_center: "unallocated".to_owned(),
        labels: Default::default(),
        cost: CostBreakdown {
            cpu: resource(cpu),
            memory: resource(memory),
            ..CostBreakdown::default()
        }
        .with_total(),
        pricing: None,
    }
}

fn rows() -> Vec<Allocation> {
    let mut batch = row(0, "batch", "data", (0, 0, 10, "0.4"), (0, 0, 0, "0"));
    batch.cost.cpu.requested = 10; // requested, but no usage data: nothing measured
    vec![
        // web, hour 0: CPU requests 4 and uses 1 (billed 4 for 0.16): 0.12 unused;
        // memory requests 8, uses 7 (0.04): 0.005 unused.
        row(0, "web", "shop", (4, 1, 4, "0.16"), (8, 7, 8, "0.04")),
        // web, hour 1: CPU bursts to 5 over a request of 4 (billed 5 for 0.20): the request
        // cost 0.16, nothing unused (it does not offset hour 0).
        row(1, "web", "shop", (4, 5, 5, "0.20"), (8, 7, 8, "0.04")),
        // api: CPU fully used; memory requests 4, uses 1 (0.02): 0.015 unused.
        row(0, "api", "shop", (2, 2, 2, "0.08"), (4, 1, 4, "0.02")),
        batch,
        row(
            0,
            IDLE_NAMESPACE,
            IDLE_NAMESPACE,
            (0, 0, 9, "9"),
            (0, 0, 9, "9"),
        ),
        // Outside the window.
        row(5, "web", "shop", (4, 0, 4, "100"), (0, 0, 0, "0")),
    ]
}

fn window() -> Window {
    Window {
        start: UnixMillis(0),
        end: UnixMillis(2 * HOUR),
    }
}

#[test]
fn each_namespace_gets_its_requests_usage_and_unused_cost() {
    let lines = efficiency(
        &rows(),
        window(),
        &AggregateBy::Namespace,
        EfficiencySort::Key,
    );
    let keys: Vec<&str> = lines.iter().map(|l| l.key.as_str()).collect();
    assert_eq!(keys, ["api", "batch", "web"], "idle is left out");
    let web = &lines[2];
    assert_eq!(
        web.cpu,
        ResourceEfficiency {
            requested: 8,
            used: 6,
            requested_cost: dollars("0.32"),
            unused_cost: dollars("0.12"),
        }
    );
    assert_eq!(
        web.memory,
        ResourceEfficiency {
            requested: 16,
            used: 14,
            requested_cost: dollars("0.08"),
            unused_cost: dollars("0.01"),
        }
    );
    assert_eq!(web.unused_cost(), dollars("0.13"));
    assert_eq!(web.cpu.efficiency(), Some(0.75));
    // 1 − 0.13 / 0.40
    assert_eq!(web.efficiency(), Some(0.675));
    let api = &lines[0];
    assert_eq!(api.unused_cost(), dollars("0.015"));
    assert_eq!(api.efficiency(), Some(0.85)); // 1 − 0.015 / 0.10
    let batch = &lines[1];
    assert_eq!(batch.unused_cost(), NanoDollars::ZERO);
    assert_eq!(batch.efficiency(), None);
}

#[test]
fn lines_sort_by_waste_or_efficiency_either_way() {
    let order = |sort: &str| {
        efficiency(
            &rows(),
            window(),
            &AggregateBy::Namespace,
            sort.parse().unwrap(),
        )
        .into_iter()
        .map(|l| l.key)
        .collect::<Vec<_>>()
    };
    assert_eq!(order("-waste"), ["web", "api", "batch"]);
    assert_eq!(order("waste"), ["batch", "api", "web"]);
    assert_eq!(order("efficiency"), ["web", "api", "batch"]);
    assert_eq!(order("-efficiency"), ["api", "web", "batch"]);
    assert_eq!(order("key"), ["api", "batch", "web"]);
    assert_eq!(
        "size".parse::<EfficiencySort>().unwrap_err().to_string(),
        "unknown sort \"size\": expected -waste, waste, efficiency, -efficiency or key"
    );
}

#[test]
fn teams_sum_their_namespaces() {
    let lines = efficiency(
        &rows(),
        window(),
        &AggregateBy::Team,
        EfficiencySort::MostWaste,
    );
    assert_eq!(lines[0].key, "shop");
    assert_eq!(lines[0].unused_cost(), dollars("0.145")); // 0.13 + 0.015
    assert_eq!(lines[1].key, "data");
}

#[test]
fn each_rows_costs_round_once_half_up() {
    // 1 nano-dollar for 3 billed units, 2 requested, 1 used: 2/3 → 1, 1/3 → 0.
    let mut r = row(0, "web", "shop", (2, 1, 3, "0.000000001"), (0, 0, 0, "0"));
    r.cost.cpu.requested = 2;
    let lines = efficiency(&[r], window(), &AggregateBy::Namespace, EfficiencySort::Key);
    assert_eq!(lines[0].cpu.requested_cost, NanoDollars(1));
    assert_eq!(lines[0].cpu.unused_cost, NanoDollars(0));
}
