use kubeworkz_shared::ids::ClusterId;
use kubeworkz_shared::model::{LabelKeys, OwnerKind, PodOwner};

use super::super::super::fixtures::{GIB, HOUR, at, container, empty_hour, node, pod, volume};
use super::super::super::input::HourInput;
use super::super::super::prices::ClusterPrices;
use super::super::allocate_hour;
use super::*;

fn owned(mut pod: PodHour, kind: OwnerKind, name: &str) -> PodHour {
    pod.owner = Some(PodOwner {
        kind,
        name: name.to_owned(),
    });
    pod
}

fn split(input: &HourInput) -> (Vec<Allocation>, Vec<WorkloadAllocation>) {
    let prices = ClusterPrices::default();
    let rows = allocate_hour(input, &prices, &LabelKeys::default());
    let workloads = allocate_workloads(input, &prices, &rows);
    (rows, workloads)
}

fn find<'a>(workloads: &'a [WorkloadAllocation], kind: &str, name: &str) -> &'a WorkloadAllocation {
    workloads
        .iter()
        .find(|w| w.kind == kind && w.name == name)
        .unwrap_or_else(|| panic!("no {kind}/{name} in {workloads:#?}"))
}

/// A namespace's workloads add up to its row's compute (everything but storage).
fn assert_reconciled(rows: &[Allocation], workloads: &[WorkloadAllocation]) {
    for row in rows.iter().filter(|r| !r.is_idle()) {
        let mut sum = CostBreakdown::default();
        for w in workloads.iter().filter(|w| w.namespace == row.namespace) {
            sum.add(&w.cost);
        }
        assert_eq!(sum.cpu, row.cost.cpu, "cpu of {}", row.namespace);
        assert_eq!(sum.memory, row.cost.memory, "memory of {}", row.namespace);
        assert_eq!(sum.gpu, row.cost.gpu, "gpu of {}", row.namespace);
        assert_eq!(
            sum.total,
            NanoDollars(row.cost.total.0 - row.cost.storage.cost.0),
            "total of {}",
            row.namespace
        );
    }
}

#[test]
fn workloads_get_their_pods_cost_and_a_daemonset_shows_its_nodes() {
    let mut input = empty_hour(ClusterId::new(), HOUR);
    input.pods = vec![
        // Deployment api: 2 pods × (1 core, 1 GiB) for the hour, on two nodes.
        owned(
            pod(
                "web",
                "api-1",
                "node-a",
                vec![container("c", Some(1000), Some(GIB))],
                HOUR,
                at(1, 0),
            ),
            OwnerKind::Deployment,
            "api",
        ),
        owned(
            pod(
                "web",
                "api-2",
                "node-b",
                vec![container("c", Some(1000), Some(GIB))],
                HOUR,
                at(1, 0),
            ),
            OwnerKind::Deployment,
            "api",
        ),
        // A bare pod: half a core for half an hour.
        pod(
            "web",
            "debug",
            "node-a",
            vec![container("c", Some(500), None)],
            at(0, 30),
            at(1, 0),
        ),
        // DaemonSet agent: 100m and 128 MiB on each of three nodes.
        owned(
            pod(
                "kube-system",
                "agent-a",
                "node-a",
                vec![container("c", Some(100), Some(GIB / 8))],
                HOUR,
                at(1, 0),
            ),
            OwnerKind::DaemonSet,
            "agent",
        ),
        owned(
            pod(
                "kube-system",
                "agent-b",
                "node-b",
                vec![container("c", Some(100), Some(GIB / 8))],
                HOUR,
                at(1, 0),
            ),
            OwnerKind::DaemonSet,
            "agent",
        ),
        owned(
            pod(
                "kube-system",
                "agent-c",
                "node-c",
                vec![container("c", Some(100), Some(GIB / 8))],
                HOUR,
                at(1, 0),
            ),
            OwnerKind::DaemonSet,
            "agent",
        ),
    ];
    input.nodes = vec![
        node("node-a", None, 4000, 16 * GIB),
        node("node-b", None, 4000, 16 * GIB),
        node("node-c", None, 4000, 16 * GIB),
    ];
    // A claim in web: storage stays on the namespace row.
    input.volumes = vec![volume("web", "data", 10 * GIB, HOUR, at(1, 0))];
    let (rows, workloads) = split(&input);
    assert_eq!(workloads.len(), 3, "{workloads:#?}");

    // $0.04 per core-hour, $0.005 per GiB-hour (the seed prices).
    let api = find(&workloads, "Deployment", "api");
    assert_eq!((api.namespace.as_str(), api.pods, api.nodes), ("web", 2, 2));
    assert_eq!(api.cost.cpu.cost.to_string(), "0.08"); // 2 cores × 1 h × 0.04
    assert_eq!(api.cost.memory.cost.to_string(), "0.01"); // 2 GiB × 1 h × 0.005
    assert_eq!(api.cost.total.to_string(), "0.09");
    assert_eq!(api.cost.storage, Default::default());

    let debug = find(&workloads, BARE_POD_KIND, "debug");
    assert_eq!((debug.pods, debug.nodes), (1, 1));
    assert_eq!(debug.cost.total.to_string(), "0.01"); // 0.5 core × 0.5 h × 0.04

    let agent = find(&workloads, "DaemonSet", "agent");
    assert_eq!(
        (agent.namespace.as_str(), agent.pods, agent.nodes),
        ("kube-system", 3, 3)
    );
    assert_eq!(agent.cost.cpu.cost.to_string(), "0.012"); // 3 × 0.1 core × 0.04
    assert_eq!(agent.cost.memory.cost.to_string(), "0.001875"); // 3 × 0.125 GiB × 0.005
    assert_eq!(agent.cost.total.to_string(), "0.013875");

    assert_reconciled(&rows, &workloads);
    let web = rows.iter().find(|r| r.namespace == "web").unwrap();
    assert_eq!(web.cost.storage.cost.to_string(), "0.001"); // 10 GiB × 1 h × 0.0001
    assert_eq!(web.cost.total.to_string(), "0.101");
}

