//! Cluster health: signals in, Healthy / Degraded / Critical with reasons out.
//!
//! The rules, in order of severity (every matching reason is reported, the status is the worst):
//!
//! **Critical**
//! - the apiserver's `/readyz` or `/livez` fails or cannot be reached (failing checks named);
//! - fewer than half of the nodes are Ready (`ready × 2 < total`);
//! - the hub has had no heartbeat from the agent for 2 minutes or more.
//!
//! **Degraded**
//! - any node is not Ready (`Ready` False or Unknown);
//! - the cluster has no nodes at all;
//! - a kube-scheduler or kube-controller-manager leader Lease is stale (not renewed within
//!   its lease duration plus [`LEASE_CLOCK_SKEW_MILLIS`]). An *absent* Lease is normal on
//!   managed control planes (EKS, GKE, AKS hide them) and is unknown, not unhealthy;
//! - metrics.k8s.io is unavailable (costs fall back to requests only);
//! - a Deployment has fewer available replicas than desired;
//! - pods crash-loop, cannot pull their image, or were OOM-killed ([`failing`]), counted per
//!   reason with a few named;
//! - a ResourceQuota has a resource used at or over its hard amount ([`quota`]), counted with
//!   a few named.
//!
//! **Healthy** otherwise.

use std::fmt;

use k8s_openapi::api::coordination::v1::Lease;
use serde::{Deserialize, Serialize};

use super::DeploymentProjection;

pub mod failing;
pub mod quota;

use crate::time::UnixMillis;
pub use failing::{FailingPods, PodFailure};
pub use quota::{ExhaustedQuota, ExhaustedQuotas};

/// No heartbeat for this long makes a cluster Critical.
pub const HEARTBEAT_CRITICAL_MILLIS: i64 = 120_000;

/// Tolerance for clock difference between the component renewing a Lease and the observer.
pub const LEASE_CLOCK_SKEW_MILLIS: i64 = 10_000;

/// Lease duration assumed when a Lease does not state one (the components' default).
pub const DEFAULT_LEASE_DURATION_SECS: i32 = 15;

/// Overall status, ordered from best to worst.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum HealthStatus {
    /// Nothing wrong.
    Healthy,
    /// Working, with something needing attention.
    Degraded,
    /// Not working, or not observable.
    Critical,
}

impl HealthStatus {
    /// The lowercase name the hub stores and its API shows (`healthy`, `degraded`,
    /// `critical`): one spelling for both, and no allocation per verdict shown.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "healthy",
            HealthStatus::Degraded => "degraded",
            HealthStatus::Critical => "critical",
        }
    }
}

/// Result of probing an apiserver health endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProbeResult {
    /// HTTP 200.
    Ok,
    /// Answered, but some checks fail (names from the `?verbose` output).
    Failing {
        /// Names of the failing checks, e.g. `etcd`, `poststarthook/rbac/bootstrap-roles`.
        checks: Vec<String>,
    },
    /// No answer (connection refused, timeout, TLS error).
    Unreachable {
        /// What went wrong, for the reason text.
        error: String,
    },
}

/// A control-plane component's leader-election Lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LeaseFreshness {
    /// Renewed within its duration.
    Fresh,
    /// Not renewed for `age_millis`: the component has no working leader.
    Stale {
        /// Time since the last renewal.
        age_millis: i64,
    },
    /// No Lease (managed control plane) or not readable: unknown, not unhealthy.
    Absent,
}

impl LeaseFreshness {
    /// Judges a Lease at `now` (rules in the module docs). `None` means not found.
    pub fn of(lease: Option<&Lease>, now: UnixMillis) -> Self {
        let Some(spec) = lease.and_then(|l| l.spec.as_ref()) else {
            return Self::Absent;
        };
        let Some(renewed) = spec.renew_time.as_ref().map(UnixMillis::from) else {
            return Self::Absent;
        };
        let duration_millis = i64::from(
            spec.lease_duration_seconds
                .unwrap_or(DEFAULT_LEASE_DURATION_SECS),
        ) * 1000;
        let age_millis = now.millis_since(renewed);
        if age_millis > duration_millis + LEASE_CLOCK_SKEW_MILLIS {
            Self::Stale { age_millis }
        } else {
            Self::Fresh
        }
    }
}

/// A Deployment with fewer available replicas than desired.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShortDeployment {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Desired replicas.
    pub desired: u32,
    /// Available replicas.
    pub available: u32,
}

