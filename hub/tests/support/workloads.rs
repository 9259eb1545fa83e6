//! Small, realistic projections of the workload kinds (StatefulSets, DaemonSets, ReplicaSets,
//! Jobs, CronJobs) and pods controlled by them, for the store and API cases.

use kubeworkz_shared::change::Object;
use kubeworkz_shared::model::{
    CronJobProjection, DaemonSetCounts, DaemonSetProjection, JobProjection, JobState, OwnerKind,
    PodOwner, ReplicaSetProjection, StatefulSetProjection, StatefulSetReplicas,
    StatefulSetUpdateStrategy,
};
use kubeworkz_shared::time::UnixMillis;

fn owner(kind: OwnerKind, name: &str) -> Option<PodOwner> {
    Some(PodOwner {
        kind,
        name: name.into(),
    })
}

/// A StatefulSet with `ready` of `desired` replicas.
pub fn stateful_set(namespace: &str, name: &str, uid: &str, desired: u32, ready: u32) -> Object {
    Object::StatefulSet(StatefulSetProjection {
        name: name.into(),
        namespace: namespace.into(),
        uid: uid.into(),
        replicas: StatefulSetReplicas {
            desired,
            current: desired,
            ready,
            available: ready,
            updated: desired,
        },
        service_name: Some(format!("{name}-headless")),
        update_strategy: StatefulSetUpdateStrategy::RollingUpdate {
            partition: None,
            max_unavailable: None,
        },
        images: vec!["postgres:16".into()],
        labels: [("app".to_owned(), name.to_owned())].into(),
        generation: 1,
        observed_generation: Some(1),
        created: Some(UnixMillis::now()),
    })
}

/// A DaemonSet scheduled on `desired` nodes, `ready` of them ready.
pub fn daemon_set(namespace: &str, name: &str, uid: &str, desired: u32, ready: u32) -> Object {
    Object::DaemonSet(DaemonSetProjection {
        name: name.into(),
        namespace: namespace.into(),
        uid: uid.into(),
        counts: DaemonSetCounts {
            desired,
            current: desired,
            ready,
            available: ready,
            updated: desired,
            misscheduled: 0,
        },
        update_strategy: "RollingUpdate".into(),
        images: vec!["prom/node-exporter:v1.8.0".into()],
        labels: Default::default(),
        generation: 1,
        observed_generation: Some(1),
        created: None,
    })
}

/// A ReplicaSet controlled by the Deployment `deployment` (or bare).
pub fn replica_set(namespace: &str, name: &str, uid: &str, deployment: Option<&str>) -> Object {
    Object::ReplicaSet(ReplicaSetProjection {
        name: name.into(),
        namespace: namespace.into(),
        uid: uid.into(),
        owner: deployment.and_then(|d| owner(OwnerKind::Deployment, d)),
        created: None,
    })
}

/// A Job in `state`, started by the CronJob `cron` (or by hand).
pub fn job(namespace: &str, name: &str, uid: &str, cron: Option<&str>, state: JobState) -> Object {
    let (succeeded, failed) = match state {
        JobState::Complete => (1, 0),
        JobState::Failed => (0, 6),
        _ => (0, 0),
    };
    Object::Job(JobProjection {
        name: name.into(),
        namespace: namespace.into(),
        uid: uid.into(),
        owner: cron.and_then(|c| owner(OwnerKind::CronJob, c)),
        completions: Some(1),
        parallelism: 1,
        succeeded,
        failed,
        active: u32::from(state == JobState::Running),
        state,
        start_time: Some(UnixMillis::now()),
        completion_time: None,
        images: vec!["report:2".into()],
        labels: Default::default(),
        created: None,
    })
}

/// A CronJob on `schedule`, `suspend`ed or not.
pub fn cron_job(namespace: &str, name: &str, uid: &str, schedule: &str, suspend: bool) -> Object {
    Object::CronJob(CronJobProjection {
        name: name.into(),
        namespace: namespace.into(),
        uid: uid.into(),
        schedule: schedule.into(),
        time_zone: None,
        suspend,
        concurrency_policy: "Forbid".into(),
        last_schedule: Some(UnixMillis::now()),
        last_successful: None,
        active: 0,
        images: vec!["report:2".into()],
        labels: Default::default(),
        created: None,
    })
}

/// `pod` (a pod fixture) controlled by `kind` `name`; `None` makes it bare.
pub fn owned_by(pod: Object, controller: Option<(OwnerKind, &str)>) -> Object {
    let Object::Pod(mut pod) = pod else {
        panic!("not a pod: {pod:?}")
    };
    pod.owner = controller.and_then(|(kind, name)| owner(kind, name));
    Object::Pod(pod)
}
