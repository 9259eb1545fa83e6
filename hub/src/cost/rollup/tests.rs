use kubeworkz_shared::ids::ClusterId;
use kubeworkz_shared::model::LabelKeys;

use super::super::NanoDollars;
use super::super::allocate_hour;
use super::super::allocation::{IDLE_NAMESPACE, UNALLOCATED};
use super::super::fixtures::{HOUR, at, container, namespace, node, pod, seed_hour};
use super::super::input::HourInput;
use super::super::prices::ClusterPrices;
use super::*;

/// 2024-05-01T00:00:00Z, the day [`HOUR`] falls in.
const DAY: UnixMillis = UnixMillis(1_714_521_600_000);

fn allocate(input: &HourInput) -> Vec<Allocation> {
    allocate_hour(input, &ClusterPrices::default(), &LabelKeys::default())
}

/// The seed example for `hours` consecutive hours from the start of [`DAY`].
fn seed_hours(cluster: ClusterId, hours: i64) -> Vec<Allocation> {
    (0..hours)
        .flat_map(|h| allocate(&seed_hour(cluster, UnixMillis(DAY.0 + h * 3_600_000))))
        .collect()
}

#[test]
fn seed_example_is_four_eighty_a_day_and_144_a_month() {
    let cluster = ClusterId::new();
    let hours = seed_hours(cluster, 30 * 24);
    let days = rollup_daily(&hours);
    assert_eq!(days.len(), 30);
    assert_eq!(days[0].cost.total.to_string(), "4.80");
    assert_eq!(
        (days[0].start, days[0].end),
        (DAY, UnixMillis(DAY.0 + MILLIS_PER_DAY))
    );
    assert_eq!(days[0].team, "platform");
    assert!(days.iter().all(|d| d.cost.total == days[0].cost.total));

    let month = Window::parse("30d", UnixMillis(DAY.0 + 30 * MILLIS_PER_DAY)).unwrap();
    for rows in [&hours, &days] {
        let by_namespace = aggregate(rows, month, &AggregateBy::Namespace);
        assert_eq!(by_namespace.len(), 1);
        assert_eq!(by_namespace[0].key, "production-api");
        assert_eq!(by_namespace[0].cost.total.to_string(), "144.00");
        assert_eq!(by_namespace[0].cost.cpu.cost.to_string(), "115.20");
        assert_eq!(by_namespace[0].cost.memory.cost.to_string(), "28.80");
    }
    let by_cluster = aggregate(&days, month, &AggregateBy::Cluster);
    assert_eq!(by_cluster[0].key, cluster.to_string());
}

#[test]
fn a_relabel_during_the_day_splits_the_daily_row() {
    let cluster = ClusterId::new();
    let mut hours = seed_hours(cluster, 24);
    for row in &mut hours[12..] {
        row.team = "payments".into();
    }
    let days = rollup_daily(&hours);
    assert_eq!(days.len(), 2);
    let teams: Vec<_> = days
        .iter()
        .map(|d| (d.team.as_str(), d.cost.total.to_string()))
        .collect();
    assert_eq!(
        teams,
        [
            ("payments", "2.40".to_owned()),
            ("platform", "2.40".to_owned())
        ]
    );
}

/// Three namespaces of two teams on one node, for an hour.
fn team_hour() -> Vec<Allocation> {
    let mut input = seed_hour(ClusterId::new(), HOUR);
    input.nodes = vec![node("node-a", None, 16_000, 64 << 30)];
    input.namespaces.push(namespace(
        "checkout",
        &[("team", "platform"), ("env", "prod")],
    ));
    input
        .namespaces
        .push(namespace("sandbox", &[("env", "dev")]));
    for (ns, cpu) in [("checkout", 1000), ("sandbox", 500)] {
        input.pods.push(pod(
            ns,
            "p",
            "node-a",
            vec![container("c", Some(cpu), None)],
            HOUR,
            at(1, 0),
        ));
    }
    allocate(&input)
}

#[test]
fn aggregation_by_team_sums_namespaces_and_keeps_idle_apart() {
    let rows = team_hour();
    let window = Window::parse("today", HOUR).unwrap();
    let by_team = aggregate(&rows, window, &AggregateBy::Team);
    let summary: Vec<_> = by_team
        .iter()
        .map(|g| {
            (
                g.key.as_str(),
                g.cost.total.to_string(),
                g.cost.flags.usage_unknown,
            )
        })
        .collect();
    // Idle: 16 cores − 5.5 = 10.5 × 0.04 = 0.42; 64 GiB − 8 = 56 × 0.005 = 0.28.
    assert_eq!(
        summary,
        [
            (IDLE_NAMESPACE, "0.70".to_owned(), false),
            ("platform", "0.24".to_owned(), true),
            (UNALLOCATED, "0.02".to_owned(), true),
        ]
    );
    assert!(by_team.iter().all(|g| g.window == window));
    let total: NanoDollars = by_team.iter().map(|g| g.cost.total).sum();
    let all: NanoDollars = rows.iter().map(|r| r.cost.total).sum();
    assert_eq!(total, all);
}

#[test]
fn aggregation_by_label_uses_namespace_labels() {
    let rows = team_hour();
    let window = Window::parse("today", HOUR).unwrap();
    let by_env = aggregate(&rows, window, &AggregateBy::Label("env".into()));
    let keys: Vec<_> = by_env
        .iter()
        .map(|g| (g.key.as_str(), g.cost.total.to_string()))
        .collect();
    assert_eq!(
        keys,
        [
            (IDLE_NAMESPACE, "0.70".to_owned()),
            // production-api has no env label.
            (UNALLOCATED, "0.20".to_owned()),
            ("prod", "0.04".to_owned()),
            ("dev", "0.02".to_owned()),
        ]
    );
}

#[test]
fn aggregation_takes_only_rows_starting_inside_the_window() {
    let rows = seed_hours(ClusterId::new(), 48);
    let yesterday = Window::parse("yesterday", UnixMillis(DAY.0 + MILLIS_PER_DAY + 5)).unwrap();
    let groups = aggregate(&rows, yesterday, &AggregateBy::CostCenter);
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].key, "engineering");
    assert_eq!(groups[0].cost.total.to_string(), "4.80");
    let future = Window::parse("today", UnixMillis(DAY.0 + 9 * MILLIS_PER_DAY)).unwrap();
    assert!(aggregate(&rows, future, &AggregateBy::Team).is_empty());
}

#[test]
fn aggregate_parameters_parse() {
    let cases = [
        ("cluster", AggregateBy::Cluster),
        ("namespace", AggregateBy::Namespace),
        ("team", AggregateBy::Team),
        ("cost_center", AggregateBy::CostCenter),
        ("cost-center", AggregateBy::CostCenter),
        (
            "label:app.kubernetes.io/part-of",
            AggregateBy::Label("app.kubernetes.io/part-of".into()),
        ),
    ];
    for (text, want) in cases {
        assert_eq!(text.parse::<AggregateBy>(), Ok(want), "{text}");
    }
    for text in ["", "label:", "pod", "Team"] {
        assert_eq!(
            text.parse::<AggregateBy>(),
            Err(ParseAggregateError(text.to_owned()))
        );
    }
    assert_eq!(
        "pod".parse::<AggregateBy>().unwrap_err().to_string(),
        "unknown aggregate \"pod\": expected cluster, namespace, team, cost_center, label:KEY or workload"
    );
}