/// Everything health is judged from, gathered by the collector (and the hub for heartbeat).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthSignals {
    /// `/readyz?verbose`.
    pub apiserver_ready: ProbeResult,
    /// `/livez?verbose`.
    pub apiserver_live: ProbeResult,
    /// Node count.
    pub nodes_total: u32,
    /// Names of nodes whose `Ready` condition is not True.
    pub nodes_not_ready: Vec<String>,
    /// `kube-system/kube-scheduler` Lease.
    pub scheduler_lease: LeaseFreshness,
    /// `kube-system/kube-controller-manager` Lease.
    pub controller_manager_lease: LeaseFreshness,
    /// Whether metrics.k8s.io answered.
    pub metrics_available: bool,
    /// Deployments short of available replicas.
    pub deployments_short: Vec<ShortDeployment>,
    /// Time since the agent's last heartbeat; `None` where not applicable (in the agent, or
    /// pull mode).
    pub heartbeat_age_millis: Option<i64>,
}

/// Which control-plane component a Lease belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ControlPlaneComponent {
    /// kube-scheduler.
    Scheduler,
    /// kube-controller-manager.
    ControllerManager,
}

/// One reason behind a status; `Display` is the sentence shown to people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HealthReason {
    /// `/readyz` fails or is unreachable.
    ApiNotReady(ProbeResult),
    /// `/livez` fails or is unreachable.
    ApiNotLive(ProbeResult),
    /// Fewer than half the nodes are Ready.
    MostNodesNotReady {
        /// Ready nodes.
        ready: u32,
        /// All nodes.
        total: u32,
    },
    /// No heartbeat for at least two minutes.
    NoHeartbeat {
        /// Time since the last heartbeat.
        age_millis: i64,
    },
    /// Some nodes are not Ready.
    NodesNotReady {
        /// Their names.
        nodes: Vec<String>,
    },
    /// The cluster has no nodes.
    NoNodes,
    /// A leader Lease is stale.
    StaleLease {
        /// Whose Lease.
        component: ControlPlaneComponent,
        /// Time since its last renewal.
        age_millis: i64,
    },
    /// metrics.k8s.io is not available.
    MetricsUnavailable,
    /// Deployments short of available replicas.
    DeploymentsShort(Vec<ShortDeployment>),
    /// Pods failing, per reason (worst first).
    PodsFailing(Vec<FailingPods>),
    /// ResourceQuotas with a resource used up.
    QuotasExhausted(ExhaustedQuotas),
}

impl HealthReason {
    /// The status this reason implies on its own.
    pub fn severity(&self) -> HealthStatus {
        match self {
            Self::ApiNotReady(_)
            | Self::ApiNotLive(_)
            | Self::MostNodesNotReady { .. }
            | Self::NoHeartbeat { .. } => HealthStatus::Critical,
            Self::NodesNotReady { .. }
            | Self::NoNodes
            | Self::StaleLease { .. }
            | Self::MetricsUnavailable
            | Self::DeploymentsShort(_)
            | Self::PodsFailing(_)
            | Self::QuotasExhausted(_) => HealthStatus::Degraded,
        }
    }
}

fn probe_text(probe: &ProbeResult) -> String {
    match probe {
        ProbeResult::Ok => "ok".to_owned(),
        ProbeResult::Failing { checks } => format!("failing checks: {}", checks.join(", ")),
        ProbeResult::Unreachable { error } => format!("unreachable: {error}"),
    }
}

impl fmt::Display for HealthReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ApiNotReady(p) => write!(f, "apiserver not ready ({})", probe_text(p)),
            Self::ApiNotLive(p) => write!(f, "apiserver not live ({})", probe_text(p)),
            Self::MostNodesNotReady { ready, total } => {
                write!(f, "only {ready} of {total} nodes ready")
            }
            Self::NoHeartbeat { age_millis } => {
                write!(f, "no heartbeat from the agent for {}s", age_millis / 1000)
            }
            Self::NodesNotReady { nodes } => write!(f, "nodes not ready: {}", nodes.join(", ")),
            Self::NoNodes => write!(f, "cluster has no nodes"),
            Self::StaleLease {
                component,
                age_millis,
            } => {
                let name = match component {
                    ControlPlaneComponent::Scheduler => "kube-scheduler",
                    ControlPlaneComponent::ControllerManager => "kube-controller-manager",
                };
                write!(f, "{name} lease not renewed for {}s", age_millis / 1000)
            }
            Self::MetricsUnavailable => {
                write!(f, "metrics.k8s.io unavailable; costs use requests only")
            }
            Self::DeploymentsShort(list) => {
                let names: Vec<_> = list
                    .iter()
                    .map(|d| format!("{}/{} ({}/{})", d.namespace, d.name, d.available, d.desired))
                    .collect();
                write!(
                    f,
                    "deployments short of available replicas: {}",
                    names.join(", ")
                )
            }
            Self::PodsFailing(groups) => {
                let groups: Vec<String> = groups.iter().map(ToString::to_string).collect();
                write!(f, "pods failing: {}", groups.join("; "))
            }
            Self::QuotasExhausted(quotas) => write!(f, "{quotas}"),
        }
    }
}

/// The verdict: worst severity among the reasons, and the reasons themselves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthReport {
    /// Overall status.
    pub status: HealthStatus,
    /// Why; empty when Healthy.
    pub reasons: Vec<HealthReason>,
}

