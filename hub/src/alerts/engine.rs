//! The pure part of cost alerts: a budget's month-end forecast from its run-rate, which of its
//! thresholds a month's numbers cross, and whether an hour's cost is an anomaly against the
//! median of the same hour on the previous days. No store, no clock: the evaluation
//! (`evaluate.rs`) feeds it numbers and the table tests below check it by hand.

use chrono::{DateTime, Datelike, TimeZone, Utc};

use crate::cost::NanoDollars;

/// The budget thresholds, in percent of the amount: each fires once per budget and month.
pub const THRESHOLDS_PCT: [u32; 2] = [80, 100];

/// Hours of data a month needs before its forecast may alert: one hour's run-rate times the
/// month's 720 would alert on the first busy hour of every month.
pub const MIN_FORECAST_HOURS: u64 = 24;

/// Days of the same hour the anomaly baseline looks back over.
pub const BASELINE_DAYS: usize = 7;

/// Fewest of those days that must have a cost before an hour can be judged: a namespace
/// that just appeared has no baseline.
pub const MIN_BASELINE_SAMPLES: usize = 3;

/// The start of the UTC calendar month that holds `at`, and the start of the next.
pub fn month_bounds(at: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = Utc
        .with_ymd_and_hms(at.year(), at.month(), 1, 0, 0, 0)
        .single()
        .expect("the first of a month at midnight UTC exists");
    let (y, m) = if at.month() == 12 {
        (at.year() + 1, 1)
    } else {
        (at.year(), at.month() + 1)
    };
    let end = Utc
        .with_ymd_and_hms(y, m, 1, 0, 0, 0)
        .single()
        .expect("the first of a month at midnight UTC exists");
    (start, end)
}

/// A month's spend so far and where its run-rate takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forecast {
    /// Cost of the computed hours of the month.
    pub actual: NanoDollars,
    /// `actual / elapsed_hours × month_hours`, rounded half up; `actual` when no hour elapsed.
    pub forecast: NanoDollars,
    /// Computed hours of the month.
    pub elapsed_hours: u64,
    /// Hours in the month (672 to 744).
    pub month_hours: u64,
}

/// The month-end forecast from the run-rate: what the elapsed hours cost per hour, for every
/// hour of the month. Integer arithmetic, rounded half up once.
pub fn forecast(actual: NanoDollars, elapsed_hours: u64, month_hours: u64) -> Forecast {
    let elapsed = elapsed_hours.min(month_hours);
    let projected = if elapsed == 0 {
        actual
    } else {
        let numerator = u128::from(actual.0) * u128::from(month_hours);
        let rounded = (numerator + u128::from(elapsed) / 2) / u128::from(elapsed);
        NanoDollars(u64::try_from(rounded).unwrap_or(u64::MAX))
    };
    Forecast {
        actual,
        forecast: projected.max(actual),
        elapsed_hours: elapsed,
        month_hours,
    }
}

/// What a budget alert is about: the spend so far, or the month-end forecast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BudgetMeasure {
    /// The actual cost so far.
    Actual,
    /// The forecast at month end.
    Forecast,
}

/// One threshold a month's numbers have reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Crossing {
    /// Actual or forecast.
    pub measure: BudgetMeasure,
    /// 80 or 100.
    pub threshold_pct: u32,
    /// The value that reached it.
    pub value: NanoDollars,
}

/// Every threshold `f` has reached for a budget of `amount`: the actual cost at or above a
/// threshold, and the forecast likewise once [`MIN_FORECAST_HOURS`] have elapsed. The caller
/// records each once per month; reaching is all this decides.
pub fn crossings(f: &Forecast, amount: NanoDollars) -> Vec<Crossing> {
    let reached = |value: NanoDollars, pct: u32| {
        u128::from(value.0) * 100 >= u128::from(amount.0) * u128::from(pct)
    };
    let mut out = Vec::new();
    for pct in THRESHOLDS_PCT {
        if reached(f.actual, pct) {
            out.push(Crossing {
                measure: BudgetMeasure::Actual,
                threshold_pct: pct,
                value: f.actual,
            });
        }
        if f.elapsed_hours >= MIN_FORECAST_HOURS && reached(f.forecast, pct) {
            out.push(Crossing {
                measure: BudgetMeasure::Forecast,
                threshold_pct: pct,
                value: f.forecast,
            });
        }
    }
    out
}

