//! Job and CronJob projections: completions and failures of each run, and the schedule that
//! starts them, what the batch pages show and what maps a Job's pods to their CronJob.

use k8s_openapi::api::batch::v1::{CronJob, Job};
use serde::{Deserialize, Serialize};

use super::pod::{PodOwner, controller_of};
use super::{Labels, non_negative};
use crate::time::UnixMillis;

/// Where a Job stands, from its conditions and counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum JobState {
    /// Pods still to run or running.
    Running,
    /// The `Complete` condition holds.
    Complete,
    /// The `Failed` condition holds (backoff limit or deadline exceeded).
    Failed,
    /// `spec.suspend` is set and no pod runs.
    Suspended,
}

/// The kept part of a `Job`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobProjection {
    /// Job name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Object uid.
    #[serde(with = "crate::uid")]
    pub uid: String,
    /// Controlling owner: the CronJob that created it, if any.
    pub owner: Option<PodOwner>,
    /// `spec.completions`: successful pods needed; `None` means any one success.
    pub completions: Option<u32>,
    /// `spec.parallelism` (Kubernetes defaults it to 1).
    pub parallelism: u32,
    /// Pods that succeeded.
    pub succeeded: u32,
    /// Pods that failed.
    pub failed: u32,
    /// Pods running or pending.
    pub active: u32,
    /// Running, complete, failed or suspended.
    pub state: JobState,
    /// When the Job controller started it.
    pub start_time: Option<UnixMillis>,
    /// When it completed (only set on success).
    pub completion_time: Option<UnixMillis>,
    /// Images of the pod template: containers first, then init containers, without repeats.
    pub images: Vec<String>,
    /// Labels.
    pub labels: Labels,
    /// Creation time.
    pub created: Option<UnixMillis>,
}

impl From<&Job> for JobProjection {
    fn from(job: &Job) -> Self {
        let meta = &job.metadata;
        let spec = job.spec.as_ref();
        let status = job.status.as_ref();
        let holds = |type_: &str| {
            status
                .and_then(|s| s.conditions.as_ref())
                .into_iter()
                .flatten()
                .any(|c| c.type_ == type_ && c.status == "True")
        };
        let active = non_negative(status.and_then(|s| s.active));
        let state = if holds("Complete") {
            JobState::Complete
        } else if holds("Failed") {
            JobState::Failed
        } else if spec.and_then(|s| s.suspend) == Some(true) && active == 0 {
            JobState::Suspended
        } else {
            JobState::Running
        };
        Self {
            name: super::name_of(meta),
            namespace: super::namespace_of(meta),
            uid: super::uid_of(meta),
            owner: controller_of(meta.owner_references.as_deref().unwrap_or_default()),
            completions: spec
                .and_then(|s| s.completions)
                .map(|c| non_negative(Some(c))),
            parallelism: spec
                .and_then(|s| s.parallelism)
                .map_or(1, |p| non_negative(Some(p))),
            succeeded: non_negative(status.and_then(|s| s.succeeded)),
            failed: non_negative(status.and_then(|s| s.failed)),
            active,
            state,
            start_time: status
                .and_then(|s| s.start_time.as_ref())
                .map(UnixMillis::from),
            completion_time: status
                .and_then(|s| s.completion_time.as_ref())
                .map(UnixMillis::from),
            images: super::template_images(spec.and_then(|s| s.template.spec.as_ref())),
            labels: super::labels_of(meta),
            created: super::created_of(meta),
        }
    }
}

/// The kept part of a `CronJob`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CronJobProjection {
    /// CronJob name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Object uid.
    #[serde(with = "crate::uid")]
    pub uid: String,
    /// Cron expression, as written (`*/5 * * * *`, `@hourly`).
    pub schedule: String,
    /// `spec.timeZone`; `None` means the controller manager's zone.
    pub time_zone: Option<String>,
    /// No new Jobs are started while set.
    pub suspend: bool,
    /// `Allow`, `Forbid` or `Replace`.
    pub concurrency_policy: String,
    /// When a Job was last started.
    pub last_schedule: Option<UnixMillis>,
    /// When a Job last completed successfully.
    pub last_successful: Option<UnixMillis>,
    /// Jobs it started that are still running.
    pub active: u32,
    /// Images of the Job template: containers first, then init containers, without repeats.
    pub images: Vec<String>,
    /// Labels.
    pub labels: Labels,
    /// Creation time.
    pub created: Option<UnixMillis>,
}