/// 1 millicore for `ms` milliseconds costs `ms / 90` nano-dollars at $0.04 per core-hour.
fn tiny(namespace: &str, name: &str, ms: i64) -> PodHour {
    owned(
        pod(
            namespace,
            name,
            "n",
            vec![container("c", Some(1), None)],
            HOUR,
            UnixMillis(HOUR.0 + ms),
        ),
        OwnerKind::Job,
        name,
    )
}

#[test]
fn workloads_add_up_to_the_namespace_to_the_nano_dollar() {
    // Each Job alone is 0.5 nano-dollars (45 ms): rounded alone, three halves make 3; the
    // namespace rounds 1.5 once, to 2, and the workloads share exactly those 2.
    let mut input = empty_hour(ClusterId::new(), HOUR);
    input.pods = vec![
        tiny("b", "j1", 45),
        tiny("b", "j2", 45),
        tiny("b", "j3", 45),
    ];
    let (rows, workloads) = split(&input);
    assert_eq!(rows[0].cost.cpu.cost, NanoDollars(2));
    let parts: Vec<u64> = workloads.iter().map(|w| w.cost.cpu.cost.0).collect();
    assert_eq!(
        parts,
        vec![1, 1, 0],
        "largest remainders, ties to the first"
    );
    assert_reconciled(&rows, &workloads);

    // 0.4 each (36 ms): the namespace's 1.2 rounds to 1, which goes to the first.
    input.pods = vec![
        tiny("b", "j1", 36),
        tiny("b", "j2", 36),
        tiny("b", "j3", 36),
    ];
    let (rows, workloads) = split(&input);
    assert_eq!(rows[0].cost.cpu.cost, NanoDollars(1));
    let parts: Vec<u64> = workloads.iter().map(|w| w.cost.cpu.cost.0).collect();
    assert_eq!(parts, vec![1, 0, 0]);
    assert_reconciled(&rows, &workloads);
}

#[test]
fn egress_is_shared_by_bytes_and_pods_without_a_share_are_left_out() {
    let mut input = empty_hour(ClusterId::new(), HOUR);
    let mut sender = owned(
        pod(
            "web",
            "api-1",
            "n",
            vec![container("c", Some(1000), None)],
            HOUR,
            at(1, 0),
        ),
        OwnerKind::Deployment,
        "api",
    );
    sender.egress_bytes = Some(3 * GIB);
    let mut quiet = owned(
        pod(
            "web",
            "front-1",
            "n",
            vec![container("c", Some(1000), None)],
            HOUR,
            at(1, 0),
        ),
        OwnerKind::StatefulSet,
        "front",
    );
    quiet.egress_bytes = Some(GIB);
    // Ended before the hour: no share.
    let gone = owned(
        pod(
            "web",
            "old",
            "n",
            vec![container("c", Some(1000), None)],
            at(-2, 0),
            at(-1, 0),
        ),
        OwnerKind::Job,
        "old",
    );
    input.pods = vec![sender, quiet, gone];
    let (rows, workloads) = split(&input);
    assert_eq!(workloads.len(), 2);
    let network = |w: &WorkloadAllocation| w.cost.network.unwrap().cost.to_string();
    // $0.05 per GiB of egress: 3 GiB and 1 GiB.
    assert_eq!(network(find(&workloads, "Deployment", "api")), "0.15");
    assert_eq!(network(find(&workloads, "StatefulSet", "front")), "0.05");
    assert_reconciled(&rows, &workloads);
}

#[test]
fn apportioning_is_exact_for_any_weights() {
    let cases: [(u64, &[u128], &[u64]); 6] = [
        (10, &[1, 1, 1], &[4, 3, 3]),
        (10, &[1, 2, 2], &[2, 4, 4]),
        (7, &[0, 5, 0], &[0, 7, 0]),
        (5, &[0, 0], &[5, 0]),
        (0, &[3, 4], &[0, 0]),
        (3, &[], &[]),
    ];
    for (total, weights, expected) in cases {
        let parts: Vec<u64> = apportion(NanoDollars(total), weights)
            .iter()
            .map(|p| p.0)
            .collect();
        assert_eq!(parts, expected, "{total} over {weights:?}");
    }
    // Weights so large that total × weight overflows u128 still split exactly.
    let huge = [u128::MAX / 4, u128::MAX / 4, u128::MAX / 8];
    let total = NanoDollars(u64::MAX / 2);
    let parts = apportion(total, &huge);
    assert_eq!(parts.iter().map(|p| p.0).sum::<u64>(), total.0);
    assert!(parts[0] == parts[1] && parts[2].0 < parts[0].0, "{parts:?}");
}
