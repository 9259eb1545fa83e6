//! Organizations, inventory reads, usage sums and retention, written once against [`Sql`].
//!
//! Every query names the organization: a cluster of another organization is simply not
//! found, which is what lets the API answer 404 rather than 403 across organizations.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use kubeworkz_shared::change::ObjectKind;
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::model::UsageBucket;
use kubeworkz_shared::time::UnixMillis;

use super::sql::{Cells, Sql, Ty, Value};
use super::tables;
use super::types::InventoryRecord;
use super::{Organization, StoreError};

fn decode_error(what: &str) -> StoreError {
    StoreError::Query(super::sql::decode_error(what))
}

/// Every row of one kind in a cluster, ended ones included, ordered by namespace and name.
pub(crate) async fn inventory(
    db: &mut dyn Sql,
    org: OrgId,
    cluster: ClusterId,
    kind: ObjectKind,
    live_only: bool,
) -> Result<Vec<InventoryRecord>, StoreError> {
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
}

/// Live object counts per kind for a cluster.
pub(crate) async fn inventory_counts(
    db: &mut dyn Sql,
    org: OrgId,
    cluster: ClusterId,
) -> Result<BTreeMap<ObjectKind, u64>, StoreError> {
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
}

fn organization_from(row: Vec<Value>) -> Result<Organization, StoreError> {
    let mut c = Cells::new(row);
    Ok(Organization {
        id: OrgId::from_uuid(c.uuid()?),
        name: c.text()?,
        created_at: c.time()?,
    })
}

/// An organization by its unique name.
pub(crate) async fn organization_by_name(
    db: &mut dyn Sql,
    name: &str,
) -> Result<Option<Organization>, StoreError> {
    let d = db.dialect();
    let sql = format!(
        "SELECT {}, name, created_at FROM organizations WHERE name = {}",
        d.text("id"),
        d.ph(1)
    );
    db.fetch(
        &sql,
        vec![Value::Text(name.to_owned())],
        &[Ty::Text, Ty::Text, Ty::Time],
    )
    .await?
    .into_iter()
    .next()
    .map(organization_from)
    .transpose()
}

/// Creates the organization, or returns the existing one of that name.
pub(crate) async fn ensure_organization(
    db: &mut dyn Sql,
    name: &str,
) -> Result<Organization, StoreError> {
    let d = db.dialect();
    let sql = format!(
        "INSERT INTO organizations (id, name, created_at) VALUES ({}, {}, {}) \
         ON CONFLICT (name) DO UPDATE SET name = excluded.name \
         RETURNING {}, name, created_at",
        d.ph(1),
        d.ph(2),
        d.ph(3),
        d.text("id")
    );
    let rows = db
        .fetch(
            &sql,
            vec![
                Value::Id(*OrgId::new().as_uuid()),
                Value::Text(name.to_owned()),
                Value::Time(Utc::now()),
            ],
            &[Ty::Text, Ty::Text, Ty::Time],
        )
        .await?;
    rows.into_iter()
        .next()
        .map(organization_from)
        .ok_or_else(|| decode_error("insert returned no organization"))?
}

/// Usage of one hour, summed per container over every delivering message.
pub(crate) async fn usage(
    db: &mut dyn Sql,
    org: OrgId,
    cluster: ClusterId,
    hour_start: DateTime<Utc>,
) -> Result<Vec<UsageBucket>, StoreError> {
    let d = db.dialect();
    let sql = format!(
        "SELECT namespace, pod, container, CAST(sum(cpu_millicore_seconds) AS BIGINT), \
         CAST(sum(memory_byte_seconds) AS BIGINT), max(memory_max_bytes), \
         CAST(sum(samples) AS BIGINT), CAST(sum(covered_millis) AS BIGINT) \
         FROM k8s_resource_metrics WHERE org_id = {} AND cluster_id = {} AND hour_start = {} \
         GROUP BY namespace, pod, container ORDER BY namespace, pod, container",
        d.ph(1),
        d.ph(2),
        d.ph(3)
    );
    let rows = db
        .fetch(
            &sql,
            vec![
                Value::Id(*org.as_uuid()),
                Value::Id(*cluster.as_uuid()),
                Value::Time(hour_start),
            ],
            &[
                Ty::Text,
                Ty::Text,
                Ty::Text,
                Ty::I64,
                Ty::I64,
                Ty::I64,
                Ty::I64,
                Ty::I64,
            ],
        )
        .await?;
    let hour = UnixMillis(hour_start.timestamp_millis());
    rows.into_iter()
        .map(|row| {
            let mut c = Cells::new(row);
            let clamp_u32 = |v: i64| u32::try_from(v.max(0)).unwrap_or(u32::MAX);
            Ok(UsageBucket {
                namespace: c.text()?,
                pod: c.text()?,
                container: c.text()?,
                hour_start: hour,
                cpu_millicore_seconds: c.i64()?.max(0) as u64,
                memory_byte_seconds: c.i64()?.max(0) as u64,
                memory_max_bytes: c.i64()?.max(0) as u64,
                samples: clamp_u32(c.i64()?),
                covered_millis: clamp_u32(c.i64()?),
            })
        })
        .collect()
}

/// The oldest time retention keeps.
pub(crate) fn cutoff(now: DateTime<Utc>, retention: std::time::Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(retention)
        .ok()
        .and_then(|r| now.checked_sub_signed(r))
        .unwrap_or(DateTime::UNIX_EPOCH)
}

/// Deletes inventory rows that ended before `cutoff`, and usage of hours before it.
pub(crate) async fn purge(db: &mut dyn Sql, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
    let d = db.dialect();
    let mut purged = 0;
    for kind in ObjectKind::ALL {
        let sql = format!(
            "DELETE FROM {} WHERE deleted_at < {}",
            tables::table(kind).name,
            d.ph(1)
        );
        purged += db.execute(&sql, vec![Value::Time(cutoff)]).await?;
    }
    let sql = format!(
        "DELETE FROM k8s_resource_metrics WHERE hour_start < {}",
        d.ph(1)
    );
    purged += db.execute(&sql, vec![Value::Time(cutoff)]).await?;
    Ok(purged)
}

/// Stamps `revoked_at` on the organization's unrevoked rows of `table` whose `key_column`
/// equals `key`; returns how many were revoked. The one revocation statement shared by API
/// tokens, enrollment tokens and issued certificates (revoking twice changes nothing).
pub(crate) async fn revoke_rows(
    db: &mut dyn Sql,
    table: &'static str,
    key_column: &'static str,
    org: OrgId,
    key: Value,
) -> Result<u64, StoreError> {
    let d = db.dialect();
    let sql = format!(
        "UPDATE {table} SET revoked_at = {} WHERE org_id = {} AND {key_column} = {} \
         AND revoked_at IS NULL",
        d.ph(1),
        d.ph(2),
        d.ph(3)
    );
    Ok(db
        .execute(
            &sql,
            vec![Value::Time(Utc::now()), Value::Id(*org.as_uuid()), key],
        )
        .await?)
}
