use kubeworkz_shared::ids::ClusterId;
use kubeworkz_shared::model::{
    ContainerKind, ContainerProjection, LabelKeys, PodPhase, PodProjection, PvcPhase,
    PvcProjection, QosClass, ResourceAmounts,
};

use super::super::fixtures::{
    GIB, HOUR, at, container, empty_hour, namespace, node, pod, requests, seed_hour, usage, volume,
};
use super::super::input::{HourInput, Interval, PodHour, VolumeHour};
use super::super::prices::{ClusterPrices, PriceOverride, Prices};
use super::*;

fn allocate(input: &HourInput) -> Vec<Allocation> {
    allocate_hour(input, &ClusterPrices::default(), &LabelKeys::default())
}

fn only_row(rows: &[Allocation], name: &str) -> Allocation {
    let matching: Vec<_> = rows.iter().filter(|r| r.namespace == name).collect();
    assert_eq!(matching.len(), 1, "rows of {name}: {rows:#?}");
    matching[0].clone()
}

/// Cost as the decimal string the API would print.
fn dollars(amount: NanoDollars) -> String {
    amount.to_string()
}

#[test]
fn seed_example_costs_exactly_twenty_cents_an_hour() {
    let rows = allocate(&seed_hour(ClusterId::new(), HOUR));
    assert_eq!(rows.len(), 1, "no nodes, so no idle row");
    let row = &rows[0];
    assert_eq!(row.namespace, "production-api");
    assert_eq!(row.team, "platform");
    assert_eq!(row.cost_center, "engineering");
    assert_eq!((row.start, row.end), (HOUR, at(1, 0)));
    assert_eq!(dollars(row.cost.cpu.cost), "0.16");
    assert_eq!(dollars(row.cost.memory.cost), "0.04");
    assert_eq!(dollars(row.cost.total), "0.20");
    assert_eq!(row.cost.cpu.billed, 4000 * 3_600_000);
    assert_eq!(row.cost.cpu.used, 3500 * 3_600_000);
    assert_eq!(row.cost.memory.billed, u128::from(8 * GIB) * 3_600_000);
    assert_eq!(row.cost.cpu.efficiency(), Some(0.875));
    assert_eq!(row.cost.memory.efficiency(), Some(0.875));
    assert_eq!(row.cost.flags, AllocationFlags::default());
    assert_eq!(row.cost.network, None);
}

#[test]
fn pods_are_billed_for_the_part_of_the_hour_they_ran() {
    let mut input = empty_hour(ClusterId::new(), HOUR);
    input.pods = vec![
        // Starts at :20 (40 minutes), ends at :45 (45 minutes); both request one core.
        pod(
            "web",
            "late",
            "n",
            vec![container("c", Some(1000), None)],
            at(0, 20),
            at(1, 30),
        ),
        pod(
            "web",
            "early",
            "n",
            vec![container("c", Some(1000), None)],
            at(-1, 0),
            at(0, 45),
        ),
    ];
    // 500m while running: the average over the covered 40 minutes.
    let mut late = usage("web", "late", "c", HOUR, 500, 0);
    late.cpu_millicore_seconds = 500 * 2400;
    late.covered_millis = 2_400_000;
    input.usage = vec![late, usage("web", "early", "c", HOUR, 500, 0)];
    let row = only_row(&allocate(&input), "web");
    assert_eq!(row.cost.cpu.billed, 1000 * 85 * 60_000);
    assert_eq!(row.cost.cpu.used, 500 * 85 * 60_000);
    // 85/60 core-hours × $0.04 = $0.0566666…: rounded once for the row, half up.
    assert_eq!(row.cost.cpu.cost, NanoDollars(56_666_667));
    assert!(!row.cost.flags.usage_unknown);
}

#[test]
fn billing_per_container_takes_the_larger_of_request_and_usage() {
    let mut input = empty_hour(ClusterId::new(), HOUR);
    let cases = [
        // (namespace, cpu request, memory request, cpu usage, memory usage, cpu $, memory $)
        (
            "above",
            Some(1000),
            Some(GIB),
            1500,
            2 * GIB,
            "0.06",
            "0.01",
        ),
        (
            "below",
            Some(1000),
            Some(GIB),
            200,
            GIB / 2,
            "0.04",
            "0.005",
        ),
        ("no-request", None, None, 250, GIB, "0.01", "0.005"),
    ];
    for (ns, cpu, memory, used_cpu, used_memory, _, _) in cases {
        input.pods.push(pod(
            ns,
            "p",
            "n",
            vec![container("c", cpu, memory)],
            HOUR,
            at(1, 0),
        ));
        input
            .usage
            .push(usage(ns, "p", "c", HOUR, used_cpu, used_memory));
    }
    let rows = allocate(&input);
    for (ns, _, _, _, _, cpu_cost, memory_cost) in cases {
        let row = only_row(&rows, ns);
        assert_eq!(dollars(row.cost.cpu.cost), cpu_cost, "{ns}");
        assert_eq!(dollars(row.cost.memory.cost), memory_cost, "{ns}");
        assert!(!row.cost.flags.usage_unknown, "{ns}");
    }
    assert_eq!(only_row(&rows, "above").cost.cpu.efficiency(), Some(1.5));
    assert_eq!(only_row(&rows, "below").cost.cpu.efficiency(), Some(0.2));
    assert_eq!(only_row(&rows, "no-request").cost.cpu.efficiency(), None);
}

