//! The permissions the agent needs, and a check of them against the apiserver.
//!
//! This table is the source of truth for the chart's ClusterRole
//! (`manifests/charts/kubeworkz-agent/templates/rbac.yaml`): read-only, list/watch on what is
//! collected (each workload kind only when switched on), and secrets only when Helm
//! releases are collected. `kubeworkz-agent check` asks
//! the apiserver (SelfSubjectAccessReview) about every row, so a missing rule is named before
//! the agent runs, not discovered as a silent gap in the inventory.

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::api::PostParams;
use kube::{Api, Client};
use kubeworkz_shared::change::ObjectKind;
use kubeworkz_shared::protocol::Operation;

/// One permission: verbs on a resource, cluster-wide or in one namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    /// API group (`""` for core).
    pub group: &'static str,
    /// Resource (plural).
    pub resource: &'static str,
    /// Verbs needed.
    pub verbs: &'static [&'static str],
    /// Namespace, or `None` for cluster-wide.
    pub namespace: Option<&'static str>,
    /// One object's name, where the chart grants access to that object only.
    pub name: Option<&'static str>,
    /// A subresource (`log` of pods), when the permission is on one.
    pub subresource: Option<&'static str>,
    /// Why the agent needs it (printed by `check`).
    pub why: &'static str,
}

const LIST_WATCH: &[&str] = &["list", "watch"];

/// Always needed.
#[rustfmt::skip]
pub const REQUIRED: &[Permission] = &[
    Permission { group: "", resource: "nodes", verbs: LIST_WATCH, namespace: None, name: None, subresource: None, why: "nodes inventory" },
    Permission { group: "", resource: "namespaces", verbs: LIST_WATCH, namespace: None, name: None, subresource: None, why: "namespaces, teams, cost centers" },
    Permission { group: "", resource: "pods", verbs: LIST_WATCH, namespace: None, name: None, subresource: None, why: "pods inventory and cost" },
    Permission { group: "", resource: "persistentvolumeclaims", verbs: LIST_WATCH, namespace: None, name: None, subresource: None, why: "storage cost" },
    Permission { group: "", resource: "persistentvolumes", verbs: LIST_WATCH, namespace: None, name: None, subresource: None, why: "storage sizing" },
    Permission { group: "apps", resource: "deployments", verbs: LIST_WATCH, namespace: None, name: None, subresource: None, why: "deployments inventory" },
    Permission { group: "storage.k8s.io", resource: "storageclasses", verbs: LIST_WATCH, namespace: None, name: None, subresource: None, why: "storage pricing" },
    Permission { group: "metrics.k8s.io", resource: "pods", verbs: &["list"], namespace: None, name: None, subresource: None, why: "usage sampling" },
    Permission { group: "metrics.k8s.io", resource: "nodes", verbs: &["list"], namespace: None, name: None, subresource: None, why: "metrics health" },
    Permission { group: "coordination.k8s.io", resource: "leases", verbs: &["get"], namespace: Some("kube-system"), name: Some("kube-scheduler"), subresource: None, why: "scheduler health" },
    Permission { group: "coordination.k8s.io", resource: "leases", verbs: &["get"], namespace: Some("kube-system"), name: Some("kube-controller-manager"), subresource: None, why: "controller-manager health" },
];

/// Needed only with Helm releases enabled (`helm.releases.enabled`, off in the chart by
/// default): RBAC cannot limit it to Helm's Secrets, so it reads every Secret.
pub const HELM: &[Permission] = &[Permission {
    group: "",
    resource: "secrets",
    verbs: &["get", "list", "watch"],
    namespace: None,
    name: None,
    subresource: None,
    why: "helm releases (helm.sh/release.v1 secrets)",
}];

/// The API group and resource (plural) of each workload kind ([`ObjectKind::WORKLOADS`]):
/// what its RBAC rule names, and how `KUBEWORKZ_WORKLOADS` and the chart's `workloads.*`
/// switches name it.
pub const WORKLOADS: [(ObjectKind, &str, &str); 5] = [
    (ObjectKind::StatefulSet, "apps", "statefulsets"),
    (ObjectKind::DaemonSet, "apps", "daemonsets"),
    (ObjectKind::ReplicaSet, "apps", "replicasets"),
    (ObjectKind::Job, "batch", "jobs"),
    (ObjectKind::CronJob, "batch", "cronjobs"),
];

/// The API group and resource of each quota kind ([`ObjectKind::QUOTAS`]): what its RBAC
/// rule names, and how `KUBEWORKZ_QUOTAS` and the chart's `quotas.*` switches name it.
pub const QUOTAS: [(ObjectKind, &str, &str); 2] = [
    (ObjectKind::ResourceQuota, "", "resourcequotas"),
    (ObjectKind::LimitRange, "", "limitranges"),
];

