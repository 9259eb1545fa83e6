//! Efficiency by workload (`aggregate=workload`): one line per workload (Deployment,
//! StatefulSet, DaemonSet, Job, CronJob, or a bare pod) from the daily workload rollup, keyed
//! `Kind/namespace/name` with its cluster.
//!
//! The cost rows are per namespace, so a workload's cost is not stored: its requests are
//! priced here with the cluster's unit prices (the organization's and the cluster's
//! overrides over the defaults), as right-sizing prices its savings. The unused request is
//! `max(0, requested − used)` per pod-hour as the rollup summed it, rounded half up once per
//! line and resource; only pod-hours with a request of the resource count.

use kubeworkz_shared::ids::ClusterId;

use super::{EfficiencyLine, EfficiencySort, ResourceEfficiency, sort_lines};
use crate::cost::{BYTES_PER_GB, NanoDollars, Prices};
use crate::store::WorkloadTotals;

/// Millicore-seconds in a core-hour, and milliseconds in a second and an hour.
const MCS_PER_CORE_HOUR: u128 = 1000 * 3600;
const MS_PER_SECOND: u128 = 1000;
const MS_PER_HOUR: u128 = 3_600_000;

fn resource(
    requested: u64,
    used: u64,
    unused: u64,
    price: NanoDollars,
    unit: u128,
) -> (u128, u128, NanoDollars, NanoDollars) {
    let price = u128::from(price.0);
    (
        u128::from(requested),
        u128::from(used),
        NanoDollars::round_half_up(u128::from(requested) * price, unit),
        NanoDollars::round_half_up(u128::from(unused) * price, unit),
    )
}

/// One line per workload of `totals`, priced with `prices_of` its cluster, in `sort` order.
pub fn workload_efficiency(
    totals: &[WorkloadTotals],
    prices_of: impl Fn(ClusterId) -> Prices,
    sort: EfficiencySort,
) -> Vec<EfficiencyLine> {
    let mut lines: Vec<EfficiencyLine> = totals
        .iter()
        .map(|w| {
            let prices = prices_of(w.cluster);
            let (requested, used, requested_cost, unused_cost) = resource(
                w.cpu_requested_mcs,
                w.cpu_used_mcs,
                w.cpu_unused_mcs,
                prices.cpu_core_hour,
                MCS_PER_CORE_HOUR,
            );
            // In the report's units: millicore-milliseconds.
            let cpu = ResourceEfficiency {
                requested: requested * MS_PER_SECOND,
                used: used * MS_PER_SECOND,
                requested_cost,
                unused_cost,
            };
            let (requested, used, requested_cost, unused_cost) = resource(
                w.memory_requested_bh,
                w.memory_used_bh,
                w.memory_unused_bh,
                prices.memory_gib_hour,
                u128::from(BYTES_PER_GB),
            );
            // Byte-milliseconds.
            let memory = ResourceEfficiency {
                requested: requested * MS_PER_HOUR,
                used: used * MS_PER_HOUR,
                requested_cost,
                unused_cost,
            };
            EfficiencyLine {
                key: format!("{}/{}/{}", w.workload_kind, w.namespace, w.workload_name),
                cluster: Some(w.cluster_name.clone()),
                cpu,
                memory,
            }
        })
        .collect();
    sort_lines(&mut lines, sort);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(kind: &str, name: &str, cpu: [u64; 3], memory: [u64; 3]) -> WorkloadTotals {
        WorkloadTotals {
            cluster: ClusterId::from_uuid(uuid::Uuid::nil()),
            cluster_name: "prod".into(),
            namespace: "web".into(),
            workload_kind: kind.into(),
            workload_name: name.into(),
            cpu_requested_mcs: cpu[0],
            cpu_used_mcs: cpu[1],
            cpu_unused_mcs: cpu[2],
            memory_requested_bh: memory[0],
            memory_used_bh: memory[1],
            memory_unused_bh: memory[2],
        }
    }

    #[test]
    fn requests_and_their_unused_part_are_priced_at_the_clusters_unit_prices() {
        const GIB: u64 = 1 << 30;
        // web: 2 replicas × 24 h at 500m requested, 100m used: requested 24 core-hours
        // (86,400,000 mcs), used 4.8, unused 19.2 core-hours; memory 1 GiB requested over
        // 48 pod-hours, 0.25 GiB used.
        let web = totals(
            "Deployment",
            "web",
            [86_400_000, 17_280_000, 69_120_000],
            [48 * GIB, 12 * GIB, 36 * GIB],
        );
        // db: tiny and fully used.
        let db = totals(
            "StatefulSet",
            "db",
            [3_600_000, 3_600_000, 0],
            [GIB, GIB, 0],
        );
        let lines =
            workload_efficiency(&[db, web], |_| Prices::default(), EfficiencySort::MostWaste);
        assert_eq!(lines.len(), 2);
        let web = &lines[0];
        assert_eq!(web.key, "Deployment/web/web");
        assert_eq!(web.cluster.as_deref(), Some("prod"));
        // $0.04 a core-hour: 24 × 0.04 = $0.96 requested, 19.2 × 0.04 = $0.768 unused.
        assert_eq!(web.cpu.requested_cost, NanoDollars(960_000_000));
        assert_eq!(web.cpu.unused_cost, NanoDollars(768_000_000));
        // $0.005 a GiB-hour: 48 × 0.005 = $0.24 requested, 36 × 0.005 = $0.18 unused.
        assert_eq!(web.memory.requested_cost, NanoDollars(240_000_000));
        assert_eq!(web.memory.unused_cost, NanoDollars(180_000_000));
        assert_eq!(web.cpu.efficiency(), Some(0.2));
        assert_eq!(web.memory.efficiency(), Some(0.25));
        assert_eq!(web.unused_cost(), NanoDollars(948_000_000));
        assert_eq!(lines[1].key, "StatefulSet/web/db");
        assert_eq!(lines[1].unused_cost(), NanoDollars::ZERO);
        assert_eq!(lines[1].efficiency(), Some(1.0));
        // Least waste first the other way round.
        let lines = workload_efficiency(
            &[totals("Deployment", "web", [1, 0, 1], [0, 0, 0])],
            |_| Prices::default(),
            EfficiencySort::LeastWaste,
        );
        assert_eq!(lines[0].memory.efficiency(), None);
    }
}
