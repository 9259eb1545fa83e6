//! Right-sizing: a recommended CPU and memory request per container from the hourly usage
//! the hub holds, with what the change would save (or add) a month and how many days of data
//! back it. Pure: the caller gathers a container's hourly buckets and current requests.
//!
//! # Method
//!
//! - CPU: the 95th percentile (nearest rank) of the container's hourly average usage, plus
//!   25 % headroom, rounded up to a whole millicore.
//! - Memory: the peak of the hourly maxima, plus 25 % headroom, rounded up to a whole MiB
//!   (memory is not compressible: a request under the peak invites eviction).
//! - No recommendation with fewer than [`MIN_HOURS`] hours of data (one day): a container
//!   seen for an hour says nothing about its daily peak.
//! - Monthly change: (current − recommended request) × the unit prices × 730 hours; positive
//!   is a saving, negative an extra cost (an under-requested container). A missing request
//!   counts as zero.
//! - Confidence: days of data, the distinct hours with data / 24.
//! - Replicas: the pods of one workload share one recommendation (they run one pod template).
//!   Each pod-hour is one sample of the percentile and the peak, so the request fits the
//!   busiest replica's hours; an hour counts once toward [`MIN_HOURS`] and the confidence
//!   however many replicas ran in it (twenty replicas for an hour are still one hour).

use kubeworkz_shared::model::UsageBucket;
use kubeworkz_shared::time::UnixMillis;

use super::{BYTES_PER_GB, Prices};

/// Fewest hours of usage a recommendation needs.
pub const MIN_HOURS: usize = 24;
/// Headroom over the measured figure, in percent.
pub const HEADROOM_PERCENT: u64 = 25;
/// Hours in the month a saving is projected over (365 × 24 / 12).
pub const HOURS_PER_MONTH: i128 = 730;
const MIB: u64 = 1 << 20;

/// One container's recommendation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recommendation {
    /// Recommended CPU request in millicores.
    pub cpu_millis: u64,
    /// Recommended memory request in bytes.
    pub memory_bytes: u64,
    /// The 95th percentile of hourly average CPU usage, in millicores.
    pub cpu_p95_millis: u64,
    /// The peak memory usage, in bytes.
    pub memory_peak_bytes: u64,
    /// Hours of usage data behind it.
    pub hours: usize,
    /// Projected change a month in nano-dollars: positive saves, negative costs more.
    pub monthly_saving_nanos: i64,
}

impl Recommendation {
    /// Days of data: the confidence to show next to it.
    pub fn days_of_data(&self) -> f64 {
        self.hours as f64 / 24.0
    }
}

/// The `p`-th percentile (1–100) of `values` by nearest rank: the smallest value with at
/// least `p` % of the values at or below it. `values` is reordered.
pub fn percentile(values: &mut [u64], p: usize) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    let rank = (values.len() * p).div_ceil(100).max(1);
    let (_, nth, _) = values.select_nth_unstable(rank - 1);
    Some(*nth)
}

fn with_headroom(value: u64) -> u64 {
    (u128::from(value) * u128::from(100 + HEADROOM_PERCENT))
        .div_ceil(100)
        .try_into()
        .unwrap_or(u64::MAX)
}

/// One pod-hour of one container: the part of a [`UsageBucket`] a recommendation reads, without
/// the names (a store gathering a month of a workload's hours holds only these).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UsageSample {
    /// Start of the hour.
    pub hour_start: UnixMillis,
    /// CPU used over the covered time, in millicore-seconds.
    pub cpu_millicore_seconds: u64,
    /// Largest memory sample, in bytes.
    pub memory_max_bytes: u64,
    /// Milliseconds of the hour the samples cover; 0 is no data.
    pub covered_millis: u32,
}

impl From<&UsageBucket> for UsageSample {
    fn from(b: &UsageBucket) -> Self {
        Self {
            hour_start: b.hour_start,
            cpu_millicore_seconds: b.cpu_millicore_seconds,
            memory_max_bytes: b.memory_max_bytes,
            covered_millis: b.covered_millis,
        }
    }
}

/// Recommends requests for one container from its hourly `usage` buckets (hours without
/// covered time are skipped), given its current requests and the unit prices of where it
/// runs. `None` below [`MIN_HOURS`] hours of data.
pub fn recommend(
    usage: &[UsageBucket],
    cpu_request_millis: Option<u64>,
    memory_request_bytes: Option<u64>,
    prices: &Prices,
) -> Option<Recommendation> {
    let samples: Vec<UsageSample> = usage.iter().map(UsageSample::from).collect();
    recommend_samples(&samples, cpu_request_millis, memory_request_bytes, prices)
}

