//! Recommendations with expectations computed by hand in the comments.

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
