//! Every read of inventory: a cluster's objects of one kind with their history, live counts
//! per kind, the API's pages and single objects ([`items`]), the namespaces page with its
//! kept counts ([`namespaces`]), a pod's top owner ([`owners`]), a namespace's quotas, limit
//! ranges and failing pods ([`quotas`]) and usage ([`usage`]).
//!
//! Every query names the organization: a cluster of another organization is simply not
//! found, which is what lets the API answer 404 rather than 403 across organizations.

use std::collections::BTreeMap;

mod items;
mod namespaces;
mod owners;
mod quotas;
mod sort;
mod usage;

use chrono::{DateTime, Utc};
use kubeworkz_shared::change::{Object, ObjectKind};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use tracing::instrument;

use super::schema as tables;
use super::sql::{Cells, Ty, Value};
use super::{Store, StoreError, on_conn};
pub use items::{InventoryItem, InventoryKey, InventoryQuery};
pub use namespaces::{NamespaceCounts, NamespaceItem};
pub use owners::TopOwner;
pub use quotas::NamespaceQuotas;
pub use sort::{InventorySort, SortValue};
pub use usage::UsageHour;
pub(crate) use usage::usage;

/// An inventory row including its history: when the hub first saw it and when it went away.
#[derive(Debug, Clone, PartialEq)]
pub struct InventoryRecord {
    /// The projection as last seen.
    pub object: Object,
    /// First ingest of this uid.
    pub first_seen_at: DateTime<Utc>,
    /// When it was deleted (or pruned by a snapshot), if it was.
    pub deleted_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Objects of one kind in a cluster; with `live_only` false, ended ones too (history).
    #[instrument(skip_all)]
    pub async fn inventory(
        &self,
        org: OrgId,
        cluster: ClusterId,
        kind: ObjectKind,
        live_only: bool,
    ) -> Result<Vec<InventoryRecord>, StoreError> {
        on_conn!(self, |db| async {
            let d = db.dialect();
            let table = tables::table(kind);
            let sql = format!(
                "SELECT {}, first_seen_at, deleted_at FROM {} WHERE org_id = {} AND cluster_id = {}{} \
         ORDER BY namespace, name, first_seen_at",
                d.text("data"),
                table.name,
                d.ph(1),
                d.ph(2),
                if live_only {
                    " AND deleted_at IS NULL"
                } else {
                    ""
                }
            );
            let rows = db
                .fetch(
                    &sql,
                    vec![Value::Id(*org.as_uuid()), Value::Id(*cluster.as_uuid())],
                    &[Ty::Text, Ty::Time, Ty::OptTime],
                )
                .await?;
            rows.into_iter()
                .map(|row| {
                    let mut c = Cells::new(row);
                    let json = c.text()?;
                    let object = tables::object_from_json(kind, &json)
                        .map_err(|e| StoreError::Query(sqlx::Error::Decode(Box::new(e))))?;
                    Ok(InventoryRecord {
                        object,
                        first_seen_at: c.time()?,
                        deleted_at: c.opt_time()?,
                    })
                })
                .collect()
        })
    }

    /// Live objects per kind in a cluster.
    #[instrument(skip_all)]
    pub async fn inventory_counts(
        &self,
        org: OrgId,
        cluster: ClusterId,
    ) -> Result<BTreeMap<ObjectKind, u64>, StoreError> {
        on_conn!(self, |db| async {
            let d = db.dialect();
            let selects: Vec<String> = ObjectKind::ALL
                .iter()
                .map(|kind| {
                    format!(
                        "(SELECT count(*) FROM {} WHERE org_id = {} AND cluster_id = {} \
                 AND deleted_at IS NULL)",
                        tables::table(*kind).name,
                        d.ph(1),
                        d.ph(2)
                    )
                })
                .collect();
            let sql = format!("SELECT {}", selects.join(", "));
            let rows = db
                .fetch(
                    &sql,
                    vec![Value::Id(*org.as_uuid()), Value::Id(*cluster.as_uuid())],
                    &[Ty::I64; ObjectKind::ALL.len()],
                )
                .await?;
            let row = rows.into_iter().next().unwrap_or_default();
            let mut c = Cells::new(row);
            let mut counts = BTreeMap::new();
            for kind in ObjectKind::ALL {
                counts.insert(kind, c.i64()?.max(0) as u64);
            }
            Ok(counts)
        })
    }
}
