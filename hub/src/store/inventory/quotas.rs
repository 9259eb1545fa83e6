//! What bounds a namespace and what fails in it: its live ResourceQuotas and LimitRanges,
//! and the pods whose kubectl status says they may be failing — the namespace page's quota
//! bars, limit table and health reasons.
//!
//! Both are read per namespace from what ingest already stores: quotas and limit ranges are a
//! handful of rows each, and failing pods are found through the pods' `status` column (the
//! kubectl STATUS computed at ingest) before their projections are judged by the same rule
//! the collector uses for the cluster's verdict.

use kubeworkz_shared::change::{Object, ObjectKind};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::model::health::PodFailure;
use kubeworkz_shared::model::health::failing::pod_failure;
use kubeworkz_shared::model::{LimitRangeProjection, PodProjection, ResourceQuotaProjection};
use tracing::instrument;

use crate::store::schema as tables;
use crate::store::sql::{Cells, Ty, Value};
use crate::store::{Store, StoreError, on_conn};

/// The kubectl statuses of a pod that [`pod_failure`] may judge failing (a crash loop after an
/// OOM kill shows as `CrashLoopBackOff` and is judged `OOMKilled`), with and without the
/// `Init:` prefix of an init container's.
const FAILING_STATUSES: [&str; 6] = [
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "ErrImageNeverPull",
    "OOMKilled",
];

/// Which rows of a kind [`Store::live_in_namespace`] reads besides live and in the namespace.
enum Only<'a> {
    /// Every one.
    All,
    /// Those whose `status` column (pods' and Jobs') is one of these.
    Statuses(&'a [String]),
    /// Quotas with a resource used at least this many percent of hard (`max_percent_used`).
    FullAt(u64),
}

/// The live quotas and limit ranges of one namespace, each by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NamespaceQuotas {
    /// ResourceQuotas.
    pub quotas: Vec<ResourceQuotaProjection>,
    /// LimitRanges.
    pub limit_ranges: Vec<LimitRangeProjection>,
}

impl Store {
    /// The live ResourceQuotas and LimitRanges of `namespace` in `cluster`.
    #[instrument(skip_all)]
    pub async fn namespace_quotas(
        &self,
        org: OrgId,
        cluster: ClusterId,
        namespace: &str,
    ) -> Result<NamespaceQuotas, StoreError> {
        let mut out = NamespaceQuotas::default();
        for object in self
            .live_in_namespace(
                org,
                cluster,
                ObjectKind::ResourceQuota,
                namespace,
                Only::All,
            )
            .await?
        {
            if let Object::ResourceQuota(quota) = object {
                out.quotas.push(quota);
            }
        }
        for object in self
            .live_in_namespace(org, cluster, ObjectKind::LimitRange, namespace, Only::All)
            .await?
        {
            if let Object::LimitRange(range) = object {
                out.limit_ranges.push(range);
            }
        }
        Ok(out)
    }

    /// The live ResourceQuotas of `namespace` in `cluster` with a resource used at or over
    /// `percent` of its hard amount, by name: found by their `max_percent_used` column, so a
    /// namespace's verdict reads only the quotas it names.
    #[instrument(skip_all)]
    pub async fn namespace_quotas_full_at(
        &self,
        org: OrgId,
        cluster: ClusterId,
        namespace: &str,
        percent: u64,
    ) -> Result<Vec<ResourceQuotaProjection>, StoreError> {
        let rows = self
            .live_in_namespace(
                org,
                cluster,
                ObjectKind::ResourceQuota,
                namespace,
                Only::FullAt(percent),
            )
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|object| match object {
                Object::ResourceQuota(quota) => Some(quota),
                _ => None,
            })
            .collect())
    }

    /// The live pods of `namespace` in `cluster` that fail (crash loop, image pull, OOM
    /// kill), by name, with how each fails.
    #[instrument(skip_all)]
    pub async fn namespace_failing_pods(
        &self,
        org: OrgId,
        cluster: ClusterId,
        namespace: &str,
    ) -> Result<Vec<(PodProjection, PodFailure)>, StoreError> {
        let statuses: Vec<String> = FAILING_STATUSES
            .iter()
            .flat_map(|s| [(*s).to_owned(), format!("Init:{s}")])
            .collect();
        let pods = self
            .live_in_namespace(
                org,
                cluster,
                ObjectKind::Pod,
                namespace,
                Only::Statuses(&statuses),
            )
            .await?;
        Ok(pods
            .into_iter()
            .filter_map(|object| match object.upgraded() {
                Object::Pod(pod) => pod_failure(&pod).map(|failure| (pod, failure)),
                _ => None,
            })
            .collect())
    }

    /// The live objects of `kind` in `namespace` of `cluster` that `only` selects, by name.
    async fn live_in_namespace(
        &self,
        org: OrgId,
        cluster: ClusterId,
        kind: ObjectKind,
        namespace: &str,
        only: Only<'_>,
    ) -> Result<Vec<Object>, StoreError> {
        on_conn!(self, |db| async {
            let d = db.dialect();
            let mut params = vec![
                Value::Id(*org.as_uuid()),
                Value::Id(*cluster.as_uuid()),
                Value::Text(namespace.to_owned()),
            ];
            let filter = match only {
                Only::All => String::new(),
                Only::Statuses(statuses) => {
                    let marks: Vec<String> = (0..statuses.len()).map(|i| d.ph(4 + i)).collect();
                    params.extend(statuses.iter().map(|s| Value::Text(s.clone())));
                    format!(" AND status IN ({})", marks.join(", "))
                }
                Only::FullAt(percent) => {
                    params.push(Value::I64(i64::try_from(percent).unwrap_or(i64::MAX)));
                    format!(" AND max_percent_used >= {}", d.ph(4))
                }
            };
            let sql = format!(
                "SELECT {} FROM {} WHERE org_id = {} AND cluster_id = {} AND namespace = {} \
                 AND deleted_at IS NULL{filter} ORDER BY name",
                d.text("data"),
                tables::table(kind).name,
                d.ph(1),
                d.ph(2),
                d.ph(3),
            );
            let rows = db.fetch(&sql, params, &[Ty::Text]).await?;
            rows.into_iter()
                .map(|row| {
                    let json = Cells::new(row).text()?;
                    tables::object_from_json(kind, &json)
                        .map_err(|e| StoreError::Query(sqlx::Error::Decode(Box::new(e))))
                })
                .collect()
        })
    }
}
