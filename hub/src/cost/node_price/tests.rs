//! The node-based split, and hours allocated in the `node` mode, with expectations computed by
//! hand in the comments.

use kubeworkz_shared::ids::ClusterId;
use kubeworkz_shared::model::{LabelKeys, NodeResources};

use super::super::fixtures::{GIB, HOUR, at, container, empty_hour, node, pod, usage};
use super::super::input::{HourInput, NodeHour};
use super::super::{
    Allocation, ClusterPrices, IDLE_NAMESPACE, PriceBook, PriceOverride, Pricing, PricingMode,
    Provider, allocate_hour,
};
use super::*;

fn dollars(text: &str) -> NanoDollars {
    text.parse().expect("dollars")
}

fn capacity(cpu_millis: u64, memory_gib: u64, gpus: u64) -> NodeResources {
    NodeResources {
        cpu_millis,
        memory_bytes: memory_gib * GIB,
        gpus,
        ..NodeResources::default()
    }
}

#[test]
fn a_nodes_price_splits_by_the_reference_ratio() {
    let seed = Prices::default(); // 0.04 per core-hour, 0.005 per GiB-hour
    // (node price, cores in millis, GiB, GPUs) → (core-hour, GiB-hour, GPU-hour)
    let cases = [
        // m5.xlarge 0.192, 4 cores 16 GiB: R = 4 × 0.04 + 16 × 0.005 = 0.24;
        // 0.192 × 0.04 / 0.24 = 0.032, 0.192 × 0.005 / 0.24 = 0.004 (4 × 0.032 + 16 × 0.004 = 0.192).
        ("0.192", 4000, 16, 0, ("0.032", "0.004", "0")),
        // g4dn.xlarge 0.526 with one GPU: CPU and memory at reference (R = 0.24), GPU 0.286.
        ("0.526", 4000, 16, 1, ("0.04", "0.005", "0.286")),
        // Two GPUs on a node cheaper than its CPU and memory at reference: GPUs at zero,
        // 0.12 × 0.04 / 0.24 = 0.02, 0.12 × 0.005 / 0.24 = 0.0025.
        ("0.12", 4000, 16, 2, ("0.02", "0.0025", "0")),
        // 3 cores, 2 GiB at 0.1: R = 0.13; 0.1 × 0.04 / 0.13 = 0.030769230.77 → 0.030769231,
        // 0.1 × 0.005 / 0.13 = 0.003846153.85 → 0.003846154 (half up).
        ("0.1", 3000, 2, 0, ("0.030769231", "0.003846154", "0")),
        // No CPU or memory reported: the GPUs carry the price, 1 / 2.
        ("1", 0, 0, 2, ("0.04", "0.005", "0.5")),
    ];
    for (price, cpu, memory, gpus, (core, gib, gpu)) in cases {
        let rates = split_node_price(dollars(price), &capacity(cpu, memory, gpus), &seed);
        assert_eq!(
            (
                rates.prices.cpu_core_hour,
                rates.prices.memory_gib_hour,
                rates.gpu_hour
            ),
            (dollars(core), dollars(gib), dollars(gpu)),
            "{price} {cpu}m {memory}GiB {gpus} GPUs"
        );
        assert_eq!(rates.prices.storage_gib_hour, seed.storage_gib_hour);
    }
}

#[test]
fn the_reference_ratio_is_the_clusters_unit_prices() {
    // One core weighs as much as 2 GiB: R = 4 × 0.02 + 16 × 0.01 = 0.24;
    // 0.192 × 0.02 / 0.24 = 0.016, 0.192 × 0.01 / 0.24 = 0.008.
    let reference = Prices {
        cpu_core_hour: dollars("0.02"),
        memory_gib_hour: dollars("0.01"),
        ..Prices::default()
    };
    let rates = split_node_price(dollars("0.192"), &capacity(4000, 16, 0), &reference);
    assert_eq!(rates.prices.cpu_core_hour, dollars("0.016"));
    assert_eq!(rates.prices.memory_gib_hour, dollars("0.008"));
}