/// Applies the rules in the module docs.
pub fn evaluate(signals: &HealthSignals) -> HealthReport {
    let mut reasons = Vec::new();
    if signals.apiserver_ready != ProbeResult::Ok {
        reasons.push(HealthReason::ApiNotReady(signals.apiserver_ready.clone()));
    }
    if signals.apiserver_live != ProbeResult::Ok {
        reasons.push(HealthReason::ApiNotLive(signals.apiserver_live.clone()));
    }
    let total = signals.nodes_total;
    let ready =
        total.saturating_sub(u32::try_from(signals.nodes_not_ready.len()).unwrap_or(u32::MAX));
    if u64::from(ready) * 2 < u64::from(total) {
        reasons.push(HealthReason::MostNodesNotReady { ready, total });
    }
    if let Some(age_millis) = signals
        .heartbeat_age_millis
        .filter(|age| *age >= HEARTBEAT_CRITICAL_MILLIS)
    {
        reasons.push(HealthReason::NoHeartbeat { age_millis });
    }
    if total == 0 {
        reasons.push(HealthReason::NoNodes);
    } else if !signals.nodes_not_ready.is_empty() {
        reasons.push(HealthReason::NodesNotReady {
            nodes: signals.nodes_not_ready.clone(),
        });
    }
    for (component, lease) in [
        (ControlPlaneComponent::Scheduler, signals.scheduler_lease),
        (
            ControlPlaneComponent::ControllerManager,
            signals.controller_manager_lease,
        ),
    ] {
        if let LeaseFreshness::Stale { age_millis } = lease {
            reasons.push(HealthReason::StaleLease {
                component,
                age_millis,
            });
        }
    }
    if !signals.metrics_available {
        reasons.push(HealthReason::MetricsUnavailable);
    }
    if !signals.deployments_short.is_empty() {
        reasons.push(HealthReason::DeploymentsShort(
            signals.deployments_short.clone(),
        ));
    }
    HealthReport::from_reasons(reasons)
}

impl HealthReport {
    /// The verdict of `reasons`: the worst severity among them, Healthy when there is none.
    pub fn from_reasons(reasons: Vec<HealthReason>) -> Self {
        let status = reasons
            .iter()
            .map(HealthReason::severity)
            .max()
            .unwrap_or(HealthStatus::Healthy);
        Self { status, reasons }
    }

    /// This verdict for a cluster whose nodes have not been listed yet (the apiserver did not
    /// answer the list in time): zero nodes then means "not known", so "no nodes" is dropped
    /// rather than shown beside the nodes the next snapshot counts.
    pub fn with_nodes_unknown(self) -> Self {
        let mut reasons = self.reasons;
        reasons.retain(|reason| *reason != HealthReason::NoNodes);
        Self::from_reasons(reasons)
    }

    /// This verdict with the failing pods' reason added (none when `failing` is empty). Kept
    /// out of [`HealthSignals`], whose encoding older hubs decode, and judged by whoever keeps
    /// the pods: the collector, in the agent and in pull mode alike.
    pub fn with_failing_pods(self, failing: Vec<FailingPods>) -> Self {
        if failing.is_empty() {
            return self;
        }
        let mut reasons = self.reasons;
        reasons.push(HealthReason::PodsFailing(failing));
        Self::from_reasons(reasons)
    }

    /// This verdict with the exhausted quotas' reason added (none for `None`); kept out of
    /// [`HealthSignals`] for the same reason as [`Self::with_failing_pods`].
    pub fn with_exhausted_quotas(self, exhausted: Option<ExhaustedQuotas>) -> Self {
        let Some(exhausted) = exhausted else {
            return self;
        };
        let mut reasons = self.reasons;
        reasons.push(HealthReason::QuotasExhausted(exhausted));
        Self::from_reasons(reasons)
    }
}

/// Deployments with fewer available replicas than desired, for [`HealthSignals`].
pub fn deployments_short<'a>(
    deployments: impl IntoIterator<Item = &'a DeploymentProjection>,
) -> Vec<ShortDeployment> {
    deployments
        .into_iter()
        .filter(|d| d.short_of_available() > 0)
        .map(|d| ShortDeployment {
            namespace: d.namespace.clone(),
            name: d.name.clone(),
            desired: d.replicas.desired,
            available: d.replicas.available,
        })
        .collect()
}

/// Names of the failing checks in `/readyz?verbose` or `/livez?verbose` output, whose lines
/// read `[+]ping ok` or `[-]etcd failed: reason withheld`.
pub fn failing_checks(verbose_body: &str) -> Vec<String> {
    verbose_body
        .lines()
        .filter_map(|line| line.trim().strip_prefix("[-]"))
        .map(|rest| {
            rest.split_once(' ')
                .map_or(rest, |(name, _)| name)
                .to_owned()
        })
        .collect()
}

#[cfg(test)]
mod tests;
