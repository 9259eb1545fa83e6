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

/// One pod's identity and measurement window, borrowed from whatever it was decoded into.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PodSampleRef<'a> {
    pub namespace: &'a str,
    pub pod: &'a str,
    /// `None`: metrics-server has no sample yet; nothing is recorded.
    pub timestamp: Option<&'a Time>,
    /// A Go duration.
    pub window: &'a str,
}

/// One container's usage quantities as text (`cpu` in cores, `memory` in bytes).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ContainerUsageRef<'a> {
    pub name: &'a str,
    pub cpu: Option<&'a str>,
    pub memory: Option<&'a str>,
}

/// Per-hour tallies of one container: a [`UsageBucket`] without the names, which the
/// aggregator holds once per container instead of once per hour and map.
#[derive(Clone, Copy, Debug, Default)]
struct Tally {
    cpu_millicore_seconds: u64,
    memory_byte_seconds: u64,
    memory_max_bytes: u64,
    samples: u32,
    covered_millis: u32,
}

/// What the aggregator remembers of one container: its last sample and its open hours
/// (one, or two around an hour boundary until the older is taken).
#[derive(Debug)]
struct ContainerState {
    last_sample: Option<UnixMillis>,
    hours: Vec<(UnixMillis, Tally)>,
}

/// Joins a container's identity into one key, `namespace \0 pod \0 container`: one
/// allocation per container. Kubernetes names never contain NUL, so the split is exact.
fn push_key(buf: &mut String, namespace: &str, pod: &str, container: &str) {
    buf.clear();
    buf.push_str(namespace);
    buf.push('\0');
    buf.push_str(pod);
    buf.push('\0');
    buf.push_str(container);
}

fn bucket_of(key: &str, hour_start: UnixMillis, tally: &Tally) -> UsageBucket {
    let mut names = key.splitn(3, '\0');
    let mut next = || names.next().unwrap_or_default().to_owned();
    UsageBucket {
        namespace: next(),
        pod: next(),
        container: next(),
        hour_start,
        cpu_millicore_seconds: tally.cpu_millicore_seconds,
        memory_byte_seconds: tally.memory_byte_seconds,
        memory_max_bytes: tally.memory_max_bytes,
        samples: tally.samples,
        covered_millis: tally.covered_millis,
    }
}

/// Folds samples into [`UsageBucket`]s; pure state, fed by the sampler and drained hourly.
///
/// Memory is one entry per live container (its names in one allocation, its last sample
/// time and its open hours): the agent holds this for every container of the cluster, so a
/// 10k-pod cluster must not pay for nine strings per container.
#[derive(Debug)]
pub struct UsageAggregator {
    max_gap_millis: i64,
    containers: HashMap<Box<str>, ContainerState>,
    /// Reused to build lookup keys without allocating per sample.
    scratch: String,
}

impl UsageAggregator {
    /// `max_gap_millis` bounds how long one sample may stand for: after a longer silence
    /// (agent restart, metrics-server outage) the gap counts as uncovered, not as usage.
    /// Twice the sampling interval is a good value.
    pub fn new(max_gap_millis: i64) -> Self {
        Self {
            max_gap_millis,
            containers: HashMap::new(),
            scratch: String::new(),
        }
    }

    /// Records every container of a PodMetrics. Nothing is recorded if any part is malformed.
    /// A sample without a timestamp is ignored; repeated or older samples are ignored.
    pub fn record_pod_metrics(&mut self, metrics: &PodMetrics) -> Result<(), UsageError> {
        self.record_pod(
            PodSampleRef {
                namespace: metrics.metadata.namespace.as_deref().unwrap_or_default(),
                pod: metrics.metadata.name.as_deref().unwrap_or_default(),
                timestamp: metrics.timestamp.as_ref(),
                window: &metrics.window,
            },
            metrics.containers.iter().map(|c| ContainerUsageRef {
                name: &c.name,
                cpu: c.usage.get("cpu").map(|q| q.0.as_str()),
                memory: c.usage.get("memory").map(|q| q.0.as_str()),
            }),
        )
    }

