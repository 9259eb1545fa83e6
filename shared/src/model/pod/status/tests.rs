//! kubectl's STATUS column, case by case.

use super::*;
use crate::model::ResourceAmounts;
use crate::model::pod::{ContainerProjection, QosClass};
use crate::time::UnixMillis;

fn container(
    kind: ContainerKind,
    state: Option<ContainerState>,
    ready: bool,
) -> ContainerProjection {
    ContainerProjection {
        name: "c".into(),
        kind,
        requests: ResourceAmounts::default(),
        limits: ResourceAmounts::default(),
        restarts: 0,
        ready,
        image: "nginx:1.25".into(),
        state,
        last_termination_reason: None,
    }
}

/// A pod in `phase` running `containers`.
pub(crate) fn pod(phase: PodPhase, containers: Vec<ContainerProjection>) -> PodProjection {
    PodProjection {
        name: "web-1".into(),
        namespace: "shop".into(),
        uid: "u1".into(),
        node: None,
        phase,
        owner: None,
        containers,
        overhead: ResourceAmounts::default(),
        ready: false,
        start_time: None,
        qos_class: QosClass::BestEffort,
        pvc_claims: vec![],
        created: None,
        deleted: None,
        labels: Default::default(),
        reason: None,
    }
}

/// A waiting state with `reason`.
pub(crate) fn waiting(reason: &str) -> Option<ContainerState> {
    Some(ContainerState::Waiting {
        reason: Some(reason.into()),
    })
}

fn terminated(reason: Option<&str>, exit_code: i32) -> Option<ContainerState> {
    Some(ContainerState::Terminated {
        reason: reason.map(Into::into),
        exit_code,
    })
}

const RUNNING: Option<ContainerState> = Some(ContainerState::Running);

#[test]
fn statuses_follow_kubectl() {
    use ContainerKind::{App, Init, Sidecar};
    use PodPhase::*;
    let deleted = |mut p: PodProjection| {
        p.deleted = Some(UnixMillis(1));
        p
    };
    let with_reason = |mut p: PodProjection, reason: &str| {
        p.reason = Some(reason.into());
        p
    };
    let ready = |mut p: PodProjection| {
        p.ready = true;
        p
    };
    let cases: Vec<(&str, PodProjection, &str)> = vec![
        ("no containers: the phase", pod(Pending, vec![]), "Pending"),
        (
            "running and ready",
            pod(Running, vec![container(App, RUNNING, true)]),
            "Running",
        ),
        (
            "crash loop",
            pod(
                Running,
                vec![container(App, waiting("CrashLoopBackOff"), false)],
            ),
            "CrashLoopBackOff",
        ),
        (
            "the first app container's reason wins",
            pod(
                Running,
                vec![
                    container(App, waiting("ImagePullBackOff"), false),
                    container(App, waiting("CrashLoopBackOff"), false),
                ],
            ),
            "ImagePullBackOff",
        ),
        (
            "terminated with a reason",
            pod(
                Running,
                vec![container(App, terminated(Some("OOMKilled"), 137), false)],
            ),
            "OOMKilled",
        ),
        (
            "terminated without a reason",
            pod(Failed, vec![container(App, terminated(None, 2), false)]),
            "ExitCode:2",
        ),
        (
            "completed next to a running ready container, pod ready",
            ready(pod(
                Running,
                vec![
                    container(App, terminated(Some("Completed"), 0), false),
                    container(App, RUNNING, true),
                ],
            )),
            "Running",
        ),
        (
            "completed next to a running ready container, pod not ready",
            pod(
                Running,
                vec![
                    container(App, terminated(Some("Completed"), 0), false),
                    container(App, RUNNING, true),
                ],
            ),
            "NotReady",
        ),
        (
            "status.reason overrides the phase",
            with_reason(pod(Failed, vec![]), "Evicted"),
            "Evicted",
        ),
        (
            "init container still running",
            pod(
                Pending,
                vec![
                    container(Init, terminated(Some("Completed"), 0), false),
                    container(Init, RUNNING, false),
                    container(App, waiting("PodInitializing"), false),
                ],
            ),
            "Init:1/2",
        ),
        (
            "init container crash loop",
            pod(
                Pending,
                vec![
                    container(Init, waiting("CrashLoopBackOff"), false),
                    container(App, waiting("PodInitializing"), false),
                ],
            ),
            "Init:CrashLoopBackOff",
        ),
        (
            "init container failed without a reason",
            pod(
                Pending,
                vec![
                    container(Init, terminated(None, 3), false),
                    container(App, None, false),
                ],
            ),
            "Init:ExitCode:3",
        ),
        (
            "init container failed with a reason",
            pod(
                Pending,
                vec![container(Init, terminated(Some("Error"), 1), false)],
            ),
            "Init:Error",
        ),
        (
            "started sidecar does not hold initialization",
            pod(
                Running,
                vec![
                    container(Sidecar, RUNNING, true),
                    container(App, waiting("CrashLoopBackOff"), false),
                ],
            ),
            "CrashLoopBackOff",
        ),
        (
            "init containers without a reported state do not count",
            pod(
                Running,
                vec![container(Init, None, false), container(App, None, false)],
            ),
            "Running",
        ),
        (
            "being deleted",
            deleted(pod(Running, vec![container(App, RUNNING, true)])),
            "Terminating",
        ),
        (
            "deleted after finishing keeps its status",
            deleted(pod(
                Succeeded,
                vec![container(App, terminated(Some("Completed"), 0), false)],
            )),
            "Completed",
        ),
        (
            "deleted on a lost node",
            deleted(with_reason(pod(Running, vec![]), "NodeLost")),
            "Unknown",
        ),
    ];
    for (case, pod, want) in cases {
        assert_eq!(pod_status(&pod), want, "{case}");
    }
}
