//! A pod's top owner — the workload an operator thinks of it as part of — resolved at read
//! time from the controller the pod names and the ReplicaSets and Jobs collected.
//!
//! The chain is at most two links: a pod's ReplicaSet belongs to a Deployment, a pod's Job to
//! a CronJob. The pod row keeps only its direct controller (`owner_kind`, `owner_name`;
//! ReplicaSets that follow the Deployment controller's naming already resolved to their
//! Deployment by the collector), so pod ingest — the hot path — does no lookup, and a
//! ReplicaSet or Job that arrives after its pods changes the answer without rewriting them.
//! Reads pay one indexed lookup (`k8s_replicasets_owner`, `k8s_jobs_owner` and the live
//! index) per pod answer, and lists of a workload's pods one semi-join.

use kubeworkz_shared::change::ObjectKind;
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::model::{OwnerKind, PodOwner};
use tracing::instrument;

use crate::store::schema as tables;
use crate::store::sql::{Cells, Ty, Value};
use crate::store::{Store, StoreError, on_conn};

/// The workload a pod belongs to, at the end of its owner chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopOwner {
    /// `Deployment`, `StatefulSet`, `DaemonSet`, `Job`, `CronJob`, a bare `ReplicaSet`,
    /// `Node` (static pods), or an operator's kind as written.
    pub kind: String,
    /// Its name (in the pod's namespace, except for `Node`).
    pub name: String,
    /// Its uid, the id of its API page, when the hub collects that kind and holds it live.
    pub uid: Option<String>,
}

/// The kind of the controller `(ReplicaSet | Job)` one link up the chain resolves through,
/// and the kind that link leads to.
fn next_link(kind: &OwnerKind) -> Option<(ObjectKind, OwnerKind)> {
    match kind {
        OwnerKind::ReplicaSet => Some((ObjectKind::ReplicaSet, OwnerKind::Deployment)),
        OwnerKind::Job => Some((ObjectKind::Job, OwnerKind::CronJob)),
        _ => None,
    }
}

/// The inventory kind of a top owner, when the hub collects it.
fn collected(kind: &OwnerKind) -> Option<ObjectKind> {
    match kind {
        OwnerKind::Deployment => Some(ObjectKind::Deployment),
        OwnerKind::StatefulSet => Some(ObjectKind::StatefulSet),
        OwnerKind::DaemonSet => Some(ObjectKind::DaemonSet),
        OwnerKind::ReplicaSet => Some(ObjectKind::ReplicaSet),
        OwnerKind::Job => Some(ObjectKind::Job),
        OwnerKind::CronJob => Some(ObjectKind::CronJob),
        OwnerKind::Node => Some(ObjectKind::Node),
        OwnerKind::Other(_) => None,
    }
}

/// The SQL condition on `k8s_pods` rows whose top owner is the `kind` workload named by the
/// bound value `p` (in the row's cluster and namespace); `None` for kinds that own no pods.
pub(super) fn pods_of(kind: ObjectKind, p: &str) -> Option<String> {
    let direct = |kind: &str| format!("owner_kind = '{kind}' AND owner_name = {p}");
    let through = |link: ObjectKind, direct_kind: &str, top: &str| {
        format!(
            "owner_kind = '{direct_kind}' AND owner_name IN (SELECT l.name FROM {} l \
             WHERE l.cluster_id = k8s_pods.cluster_id AND l.namespace = k8s_pods.namespace \
             AND l.owner_kind = '{top}' AND l.owner_name = {p} AND l.deleted_at IS NULL)",
            tables::table(link).name
        )
    };
    Some(match kind {
        ObjectKind::Deployment => format!(
            "(({}) OR ({}))",
            direct("Deployment"),
            through(ObjectKind::ReplicaSet, "ReplicaSet", "Deployment")
        ),
        ObjectKind::StatefulSet => direct("StatefulSet"),
        ObjectKind::DaemonSet => direct("DaemonSet"),
        ObjectKind::Job => direct("Job"),
        ObjectKind::CronJob => through(ObjectKind::Job, "Job", "CronJob"),
        _ => return None,
    })
}

impl Store {
    /// The top owner of a pod in `namespace` of `cluster` whose controller is `owner`
    /// (`None`: a bare pod).
    #[instrument(skip_all)]
    pub async fn top_owner(
        &self,
        org: OrgId,
        cluster: ClusterId,
        namespace: &str,
        owner: Option<&PodOwner>,
    ) -> Result<Option<TopOwner>, StoreError> {
        let Some(owner) = owner else {
            return Ok(None);
        };
        let mut top = owner.clone();
        if let Some((link, leads_to)) = next_link(&owner.kind)
            && let Some((kind, name)) = self
                .live_owner_of(org, cluster, link, namespace, &owner.name)
                .await?
            && kind == leads_to.as_api()
        {
            top = PodOwner {
                kind: leads_to,
                name,
            };
        }
        let scope = if top.kind == OwnerKind::Node {
            ""
        } else {
            namespace
        };
        let uid = match collected(&top.kind) {
            Some(kind) => self.live_uid(org, cluster, kind, scope, &top.name).await?,
            None => None,
        };
        Ok(Some(TopOwner {
            kind: top.kind.as_api().to_owned(),
            name: top.name,
            uid,
        }))
    }

    /// The controller (`owner_kind`, `owner_name`) of the live ReplicaSet or Job `name`.
    async fn live_owner_of(
        &self,
        org: OrgId,
        cluster: ClusterId,
        kind: ObjectKind,
        namespace: &str,
        name: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        let row = self
            .live_row(
                org,
                cluster,
                kind,
                namespace,
                name,
                "owner_kind, owner_name",
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let mut c = Cells::new(row);
        Ok(c.opt_text()?.zip(c.opt_text()?))
    }

    /// The uid of the live object `name` of `kind`.
    async fn live_uid(
        &self,
        org: OrgId,
        cluster: ClusterId,
        kind: ObjectKind,
        namespace: &str,
        name: &str,
    ) -> Result<Option<String>, StoreError> {
        let row = self
            .live_row(org, cluster, kind, namespace, name, "uid")
            .await?;
        match row {
            Some(row) => Ok(Cells::new(row).opt_text()?),
            None => Ok(None),
        }
    }

    /// `columns` (nullable text) of the live object `name` of `kind`, by its live index.
    async fn live_row(
        &self,
        org: OrgId,
        cluster: ClusterId,
        kind: ObjectKind,
        namespace: &str,
        name: &str,
        columns: &'static str,
    ) -> Result<Option<Vec<Value>>, StoreError> {
        on_conn!(self, |db| async {
            let d = db.dialect();
            let namespaced = if kind.is_namespaced() {
                format!(" AND namespace = {}", d.ph(4))
            } else {
                String::new()
            };
            let sql = format!(
                "SELECT {columns} FROM {} WHERE cluster_id = {} AND org_id = {} AND name = {}{} \
                 AND deleted_at IS NULL",
                tables::table(kind).name,
                d.ph(1),
                d.ph(2),
                d.ph(3),
                namespaced
            );
            let mut values = vec![
                Value::Id(*cluster.as_uuid()),
                Value::Id(*org.as_uuid()),
                Value::Text(name.to_owned()),
            ];
            if kind.is_namespaced() {
                values.push(Value::Text(namespace.to_owned()));
            }
            let types = vec![Ty::OptText; columns.split(',').count()];
            let rows = db.fetch(&sql, values, &types).await?;
            Ok(rows.into_iter().next())
        })
    }
}
