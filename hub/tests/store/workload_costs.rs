//! Cost by workload on the real store: an hour run splits each namespace's compute over its
//! workloads (a CronJob's pods under the CronJob through their Job, a DaemonSet's pods with
//! the nodes they ran on), saves the split beside the namespace rows, replaces it when the
//! hour is re-run, keeps organizations apart, and the `aggregate=workload` report regroups
//! it to the same total as the namespace report.

use kubeworkz_hub::cost::{
    AggregateBy, ClusterPrices, CostFilter, CostQuery, NanoDollars, Window, costs, run_hour,
    workload_costs,
};
use kubeworkz_hub::store::{CostPeriod, CostRowFilter, DEFAULT_ORG, StoreError};
use kubeworkz_shared::change::{Object, ObjectKind};
use kubeworkz_shared::model::pod::PodPhase;
use kubeworkz_shared::model::{JobState, LabelKeys, OwnerKind};
use kubeworkz_shared::time::{MILLIS_PER_HOUR, UnixMillis};

use crate::fixtures::*;
use crate::harness::TestStore;
use crate::support::workloads::*;

fn on_node(pod: Object, node: &str) -> Object {
    let Object::Pod(mut pod) = pod else {
        panic!("not a pod")
    };
    pod.node = Some(node.to_owned());
    Object::Pod(pod)
}

