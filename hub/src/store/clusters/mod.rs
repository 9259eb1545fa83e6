//! Clusters: registration, lookups, the status writers, the list and detail pages
//! (`page`), and the fleet roll-up (`fleet`).
//!
//! Every query names the organization: a cluster of another organization is simply not
//! found, which is what lets the API answer 404 rather than 403 across organizations.

mod fleet;
mod page;
mod records;

use chrono::{DateTime, Utc};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::model::{HealthReason, HealthReport, HealthStatus};
use tracing::instrument;

use super::sql::{Cells, Sql, Ty, Value, revoke_rows};
use super::{Store, StoreError, in_tx, on_conn};
pub use fleet::{FleetGroup, FleetGrouping};
pub use page::{
    ClusterCounts, ClusterKey, ClusterPatch, ClusterQuery, ClusterSort, ClusterSummary,
};
pub use records::{
    Cluster, ClusterHealth, ClusterMode, Environment, NewCluster, PullTarget, SealedKubeconfig,
    UnknownEnvironment,
};

const CLUSTER_COLUMNS: &str = "id, org_id, name, description, environment, tags, provider, \
    version, api_server_url, mode, enabled, health_status, health_reasons, health_checked_at, \
    last_sync_at, last_error, last_heartbeat_at, created_by, created_at, updated_at";

pub(crate) const CLUSTER_TYPES: [Ty; 20] = [
    Ty::Id,
    Ty::Id,
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::OptText,
    Ty::OptText,
    Ty::OptText,
    Ty::Text,
    Ty::Bool,
    Ty::OptText,
    Ty::Text,
    Ty::OptTime,
    Ty::OptTime,
    Ty::OptText,
    Ty::OptTime,
    Ty::OptText,
    Ty::Time,
    Ty::Time,
];