fn node_mode() -> ClusterPrices {
    let cluster = ClusterId::new();
    PriceBook {
        mode: Some(PricingMode::Node),
        ..PriceBook::default()
    }
    .for_cluster(cluster)
}

fn aws_node(name: &str, instance_type: &str, cpu: u64, memory_gib: u64, gpus: u64) -> NodeHour {
    let mut node = node(name, Some(instance_type), cpu, memory_gib * GIB);
    node.provider = Some(Provider::Aws);
    node.region = Some("us-east-1".to_owned());
    node.capacity.gpus = gpus;
    node
}

/// One pod `web/p` requesting 1 core and 4 GiB on `node` the whole hour, using half of it.
fn one_pod_on(node: NodeHour, cpu_request: u64) -> HourInput {
    let name = node.name.clone();
    HourInput {
        pods: vec![pod(
            "web",
            "p",
            &name,
            vec![container("c", Some(cpu_request), Some(4 * GIB))],
            HOUR,
            at(1, 0),
        )],
        nodes: vec![node],
        usage: vec![usage("web", "p", "c", HOUR, cpu_request / 2, 2 * GIB)],
        ..empty_hour(ClusterId::new(), HOUR)
    }
}

fn row<'a>(rows: &'a [Allocation], namespace: &str) -> &'a Allocation {
    rows.iter()
        .find(|r| r.namespace == namespace)
        .expect("row present")
}

fn allocate(input: &HourInput, prices: &ClusterPrices) -> Vec<Allocation> {
    allocate_hour(input, prices, &LabelKeys::default())
}

#[test]
fn an_on_demand_node_is_billed_at_its_catalog_price_in_full() {
    let rows = allocate(
        &one_pod_on(aws_node("n", "m5.xlarge", 4000, 16, 0), 1000),
        &node_mode(),
    );
    // Rates 0.032 per core-hour and 0.004 per GiB-hour (m5.xlarge, 0.192 an hour).
    let web = row(&rows, "web");
    assert_eq!(web.cost.cpu.cost, dollars("0.032"));
    assert_eq!(web.cost.memory.cost, dollars("0.016"));
    let idle = row(&rows, IDLE_NAMESPACE);
    assert_eq!(idle.cost.cpu.cost, dollars("0.096")); // 3 cores × 0.032
    assert_eq!(idle.cost.memory.cost, dollars("0.048")); // 12 GiB × 0.004
    assert_eq!(web.cost.total + idle.cost.total, dollars("0.192"));
    let pricing = Some(Pricing {
        mode: PricingMode::Node,
        catalog_date: Some("2024-06-01".to_owned()),
    });
    assert_eq!(web.pricing, pricing);
    assert_eq!(idle.pricing, pricing);
}

#[test]
fn a_spot_node_is_billed_at_the_discounted_price() {
    let mut node = aws_node("n", "m5.xlarge", 4000, 16, 0);
    node.spot = true;
    let rows = allocate(&one_pod_on(node, 1000), &node_mode());
    // 0.192 × 0.35 = 0.0672: 0.0112 per core-hour, 0.0014 per GiB-hour.
    let web = row(&rows, "web");
    assert_eq!(web.cost.cpu.cost, dollars("0.0112"));
    assert_eq!(web.cost.memory.cost, dollars("0.0056"));
    assert_eq!(row(&rows, IDLE_NAMESPACE).cost.total, dollars("0.0504"));
}

