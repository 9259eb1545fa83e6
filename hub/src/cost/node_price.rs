//! Node-based rates: one node's hourly price (from the catalog, spot discount applied) split
//! into a price per core-hour, per GiB-hour and per GPU-hour, so the engine bills containers
//! on that node exactly as in the unit mode and the node's whole price is accounted for
//! (allocated or idle).
//!
//! # The split (OpenCost's method)
//!
//! A catalog knows a node's total price, not its parts. Like OpenCost, the price is split in
//! the ratio of the reference unit prices (the organization's or cluster's per-core and
//! per-GiB prices; seed 0.04 : 0.005, so one core weighs as much as 8 GiB):
//! `core-hour = P × cpu_ref / R` and `GiB-hour = P × mem_ref / R`, where
//! `R = cores × cpu_ref + GiB × mem_ref` is the node's capacity at reference prices, so
//! `cores × core-hour + GiB × GiB-hour = P`. A node with GPUs keeps its CPU and memory at the
//! reference prices and its GPUs take the rest: `GPU-hour = (P − R) / GPUs` (when `P ≤ R`
//! the GPUs are priced at zero and the split is as without GPUs). Rates are rounded half up
//! to a nano-dollar per unit-hour.

use kubeworkz_shared::model::NodeResources;

use super::{BYTES_PER_GB, NanoDollars, Prices};

/// The rates containers on one node are billed at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeRates {
    /// CPU and memory rates (storage and network are the cluster's).
    pub prices: Prices,
    /// Per GPU and hour; zero where GPUs are not priced (the unit mode).
    pub gpu_hour: NanoDollars,
}

impl NodeRates {
    /// Unit prices, GPUs unpriced.
    pub fn unit(prices: Prices) -> Self {
        Self {
            prices,
            gpu_hour: NanoDollars::ZERO,
        }
    }
}

/// Splits `node_hour`, the price of one hour of a node with `capacity`, by the ratio of
/// `reference` (see the module docs).
pub fn split_node_price(
    node_hour: NanoDollars,
    capacity: &NodeResources,
    reference: &Prices,
) -> NodeRates {
    // Everything in nano-dollars × UNIT per hour: exact until the one rounding per rate.
    const UNIT: u128 = 1000 * BYTES_PER_GB as u128;
    let cpu_ref = u128::from(reference.cpu_core_hour.0);
    let memory_ref = u128::from(reference.memory_gib_hour.0);
    let at_reference = u128::from(capacity.cpu_millis) * cpu_ref * u128::from(BYTES_PER_GB)
        + u128::from(capacity.memory_bytes) * memory_ref * 1000;
    let price = u128::from(node_hour.0) * UNIT;
    let gpus = u128::from(capacity.gpus);
    let mut rates = NodeRates::unit(*reference);
    if at_reference == 0 {
        // Nothing to split by: GPUs (if any) carry the price, else the reference rates stay.
        if gpus > 0 {
            rates.gpu_hour = NanoDollars::round_half_up(u128::from(node_hour.0), gpus);
        }
        return rates;
    }
    if gpus > 0 && price > at_reference {
        rates.gpu_hour = NanoDollars::round_half_up(price - at_reference, gpus * UNIT);
        return rates;
    }
    rates.prices.cpu_core_hour = NanoDollars::round_half_up(price * cpu_ref, at_reference);
    rates.prices.memory_gib_hour = NanoDollars::round_half_up(price * memory_ref, at_reference);
    rates
}

#[cfg(test)]
mod tests;
