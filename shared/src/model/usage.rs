//! Usage: metrics.k8s.io samples folded into hourly per-container buckets.
//!
//! The cost engine bills `max(request, usage)` per container and hour, so the agent sends one
//! small bucket per container-hour instead of every 30-second sample. Each sample is an
//! average rate over an interval ending at its timestamp; the interval is the time since the
//! previous sample of the same container (at most `max_gap`), or the sample's own `window`
//! for the first one. Intervals that cross an hour boundary are split between the two hours.
//! Amounts are integers: millicore-seconds and byte-seconds, exact for whole-second
//! timestamps (metrics-server's), rounded to the nearest unit otherwise.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde::{Deserialize, Serialize};

use crate::quantity::{self, QuantityError};
use crate::time::{MILLIS_PER_HOUR, UnixMillis};

/// Why a metrics sample could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsageError {
    /// `window` is not a Go duration such as `30s` or `1m0.5s`.
    #[error("invalid metrics window {0:?}")]
    InvalidWindow(String),
    /// A usage quantity did not parse.
    #[error("invalid usage of container {container:?}: {source}")]
    InvalidQuantity {
        /// The container whose usage is malformed.
        container: String,
        /// The parse error.
        source: QuantityError,
    },
}

/// `metrics.k8s.io/v1beta1` PodMetrics; k8s-openapi has no type for the metrics API.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PodMetrics {
    /// Pod name and namespace.
    pub metadata: ObjectMeta,
    /// End of the measurement window.
    pub timestamp: Option<Time>,
    /// Length of the measurement window, a Go duration (`30s`, `20.042s`).
    pub window: String,
    /// Per-container usage.
    pub containers: Vec<ContainerMetrics>,
}

/// One container's usage in a [`PodMetrics`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerMetrics {
    /// Container name.
    pub name: String,
    /// `cpu` (cores) and `memory` (working set bytes).
    pub usage: BTreeMap<String, Quantity>,
}

/// `metrics.k8s.io/v1beta1` NodeMetrics.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeMetrics {
    /// Node name.
    pub metadata: ObjectMeta,
    /// End of the measurement window.
    pub timestamp: Option<Time>,
    /// Length of the measurement window.
    pub window: String,
    /// `cpu` and `memory` of the whole node.
    pub usage: BTreeMap<String, Quantity>,
}

macro_rules! metrics_resource {
    ($ty:ty, $kind:literal, $plural:literal, $scope:ty) => {
        impl k8s_openapi::Resource for $ty {
            const API_VERSION: &'static str = "metrics.k8s.io/v1beta1";
            const GROUP: &'static str = "metrics.k8s.io";
            const KIND: &'static str = $kind;
            const VERSION: &'static str = "v1beta1";
            const URL_PATH_SEGMENT: &'static str = $plural;
            type Scope = $scope;
        }

        impl k8s_openapi::ListableResource for $ty {
            const LIST_KIND: &'static str = concat!($kind, "List");
        }

        impl k8s_openapi::Metadata for $ty {
            type Ty = ObjectMeta;

            fn metadata(&self) -> &ObjectMeta {
                &self.metadata
            }

            fn metadata_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

// So that kube's `Api::<PodMetrics>` can list them like any other resource.
metrics_resource!(
    PodMetrics,
    "PodMetrics",
    "pods",
    k8s_openapi::NamespaceResourceScope
);
metrics_resource!(
    NodeMetrics,
    "NodeMetrics",
    "nodes",
    k8s_openapi::ClusterResourceScope
);

/// Parses a Go `time.Duration` string (`1h2m3.5s`, `300ms`, `0s`) into milliseconds,
/// rounding sub-millisecond remainders up.
pub fn parse_go_duration_millis(text: &str) -> Result<i64, UsageError> {
    let invalid = || UsageError::InvalidWindow(text.to_owned());
    if text == "0" {
        return Ok(0);
    }
    if text.is_empty() {
        return Err(invalid());
    }
    let mut rest = text;
    let mut total_nanos: u128 = 0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(invalid)?;
        let (number, tail) = rest.split_at(number_len);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(invalid()),
        };
        // The number is exact decimal: read it in billionths, then scale by the unit.
        let billionths = quantity::parse_scaled(number, 9).map_err(|_| invalid())?;
        total_nanos += u128::from(billionths) * unit_nanos / 1_000_000_000;
        rest = tail;
    }
    i64::try_from(total_nanos.div_ceil(1_000_000)).map_err(|_| invalid())
}

/// One container's usage during one UTC hour.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageBucket {
    /// Pod namespace.
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// Container name.
    pub container: String,
    /// Start of the hour (UTC, a multiple of one hour).
    pub hour_start: UnixMillis,
    /// CPU used: millicores × seconds (3 600 000 = one core for the whole hour).
    pub cpu_millicore_seconds: u64,
    /// Memory held: bytes × seconds.
    pub memory_byte_seconds: u64,
    /// Highest working set seen.
    pub memory_max_bytes: u64,
    /// Samples whose timestamp falls in this hour.
    pub samples: u32,
    /// Milliseconds of the hour covered by samples; averages divide by this.
    pub covered_millis: u32,
}