pub(crate) fn cluster_select(db: &dyn Sql) -> String {
    let d = db.dialect();
    CLUSTER_COLUMNS
        .split(", ")
        .map(|c| match c.trim() {
            c @ ("tags" | "health_reasons") => d.text(c),
            c => c.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn decode_error(what: &str) -> StoreError {
    StoreError::Query(super::sql::decode_error(what))
}

pub(crate) fn cluster_from(row: Vec<Value>) -> Result<Cluster, StoreError> {
    let mut c = Cells::new(row);
    let id = ClusterId::from_uuid(c.uuid()?);
    let org_id = OrgId::from_uuid(c.uuid()?);
    let name = c.text()?;
    let description = c.text()?;
    let environment = c
        .text()?
        .parse()
        .map_err(|_| decode_error("unknown environment"))?;
    let tags: Vec<String> = c.json()?;
    let provider = c.opt_text()?;
    let version = c.opt_text()?;
    let api_server_url = c.opt_text()?;
    let mode = ClusterMode::parse(&c.text()?).ok_or_else(|| decode_error("unknown mode"))?;
    let enabled = c.bool()?;
    let status = c.opt_text()?;
    let reasons: Vec<HealthReason> = c.json()?;
    let checked_at = c.opt_time()?;
    let health = match (status.as_deref().map(parse_status), checked_at) {
        (Some(Some(status)), Some(checked_at)) => Some(ClusterHealth {
            status,
            reasons,
            checked_at,
        }),
        _ => None,
    };
    Ok(Cluster {
        id,
        org_id,
        name,
        description,
        environment,
        tags,
        provider,
        version,
        api_server_url,
        mode,
        enabled,
        health,
        last_sync_at: c.opt_time()?,
        last_error: c.opt_text()?,
        last_heartbeat_at: c.opt_time()?,
        created_by: c.opt_text()?,
        created_at: c.time()?,
        updated_at: c.time()?,
    })
}

/// The verdict `HealthStatus::as_str` spells `name`.
fn parse_status(name: &str) -> Option<HealthStatus> {
    [
        HealthStatus::Healthy,
        HealthStatus::Degraded,
        HealthStatus::Critical,
    ]
    .into_iter()
    .find(|status| status.as_str() == name)
}

/// Inserts a cluster; a name taken in the organization is [`StoreError::Conflict`].
pub(crate) async fn create_cluster(
    db: &mut dyn Sql,
    new: &NewCluster,
) -> Result<Cluster, StoreError> {
    let d = db.dialect();
    let now = Utc::now();
    let columns = [
        "id",
        "org_id",
        "name",
        "description",
        "environment",
        "tags",
        "mode",
        "api_server_url",
        "provider",
        "version",
        "kubeconfig_sealed",
        "kubeconfig_key_id",
        "created_by",
        "created_at",
        "updated_at",
    ];
    let placeholders: Vec<String> = (1..=columns.len())
        .map(|n| if n == 6 { d.json_ph(n) } else { d.ph(n) })
        .collect();
    let sql = format!(
        "INSERT INTO k8s_clusters ({}) VALUES ({}) ON CONFLICT (org_id, name) DO NOTHING",
        columns.join(", "),
        placeholders.join(", ")
    );
    let (sealed, key_id) = match &new.kubeconfig {
        Some(k) => (Some(k.blob.clone()), Some(k.key_id.clone())),
        None => (None, None),
    };
    let inserted = db
        .execute(
            &sql,
            vec![
                Value::Id(*new.id.as_uuid()),
                Value::Id(*new.org_id.as_uuid()),
                Value::Text(new.name.clone()),
                Value::Text(new.description.clone()),
                Value::Text(new.environment.as_str().to_owned()),
                Value::Text(serde_json::to_string(&new.tags).expect("tags serialize")),
                Value::Text(new.mode.as_str().to_owned()),
                Value::OptText(new.api_server_url.clone()),
                Value::OptText(new.provider.clone()),
                Value::OptText(new.version.clone()),
                Value::OptBytes(sealed),
                Value::OptText(key_id),
                Value::OptText(new.created_by.clone()),
                Value::Time(now),
                Value::Time(now),
            ],
        )
        .await?;
    if inserted == 0 {
        return Err(StoreError::Conflict(format!(
            "a cluster named {:?} already exists",
            new.name
        )));
    }
    cluster(db, new.org_id, new.id)
        .await?
        .ok_or(StoreError::ClusterNotFound)
}

/// One cluster of the organization.
pub(crate) async fn cluster(
    db: &mut dyn Sql,
    org: OrgId,
    id: ClusterId,
) -> Result<Option<Cluster>, StoreError> {
    let d = db.dialect();
    let sql = format!(
        "SELECT {} FROM k8s_clusters WHERE org_id = {} AND id = {}",
        cluster_select(db),
        d.ph(1),
        d.ph(2)
    );
    let rows = db
        .fetch(
            &sql,
            vec![Value::Id(*org.as_uuid()), Value::Id(*id.as_uuid())],
            &CLUSTER_TYPES,
        )
        .await?;
    rows.into_iter().next().map(cluster_from).transpose()
}

/// Updates one nullable-text or timestamp column family of a cluster; the shared body of
/// the small status writers below.
pub(crate) async fn update_columns(
    db: &mut dyn Sql,
    org: OrgId,
    id: ClusterId,
    assignments: &[&str],
    values: Vec<Value>,
) -> Result<bool, StoreError> {
    let d = db.dialect();
    let n_values = values.len();
    let sets: Vec<String> = assignments
        .iter()
        .enumerate()
        .map(|(i, column)| {
            if column.ends_with('!') {
                let column = column.trim_end_matches('!');
                format!("{column} = {}", d.json_ph(i + 1))
            } else {
                format!("{column} = {}", d.ph(i + 1))
            }
        })
        .collect();
    let sql = format!(
        "UPDATE k8s_clusters SET {}, updated_at = {} WHERE org_id = {} AND id = {}",
        sets.join(", "),
        d.ph(n_values + 1),
        d.ph(n_values + 2),
        d.ph(n_values + 3)
    );
    let mut args = values;
    args.extend([
        Value::Time(Utc::now()),
        Value::Id(*org.as_uuid()),
        Value::Id(*id.as_uuid()),
    ]);
    Ok(db.execute(&sql, args).await? > 0)
}

/// Records a health verdict.
pub(crate) async fn record_health(
    db: &mut dyn Sql,
    org: OrgId,
    id: ClusterId,
    report: &HealthReport,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    update_columns(
        db,
        org,
        id,
        &["health_status", "health_reasons!", "health_checked_at"],
        vec![
            Value::OptText(Some(report.status.as_str().to_owned())),
            Value::Text(serde_json::to_string(&report.reasons).expect("reasons serialize")),
            Value::OptTime(Some(at)),
        ],
    )
    .await
}

/// Enables or disables a cluster.
async fn set_enabled(
    db: &mut dyn Sql,
    org: OrgId,
    id: ClusterId,
    enabled: bool,
) -> Result<bool, StoreError> {
    update_columns(db, org, id, &["enabled"], vec![Value::Bool(enabled)]).await
}

/// Marks every unrevoked certificate of the cluster revoked (on disable and re-enrollment).
pub(crate) async fn revoke_certificates(
    db: &mut dyn Sql,
    org: OrgId,
    cluster: ClusterId,
) -> Result<u64, StoreError> {
    let cluster = Value::Id(*cluster.as_uuid());
    Ok(revoke_rows(
        db,
        "issued_certificates",
        "cluster_id",
        *org.as_uuid(),
        cluster,
    )
    .await?)
}

impl Store {
    /// Enables or disables a cluster (disabled ones are neither collected nor accepted).
    #[instrument(skip_all)]
    pub async fn set_cluster_enabled(
        &self,
        org: OrgId,
        id: ClusterId,
        enabled: bool,
    ) -> Result<bool, StoreError> {
        in_tx!(self, |db| async {
            let found = set_enabled(db, org, id, enabled).await?;
            if found && !enabled {
                // A disabled cluster's certificates are dead: the transport refuses them
                // anyway, and the listing should say so.
                revoke_certificates(db, org, id).await?;
            }
            Ok(found)
        })
    }

    /// Registers a cluster. A name taken in the organization is [`StoreError::Conflict`].
    #[instrument(skip_all)]
    pub async fn create_cluster(&self, new: &NewCluster) -> Result<Cluster, StoreError> {
        in_tx!(self, |db| create_cluster(db, new))
    }

    /// One cluster of the organization; another organization's is not found.
    #[instrument(skip_all)]
    pub async fn cluster(&self, org: OrgId, id: ClusterId) -> Result<Option<Cluster>, StoreError> {
        on_conn!(self, |db| cluster(db, org, id))
    }

    /// The organization's clusters, by name.
    #[instrument(skip_all)]
    pub async fn list_clusters(&self, org: OrgId) -> Result<Vec<Cluster>, StoreError> {
        on_conn!(self, |db| async {
            let d = db.dialect();
            let sql = format!(
                "SELECT {} FROM k8s_clusters WHERE org_id = {} ORDER BY name, id",
                cluster_select(db),
                d.ph(1)
            );
            db.fetch(&sql, vec![Value::Id(*org.as_uuid())], &CLUSTER_TYPES)
                .await?
                .into_iter()
                .map(cluster_from)
                .collect()
        })
    }

    /// Deletes a cluster and everything collected from it. False when there was none.
    #[instrument(skip_all)]
    pub async fn delete_cluster(&self, org: OrgId, id: ClusterId) -> Result<bool, StoreError> {
        in_tx!(self, |db| async {
            let d = db.dialect();
            let sql = format!(
                "DELETE FROM k8s_clusters WHERE org_id = {} AND id = {}",
                d.ph(1),
                d.ph(2)
            );
            let n = db
                .execute(
                    &sql,
                    vec![Value::Id(*org.as_uuid()), Value::Id(*id.as_uuid())],
                )
                .await?;
            Ok(n > 0)
        })
    }

    /// Records a health verdict.
    #[instrument(skip_all)]
    pub async fn record_health(
        &self,
        org: OrgId,
        id: ClusterId,
        report: &HealthReport,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        in_tx!(self, |db| record_health(db, org, id, report, at))
    }

    /// Records a collection error, or clears it (`None`) after a successful sync.
    #[instrument(skip_all)]
    pub async fn record_sync_error(
        &self,
        org: OrgId,
        id: ClusterId,
        error: Option<&str>,
    ) -> Result<bool, StoreError> {
        in_tx!(self, |db| async {
            update_columns(
                db,
                org,
                id,
                &["last_error"],
                vec![Value::OptText(error.map(str::to_owned))],
            )
            .await
        })
    }

    /// Records the detected provider and server version.
    #[instrument(skip_all)]
    pub async fn record_identity(
        &self,
        org: OrgId,
        id: ClusterId,
        provider: Option<&str>,
        version: Option<&str>,
    ) -> Result<bool, StoreError> {
        in_tx!(self, |db| async {
            update_columns(
                db,
                org,
                id,
                &["provider", "version"],
                vec![
                    Value::OptText(provider.map(str::to_owned)),
                    Value::OptText(version.map(str::to_owned)),
                ],
            )
            .await
        })
    }

    /// Records an agent heartbeat.
    #[instrument(skip_all)]
    pub async fn record_heartbeat(
        &self,
        org: OrgId,
        id: ClusterId,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        in_tx!(self, |db| async {
            update_columns(
                db,
                org,
                id,
                &["last_heartbeat_at"],
                vec![Value::OptTime(Some(at))],
            )
            .await
        })
    }

    /// Pull-mode clusters of every organization with their sealed kubeconfigs: the enabled
    /// ones (to collect), or all (to re-seal).
    #[instrument(skip_all)]
    pub async fn pull_targets(&self, enabled_only: bool) -> Result<Vec<PullTarget>, StoreError> {
        on_conn!(self, |db| async {
            let d = db.dialect();
            let sql = format!(
                "SELECT {}, {}, name, kubeconfig_sealed, kubeconfig_key_id FROM k8s_clusters \
         WHERE mode = 'kubeconfig'{} ORDER BY id",
                d.text("id"),
                d.text("org_id"),
                if enabled_only { " AND enabled" } else { "" }
            );
            let rows = db
                .fetch(
                    &sql,
                    vec![],
                    &[Ty::Text, Ty::Text, Ty::Text, Ty::OptBytes, Ty::OptText],
                )
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let mut c = Cells::new(row);
                let id = ClusterId::from_uuid(c.uuid()?);
                let org_id = OrgId::from_uuid(c.uuid()?);
                let name = c.text()?;
                let blob = c
                    .opt_bytes()?
                    .ok_or_else(|| decode_error("pull cluster without kubeconfig"))?;
                let key_id = c.opt_text()?.unwrap_or_default();
                out.push(PullTarget {
                    id,
                    org_id,
                    name,
                    kubeconfig: SealedKubeconfig { blob, key_id },
                });
            }
            Ok(out)
        })
    }

    /// Replaces a cluster's sealed kubeconfig, and its API server URL when the new kubeconfig
    /// points elsewhere (`None`: re-sealing the same kubeconfig under a new key).
    #[instrument(skip_all)]
    pub async fn replace_kubeconfig(
        &self,
        org: OrgId,
        id: ClusterId,
        sealed: &SealedKubeconfig,
        api_server_url: Option<&str>,
    ) -> Result<bool, StoreError> {
        in_tx!(self, |db| async {
            let mut columns = vec!["kubeconfig_sealed", "kubeconfig_key_id"];
            let mut values = vec![
                Value::OptBytes(Some(sealed.blob.clone())),
                Value::OptText(Some(sealed.key_id.clone())),
            ];
            if let Some(url) = api_server_url {
                columns.push("api_server_url");
                values.push(Value::OptText(Some(url.to_owned())));
            }
            update_columns(db, org, id, &columns, values).await
        })
    }
}
