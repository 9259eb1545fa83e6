//! Small, realistic ResourceQuota and LimitRange projections, and pods that fail in each
//! way health names, for the store and API cases.

use kubeworkz_shared::change::Object;
use kubeworkz_shared::model::pod::PodPhase;
use kubeworkz_shared::model::{
    LimitRangeLimit, LimitRangeProjection, QuotaResource, ResourceQuotaProjection,
};
use kubeworkz_shared::time::UnixMillis;

use super::fixtures::{dressed_pod, pod};

/// A quota limiting each `(resource, hard, used)` given in thousandths of the unit (`used`
/// `None`: not counted yet).
pub fn quota(
    namespace: &str,
    name: &str,
    uid: &str,
    resources: &[(&str, u64, Option<u64>)],
) -> Object {
    Object::ResourceQuota(ResourceQuotaProjection {
        name: name.into(),
        namespace: namespace.into(),
        uid: uid.into(),
        scopes: vec![],
        resources: resources
            .iter()
            .map(|(resource, hard_milli, used_milli)| QuotaResource {
                resource: (*resource).into(),
                hard_milli: *hard_milli,
                used_milli: *used_milli,
            })
            .collect(),
        labels: Default::default(),
        created: Some(UnixMillis::now()),
    })
}

/// A LimitRange giving containers a default CPU limit and request and a CPU maximum of
/// `max_cpu_milli`, and bounding claims' storage.
pub fn limit_range(namespace: &str, name: &str, uid: &str, max_cpu_milli: u64) -> Object {
    Object::LimitRange(LimitRangeProjection {
        name: name.into(),
        namespace: namespace.into(),
        uid: uid.into(),
        limits: vec![
            LimitRangeLimit {
                type_: "Container".into(),
                resource: "cpu".into(),
                default_milli: Some(500),
                default_request_milli: Some(250),
                min_milli: None,
                max_milli: Some(max_cpu_milli),
                max_limit_request_ratio_milli: Some(4000),
            },
            LimitRangeLimit {
                type_: "PersistentVolumeClaim".into(),
                resource: "storage".into(),
                default_milli: None,
                default_request_milli: None,
                min_milli: Some((1 << 30) * 1000),
                max_milli: Some((50 << 30) * 1000),
                max_limit_request_ratio_milli: None,
            },
        ],
        created: Some(UnixMillis::now()),
    })
}

/// A running pod whose one container waits for `reason` (`CrashLoopBackOff`,
/// `ImagePullBackOff`, …); `oom_before`: its last run was OOM-killed.
pub fn waiting_pod(
    namespace: &str,
    name: &str,
    uid: &str,
    reason: &str,
    oom_before: bool,
) -> Object {
    let mut object = dressed_pod(
        pod(namespace, name, uid, PodPhase::Running),
        &[("app", "web")],
        "web:1",
        Some(reason),
    );
    if let Object::Pod(p) = &mut object {
        p.containers[0].last_termination_reason = oom_before.then(|| "OOMKilled".into());
    }
    object
}
