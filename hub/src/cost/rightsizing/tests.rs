//! Recommendations with expectations computed by hand in the comments.

use kubeworkz_shared::ids::ClusterId;
use kubeworkz_shared::time::UnixMillis;

use super::*;

const GIB: u64 = 1 << 30;

/// An hour of `cpu` millicores on average and a `memory` byte peak, fully covered.
fn hour(index: i64, cpu: u64, memory: u64) -> UsageBucket {
    UsageBucket {
        namespace: "web".into(),
        pod: "web-1".into(),
        container: "app".into(),
        hour_start: UnixMillis(index * 3_600_000),
        cpu_millicore_seconds: cpu * 3600,
        memory_byte_seconds: memory * 3600,
        memory_max_bytes: memory,
        samples: 120,
        covered_millis: 3_600_000,
    }
}

/// 100 hours: CPU 1..=100 millicores × 10 (so p95 = 950), memory peak 1 GiB at hour 42.
fn hundred_hours() -> Vec<UsageBucket> {
    (1..=100)
        .map(|i| hour(i, i as u64 * 10, if i == 42 { GIB } else { GIB / 2 }))
        .collect()
}

#[test]
fn percentiles_are_by_nearest_rank() {
    let cases: [(&[u64], usize, Option<u64>); 5] = [
        (&[], 95, None),
        (&[7], 95, Some(7)),
        // 20 values 1..=20: rank ceil(0.95 × 20) = 19 → 19.
        (
            &[
                20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1,
            ],
            95,
            Some(19),
        ),
        // 10 values: rank ceil(9.5) = 10 → the maximum.
        (&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95, Some(10)),
        (&[5, 1, 3], 50, Some(3)),
    ];
    for (values, p, want) in cases {
        assert_eq!(percentile(&mut values.to_vec(), p), want, "{values:?} p{p}");
    }
}

#[test]
fn cpu_is_p95_plus_a_quarter_and_memory_the_peak_plus_a_quarter() {
    // Requests 2 cores and 4 GiB; seed prices 0.04 per core-hour, 0.005 per GiB-hour.
    let got = recommend(
        &hundred_hours(),
        Some(2000),
        Some(4 * GIB),
        &Prices::default(),
    )
    .unwrap();
    // p95 of 10..=1000 step 10 is the 95th value, 950; × 1.25 = 1187.5 → 1188 millicores.
    assert_eq!(got.cpu_p95_millis, 950);
    assert_eq!(got.cpu_millis, 1188);
    // Peak 1 GiB × 1.25 = 1.25 GiB = 1280 MiB exactly.
    assert_eq!(got.memory_peak_bytes, GIB);
    assert_eq!(got.memory_bytes, 1280 << 20);
    assert_eq!(got.hours, 100);
    assert_eq!(got.days_of_data(), 100.0 / 24.0);
    // Saving an hour: 0.812 cores × 0.04 + 2.75 GiB × 0.005 = 0.03248 + 0.01375 = 0.04623;
    // × 730 = 33.7479 dollars a month.
    assert_eq!(got.monthly_saving_nanos, 33_747_900_000);
}

#[test]
fn an_under_requested_container_is_told_what_more_it_costs() {
    // No requests at all: the whole recommendation is extra, 1.188 × 0.04 + 1.25 × 0.005 =
    // 0.04752 + 0.00625 = 0.05377 an hour, × 730 = 39.2521 dollars a month.
    let got = recommend(&hundred_hours(), None, None, &Prices::default()).unwrap();
    assert_eq!(got.monthly_saving_nanos, -39_252_100_000);
}

#[test]
fn memory_rounds_up_to_a_whole_mib_and_cpu_to_a_millicore() {
    // 24 hours of 1 millicore and 1 byte: 1.25 → 2 millicores, 2 bytes → 1 MiB.
    let usage: Vec<_> = (0..24).map(|i| hour(i, 1, 1)).collect();
    let got = recommend(&usage, Some(2), Some(1 << 20), &Prices::default()).unwrap();
    assert_eq!((got.cpu_millis, got.memory_bytes), (2, 1 << 20));
    assert_eq!(got.monthly_saving_nanos, 0);
    // Idle containers still get at least 1 millicore.
    let idle: Vec<_> = (0..24).map(|i| hour(i, 0, 0)).collect();
    let got = recommend(&idle, None, None, &Prices::default()).unwrap();
    assert_eq!((got.cpu_millis, got.memory_bytes), (1, 1 << 20));
}

#[test]
fn fewer_than_a_days_hours_give_no_recommendation() {
    let mut usage: Vec<_> = (0..23).map(|i| hour(i, 100, GIB)).collect();
    assert_eq!(
        recommend(&usage, Some(100), Some(GIB), &Prices::default()),
        None
    );
    // An hour without covered time is no data.
    let mut empty = hour(23, 0, 0);
    empty.covered_millis = 0;
    usage.push(empty);
    assert_eq!(
        recommend(&usage, Some(100), Some(GIB), &Prices::default()),
        None
    );
    usage.push(hour(24, 100, GIB));
    assert!(recommend(&usage, Some(100), Some(GIB), &Prices::default()).is_some());
}

#[test]
fn partly_covered_hours_average_over_the_covered_time() {
    // 30 minutes covered at 400 millicores: 720 000 millicore-seconds over 1 800 000 ms.
    let mut usage: Vec<_> = (0..24).map(|i| hour(i, 400, GIB)).collect();
    for bucket in &mut usage {
        bucket.cpu_millicore_seconds = 400 * 1800;
        bucket.covered_millis = 1_800_000;
    }
    let got = recommend(&usage, None, None, &Prices::default()).unwrap();
    assert_eq!(got.cpu_p95_millis, 400);
    assert_eq!(got.cpu_millis, 500);
}