#[test]
fn several_containers_are_each_billed_their_own_maximum() {
    let mut input = empty_hour(ClusterId::new(), HOUR);
    input.pods = vec![pod(
        "shop",
        "p",
        "n",
        vec![
            container("busy", Some(1000), None),
            container("quiet", Some(1000), None),
        ],
        HOUR,
        at(1, 0),
    )];
    input.usage = vec![
        usage("shop", "p", "busy", HOUR, 2000, 0),
        usage("shop", "p", "quiet", HOUR, 0, 0),
    ];
    let row = only_row(&allocate(&input), "shop");
    // 2 + 1 cores: the quiet container's idle request is not lent to the busy one.
    assert_eq!(row.cost.cpu.billed, 3000 * 3_600_000);
    assert_eq!(dollars(row.cost.cpu.cost), "0.12");
    assert_eq!(row.cost.cpu.efficiency(), Some(1.0));
}

fn projected_container(
    name: &str,
    kind: ContainerKind,
    cpu: u64,
    memory: u64,
) -> ContainerProjection {
    ContainerProjection {
        name: name.to_owned(),
        kind,
        requests: requests(Some(cpu), Some(memory)),
        limits: ResourceAmounts::default(),
        restarts: 0,
        ready: true,
        image: String::new(),
        state: None,
        last_termination_reason: None,
    }
}

fn projected_pod(containers: Vec<ContainerProjection>, overhead: ResourceAmounts) -> PodProjection {
    PodProjection {
        name: "migrate".into(),
        namespace: "db".into(),
        uid: "u".into(),
        node: Some("n".into()),
        phase: PodPhase::Running,
        owner: None,
        containers,
        overhead,
        ready: true,
        start_time: None,
        qos_class: QosClass::Burstable,
        pvc_claims: Vec::new(),
        created: None,
        deleted: None,
        labels: Default::default(),
        reason: None,
    }
}

#[test]
fn init_containers_count_by_the_effective_request_rule() {
    let projection = projected_pod(
        vec![
            projected_container("schema", ContainerKind::Init, 2000, 4 * GIB),
            projected_container("proxy", ContainerKind::Sidecar, 100, GIB / 4),
            projected_container("app", ContainerKind::App, 500, GIB),
        ],
        requests(Some(100), None),
    );
    let hour_pod = PodHour::from_projection(&projection, vec![Interval::hour(HOUR)]);
    let names: Vec<_> = hour_pod
        .containers
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["proxy", "app"]);
    // Effective: max(600m, 2000m) + 100m overhead = 2100m; max(1.25Gi, 4Gi) = 4Gi.
    assert_eq!(
        hour_pod.pod_level,
        requests(Some(1500), Some(4 * GIB - GIB * 5 / 4))
    );

    let mut input = empty_hour(ClusterId::new(), HOUR);
    input.pods = vec![hour_pod];
    input.usage = vec![
        usage("db", "migrate", "app", HOUR, 400, GIB),
        usage("db", "migrate", "proxy", HOUR, 50, GIB / 8),
        // The init container's own usage is covered by the pod-level reservation.
        usage("db", "migrate", "schema", HOUR, 1900, 3 * GIB),
    ];
    let row = only_row(&allocate(&input), "db");
    assert_eq!(row.cost.cpu.billed, 2100 * 3_600_000);
    assert_eq!(row.cost.memory.billed, u128::from(4 * GIB) * 3_600_000);
    assert_eq!(dollars(row.cost.cpu.cost), "0.084");
    assert_eq!(dollars(row.cost.memory.cost), "0.02");
    assert!(!row.cost.flags.usage_unknown);
}

