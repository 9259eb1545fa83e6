//! Pods that fail in the ways people open a fleet tool to find: crash loops, images that
//! cannot be pulled, containers killed for memory. Judged from what the pod projection
//! already keeps (container states and the last termination reason), so the collector can
//! tell without keeping pods whole.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::pod::{ContainerState, PodPhase, PodProjection};

/// Waiting reasons of a container whose image cannot be had.
const IMAGE_PULL_REASONS: [&str; 4] = [
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "ErrImageNeverPull",
];

/// How many pods a reason names; the rest are counted only.
pub const EXAMPLES: usize = 5;

/// Why a pod counts as failing. Ordered by how much it says: a crash loop whose last run was
/// OOM-killed is reported as OOMKilled, the cause, not as the loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PodFailure {
    /// A container waits in `ImagePullBackOff`, `ErrImagePull` or an invalid image name.
    ImagePull,
    /// A container waits in `CrashLoopBackOff`.
    CrashLoopBackOff,
    /// A container was killed for exceeding its memory limit and has not run since.
    OomKilled,
}

impl PodFailure {
    /// How the reason's sentence says it.
    fn phrase(self) -> &'static str {
        match self {
            Self::ImagePull => "cannot pull their image",
            Self::CrashLoopBackOff => "in CrashLoopBackOff",
            Self::OomKilled => "OOMKilled",
        }
    }
}

/// How `pod` fails, if it does. Pods being deleted and pods that have finished (`Succeeded`,
/// `Failed`) are not judged: what ran to its end is a Job's business, not the cluster's
/// health, and would otherwise linger in the verdict until someone deletes it.
pub fn pod_failure(pod: &PodProjection) -> Option<PodFailure> {
    if pod.deleted.is_some() || matches!(pod.phase, PodPhase::Succeeded | PodPhase::Failed) {
        return None;
    }
    pod.containers
        .iter()
        .filter_map(|c| {
            let oom_before = c.last_termination_reason.as_deref() == Some("OOMKilled");
            match c.state.as_ref()? {
                ContainerState::Terminated { reason, .. }
                    if reason.as_deref() == Some("OOMKilled") =>
                {
                    Some(PodFailure::OomKilled)
                }
                ContainerState::Waiting { reason } => match reason.as_deref()? {
                    "CrashLoopBackOff" if oom_before => Some(PodFailure::OomKilled),
                    "CrashLoopBackOff" => Some(PodFailure::CrashLoopBackOff),
                    r if IMAGE_PULL_REASONS.contains(&r) => Some(PodFailure::ImagePull),
                    _ => None,
                },
                _ => None,
            }
        })
        .max()
}

/// The pods failing for one reason: how many, and the first few by namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailingPods {
    /// The reason.
    pub failure: PodFailure,
    /// How many pods.
    pub count: u32,
    /// `namespace/name` of at most [`EXAMPLES`] of them, in order.
    pub examples: Vec<String>,
}

/// Groups failing pods (`namespace`, `name`, why) by reason, worst reason first; empty when
/// none fails.
pub fn group_failing<'a>(
    pods: impl IntoIterator<Item = (&'a str, &'a str, PodFailure)>,
) -> Vec<FailingPods> {
    let mut by_failure: BTreeMap<PodFailure, FailingPods> = BTreeMap::new();
    for (namespace, name, failure) in pods {
        let group = by_failure.entry(failure).or_insert_with(|| FailingPods {
            failure,
            count: 0,
            examples: Vec::new(),
        });
        group.count += 1;
        if group.examples.len() < EXAMPLES {
            group.examples.push(format!("{namespace}/{name}"));
        }
    }
    by_failure.into_values().rev().collect()
}