#[test]
fn gpus_requested_are_billed_and_the_rest_of_the_gpu_capacity_is_idle() {
    let mut input = one_pod_on(aws_node("g", "g4dn.xlarge", 4000, 16, 1), 2000);
    // Requests 1 GPU, 2 cores, 4 GiB for the first half hour only.
    input.pods[0].containers[0].requests.gpus = Some(1);
    input.pods[0].running[0].end = at(0, 30);
    input.usage.clear();
    let rows = allocate(&input, &node_mode());
    // g4dn.xlarge 0.526: 0.04 per core-hour, 0.005 per GiB-hour, 0.286 per GPU-hour.
    let web = row(&rows, "web");
    assert_eq!(web.cost.gpu.gpu_millis, 1_800_000);
    assert_eq!(web.cost.gpu.cost, dollars("0.143"));
    assert_eq!(web.cost.cpu.cost, dollars("0.04")); // 2 × 0.04 × ½
    assert_eq!(web.cost.memory.cost, dollars("0.01")); // 4 × 0.005 × ½
    assert_eq!(web.cost.total, dollars("0.193"));
    let idle = row(&rows, IDLE_NAMESPACE);
    assert_eq!(idle.cost.gpu.cost, dollars("0.143"));
    assert_eq!(idle.cost.total, dollars("0.333")); // 0.526 − 0.193
}

#[test]
fn gpus_cost_nothing_in_the_unit_mode() {
    let mut input = one_pod_on(aws_node("g", "g4dn.xlarge", 4000, 16, 1), 1000);
    input.pods[0].containers[0].requests.gpus = Some(1);
    let rows = allocate(&input, &ClusterPrices::default());
    assert_eq!(row(&rows, "web").cost.gpu.cost, NanoDollars::ZERO);
    assert_eq!(row(&rows, "web").cost.gpu.gpu_millis, 3_600_000);
    assert_eq!(
        row(&rows, "web").pricing,
        Some(Pricing {
            mode: PricingMode::Unit,
            catalog_date: None
        })
    );
}

#[test]
fn an_operators_instance_type_price_beats_the_catalog() {
    let cluster = ClusterId::new();
    let prices = PriceBook {
        mode: Some(PricingMode::Node),
        instance_types: [(
            "m5.xlarge".to_owned(),
            PriceOverride {
                cpu_core_hour: Some(dollars("0.1")),
                ..PriceOverride::default()
            },
        )]
        .into(),
        ..PriceBook::default()
    }
    .for_cluster(cluster);
    let rows = allocate(
        &one_pod_on(aws_node("n", "m5.xlarge", 4000, 16, 0), 1000),
        &prices,
    );
    assert_eq!(row(&rows, "web").cost.cpu.cost, dollars("0.1"));
    assert_eq!(row(&rows, "web").cost.memory.cost, dollars("0.02")); // 4 × seed 0.005
}

#[test]
fn a_node_the_catalog_does_not_know_keeps_the_unit_prices() {
    let mut on_prem = node("n", Some("bare-metal-64"), 4000, 16 * GIB);
    on_prem.region = Some("dc-1".to_owned());
    for node in [aws_node("n", "x99.huge", 4000, 16, 0), on_prem] {
        let rows = allocate(&one_pod_on(node, 1000), &node_mode());
        assert_eq!(row(&rows, "web").cost.total, dollars("0.06")); // 0.04 + 4 × 0.005
    }
}

#[test]
fn idle_stays_clamped_at_zero_when_usage_exceeds_the_node() {
    // Requests 1 core, uses 5 on a 4-core node: CPU billed 5 × 0.032 = 0.16 > 0.128.
    let mut input = one_pod_on(aws_node("n", "m5.xlarge", 4000, 16, 0), 1000);
    input.usage = vec![usage("web", "p", "c", HOUR, 5000, 2 * GIB)];
    let rows = allocate(&input, &node_mode());
    assert_eq!(row(&rows, "web").cost.cpu.cost, dollars("0.16"));
    let idle = row(&rows, IDLE_NAMESPACE);
    assert_eq!(idle.cost.cpu.cost, NanoDollars::ZERO);
    assert_eq!(idle.cost.memory.cost, dollars("0.048"));
    assert!(idle.cost.flags.idle_clamped);
}