impl From<&CronJob> for CronJobProjection {
    fn from(cron: &CronJob) -> Self {
        let meta = &cron.metadata;
        // The only workload whose spec the API does not make optional.
        let spec = Some(&cron.spec);
        let status = cron.status.as_ref();
        let pod_spec = spec
            .and_then(|s| s.job_template.spec.as_ref())
            .and_then(|j| j.template.spec.as_ref());
        Self {
            name: super::name_of(meta),
            namespace: super::namespace_of(meta),
            uid: super::uid_of(meta),
            schedule: spec.map(|s| s.schedule.clone()).unwrap_or_default(),
            time_zone: spec.and_then(|s| s.time_zone.clone()),
            suspend: spec.and_then(|s| s.suspend).unwrap_or(false),
            concurrency_policy: spec
                .and_then(|s| s.concurrency_policy.clone())
                .unwrap_or_else(|| "Allow".to_owned()),
            last_schedule: status
                .and_then(|s| s.last_schedule_time.as_ref())
                .map(UnixMillis::from),
            last_successful: status
                .and_then(|s| s.last_successful_time.as_ref())
                .map(UnixMillis::from),
            active: status
                .and_then(|s| s.active.as_ref())
                .map_or(0, |a| u32::try_from(a.len()).unwrap_or(u32::MAX)),
            images: super::template_images(pod_spec),
            labels: super::labels_of(meta),
            created: super::created_of(meta),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::OwnerKind;

    /// A CronJob's run that failed twice and then succeeded.
    const REPORT_RUN: &str = r#"{
      "apiVersion": "batch/v1", "kind": "Job",
      "metadata": {"name": "report-28512345", "namespace": "batch", "uid": "j-1",
        "labels": {"app": "report"},
        "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "report",
          "uid": "c-1", "controller": true}]},
      "spec": {"completions": 1, "parallelism": 1, "template": {"spec": {
        "restartPolicy": "Never", "containers": [{"name": "r", "image": "report:2"}]}}},
      "status": {"succeeded": 1, "failed": 2, "startTime": "2024-05-01T10:00:00Z",
        "completionTime": "2024-05-01T10:03:00Z",
        "conditions": [{"type": "Complete", "status": "True"}]}
    }"#;

    const REPORT: &str = r#"{
      "apiVersion": "batch/v1", "kind": "CronJob",
      "metadata": {"name": "report", "namespace": "batch", "uid": "c-1"},
      "spec": {"schedule": "0 * * * *", "timeZone": "Europe/Berlin", "suspend": true,
        "concurrencyPolicy": "Forbid",
        "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never",
          "containers": [{"name": "r", "image": "report:2"}]}}}}},
      "status": {"lastScheduleTime": "2024-05-01T10:00:00Z",
        "lastSuccessfulTime": "2024-05-01T10:03:00Z",
        "active": [{"kind": "Job", "name": "report-1"}, {"kind": "Job", "name": "report-2"}]}
    }"#;

    #[test]
    fn job_projects_counts_times_state_and_its_cronjob() {
        let job: Job = serde_json::from_str(REPORT_RUN).unwrap();
        let p = JobProjection::from(&job);
        assert_eq!(
            p.owner,
            Some(PodOwner {
                kind: OwnerKind::CronJob,
                name: "report".into()
            })
        );
        assert_eq!((p.completions, p.parallelism), (Some(1), 1));
        assert_eq!((p.succeeded, p.failed, p.active), (1, 2, 0));
        assert_eq!(p.state, JobState::Complete);
        assert_eq!(p.start_time, Some(UnixMillis(1_714_557_600_000)));
        assert_eq!(p.completion_time, Some(UnixMillis(1_714_557_780_000)));
        assert_eq!(p.images, ["report:2"]);
    }

    #[test]
    fn job_state_follows_conditions_then_suspension() {
        let mut job: Job = serde_json::from_str(REPORT_RUN).unwrap();
        let status = job.status.as_mut().unwrap();
        status.conditions.as_mut().unwrap()[0].type_ = "Failed".into();
        assert_eq!(JobProjection::from(&job).state, JobState::Failed);
        job.status = None;
        assert_eq!(JobProjection::from(&job).state, JobState::Running);
        job.spec.as_mut().unwrap().suspend = Some(true);
        let p = JobProjection::from(&job);
        assert_eq!(p.state, JobState::Suspended);
        assert_eq!((p.succeeded, p.failed, p.active), (0, 0, 0));
        job.spec.as_mut().unwrap().parallelism = None;
        job.spec.as_mut().unwrap().completions = None;
        let p = JobProjection::from(&job);
        assert_eq!((p.completions, p.parallelism), (None, 1));
    }

    #[test]
    fn cronjob_projects_schedule_suspension_and_last_runs() {
        let cron: CronJob = serde_json::from_str(REPORT).unwrap();
        let p = CronJobProjection::from(&cron);
        assert_eq!(p.schedule, "0 * * * *");
        assert_eq!(p.time_zone.as_deref(), Some("Europe/Berlin"));
        assert!(p.suspend);
        assert_eq!(p.concurrency_policy, "Forbid");
        assert_eq!(p.last_schedule, Some(UnixMillis(1_714_557_600_000)));
        assert_eq!(p.last_successful, Some(UnixMillis(1_714_557_780_000)));
        assert_eq!(p.active, 2);
        assert_eq!(p.images, ["report:2"]);
        let mut fresh = cron;
        fresh.status = None;
        fresh.spec.suspend = None;
        fresh.spec.concurrency_policy = None;
        let p = CronJobProjection::from(&fresh);
        assert!(!p.suspend);
        assert_eq!(p.concurrency_policy, "Allow");
        assert_eq!((p.last_schedule, p.active), (None, 0));
    }
}
