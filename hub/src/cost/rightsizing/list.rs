//! The right-sizing list behind `GET /api/v1/k8s/costs/recommendations`: every live workload
//! container of an organization (or of one cluster or namespace) with a recommendation over a
//! window, ordered by monthly saving and paged by keyset.
//!
//! The store hands over one namespace at a time ([`Store::rightsizing_gather`]) from the
//! daily workload rollup; each container's merged days are turned into a recommendation and
//! dropped, so memory holds the answer's lines and one namespace's days, not the window's rows
//! of the organization.

use std::cmp::Ordering;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use kubeworkz_shared::ids::{ClusterId, OrgId};

use super::{Recommendation, UsageSummary, recommend_summary};
use crate::cost::Window;
use crate::store::{
    RightsizingNamespace, RightsizingScope, Store, StoreError, WorkloadContainerUsage,
};

/// One workload container's recommendation.
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerRecommendation {
    /// The cluster.
    pub cluster: ClusterId,
    /// Its name.
    pub cluster_name: String,
    /// The namespace.
    pub namespace: String,
    /// Owner kind (`Deployment`, `StatefulSet`, …), or `Pod` for a pod without an owner.
    pub workload_kind: String,
    /// Owner name, or the pod's.
    pub workload_name: String,
    /// The `pod-template-hash` of the newest live pod, when it has one.
    pub pod_template: Option<String>,
    /// The container.
    pub container: String,
    /// Live pods running it: the saving is per replica times this.
    pub replicas: u32,
    /// The current CPU request in millicores (newest live pod).
    pub cpu_request_millis: Option<u64>,
    /// The current memory request in bytes (newest live pod).
    pub memory_request_bytes: Option<u64>,
    /// The engine's recommendation; its saving is per replica.
    pub recommendation: Recommendation,
    /// Monthly change of all replicas in nano-dollars: positive saves, negative costs more.
    pub monthly_saving_nanos: i64,
}

/// The order of the list (`sort=`); ties by cluster id, namespace, workload and container, so
/// every line has one place and a keyset cursor one successor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SavingSort {
    /// `-saving` (default): the largest saving first, extra costs last.
    #[default]
    MostSaving,
    /// `saving`: the largest extra cost (under-requested containers) first.
    LeastSaving,
}

impl SavingSort {
    /// Its spelling in `sort=`, and in a cursor so one sort's cursor is refused by the other.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MostSaving => "-saving",
            Self::LeastSaving => "saving",
        }
    }
}

/// A `sort` value that names no ordering of the list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown sort {0:?}: expected -saving or saving")]
pub struct ParseSavingSortError(pub String);

impl FromStr for SavingSort {
    type Err = ParseSavingSortError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "-saving" => Ok(Self::MostSaving),
            "saving" => Ok(Self::LeastSaving),
            _ => Err(ParseSavingSortError(text.to_owned())),
        }
    }
}

/// Where a line stands in the list: what a keyset cursor holds.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RecommendationKey {
    /// Monthly saving of all replicas, nano-dollars.
    pub saving: i64,
    /// Cluster id.
    pub cluster: String,
    /// Namespace.
    pub namespace: String,
    /// Workload kind.
    pub workload_kind: String,
    /// Workload name.
    pub workload_name: String,
    /// Container.
    pub container: String,
}

impl RecommendationKey {
    /// As the cursor's strings.
    pub fn to_strings(&self) -> Vec<String> {
        vec![
            self.saving.to_string(),
            self.cluster.clone(),
            self.namespace.clone(),
            self.workload_kind.clone(),
            self.workload_name.clone(),
            self.container.clone(),
        ]
    }

    /// From a cursor's strings; `None` when they are not a key.
    pub fn from_strings(parts: &[String]) -> Option<Self> {
        let [saving, cluster, namespace, kind, name, container] = parts else {
            return None;
        };
        Some(Self {
            saving: saving.parse().ok()?,
            cluster: cluster.clone(),
            namespace: namespace.clone(),
            workload_kind: kind.clone(),
            workload_name: name.clone(),
            container: container.clone(),
        })
    }

