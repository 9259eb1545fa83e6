//! A `PodMetricsList` body folded into the aggregator while it is decoded.
//!
//! metrics-server ignores `limit` and answers with every pod of the cluster in one list, and
//! the usage sampler reads it every 30 s. Decoded the ordinary way (kube's `Api::list`), that
//! list was the agent's largest allocation — the body copied twice, then every item as a
//! [`super::PodMetrics`] with its labels, `ObjectMeta` and a map of quantities per container
//! — and the allocator kept the high-water mark resident between samples. Here each item is
//! decoded borrowing its strings from the body and recorded at once, so a sample costs the
//! body and one item.

use std::borrow::Cow;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{ContainerUsageRef, PodSampleRef, UsageAggregator, UsageError};

/// What one list body held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodMetricsListSummary {
    /// Items recorded (those without a timestamp included: they have nothing to record).
    pub recorded: usize,
    /// Items skipped because a window or quantity was malformed (see
    /// [`UsageAggregator::record_pod_metrics`]: nothing of such an item is recorded).
    pub skipped: usize,
    /// Why the first skipped item was skipped.
    pub first_error: Option<UsageError>,
    /// The list's `metadata.continue`, when the server paged it.
    pub continue_token: Option<String>,
}

/// Records every item of a `metrics.k8s.io/v1beta1` `PodMetricsList` JSON body into
/// `aggregator` as it is decoded. Malformed JSON is an error (items before it stay recorded:
/// buckets are additive, and each sample is recorded once either way, since a repeated sample
/// of a container is ignored).
pub fn record_pod_metrics_list(
    aggregator: &mut UsageAggregator,
    body: &[u8],
) -> Result<PodMetricsListSummary, serde_json::Error> {
    let mut summary = PodMetricsListSummary::default();
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    ListSeed {
        aggregator,
        summary: &mut summary,
    }
    .deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(summary)
}

/// The fields of a PodMetrics the aggregator reads, borrowed where JSON allows.
#[derive(Deserialize)]
struct ItemRef<'a> {
    #[serde(borrow, default)]
    metadata: ItemMeta<'a>,
    #[serde(default)]
    timestamp: Option<Time>,
    #[serde(borrow, default)]
    window: Cow<'a, str>,
    #[serde(borrow, default)]
    containers: Vec<ContainerRef<'a>>,
}

#[derive(Deserialize, Default)]
struct ItemMeta<'a> {
    #[serde(borrow, default)]
    name: Cow<'a, str>,
    #[serde(borrow, default)]
    namespace: Cow<'a, str>,
}

#[derive(Deserialize)]
struct ContainerRef<'a> {
    #[serde(borrow, default)]
    name: Cow<'a, str>,
    #[serde(borrow, default)]
    usage: UsageRef<'a>,
}

#[derive(Deserialize, Default)]
struct UsageRef<'a> {
    #[serde(borrow, default)]
    cpu: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    memory: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct ListMeta {
    #[serde(default, rename = "continue")]
    continue_token: Option<String>,
}

/// The list object: `items` are folded in, `metadata.continue` kept, the rest skipped.
struct ListSeed<'s> {
    aggregator: &'s mut UsageAggregator,
    summary: &'s mut PodMetricsListSummary,
}

impl<'de> DeserializeSeed<'de> for ListSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ListSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a PodMetricsList object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match key.as_ref() {
                "items" => map.next_value_seed(ItemsSeed {
                    aggregator: &mut *self.aggregator,
                    summary: &mut *self.summary,
                })?,
                "metadata" => {
                    let meta: ListMeta = map.next_value()?;
                    self.summary.continue_token = meta.continue_token.filter(|t| !t.is_empty());
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// The `items` array, recorded one item at a time.
struct ItemsSeed<'s> {
    aggregator: &'s mut UsageAggregator,
    summary: &'s mut PodMetricsListSummary,
}

impl<'de> DeserializeSeed<'de> for ItemsSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for ItemsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of PodMetrics")
    }

    /// `"items": null` is an empty list.
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<ItemRef<'de>>()? {
            let pod = PodSampleRef {
                namespace: &item.metadata.namespace,
                pod: &item.metadata.name,
                timestamp: item.timestamp.as_ref(),
                window: &item.window,
            };
            let containers = item.containers.iter().map(|c| ContainerUsageRef {
                name: &c.name,
                cpu: c.usage.cpu.as_deref(),
                memory: c.usage.memory.as_deref(),
            });
            match self.aggregator.record_pod(pod, containers) {
                Ok(()) => self.summary.recorded += 1,
                Err(err) => {
                    self.summary.skipped += 1;
                    self.summary.first_error.get_or_insert(err);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