impl UsageBucket {
    /// Average CPU over the covered part of the hour, in millicores.
    pub fn average_cpu_millis(&self) -> Option<u64> {
        (self.covered_millis > 0)
            .then(|| self.cpu_millicore_seconds * 1000 / u64::from(self.covered_millis))
    }

    /// Average memory over the covered part of the hour, in bytes.
    pub fn average_memory_bytes(&self) -> Option<u64> {
        (self.covered_millis > 0)
            .then(|| self.memory_byte_seconds * 1000 / u64::from(self.covered_millis))
    }
}

/// One container's average usage over the interval ending at `timestamp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContainerSample<'a> {
    /// Pod namespace.
    pub namespace: &'a str,
    /// Pod name.
    pub pod: &'a str,
    /// Container name.
    pub container: &'a str,
    /// End of the measurement.
    pub timestamp: UnixMillis,
    /// Length of the measurement, used when there is no recent previous sample.
    pub window_millis: i64,
    /// Average CPU in millicores.
    pub cpu_millis: u64,
    /// Working set in bytes.
    pub memory_bytes: u64,
}

type ContainerId = (String, String, String);

/// Folds samples into [`UsageBucket`]s; pure state, fed by the sampler and drained hourly.
#[derive(Debug)]
pub struct UsageAggregator {
    max_gap_millis: i64,
    last_sample: HashMap<ContainerId, UnixMillis>,
    buckets: BTreeMap<(ContainerId, UnixMillis), UsageBucket>,
}

impl UsageAggregator {
    /// `max_gap_millis` bounds how long one sample may stand for: after a longer silence
    /// (agent restart, metrics-server outage) the gap counts as uncovered, not as usage.
    /// Twice the sampling interval is a good value.
    pub fn new(max_gap_millis: i64) -> Self {
        Self {
            max_gap_millis,
            last_sample: HashMap::new(),
            buckets: BTreeMap::new(),
        }
    }

    /// Records every container of a PodMetrics. Nothing is recorded if any part is malformed.
    /// A sample without a timestamp is ignored; repeated or older samples are ignored.
    pub fn record_pod_metrics(&mut self, metrics: &PodMetrics) -> Result<(), UsageError> {
        let Some(timestamp) = metrics.timestamp.as_ref().map(UnixMillis::from) else {
            return Ok(());
        };
        let window_millis = parse_go_duration_millis(&metrics.window)?;
        let namespace = metrics.metadata.namespace.as_deref().unwrap_or_default();
        let pod = metrics.metadata.name.as_deref().unwrap_or_default();
        let mut samples = Vec::with_capacity(metrics.containers.len());
        for container in &metrics.containers {
            let parse = |name: &str, unit_exp10: i32| {
                container
                    .usage
                    .get(name)
                    .map_or(Ok(0), |q| quantity::parse_scaled(&q.0, unit_exp10))
                    .map_err(|source| UsageError::InvalidQuantity {
                        container: container.name.clone(),
                        source,
                    })
            };
            samples.push(ContainerSample {
                namespace,
                pod,
                container: &container.name,
                timestamp,
                window_millis,
                cpu_millis: parse("cpu", 3)?,
                memory_bytes: parse("memory", 0)?,
            });
        }
        for sample in samples {
            self.record_sample(&sample);
        }
        Ok(())
    }

