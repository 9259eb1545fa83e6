//! The cost engine: a pure function from one cluster-hour of inventory, usage and prices to
//! cost allocation rows, plus the pure roll-ups the worker and the API build on.
//!
//! The model (OpenCost's, written up in `docs/costs.md`): for each container and hour, CPU
//! and memory are billed as `max(request, usage) × the part of the hour the pod ran`; a container with no
//! request is billed its usage, a container with no usage data its request (and the row is
//! flagged `usage_unknown`). Storage is a claim's requested size × the time it was bound;
//! network is egress bytes × price when the bytes are known. What the nodes cost beyond what
//! was allocated is the cluster's idle cost, its own row in namespace [`IDLE_NAMESPACE`].
//!
//! # Units
//!
//! Everything is an exact integer until presentation, so sums never drift and the same input
//! always gives the same cents:
//! - CPU in millicore-milliseconds (one core for one hour = 3 600 000 000),
//! - memory and storage in byte-milliseconds,
//! - network in bytes,
//! - money in [`NanoDollars`], prices in nano-dollars per unit-hour.
//!
//! **GB means GiB (2^30 bytes)** in every price: Kubernetes memory and volume sizes are almost
//! always written in `Mi`/`Gi`, so `8Gi` of memory costs exactly 8 × the per-GB price.
//!
//! # Rounding
//!
//! Quantities are exact, except usage scaled from the time metrics covered to the time the pod
//! ran, which is floored to a whole millicore-millisecond or byte-millisecond. Money is
//! rounded once per row and resource (half up, to a nano-dollar), from the exact sum over the
//! row's containers; a row's total and every roll-up are exact sums of those rounded amounts.

mod allocation;
mod catalog;
mod efficiency;
mod engine;
#[cfg(test)]
mod fixtures;
mod focus;
mod gauges;
mod input;
mod node_price;
mod prices;
pub mod report;
mod rightsizing;
mod rollup;
mod window;
mod worker;

pub use allocation::{
    Allocation, AllocationFlags, CostBreakdown, GpuAllocation, IDLE_NAMESPACE, NetworkAllocation,
    ResourceAllocation, StorageAllocation, UNALLOCATED,
};
pub use catalog::{CatalogError, CatalogFileError, CatalogRow, PriceCatalog, Provider, is_spot};
pub use efficiency::{
    EfficiencyLine, EfficiencySort, ParseEfficiencySortError, ResourceEfficiency, efficiency,
    workload_efficiency,
};
pub use engine::{BARE_POD_KIND, WorkloadAllocation, allocate_hour, allocate_workloads, apportion};
pub use focus::{FOCUS_COLUMNS, FocusContext, FocusLine, dollars, focus_lines};
pub use gauges::{CostGauges, CostSnapshot, MAX_NAMESPACE_SERIES};
pub use input::{ContainerHour, HourInput, Interval, NodeHour, PodHour, VolumeHour};
pub use node_price::{NodeRates, split_node_price};
pub use prices::{ClusterPrices, PriceBook, PriceOverride, Prices, Pricing, PricingMode};
pub use report::{
    CostFilter, CostLine, CostQuery, CostReport, NamespaceCosts, PricedHours, ReportError, Step,
    costs, namespace_costs, workload_costs,
};
pub use rightsizing::{
    ContainerRecommendation, CpuHistogram, HEADROOM_PERCENT, HOURS_PER_MONTH, MIN_HOURS,
    ParseSavingSortError, Recommendation, RecommendationKey, SavingSort, UsageSample, UsageSummary,
    average_millicores, page_after, percentile, recommend, recommend_samples, recommend_summary,
    recommendations, sort_recommendations,
};
pub use rollup::{
    AggregateBy, AggregateRow, ParseAggregateError, STORAGE_KIND, UNATTRIBUTED_KIND, WorkloadGroup,
    WorkloadRef, aggregate, aggregate_workloads, rollup_daily,
};
pub use window::{Window, WindowError};
pub use worker::{
    COST_WORKER, Clock, CostRunReport, CostWorker, CostWorkerConfig, roll_up_day, run_hour,
    run_hour_so_far,
};

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign};

use serde::{Deserialize, Serialize};

/// Milliseconds in an hour, as the divisor of unit-hour prices.
const MILLIS_PER_HOUR: u128 = kubeworkz_shared::time::MILLIS_PER_HOUR as u128;
/// Bytes in the GB of every price: a GiB (see the module docs).
pub const BYTES_PER_GB: u64 = 1 << 30;
/// Nano-dollars in a dollar.
const NANOS_PER_DOLLAR: u64 = 1_000_000_000;

/// An amount of money in billionths of a dollar: exact, and fine enough that per-unit-hour
/// prices such as $0.0001/GB-hour are whole numbers. A `u64` holds $18 billion.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct NanoDollars(pub u64);

impl NanoDollars {
    /// Zero dollars.
    pub const ZERO: Self = Self(0);

