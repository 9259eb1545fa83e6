use kubeworkz_shared::ids::ClusterId;
use kubeworkz_shared::model::{LabelKeys, OwnerKind, PodOwner};

use super::super::super::fixtures::{GIB, HOUR, at, container, empty_hour, node, pod, volume};
use super::super::super::input::{HourInput, PodHour};
use super::super::super::prices::ClusterPrices;
use super::super::super::{NanoDollars, allocate_hour, allocate_workloads};
use super::*;

fn owned(mut pod: PodHour, kind: OwnerKind, name: &str) -> PodHour {
    pod.owner = Some(PodOwner {
        kind,
        name: name.to_owned(),
    });
    pod
}

/// Hour `h` after [`HOUR`]: a DaemonSet on `nodes` of three nodes (1 core each), a
/// StatefulSet `db` (2 cores), a 10 GiB claim in `data`.
fn hour(cluster: ClusterId, h: i64, nodes: usize) -> HourInput {
    let start = at(h, 0);
    let end = at(h + 1, 0);
    let mut input = empty_hour(cluster, start);
    for n in ["a", "b", "c"].iter().take(nodes) {
        input.pods.push(owned(
            pod(
                "ops",
                &format!("agent-{n}"),
                &format!("node-{n}"),
                vec![container("c", Some(1000), None)],
                start,
                end,
            ),
            OwnerKind::DaemonSet,
            "agent",
        ));
    }
    input.pods.push(owned(
        pod(
            "data",
            "db-0",
            "node-a",
            vec![container("c", Some(2000), None)],
            start,
            end,
        ),
        OwnerKind::StatefulSet,
        "db",
    ));
    input.nodes = ["a", "b", "c"]
        .iter()
        .map(|n| node(&format!("node-{n}"), None, 4000, 0))
        .collect();
    input.volumes = vec![volume("data", "pvc", 10 * GIB, start, end)];
    input
}

fn line<'a>(lines: &'a [WorkloadGroup], key: &str) -> &'a WorkloadGroup {
    lines
        .iter()
        .find(|l| l.workload.key() == key)
        .unwrap_or_else(|| panic!("no {key} in {lines:#?}"))
}

#[test]
fn a_window_regroups_by_workload_and_adds_up_to_the_namespaces() {
    let cluster = ClusterId::new();
    let prices = ClusterPrices::default();
    let mut rows = Vec::new();
    let mut workloads = Vec::new();
    // Hours 0 and 1 split by workload (the DaemonSet on 3 then 2 nodes); hour 2 computed
    // before the split existed: its rows only.
    for (h, nodes, split) in [(0, 3, true), (1, 2, true), (2, 3, false)] {
        let input = hour(cluster, h, nodes);
        let hour_rows = allocate_hour(&input, &prices, &LabelKeys::default());
        if split {
            workloads.extend(allocate_workloads(&input, &prices, &hour_rows));
        }
        rows.extend(hour_rows);
    }
    let window = Window {
        start: HOUR,
        end: at(3, 0),
    };
    let lines = aggregate_workloads(&rows, &workloads, window);

    // $0.04 per core-hour: 3 + 2 core-hours of the DaemonSet over the split hours.
    let agent = line(&lines, "DaemonSet/ops/agent");
    assert_eq!(agent.cost.total.to_string(), "0.20");
    assert_eq!((agent.workload.pods, agent.workload.nodes), (3, 3));
    let db = line(&lines, "StatefulSet/data/db");
    assert_eq!(db.cost.total.to_string(), "0.16"); // 2 cores × 2 h
    assert_eq!((db.workload.pods, db.workload.nodes), (1, 1));
    // $0.0001 per GiB-hour: 10 GiB × 3 h.
    let storage = line(&lines, "__storage__/data");
    assert_eq!(storage.cost.total.to_string(), "0.003");
    assert_eq!(storage.cost.cpu, Default::default());
    // Hour 2 unsplit: 3 cores of ops, 2 of data.
    assert_eq!(
        line(&lines, "__unattributed__/ops").cost.total.to_string(),
        "0.12"
    );
    assert_eq!(
        line(&lines, "__unattributed__/data").cost.total.to_string(),
        "0.08"
    );
    // Idle: 12 cores − 5 − 4 − 5 allocated over the three hours = 22 core-hours.
    let idle = line(&lines, IDLE_NAMESPACE);
    assert_eq!(idle.cost.total.to_string(), "0.88");
    assert_eq!(lines.len(), 6);
    assert_eq!(
        lines[0].workload.key(),
        IDLE_NAMESPACE,
        "most expensive first"
    );

    let sum: NanoDollars = lines.iter().map(|l| l.cost.total).sum();
    let rows_sum: NanoDollars = rows.iter().map(|r| r.cost.total).sum();
    assert_eq!(sum, rows_sum, "every row's cost in exactly one line");
}

#[test]
fn rows_outside_the_window_are_left_out() {
    let cluster = ClusterId::new();
    let prices = ClusterPrices::default();
    let input = hour(cluster, 0, 1);
    let rows = allocate_hour(&input, &prices, &LabelKeys::default());
    let workloads = allocate_workloads(&input, &prices, &rows);
    let later = Window {
        start: at(1, 0),
        end: at(2, 0),
    };
    assert!(aggregate_workloads(&rows, &workloads, later).is_empty());
}