/// An organization's anomaly rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnomalyRule {
    /// An hour is anomalous above this many thousandths of its baseline (2000: twice).
    pub factor_milli: u64,
    /// ... and only when it costs at least this, so cents never alert.
    pub min_cost: NanoDollars,
}

impl Default for AnomalyRule {
    /// Twice the baseline, and at least $1 in the hour.
    fn default() -> Self {
        Self {
            factor_milli: 2000,
            min_cost: NanoDollars::from_dollars_nanos(1, 0),
        }
    }
}

/// The median of `samples`, the mean of the middle two (rounded half up) for an even count;
/// `None` for none.
pub fn median(samples: &[NanoDollars]) -> Option<NanoDollars> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let mid = sorted.len() / 2;
    Some(if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        let sum = u128::from(sorted[mid - 1].0) + u128::from(sorted[mid].0);
        NanoDollars(sum.div_ceil(2) as u64)
    })
}

/// An hour judged against its baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anomaly {
    /// The hour's cost.
    pub cost: NanoDollars,
    /// The median of the same hour on the previous days.
    pub baseline: NanoDollars,
}

/// Whether an hour costing `cost` is an anomaly: its baseline is the median of `history`
/// (the same hour of day on up to [`BASELINE_DAYS`] previous days that had a cost), which
/// needs [`MIN_BASELINE_SAMPLES`]; the hour must cost more than `factor × baseline` and at
/// least the rule's minimum.
pub fn anomaly(cost: NanoDollars, history: &[NanoDollars], rule: &AnomalyRule) -> Option<Anomaly> {
    if history.len() < MIN_BASELINE_SAMPLES || cost < rule.min_cost {
        return None;
    }
    let baseline = median(history)?;
    let above = u128::from(cost.0) * 1000 > u128::from(baseline.0) * u128::from(rule.factor_milli);
    above.then_some(Anomaly { cost, baseline })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOLLAR: u64 = 1_000_000_000;

    fn usd(dollars: u64) -> NanoDollars {
        NanoDollars(dollars * DOLLAR)
    }

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    #[test]
    fn months_are_calendar_months_in_utc() {
        let cases = [
            (at(2026, 12, 7, 16), at(2026, 12, 1, 0), at(2027, 1, 1, 0)),
            (at(2026, 2, 28, 23), at(2026, 2, 1, 0), at(2026, 3, 1, 0)),
            (at(2024, 2, 1, 0), at(2024, 2, 1, 0), at(2024, 3, 1, 0)),
        ];
        for (now, start, end) in cases {
            assert_eq!(month_bounds(now), (start, end), "{now}");
        }
        // 28 days of February 2026 are 672 hours; 29 of 2024, 696.
        let hours = |(s, e): (DateTime<Utc>, DateTime<Utc>)| (e - s).num_hours();
        assert_eq!(hours(month_bounds(at(2026, 2, 3, 0))), 672);
        assert_eq!(hours(month_bounds(at(2024, 2, 3, 0))), 696);
    }

    #[test]
    fn the_forecast_extends_the_run_rate_to_the_month() {
        // (actual nanos, elapsed hours, month hours, forecast nanos), each by hand:
        let cases = [
            // $100 in 10 days (240 h) of a 30-day month: $10/day → $300.
            (100 * DOLLAR, 240, 720, 300 * DOLLAR),
            // $31 in 24 h of a 31-day month (744 h): $31/day → $961.
            (31 * DOLLAR, 24, 744, 961 * DOLLAR),
            // 10 nanos in 3 h of 720: 10 × 720 / 3 = 2400 exactly.
            (10, 3, 720, 2400),
            // 1 nano in 7 h of 720: 720/7 = 102.857… → 103 (half up).
            (1, 7, 720, 103),
            // 1 nano in 16 h of 24: 1.5 → 2 (half up).
            (1, 16, 24, 2),
            // Nothing elapsed: the forecast is the actual.
            (5 * DOLLAR, 0, 720, 5 * DOLLAR),
            // The whole month elapsed: the forecast is the actual.
            (42 * DOLLAR, 720, 720, 42 * DOLLAR),
        ];
        for (actual, elapsed, month, expected) in cases {
            let f = forecast(NanoDollars(actual), elapsed, month);
            assert_eq!(
                f.forecast,
                NanoDollars(expected),
                "{actual} {elapsed} {month}"
            );
            assert_eq!(f.actual, NanoDollars(actual));
        }
    }

    #[test]
    fn thresholds_are_reached_by_actual_and_by_a_forecast_with_a_days_data() {
        use BudgetMeasure::{Actual, Forecast as Fc};
        let budget = usd(1000);
        // (actual $, elapsed h, expected crossings as (measure, pct)), forecasts by hand:
        type Expected = &'static [(BudgetMeasure, u32)];
        let cases: [(u64, u64, Expected); 6] = [
            // $200 in 240 h → $600 forecast: nothing.
            (200, 240, &[]),
            // $300 in 240 h → $900: forecast 80 %.
            (300, 240, &[(Fc, 80)]),
            // $340 in 240 h → $1020: forecast 80 and 100 %.
            (340, 240, &[(Fc, 80), (Fc, 100)]),
            // $800 in 600 h → $960: actual 80 % exactly, forecast 80 %.
            (800, 600, &[(Actual, 80), (Fc, 80)]),
            // $1000 in 720 h: everything.
            (
                1000,
                720,
                &[(Actual, 80), (Fc, 80), (Actual, 100), (Fc, 100)],
            ),
            // $100 in 2 h → $36 000, but two hours are too few to forecast from.
            (100, 2, &[]),
        ];
        for (actual, elapsed, expected) in cases {
            let f = forecast(usd(actual), elapsed, 720);
            let got: Vec<(BudgetMeasure, u32)> = crossings(&f, budget)
                .into_iter()
                .map(|c| (c.measure, c.threshold_pct))
                .collect();
            assert_eq!(got, expected.to_vec(), "${actual} in {elapsed} h");
        }
        // One nano under 80 % of $1000 is not 80 %.
        let f = forecast(NanoDollars(800 * DOLLAR - 1), 720, 720);
        assert!(crossings(&f, budget).is_empty());
    }

    #[test]
    fn medians_by_hand() {
        let n = |v: &[u64]| v.iter().map(|&x| NanoDollars(x)).collect::<Vec<_>>();
        assert_eq!(median(&n(&[])), None);
        assert_eq!(median(&n(&[7])), Some(NanoDollars(7)));
        assert_eq!(median(&n(&[9, 1, 5])), Some(NanoDollars(5)));
        // Even: the mean of 4 and 7 is 5.5 → 6.
        assert_eq!(median(&n(&[10, 4, 1, 7])), Some(NanoDollars(6)));
        // A spike in the history does not move the median: 3 3 3 4 5 5 100 → 4.
        assert_eq!(median(&n(&[5, 3, 100, 3, 4, 5, 3])), Some(NanoDollars(4)));
    }

    #[test]
    fn an_hour_is_anomalous_above_factor_times_its_median_and_the_minimum() {
        let rule = AnomalyRule::default();
        let week = [usd(2), usd(2), usd(3), usd(2), usd(4), usd(2), usd(3)]; // median $2
        // (cost, history, expected baseline when anomalous):
        let cases: [(NanoDollars, &[NanoDollars], Option<NanoDollars>); 6] = [
            // $5 > 2 × $2: anomaly.
            (usd(5), &week, Some(usd(2))),
            // $4 is exactly 2 × $2, not above: none.
            (usd(4), &week, None),
            // $4 and a nano: above.
            (NanoDollars(4 * DOLLAR + 1), &week, Some(usd(2))),
            // Two days of history are too few.
            (usd(50), &week[..2], None),
            // Three are enough: median of $2 $2 $3 is $2.
            (usd(50), &week[..3], Some(usd(2))),
            // Ten times a tiny baseline, but under the $1 minimum: none.
            (NanoDollars(DOLLAR / 2), &[NanoDollars(1000); 7], None),
        ];
        for (cost, history, expected) in cases {
            let got = anomaly(cost, history, &rule).map(|a| a.baseline);
            assert_eq!(got, expected, "{cost} over {history:?}");
        }
        // A stricter rule: 3× and $10 minimum.
        let strict = AnomalyRule {
            factor_milli: 3000,
            min_cost: usd(10),
        };
        let weekly = [usd(4); 7];
        assert_eq!(anomaly(usd(12), &weekly, &strict), None); // 3 × $4 is not above
        assert_eq!(
            anomaly(usd(13), &weekly, &strict),
            Some(Anomaly {
                cost: usd(13),
                baseline: usd(4)
            })
        );
        // 1.5×: $6.5 over a $4 median is above $6.
        let loose = AnomalyRule {
            factor_milli: 1500,
            min_cost: NanoDollars::ZERO,
        };
        assert!(anomaly(NanoDollars(6_500_000_000), &weekly, &loose).is_some());
        assert!(anomaly(usd(6), &weekly, &loose).is_none());
    }
}