/// [`recommend`] over the pod-hours of a workload's container: one sample per replica and
/// hour, in any order. The saving is per replica.
pub fn recommend_samples(
    usage: &[UsageSample],
    cpu_request_millis: Option<u64>,
    memory_request_bytes: Option<u64>,
    prices: &Prices,
) -> Option<Recommendation> {
    let covered = || usage.iter().filter(|s| s.covered_millis > 0);
    let mut hour_starts: Vec<i64> = covered().map(|s| s.hour_start.0).collect();
    hour_starts.sort_unstable();
    hour_starts.dedup();
    let hours = hour_starts.len();
    if hours < MIN_HOURS {
        return None;
    }
    let mut cpu: Vec<u64> = covered()
        .map(|s| average_millicores(s.cpu_millicore_seconds, s.covered_millis))
        .collect();
    let cpu_p95 = percentile(&mut cpu, 95)?;
    let memory_peak = covered().map(|s| s.memory_max_bytes).max()?;
    Some(priced(
        cpu_p95,
        memory_peak,
        hours,
        cpu_request_millis,
        memory_request_bytes,
        prices,
    ))
}

/// What the daily usage rollup holds of a workload container over a window: its days merged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UsageSummary {
    /// Hours with usage (an hour counts once however many replicas ran in it).
    pub hours: usize,
    /// Each pod-hour's average CPU usage in millicores.
    pub cpu: CpuHistogram,
    /// The largest hourly memory maximum, in bytes.
    pub memory_peak_bytes: u64,
}

/// [`recommend_samples`] over a [`UsageSummary`]: the same method, with the CPU percentile
/// read from the histogram (exact below 1024 millicores, else at most 0.2 % above).
pub fn recommend_summary(
    usage: &UsageSummary,
    cpu_request_millis: Option<u64>,
    memory_request_bytes: Option<u64>,
    prices: &Prices,
) -> Option<Recommendation> {
    if usage.hours < MIN_HOURS {
        return None;
    }
    let cpu_p95 = usage.cpu.percentile(95)?;
    Some(priced(
        cpu_p95,
        usage.memory_peak_bytes,
        usage.hours,
        cpu_request_millis,
        memory_request_bytes,
        prices,
    ))
}

/// The recommendation from the measured figures: headroom, rounding and the monthly change.
fn priced(
    cpu_p95: u64,
    memory_peak: u64,
    hours: usize,
    cpu_request_millis: Option<u64>,
    memory_request_bytes: Option<u64>,
    prices: &Prices,
) -> Recommendation {
    let cpu_millis = with_headroom(cpu_p95).max(1);
    let memory_bytes = with_headroom(memory_peak).div_ceil(MIB).max(1) * MIB;
    let cpu_delta = i128::from(cpu_request_millis.unwrap_or(0)) - i128::from(cpu_millis);
    let memory_delta = i128::from(memory_request_bytes.unwrap_or(0)) - i128::from(memory_bytes);
    // Nano-dollars an hour: millicores × per-core price / 1000 + bytes × per-GiB price / GiB.
    let hourly_numerator =
        cpu_delta * i128::from(prices.cpu_core_hour.0) * i128::from(BYTES_PER_GB)
            + memory_delta * i128::from(prices.memory_gib_hour.0) * 1000;
    let monthly = hourly_numerator * HOURS_PER_MONTH;
    let unit = 1000 * i128::from(BYTES_PER_GB);
    // Round half away from zero, so a saving and the same extra cost are symmetric.
    let rounded = (monthly + monthly.signum() * unit / 2) / unit;
    Recommendation {
        cpu_millis,
        memory_bytes,
        cpu_p95_millis: cpu_p95,
        memory_peak_bytes: memory_peak,
        hours,
        monthly_saving_nanos: i64::try_from(rounded).unwrap_or(if rounded < 0 {
            i64::MIN
        } else {
            i64::MAX
        }),
    }
}

/// A pod-hour's average CPU usage in millicores: millicore-seconds × 1000 / covered ms.
pub fn average_millicores(cpu_millicore_seconds: u64, covered_millis: u32) -> u64 {
    if covered_millis == 0 {
        return 0;
    }
    let average = u128::from(cpu_millicore_seconds) * 1000 / u128::from(covered_millis);
    u64::try_from(average).unwrap_or(u64::MAX)
}

mod histogram;
mod list;

pub use histogram::CpuHistogram;

pub use list::{
    ContainerRecommendation, ParseSavingSortError, RecommendationKey, SavingSort, page_after,
    recommendations, sort_recommendations,
};

#[cfg(test)]
mod tests;