    /// Records one container sample.
    pub fn record_sample(&mut self, sample: &ContainerSample<'_>) {
        let id: ContainerId = (
            sample.namespace.to_owned(),
            sample.pod.to_owned(),
            sample.container.to_owned(),
        );
        let end = sample.timestamp;
        let start = match self.last_sample.get(&id) {
            Some(previous) if *previous >= end => return,
            Some(previous) if end.millis_since(*previous) <= self.max_gap_millis => *previous,
            _ => UnixMillis(end.0 - sample.window_millis.clamp(0, self.max_gap_millis)),
        };
        self.last_sample.insert(id.clone(), end);

        // The interval is (start, end]: an end exactly on the hour belongs to the hour before.
        let last_hour = if start < end {
            UnixMillis(end.0 - 1).hour_start()
        } else {
            end.hour_start()
        };
        let mut piece_start = start;
        loop {
            let hour = piece_start.hour_start();
            let piece_end = UnixMillis((hour.0 + MILLIS_PER_HOUR).min(end.0));
            let millis = u64::try_from(piece_end.millis_since(piece_start)).unwrap_or(0);
            let times_seconds = |rate: u64| {
                let exact = u128::from(rate) * u128::from(millis);
                u64::try_from((exact + 500) / 1000).unwrap_or(u64::MAX)
            };
            let bucket = self.bucket(&id, hour);
            bucket.cpu_millicore_seconds = bucket
                .cpu_millicore_seconds
                .saturating_add(times_seconds(sample.cpu_millis));
            bucket.memory_byte_seconds = bucket
                .memory_byte_seconds
                .saturating_add(times_seconds(sample.memory_bytes));
            bucket.memory_max_bytes = bucket.memory_max_bytes.max(sample.memory_bytes);
            bucket.covered_millis = bucket
                .covered_millis
                .saturating_add(u32::try_from(millis).unwrap_or(u32::MAX));
            if hour >= last_hour {
                bucket.samples += 1;
                break;
            }
            piece_start = piece_end;
        }
    }

    fn bucket(&mut self, id: &ContainerId, hour_start: UnixMillis) -> &mut UsageBucket {
        self.buckets
            .entry((id.clone(), hour_start))
            .or_insert_with(|| UsageBucket {
                namespace: id.0.clone(),
                pod: id.1.clone(),
                container: id.2.clone(),
                hour_start,
                cpu_millicore_seconds: 0,
                memory_byte_seconds: 0,
                memory_max_bytes: 0,
                samples: 0,
                covered_millis: 0,
            })
    }

    /// Removes and returns the buckets of every hour that ended at or before `now`, and
    /// forgets containers not sampled within `max_gap` (deleted pods) so memory stays bounded.
    ///
    /// Pass `now` minus a grace of about `max_gap`, so that the sample straddling the hour
    /// boundary lands before its hour is emitted. Buckets are additive: should a late sample
    /// still produce a second bucket for an emitted hour, consumers sum the two.
    pub fn take_completed(&mut self, now: UnixMillis) -> Vec<UsageBucket> {
        let completed: Vec<_> = self
            .buckets
            .keys()
            .filter(|(_, hour)| hour.0 + MILLIS_PER_HOUR <= now.0)
            .cloned()
            .collect();
        let max_gap = self.max_gap_millis;
        self.last_sample
            .retain(|_, last| now.millis_since(*last) <= max_gap);
        completed
            .into_iter()
            .filter_map(|key| self.buckets.remove(&key))
            .collect()
    }

    /// Buckets still open (the current hour), for inspection and tests.
    pub fn open_buckets(&self) -> impl Iterator<Item = &UsageBucket> {
        self.buckets.values()
    }
}

#[cfg(test)]
#[path = "usage_tests.rs"]
mod tests;