    /// The order of `sort`: by saving (descending for `-saving`), then the names ascending.
    pub fn compare(&self, other: &Self, sort: SavingSort) -> Ordering {
        let by_saving = match sort {
            SavingSort::MostSaving => other.saving.cmp(&self.saving),
            SavingSort::LeastSaving => self.saving.cmp(&other.saving),
        };
        by_saving.then_with(|| {
            (
                &self.cluster,
                &self.namespace,
                &self.workload_kind,
                &self.workload_name,
                &self.container,
            )
                .cmp(&(
                    &other.cluster,
                    &other.namespace,
                    &other.workload_kind,
                    &other.workload_name,
                    &other.container,
                ))
        })
    }
}

impl ContainerRecommendation {
    /// This line's place in the list.
    pub fn key(&self) -> RecommendationKey {
        RecommendationKey {
            saving: self.monthly_saving_nanos,
            cluster: self.cluster.to_string(),
            namespace: self.namespace.clone(),
            workload_kind: self.workload_kind.clone(),
            workload_name: self.workload_name.clone(),
            container: self.container.clone(),
        }
    }
}

/// `lines` in the order of `sort`.
pub fn sort_recommendations(lines: &mut Vec<ContainerRecommendation>, sort: SavingSort) {
    // Each key built once, not once per comparison.
    let mut keyed: Vec<_> = lines.drain(..).map(|line| (line.key(), line)).collect();
    keyed.sort_by(|a, b| a.0.compare(&b.0, sort));
    lines.extend(keyed.into_iter().map(|(_, line)| line));
}

/// The lines of sorted `lines` after `after` (all of them without), at most `limit`. A key
/// no longer in the list (its saving changed since) still finds its place: the page starts at
/// the first line ordered after it.
pub fn page_after<'a>(
    lines: &'a [ContainerRecommendation],
    after: Option<&RecommendationKey>,
    sort: SavingSort,
    limit: usize,
) -> &'a [ContainerRecommendation] {
    let start = match after {
        Some(key) => {
            lines.partition_point(|line| line.key().compare(key, sort) != Ordering::Greater)
        }
        None => 0,
    };
    let end = lines.len().min(start.saturating_add(limit));
    &lines[start..end]
}

fn time(t: kubeworkz_shared::time::UnixMillis) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.0).unwrap_or_default()
}

/// Every live workload container of `org` in `scope` with enough usage in `window` for a
/// recommendation, ordered by `sort`. Savings are at the cluster's unit prices (the
/// organization's and the cluster's overrides over the defaults).
pub async fn recommendations(
    store: &Store,
    org: OrgId,
    window: Window,
    scope: &RightsizingScope,
    sort: SavingSort,
) -> Result<Vec<ContainerRecommendation>, StoreError> {
    let book = store.price_book(org).await?;
    let (from, to) = (time(window.start), time(window.end));
    let mut lines = Vec::new();
    let mut visit = |place: &RightsizingNamespace, containers: Vec<WorkloadContainerUsage>| {
        let prices = book.for_cluster(place.cluster).base;
        for c in containers {
            let usage = UsageSummary {
                hours: usize::try_from(c.usage.hours).unwrap_or(usize::MAX),
                cpu: c.usage.cpu,
                memory_peak_bytes: c.usage.memory_peak_bytes,
            };
            let Some(recommendation) = recommend_summary(
                &usage,
                c.cpu_request_millis,
                c.memory_request_bytes,
                &prices,
            ) else {
                continue;
            };
            lines.push(ContainerRecommendation {
                cluster: place.cluster,
                cluster_name: place.cluster_name.clone(),
                namespace: place.namespace.clone(),
                workload_kind: c.workload_kind,
                workload_name: c.workload_name,
                pod_template: c.pod_template,
                container: c.container,
                replicas: c.replicas,
                cpu_request_millis: c.cpu_request_millis,
                memory_request_bytes: c.memory_request_bytes,
                monthly_saving_nanos: recommendation
                    .monthly_saving_nanos
                    .saturating_mul(i64::from(c.replicas)),
                recommendation,
            });
        }
    };
    store
        .rightsizing_gather(org, scope, from, to, &mut visit)
        .await?;
    sort_recommendations(&mut lines, sort);
    Ok(lines)
}