/// Replica `pod`'s sample of hour `index`: `cpu` millicores on average, `memory` peak.
fn replica_hour(index: i64, cpu: u64, memory: u64) -> UsageSample {
    UsageSample::from(&hour(index, cpu, memory))
}

#[test]
fn replicas_share_hours_and_the_busiest_sets_the_figures() {
    // Three replicas for 12 hours: 36 samples but 12 hours, under a day: no recommendation.
    let short: Vec<_> = (0..12)
        .flat_map(|i| {
            [
                replica_hour(i, 100, GIB),
                replica_hour(i, 100, GIB),
                replica_hour(i, 100, GIB),
            ]
        })
        .collect();
    assert_eq!(
        recommend_samples(&short, None, None, &Prices::default()),
        None
    );

    // Two replicas for 24 hours: one idles at 100m and 256 MiB, the other runs 300m with a
    // 1 GiB peak in hour 5. 48 samples: 24 of 100 and 24 of 300; nearest rank
    // ceil(0.95 × 48) = 46 → 300; × 1.25 = 375m. Peak 1 GiB × 1.25 = 1280 MiB.
    let samples: Vec<_> = (0..24)
        .flat_map(|i| {
            [
                replica_hour(i, 100, 256 << 20),
                replica_hour(i, 300, if i == 5 { GIB } else { GIB / 2 }),
            ]
        })
        .collect();
    let got = recommend_samples(&samples, Some(500), Some(2 * GIB), &Prices::default()).unwrap();
    assert_eq!(got.hours, 24, "hours, not samples");
    assert_eq!(got.days_of_data(), 1.0);
    assert_eq!(got.cpu_p95_millis, 300);
    assert_eq!(got.cpu_millis, 375);
    assert_eq!(got.memory_bytes, 1280 << 20);
    // Per replica an hour: 0.125 cores × 0.04 + 0.75 GiB × 0.005 = 0.005 + 0.00375 = 0.00875;
    // × 730 = 6.3875 dollars a month.
    assert_eq!(got.monthly_saving_nanos, 6_387_500_000);
    // The order of the samples does not matter.
    let mut reversed = samples.clone();
    reversed.reverse();
    assert_eq!(
        recommend_samples(&reversed, Some(500), Some(2 * GIB), &Prices::default()),
        Some(got)
    );
}

fn line(
    cluster: ClusterId,
    namespace: &str,
    workload: &str,
    saving: i64,
) -> ContainerRecommendation {
    let usage: Vec<_> = (0..24).map(|i| hour(i, 1, 1)).collect();
    ContainerRecommendation {
        cluster,
        cluster_name: "c".into(),
        namespace: namespace.into(),
        workload_kind: "Deployment".into(),
        workload_name: workload.into(),
        pod_template: None,
        container: "app".into(),
        replicas: 1,
        cpu_request_millis: None,
        memory_request_bytes: None,
        recommendation: recommend(&usage, None, None, &Prices::default()).unwrap(),
        monthly_saving_nanos: saving,
    }
}

fn names(lines: &[ContainerRecommendation]) -> Vec<&str> {
    lines.iter().map(|l| l.workload_name.as_str()).collect()
}

#[test]
fn lines_sort_by_saving_then_names_and_page_after_a_key() {
    let cluster = ClusterId::new();
    let mut lines = vec![
        line(cluster, "web", "b", 5),
        line(cluster, "web", "extra", -7),
        line(cluster, "api", "a", 5),
        line(cluster, "web", "top", 90),
        line(cluster, "web", "zero", 0),
    ];
    sort_recommendations(&mut lines, SavingSort::MostSaving);
    // Equal savings by namespace then workload: api/a before web/b.
    assert_eq!(names(&lines), ["top", "a", "b", "zero", "extra"]);
    let first = page_after(&lines, None, SavingSort::MostSaving, 2);
    assert_eq!(names(first), ["top", "a"]);
    let key = first[1].key();
    assert_eq!(
        RecommendationKey::from_strings(&key.to_strings()),
        Some(key.clone())
    );
    let second = page_after(&lines, Some(&key), SavingSort::MostSaving, 2);
    assert_eq!(names(second), ["b", "zero"]);
    let third = page_after(&lines, Some(&second[1].key()), SavingSort::MostSaving, 2);
    assert_eq!(names(third), ["extra"]);
    // A key whose line is gone (its saving changed) still finds its place: after saving 6,
    // the lines of saving 5 and below.
    let moved = RecommendationKey {
        saving: 6,
        ..key.clone()
    };
    assert_eq!(
        names(page_after(&lines, Some(&moved), SavingSort::MostSaving, 10)),
        ["a", "b", "zero", "extra"]
    );

    sort_recommendations(&mut lines, SavingSort::LeastSaving);
    assert_eq!(names(&lines), ["extra", "zero", "a", "b", "top"]);
    assert_eq!("saving".parse::<SavingSort>(), Ok(SavingSort::LeastSaving));
    assert_eq!(
        "size".parse::<SavingSort>().unwrap_err().to_string(),
        "unknown sort \"size\": expected -saving or saving"
    );
    assert_eq!(RecommendationKey::from_strings(&["x".into()]), None);
}