impl fmt::Display for FailingPods {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} ({}",
            self.count,
            self.failure.phrase(),
            self.examples.join(", ")
        )?;
        let rest = (self.count as usize).saturating_sub(self.examples.len());
        if rest > 0 {
            write!(f, " and {rest} more")?;
        }
        write!(f, ")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::HealthReason;
    use crate::model::pod::status_tests::{pod, waiting};
    use crate::model::pod::{ContainerKind, ContainerProjection};

    fn container(state: Option<ContainerState>, last: Option<&str>) -> ContainerProjection {
        ContainerProjection {
            name: "app".into(),
            kind: ContainerKind::App,
            requests: Default::default(),
            limits: Default::default(),
            restarts: 3,
            ready: false,
            image: "shop/api:1.0".into(),
            state,
            last_termination_reason: last.map(str::to_owned),
        }
    }

    #[test]
    fn each_failure_is_told_from_the_container_states() {
        let oom = Some(ContainerState::Terminated {
            reason: Some("OOMKilled".into()),
            exit_code: 137,
        });
        let cases = [
            (
                "crash loop",
                vec![container(waiting("CrashLoopBackOff"), Some("Error"))],
                Some(PodFailure::CrashLoopBackOff),
            ),
            (
                "crash loop after an oom kill",
                vec![container(waiting("CrashLoopBackOff"), Some("OOMKilled"))],
                Some(PodFailure::OomKilled),
            ),
            (
                "oom killed now",
                vec![container(oom.clone(), None)],
                Some(PodFailure::OomKilled),
            ),
            (
                "image pull back-off",
                vec![container(waiting("ImagePullBackOff"), None)],
                Some(PodFailure::ImagePull),
            ),
            (
                "err image pull",
                vec![container(waiting("ErrImagePull"), None)],
                Some(PodFailure::ImagePull),
            ),
            (
                "creating",
                vec![container(waiting("ContainerCreating"), None)],
                None,
            ),
            (
                "running after an old oom kill",
                vec![container(Some(ContainerState::Running), Some("OOMKilled"))],
                None,
            ),
            ("no state reported", vec![container(None, None)], None),
            (
                "the worst container decides",
                vec![
                    container(waiting("ImagePullBackOff"), None),
                    container(waiting("CrashLoopBackOff"), None),
                ],
                Some(PodFailure::CrashLoopBackOff),
            ),
        ];
        for (name, containers, want) in cases {
            assert_eq!(
                pod_failure(&pod(PodPhase::Running, containers)),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn finished_and_deleted_pods_are_not_judged() {
        let looping = || vec![container(waiting("CrashLoopBackOff"), None)];
        assert_eq!(pod_failure(&pod(PodPhase::Failed, looping())), None);
        assert_eq!(pod_failure(&pod(PodPhase::Succeeded, looping())), None);
        let mut deleted = pod(PodPhase::Running, looping());
        deleted.deleted = Some(crate::time::UnixMillis(1));
        assert_eq!(pod_failure(&deleted), None);
    }

    #[test]
    fn groups_count_every_pod_name_five_and_put_the_worst_first() {
        let names: Vec<String> = (0..7).map(|i| format!("web-{i}")).collect();
        let mut pods: Vec<(&str, &str, PodFailure)> = names
            .iter()
            .map(|n| ("shop", n.as_str(), PodFailure::CrashLoopBackOff))
            .collect();
        pods.push(("db", "pg-0", PodFailure::OomKilled));
        let groups = group_failing(pods);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].failure, PodFailure::OomKilled);
        assert_eq!((groups[1].count, groups[1].examples.len()), (7, EXAMPLES));
        assert_eq!(
            HealthReason::PodsFailing(groups).to_string(),
            "pods failing: 1 OOMKilled (db/pg-0); 7 in CrashLoopBackOff (shop/web-0, \
             shop/web-1, shop/web-2, shop/web-3, shop/web-4 and 2 more)"
        );
        assert!(group_failing([]).is_empty());
    }

    /// Appended to what agents send: the reason's variant index and fields are pinned.
    #[test]
    fn golden_bytes() {
        let reason = HealthReason::PodsFailing(vec![FailingPods {
            failure: PodFailure::OomKilled,
            count: 1,
            examples: vec!["a/b".into()],
        }]);
        let bytes = postcard::to_allocvec(&reason).unwrap();
        assert_eq!(
            bytes,
            [0x09, 0x01, 0x02, 0x01, 0x01, 0x03, b'a', b'/', b'b']
        );
        assert_eq!(
            postcard::from_bytes::<HealthReason>(&bytes).unwrap(),
            reason
        );
    }
}