#[test]
fn pods_without_init_containers_or_overhead_have_no_pod_level_request() {
    let mut best_effort = projected_pod(
        vec![projected_container("app", ContainerKind::App, 0, 0)],
        ResourceAmounts::default(),
    );
    best_effort.containers[0].requests = ResourceAmounts::default();
    let hour_pod = PodHour::from_projection(&best_effort, Vec::new());
    assert_eq!(hour_pod.pod_level, ResourceAmounts::default());
    assert_eq!(hour_pod.containers[0].requests, ResourceAmounts::default());
    // A small init container changes nothing either.
    let small_init = projected_pod(
        vec![
            projected_container("init", ContainerKind::Init, 100, GIB / 2),
            projected_container("app", ContainerKind::App, 500, GIB),
        ],
        ResourceAmounts::default(),
    );
    let hour_pod = PodHour::from_projection(&small_init, Vec::new());
    assert_eq!(hour_pod.pod_level, ResourceAmounts::default());
}

#[test]
fn a_statically_bound_claim_is_billed_its_capacity() {
    let claim = PvcProjection {
        name: "static".into(),
        namespace: "data".into(),
        uid: "u".into(),
        requested_bytes: None,
        storage_class: None,
        volume_name: Some("pv-1".into()),
        phase: PvcPhase::Bound,
        capacity_bytes: Some(10 * GIB),
        created: None,
    };
    let volume = VolumeHour::from_projection(&claim, vec![Interval::hour(HOUR)]);
    assert_eq!(volume.requested_bytes, 10 * GIB);
}

#[test]
fn a_claim_bound_mid_hour_is_billed_from_binding() {
    let mut input = empty_hour(ClusterId::new(), HOUR);
    input.volumes = vec![volume("data", "pg-0", 100 * GIB, at(0, 30), at(5, 0))];
    let row = only_row(&allocate(&input), "data");
    assert_eq!(
        row.cost.storage.byte_millis,
        u128::from(100 * GIB) * 1_800_000
    );
    // 50 GiB-hours × $0.0001.
    assert_eq!(dollars(row.cost.storage.cost), "0.005");
    assert_eq!(row.cost.total, row.cost.storage.cost);
    assert_eq!(row.cost.cpu, ResourceAllocation::default());
}

fn half_empty_node_hour() -> HourInput {
    let mut input = empty_hour(ClusterId::new(), HOUR);
    input.nodes = vec![node("n", None, 4000, 16 * GIB)];
    input.pods = vec![pod(
        "web",
        "p",
        "n",
        vec![container("c", Some(2000), Some(8 * GIB))],
        HOUR,
        at(1, 0),
    )];
    input.usage = vec![usage("web", "p", "c", HOUR, 1000, 4 * GIB)];
    input
}

#[test]
fn idle_is_node_capacity_minus_allocations() {
    let rows = allocate(&half_empty_node_hour());
    assert_eq!(rows.len(), 2);
    let idle = only_row(&rows, IDLE_NAMESPACE);
    assert!(idle.is_idle());
    assert_eq!(
        (idle.team.as_str(), idle.cost_center.as_str()),
        ("__idle__", "__idle__")
    );
    assert_eq!(idle.cost.cpu.billed, 2000 * 3_600_000);
    assert_eq!(dollars(idle.cost.cpu.cost), "0.08");
    assert_eq!(dollars(idle.cost.memory.cost), "0.04");
    assert_eq!(dollars(idle.cost.total), "0.12");
    assert_eq!(idle.cost.flags, AllocationFlags::default());
}

#[test]
fn negative_idle_is_clamped_to_zero_and_flagged() {
    let mut input = half_empty_node_hour();
    // One core and 16 GiB: the pod's two cores do not fit.
    input.nodes[0].capacity.cpu_millis = 1000;
    let idle = only_row(&allocate(&input), IDLE_NAMESPACE);
    assert_eq!(idle.cost.cpu.billed, 0);
    assert_eq!(idle.cost.cpu.cost, NanoDollars::ZERO);
    assert_eq!(dollars(idle.cost.memory.cost), "0.04");
    assert!(idle.cost.flags.idle_clamped);
}

#[test]
fn instance_type_prices_apply_to_pods_and_capacity_of_those_nodes() {
    let mut input = half_empty_node_hour();
    input.nodes[0].instance_type = Some("m5.xlarge".into());
    let mut prices = ClusterPrices::default();
    let cheap = Prices::default().with(&PriceOverride {
        cpu_core_hour: Some(NanoDollars(10_000_000)),
        ..PriceOverride::default()
    });
    prices.instance_types.insert("m5.xlarge".into(), cheap);
    let rows = allocate_hour(&input, &prices, &LabelKeys::default());
    assert_eq!(dollars(only_row(&rows, "web").cost.cpu.cost), "0.02");
    assert_eq!(
        dollars(only_row(&rows, IDLE_NAMESPACE).cost.cpu.cost),
        "0.02"
    );
}