/// What collecting a kind the configuration switches ([`WORKLOADS`], [`QUOTAS`]) needs;
/// `None` for other kinds.
pub fn switchable_permission(kind: ObjectKind) -> Option<Permission> {
    let (_, group, resource) = WORKLOADS
        .into_iter()
        .chain(QUOTAS)
        .find(|(k, _, _)| *k == kind)?;
    Some(Permission {
        group,
        resource,
        verbs: LIST_WATCH,
        namespace: None,
        name: None,
        subresource: None,
        why: match kind {
            ObjectKind::ReplicaSet => "workloads.replicaSets: pods' Deployments",
            ObjectKind::StatefulSet => "workloads.statefulSets: StatefulSets inventory",
            ObjectKind::DaemonSet => "workloads.daemonSets: DaemonSets inventory",
            ObjectKind::Job => "workloads.jobs: Jobs inventory, pods' CronJobs",
            ObjectKind::ResourceQuota => "quotas.resourceQuotas: quota use, quota health",
            ObjectKind::LimitRange => "quotas.limitRanges: namespaces' limit ranges",
            _ => "workloads.cronJobs: CronJobs inventory",
        },
    })
}

/// What each operation the hub may ask for needs (the chart's `operations.*` switches);
/// `objects` reads with the `list` of [`REQUIRED`], so it needs nothing more.
pub fn operation_permissions(operation: Operation) -> &'static [Permission] {
    const LOGS: &[Permission] = &[Permission {
        group: "",
        resource: "pods",
        verbs: &["get"],
        namespace: None,
        name: None,
        subresource: Some("log"),
        why: "operations.logs: pod logs",
    }];
    const EVENTS: &[Permission] = &[Permission {
        group: "",
        resource: "events",
        verbs: &["list"],
        namespace: None,
        name: None,
        subresource: None,
        why: "operations.events: events",
    }];
    const ACTIONS: &[Permission] = &[
        Permission {
            group: "apps",
            resource: "deployments",
            verbs: &["get", "update", "patch"],
            namespace: None,
            name: None,
            subresource: Some("scale"),
            why: "operations.actions: scale deployments",
        },
        Permission {
            group: "apps",
            resource: "deployments",
            verbs: &["patch"],
            namespace: None,
            name: None,
            subresource: None,
            why: "operations.actions: restart deployments",
        },
        Permission {
            group: "",
            resource: "pods",
            verbs: &["delete"],
            namespace: None,
            name: None,
            subresource: None,
            why: "operations.actions: delete pods",
        },
    ];
    // kube-rs execs over a WebSocket: a GET, authorized as `get` and as `create`.
    const EXEC: &[Permission] = &[Permission {
        group: "",
        resource: "pods",
        verbs: &["get", "create"],
        namespace: None,
        name: None,
        subresource: Some("exec"),
        why: "operations.exec: terminals in containers",
    }];
    match operation {
        Operation::Logs => LOGS,
        Operation::Events => EVENTS,
        Operation::Objects => &[],
        Operation::Actions => ACTIONS,
        Operation::Exec => EXEC,
    }
}

/// Whether the RBAC allows each operation.
pub async fn verify_operations(client: &Client) -> Result<Vec<(Operation, bool)>, RbacError> {
    let mut verdicts = Vec::new();
    for operation in Operation::ALL {
        let checks = verify(client, operation_permissions(operation)).await?;
        verdicts.push((operation, checks.iter().all(|c| c.allowed)));
    }
    Ok(verdicts)
}

/// The verdict on one verb of one permission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessCheck {
    /// The permission.
    pub permission: Permission,
    /// The verb asked about.
    pub verb: &'static str,
    /// Whether the apiserver allows it.
    pub allowed: bool,
}

/// Errors asking the apiserver.
#[derive(Debug, thiserror::Error)]
pub enum RbacError {
    /// The SelfSubjectAccessReview call failed.
    #[error("asking the apiserver about {verb} {resource}: {source}")]
    Review {
        verb: &'static str,
        resource: &'static str,
        #[source]
        source: kube::Error,
    },
}

/// The permissions for this configuration: Helm releases and the switchable kinds (workload
/// and quota kinds) it collects.
pub fn needed(helm_releases: bool, switchable: &[ObjectKind]) -> Vec<Permission> {
    let mut all = REQUIRED.to_vec();
    all.extend(switchable.iter().filter_map(|k| switchable_permission(*k)));
    if helm_releases {
        all.extend_from_slice(HELM);
    }
    all
}

/// Asks the apiserver about every verb of every permission in `permissions`.
pub async fn verify(
    client: &Client,
    permissions: &[Permission],
) -> Result<Vec<AccessCheck>, RbacError> {
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let mut checks = Vec::new();
    for permission in permissions {
        for verb in permission.verbs {
            let review = SelfSubjectAccessReview {
                spec: SelfSubjectAccessReviewSpec {
                    resource_attributes: Some(ResourceAttributes {
                        group: Some(permission.group.to_owned()),
                        resource: Some(permission.resource.to_owned()),
                        verb: Some((*verb).to_owned()),
                        namespace: permission.namespace.map(str::to_owned),
                        name: permission.name.map(str::to_owned),
                        subresource: permission.subresource.map(str::to_owned),
                        ..ResourceAttributes::default()
                    }),
                    ..SelfSubjectAccessReviewSpec::default()
                },
                ..SelfSubjectAccessReview::default()
            };
            let answer = api
                .create(&PostParams::default(), &review)
                .await
                .map_err(|source| RbacError::Review {
                    verb,
                    resource: permission.resource,
                    source,
                })?;
            checks.push(AccessCheck {
                permission: *permission,
                verb,
                allowed: answer.status.is_some_and(|s| s.allowed),
            });
        }
    }
    Ok(checks)
}