    /// Records one pod's containers, whichever type they were decoded into (an owned
    /// [`PodMetrics`], or borrowed from a list body by `usage::list`). All or nothing: every
    /// quantity is parsed before any sample is recorded.
    pub(crate) fn record_pod<'a>(
        &mut self,
        pod: PodSampleRef<'a>,
        containers: impl ExactSizeIterator<Item = ContainerUsageRef<'a>>,
    ) -> Result<(), UsageError> {
        let Some(timestamp) = pod.timestamp.map(UnixMillis::from) else {
            return Ok(());
        };
        let window_millis = parse_go_duration_millis(pod.window)?;
        let mut samples = Vec::with_capacity(containers.len());
        for container in containers {
            let parse = |quantity: Option<&str>, unit_exp10: i32| {
                quantity
                    .map_or(Ok(0), |q| quantity::parse_scaled(q, unit_exp10))
                    .map_err(|source| UsageError::InvalidQuantity {
                        container: container.name.to_owned(),
                        source,
                    })
            };
            samples.push(ContainerSample {
                namespace: pod.namespace,
                pod: pod.pod,
                container: container.name,
                timestamp,
                window_millis,
                cpu_millis: parse(container.cpu, 3)?,
                memory_bytes: parse(container.memory, 0)?,
            });
        }
        for sample in samples {
            self.record_sample(&sample);
        }
        Ok(())
    }

    /// Records one container sample.
    pub fn record_sample(&mut self, sample: &ContainerSample<'_>) {
        push_key(
            &mut self.scratch,
            sample.namespace,
            sample.pod,
            sample.container,
        );
        if !self.containers.contains_key(self.scratch.as_str()) {
            let state = ContainerState {
                last_sample: None,
                hours: Vec::with_capacity(1),
            };
            self.containers.insert(self.scratch.as_str().into(), state);
        }
        let Some(state) = self.containers.get_mut(self.scratch.as_str()) else {
            return;
        };
        let end = sample.timestamp;
        let start = match state.last_sample {
            Some(previous) if previous >= end => return,
            Some(previous) if end.millis_since(previous) <= self.max_gap_millis => previous,
            _ => UnixMillis(end.0 - sample.window_millis.clamp(0, self.max_gap_millis)),
        };
        state.last_sample = Some(end);

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
            let i = match state.hours.binary_search_by_key(&hour, |(h, _)| *h) {
                Ok(i) => i,
                Err(i) => {
                    state.hours.insert(i, (hour, Tally::default()));
                    i
                }
            };
            let tally = &mut state.hours[i].1;
            tally.cpu_millicore_seconds = tally
                .cpu_millicore_seconds
                .saturating_add(times_seconds(sample.cpu_millis));
            tally.memory_byte_seconds = tally
                .memory_byte_seconds
                .saturating_add(times_seconds(sample.memory_bytes));
            tally.memory_max_bytes = tally.memory_max_bytes.max(sample.memory_bytes);
            tally.covered_millis = tally
                .covered_millis
                .saturating_add(u32::try_from(millis).unwrap_or(u32::MAX));
            if hour >= last_hour {
                tally.samples += 1;
                break;
            }
            piece_start = piece_end;
        }
    }

    /// Removes and returns the buckets of every hour that ended at or before `now`, and
    /// forgets containers not sampled within `max_gap` (deleted pods) so memory stays bounded.
    ///
    /// Pass `now` minus a grace of about `max_gap`, so that the sample straddling the hour
    /// boundary lands before its hour is emitted. Buckets are additive: should a late sample
    /// still produce a second bucket for an emitted hour, consumers sum the two.
    /// Buckets come sorted by namespace, pod, container and hour.
    pub fn take_completed(&mut self, now: UnixMillis) -> Vec<UsageBucket> {
        let max_gap = self.max_gap_millis;
        let mut completed = Vec::new();
        self.containers.retain(|key, state| {
            state.hours.retain(|(hour, tally)| {
                let done = hour.0 + MILLIS_PER_HOUR <= now.0;
                if done {
                    completed.push(bucket_of(key, *hour, tally));
                }
                !done
            });
            !state.hours.is_empty()
                || state
                    .last_sample
                    .is_some_and(|last| now.millis_since(last) <= max_gap)
        });
        sort_buckets(&mut completed);
        completed
    }

    /// Buckets still open (the current hour), sorted like [`Self::take_completed`]'s; for
    /// inspection and tests.
    pub fn open_buckets(&self) -> Vec<UsageBucket> {
        let mut open: Vec<_> = self
            .containers
            .iter()
            .flat_map(|(key, state)| {
                state
                    .hours
                    .iter()
                    .map(|(hour, tally)| bucket_of(key, *hour, tally))
            })
            .collect();
        sort_buckets(&mut open);
        open
    }
}

fn sort_buckets(buckets: &mut [UsageBucket]) {
    buckets.sort_unstable_by(|a, b| {
        (&a.namespace, &a.pod, &a.container, a.hour_start).cmp(&(
            &b.namespace,
            &b.pod,
            &b.container,
            b.hour_start,
        ))
    });
}

mod list;
pub use list::{PodMetricsListSummary, record_pod_metrics_list};

#[cfg(test)]
mod tests;