    /// Whole dollars and a fraction in nano-dollars, for writing prices readably.
    pub const fn from_dollars_nanos(dollars: u64, nanos: u64) -> Self {
        Self(dollars * NANOS_PER_DOLLAR + nanos)
    }

    /// Dollars as a float, for presentation only (charts, JSON for the UI); never sum these.
    pub fn to_dollars_f64(self) -> f64 {
        // Split so that amounts above 2^53 nano-dollars keep their cents.
        (self.0 / NANOS_PER_DOLLAR) as f64 + (self.0 % NANOS_PER_DOLLAR) as f64 / 1e9
    }

    /// `quantity × price / unit`, rounded half up: the one rounding step of the engine.
    /// Saturates at `u64::MAX` rather than wrap (far beyond any real bill).
    pub(crate) fn round_half_up(numerator: u128, unit: u128) -> Self {
        let rounded = (numerator + unit / 2) / unit;
        Self(u64::try_from(rounded).unwrap_or(u64::MAX))
    }
}

/// An amount that is not plain decimal dollars.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid amount {0:?}: expected dollars such as 0.04 or $1.5, at most 9 decimals")]
pub struct ParseDollarsError(pub String);

impl std::str::FromStr for NanoDollars {
    type Err = ParseDollarsError;

    /// Exact decimal dollars (`0.04`, `$0.0001`, `12`): no float ever touches a price.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || ParseDollarsError(text.to_owned());
        let digits = text.trim().trim_start_matches('$');
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (whole.is_empty() && fraction.is_empty())
            || !all_digits(whole)
            || !all_digits(fraction)
            || fraction.len() > 9
        {
            return Err(bad());
        }
        let whole: u64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| bad())?
        };
        let nanos: u64 = format!("{fraction:0<9}").parse().map_err(|_| bad())?;
        whole
            .checked_mul(NANOS_PER_DOLLAR)
            .and_then(|w| w.checked_add(nanos))
            .map(Self)
            .ok_or_else(bad)
    }
}

impl Add for NanoDollars {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        Self(self.0.saturating_add(other.0))
    }
}

impl AddAssign for NanoDollars {
    fn add_assign(&mut self, other: Self) {
        *self = *self + other;
    }
}

impl Sum for NanoDollars {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::ZERO, Add::add)
    }
}

impl fmt::Display for NanoDollars {
    /// The exact decimal amount in dollars, with at least two decimals and no trailing zeros
    /// beyond them: `0.20`, `144.00`, `0.000123`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fraction = format!("{:09}", self.0 % NANOS_PER_DOLLAR);
        let trimmed = fraction.trim_end_matches('0');
        let shown = if trimmed.len() < 2 {
            &fraction[..2]
        } else {
            trimmed
        };
        write!(f, "{}.{shown}", self.0 / NANOS_PER_DOLLAR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_parse_exactly() {
        let ok = [
            ("0.04", 40_000_000),
            ("$0.0001", 100_000),
            ("12", 12_000_000_000),
            (".5", 500_000_000),
            ("0.000000001", 1),
        ];
        for (text, nanos) in ok {
            assert_eq!(
                text.parse::<NanoDollars>(),
                Ok(NanoDollars(nanos)),
                "{text}"
            );
        }
        for text in [
            "",
            ".",
            "abc",
            "-1",
            "0.0000000001",
            "1e3",
            "1.2.3",
            "99999999999999",
        ] {
            assert!(text.parse::<NanoDollars>().is_err(), "{text}");
        }
        assert_eq!(
            "x".parse::<NanoDollars>().unwrap_err().to_string(),
            "invalid amount \"x\": expected dollars such as 0.04 or $1.5, at most 9 decimals"
        );
    }

    #[test]
    fn nano_dollars_display_exact_decimals() {
        let cases = [
            (0, "0.00"),
            (200_000_000, "0.20"),
            (144 * NANOS_PER_DOLLAR, "144.00"),
            (123_000, "0.000123"),
            (1_000_000_001, "1.000000001"),
            (4_800_000_000, "4.80"),
        ];
        for (nanos, want) in cases {
            assert_eq!(NanoDollars(nanos).to_string(), want);
        }
    }

    #[test]
    fn rounding_is_half_up_once() {
        assert_eq!(NanoDollars::round_half_up(5, 10), NanoDollars(1));
        assert_eq!(NanoDollars::round_half_up(4, 10), NanoDollars(0));
        assert_eq!(NanoDollars::round_half_up(15, 10), NanoDollars(2));
        assert_eq!(
            NanoDollars::round_half_up(u128::MAX / 2, 1),
            NanoDollars(u64::MAX)
        );
    }

    #[test]
    fn dollars_as_float_keep_cents_of_large_amounts() {
        assert_eq!(NanoDollars(200_000_000).to_dollars_f64(), 0.2);
        let large = NanoDollars::from_dollars_nanos(9_000_000_000, 10_000_000);
        assert_eq!(large.to_dollars_f64(), 9_000_000_000.01);
    }
}