#[test]
fn rows_keep_the_labels_of_their_hour() {
    let cluster = ClusterId::new();
    let mut first = seed_hour(cluster, HOUR);
    let mut second = seed_hour(cluster, at(1, 0));
    first.namespaces = vec![namespace("production-api", &[("team", "platform")])];
    second.namespaces = vec![namespace(
        "production-api",
        &[("team", "payments"), ("cost-center", "finance")],
    )];
    let before = only_row(&allocate(&first), "production-api");
    let after = only_row(&allocate(&second), "production-api");
    assert_eq!(
        (before.team.as_str(), before.cost_center.as_str()),
        ("platform", "unallocated")
    );
    assert_eq!(
        (after.team.as_str(), after.cost_center.as_str()),
        ("payments", "finance")
    );
    assert_eq!(before.cost, after.cost);

    // Configured keys pick other labels.
    let keys = LabelKeys {
        team: "cost-center".into(),
        cost_center: "team".into(),
    };
    let swapped = allocate_hour(&second, &ClusterPrices::default(), &keys);
    assert_eq!(swapped[0].team, "finance");
}

#[test]
fn unlabeled_and_unknown_namespaces_are_unallocated() {
    let mut input = seed_hour(ClusterId::new(), HOUR);
    input.namespaces = vec![namespace("production-api", &[("owner", "sre")])];
    input.pods.push(pod(
        "ghost",
        "p",
        "n",
        vec![container("c", Some(100), None)],
        HOUR,
        at(1, 0),
    ));
    let rows = allocate(&input);
    for row in &rows {
        assert_eq!(
            (row.team.as_str(), row.cost_center.as_str()),
            (UNALLOCATED, UNALLOCATED)
        );
    }
    assert_eq!(
        only_row(&rows, "production-api").label_value("owner"),
        "sre"
    );
    assert_eq!(only_row(&rows, "ghost").label_value("owner"), UNALLOCATED);
}

#[test]
fn without_usage_data_the_request_alone_is_billed_and_flagged() {
    let mut input = seed_hour(ClusterId::new(), HOUR);
    // Only a bucket of another hour, and one with no covered time.
    input.usage[0].hour_start = at(-1, 0);
    let mut empty = usage("production-api", "api-0", "api", HOUR, 0, 0);
    empty.covered_millis = 0;
    input.usage.push(empty);
    let row = only_row(&allocate(&input), "production-api");
    assert_eq!(dollars(row.cost.total), "0.20");
    assert!(row.cost.flags.usage_unknown);
    assert_eq!(row.cost.cpu.used, 0);
    assert_eq!(row.cost.cpu.efficiency(), None);
}

#[test]
fn buckets_of_one_container_and_hour_are_summed() {
    let mut input = seed_hour(ClusterId::new(), HOUR);
    // The same 3.5 cores, reported as 50 minutes and a late 10 minutes.
    let mut main = usage("production-api", "api-0", "api", HOUR, 5000, 0);
    main.cpu_millicore_seconds = 3500 * 3000;
    main.covered_millis = 3_000_000;
    let mut late = main.clone();
    late.cpu_millicore_seconds = 3500 * 600;
    late.covered_millis = 600_000;
    input.usage = vec![main, late];
    let row = only_row(&allocate(&input), "production-api");
    assert_eq!(row.cost.cpu.used, 3500 * 3_600_000);
}

#[test]
fn known_egress_is_priced_per_gib() {
    let mut input = seed_hour(ClusterId::new(), HOUR);
    input.pods[0].egress_bytes = Some(3 * GIB);
    let row = only_row(&allocate(&input), "production-api");
    let network = row.cost.network.expect("egress known");
    assert_eq!(network.egress_bytes, 3 * GIB);
    assert_eq!(dollars(network.cost), "0.15");
    assert_eq!(dollars(row.cost.total), "0.35");
}

#[test]
fn rows_are_sorted_by_namespace_with_idle_last() {
    let mut input = half_empty_node_hour();
    for ns in ["zeta", "alpha"] {
        input.pods.push(pod(
            ns,
            "p",
            "n",
            vec![container("c", Some(10), None)],
            HOUR,
            at(1, 0),
        ));
    }
    let names: Vec<_> = allocate(&input).into_iter().map(|r| r.namespace).collect();
    assert_eq!(names, ["alpha", "web", "zeta", IDLE_NAMESPACE]);
}