pub async fn workload_costs_split_each_hour_and_regroup_exactly(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let cluster = agent_cluster(store, org, "prod-eu-1").await;
    let agent = |n: &str| {
        on_node(
            owned_by(
                pod(
                    "ops",
                    &format!("agent-{n}"),
                    &format!("p-{n}"),
                    PodPhase::Running,
                ),
                Some((OwnerKind::DaemonSet, "agent")),
            ),
            &format!("node-{n}"),
        )
    };
    let objects = vec![
        node("node-a", "n-a"),
        node("node-b", "n-b"),
        node("node-c", "n-c"),
        namespace("ops", "ns-ops", Some("platform")),
        namespace("batch", "ns-batch", Some("data")),
        daemon_set("ops", "agent", "d-1", 3, 3),
        agent("a"),
        agent("b"),
        agent("c"),
        cron_job("batch", "report", "c-1", "0 * * * *", false),
        job(
            "batch",
            "report-1",
            "j-1",
            Some("report"),
            JobState::Running,
        ),
        owned_by(
            pod("batch", "report-1-x", "p-r", PodPhase::Running),
            Some((OwnerKind::Job, "report-1")),
        ),
        job("batch", "manual", "j-2", None, JobState::Running),
        owned_by(
            pod("batch", "manual-x", "p-m", PodPhase::Running),
            Some((OwnerKind::Job, "manual")),
        ),
        owned_by(pod("batch", "loner", "p-l", PodPhase::Running), None),
        // The fixture's own owner: Deployment web.
        pod("batch", "web-1", "p-w", PodPhase::Running),
    ];
    let mut kinds = vec![ObjectKind::Node, ObjectKind::Namespace, ObjectKind::Pod];
    kinds.extend(ObjectKind::WORKLOADS);
    store
        .ingest_changes(
            org,
            cluster,
            Cursors::new(1).next(),
            &batch(snapshot(&kinds, &objects)),
        )
        .await
        .unwrap();

    // The hour the pods started in (a minute ago).
    let start =
        UnixMillis((UnixMillis::now().0 - 60_000).div_euclid(MILLIS_PER_HOUR) * MILLIS_PER_HOUR);
    let end = UnixMillis(start.0 + MILLIS_PER_HOUR);
    let prices = ClusterPrices::default();
    let keys = LabelKeys::default();
    let rows = run_hour(store, org, cluster, start, &prices, &keys)
        .await
        .unwrap();

    let split = store.workload_cost_rows(org, start, end).await.unwrap();
    let names: Vec<(&str, &str, &str, u32, u32)> = split
        .iter()
        .map(|w| {
            (
                w.namespace.as_str(),
                w.kind.as_str(),
                w.name.as_str(),
                w.pods,
                w.nodes,
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("batch", "CronJob", "report", 1, 1),
            ("batch", "Deployment", "web", 1, 1),
            ("batch", "Job", "manual", 1, 1),
            ("batch", "Pod", "loner", 1, 1),
            ("ops", "DaemonSet", "agent", 3, 3),
        ]
    );
    // Each namespace's workloads add up to its row to the nano-dollar.
    for row in rows.iter().filter(|r| !r.is_idle()) {
        let of_ns = split.iter().filter(|w| w.namespace == row.namespace);
        let cpu: NanoDollars = of_ns.clone().map(|w| w.cost.cpu.cost).sum();
        let memory: NanoDollars = of_ns.clone().map(|w| w.cost.memory.cost).sum();
        assert_eq!(cpu, row.cost.cpu.cost, "{}", row.namespace);
        assert_eq!(memory, row.cost.memory.cost, "{}", row.namespace);
        assert!(cpu > NanoDollars::ZERO);
    }
    // Three identical pods cost three times one, give or take the apportioned nano-dollar
    // (one per resource and pod of the one).
    let total = |kind: &str| split.iter().find(|w| w.kind == kind).unwrap().cost.total.0;
    assert!(total("DaemonSet").abs_diff(3 * total("Pod")) <= 6);

    // The report: the same total as by namespace, idle and all; a filter on namespaces.
    let window = Window { start, end };
    let query = |filter: Option<&str>| CostQuery {
        window,
        aggregate: AggregateBy::Namespace,
        filter: filter.map(|f| f.parse::<CostFilter>().unwrap()),
        include_idle: true,
    };
    let by_workload = workload_costs(store, org, &query(None)).await.unwrap();
    let by_namespace = costs(store, org, &query(None)).await.unwrap();
    assert_eq!(by_workload.total.cost.total, by_namespace.total.cost.total);
    let keys_of = |lines: &[kubeworkz_hub::cost::CostLine]| -> Vec<String> {
        let mut keys: Vec<String> = lines.iter().map(|l| l.key.clone()).collect();
        keys.sort();
        keys
    };
    assert_eq!(
        keys_of(&by_workload.lines),
        [
            "CronJob/batch/report",
            "DaemonSet/ops/agent",
            "Deployment/batch/web",
            "Job/batch/manual",
            "Pod/batch/loner",
            "__idle__",
        ]
    );
    let daemon_set = by_workload
        .lines
        .iter()
        .find(|l| l.key == "DaemonSet/ops/agent")
        .and_then(|l| l.workload.clone())
        .unwrap();
    assert_eq!(
        (daemon_set.cluster, daemon_set.pods, daemon_set.nodes),
        (cluster, 3, 3)
    );
    let ops = workload_costs(store, org, &query(Some("namespace:ops")))
        .await
        .unwrap();
    assert_eq!(keys_of(&ops.lines), ["DaemonSet/ops/agent"]);

    // Re-running the hour replaces its split: the same rows, none twice.
    run_hour(store, org, cluster, start, &prices, &keys)
        .await
        .unwrap();
    assert_eq!(
        store.workload_cost_rows(org, start, end).await.unwrap(),
        split
    );

    // A row of another hour is refused and nothing changes; another organization sees none.
    let mut stray = split[0].clone();
    stray.start = end;
    let err = store
        .save_workload_cost_hour(org, cluster, start, &[stray], chrono::Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(
        store.workload_cost_rows(org, start, end).await.unwrap(),
        split
    );
    let other = store.ensure_organization("other").await.unwrap().id;
    assert!(
        store
            .workload_cost_rows(other, start, end)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .save_workload_cost_hour(other, cluster, start, &split, chrono::Utc::now())
            .await
            .is_err(),
        "another organization cannot write this cluster's hours"
    );

    // Deleting the cluster removes its split with it.
    let filter = CostRowFilter {
        period: CostPeriod::Hour,
        start,
        end,
        cluster: None,
        namespace: None,
    };
    assert!(!store.cost_rows(org, &filter).await.unwrap().is_empty());
    store.delete_cluster(org, cluster).await.unwrap();
    assert!(
        store
            .workload_cost_rows(org, start, end)
            .await
            .unwrap()
            .is_empty()
    );
}
