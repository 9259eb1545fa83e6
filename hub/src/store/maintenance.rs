//! Housekeeping, run by the maintenance worker and once at start: retention of ended
//! inventory rows and old usage, time partitions (PostgreSQL), empty kept counts, and
//! planner statistics.
//!
//! The business side decides what is kept and which tables are partitioned or analyzed; the
//! backend only knows how its database does each.

use std::time::Duration;

use chrono::{DateTime, Utc};
use kubeworkz_shared::change::ObjectKind;
use tracing::instrument;

use super::ingest::namespace_counts;
use super::schema;
use super::sql::{PartitionedTable, Sql, Value};
use super::{Store, StoreError};

/// The partitioned tables (PostgreSQL, migrations 0002 and 0026): pods by creation month,
/// usage by hour, the workload usage rollup by day. A long-running pod keeps its month's
/// partition past retention.
const PARTITIONED: [PartitionedTable; 3] = [
    PartitionedTable {
        name: "k8s_pods",
        column: "created_at",
        keep_while: Some("deleted_at IS NULL"),
    },
    PartitionedTable {
        name: "k8s_resource_metrics",
        column: "hour_start",
        keep_while: None,
    },
    PartitionedTable {
        name: "k8s_workload_usage",
        column: "day",
        keep_while: None,
    },
];

/// Tables whose planner statistics maintenance refreshes where the database analyzes by
/// table: the small inventory tables, which autovacuum may not have analyzed yet after a
/// first sync. Without statistics a cluster's namespaces are read through
/// `k8s_namespaces_team (org_id, …)`, every namespace of the organization. (The large
/// partitioned pods table is left to autovacuum.)
const ANALYZED: [&str; 5] = [
    "k8s_clusters",
    "k8s_nodes",
    "k8s_namespaces",
    "k8s_namespace_counts",
    "k8s_deployments",
];

/// What one maintenance run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaintenanceReport {
    /// Partitions created ahead of time (PostgreSQL).
    pub partitions_created: Vec<String>,
    /// Partitions dropped past retention (PostgreSQL).
    pub partitions_dropped: Vec<String>,
    /// Rows deleted past retention (ended inventory rows, old usage).
    pub rows_purged: u64,
}

impl Store {
    /// Housekeeping: creates time partitions ahead of `now` (PostgreSQL), and removes
    /// ended inventory rows and usage older than `retention`.
    #[instrument(skip_all)]
    pub async fn maintain(
        &self,
        now: DateTime<Utc>,
        retention: Duration,
    ) -> Result<MaintenanceReport, StoreError> {
        let cutoff = cutoff(now, retention);
        let backend = self.maintenance();
        let mut tx = self.begin().await?;
        backend.serialize_maintenance(&mut *tx).await?;
        let (partitions_created, partitions_dropped) = backend
            .maintain_partitions(&mut *tx, &PARTITIONED, now, cutoff)
            .await?;
        let rows_purged = purge(&mut *tx, cutoff).await?;
        namespace_counts::drop_empty(&mut *tx).await?;
        tx.commit().await?;
        backend.refresh_statistics(&ANALYZED).await?;
        Ok(MaintenanceReport {
            partitions_created,
            partitions_dropped,
            rows_purged,
        })
    }
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
            schema::table(kind).name,
            d.ph(1)
        );
        purged += db.execute(&sql, vec![Value::Time(cutoff)]).await?;
    }
    let sql = format!(
        "DELETE FROM k8s_resource_metrics WHERE hour_start < {}",
        d.ph(1)
    );
    purged += db.execute(&sql, vec![Value::Time(cutoff)]).await?;
    // The workload rollup keeps the days of the usage it was folded from, and the marks of
    // which hours it folded go with them.
    for sql in [
        format!("DELETE FROM k8s_workload_usage WHERE day < {}", d.ph(1)),
        format!(
            "DELETE FROM k8s_workload_usage_days WHERE day < {}",
            d.ph(1)
        ),
    ] {
        purged += db.execute(&sql, vec![Value::Time(cutoff)]).await?;
    }
    Ok(purged)
}
