//! A page of a cluster's namespaces with each one's live deployment and pod counts, for the
//! namespaces table, in one statement whose total is a column too: the cluster's kept count
//! of its live namespaces.
//!
//! Where the counts come from differs by backend, because what is cheap differs:
//! - PostgreSQL keeps them in `k8s_namespace_counts` (migration 0012), by the statement-level
//!   triggers that keep the cluster counts: one upsert per (cluster, namespace) whose live
//!   rows a statement changes. Counting on read cost 0.45 ms of server time per page (each
//!   of the page's namespaces counted in every monthly pods partition, 250 index scans), and
//!   PostgreSQL's share of the CPU made the page miss its latency goal; reading kept counts
//!   costs 0.25 ms.
//! - SQLite counts on read, once per namespace of the page (correlated counts over the
//!   `(cluster_id, namespace, …) WHERE deleted_at IS NULL` indexes): its reads run in-process
//!   without a server's per-statement overhead, and it has no statement-level triggers.
//!   Kept by row triggers (on the namespace rows, session 11), every pod that appeared or
//!   went updated a row, and ingest churn fell from 26–28k to 21k changes/s.

use kubeworkz_shared::change::ObjectKind;
use kubeworkz_shared::ids::{ClusterId, OrgId};

use super::StoreError;
use super::api_queries::{
    ITEM_TYPES, InventoryItem, InventoryQuery, inventory_filter, item_from, item_order,
};
use super::paging::{PageRequest, Paged};
use super::sql::{Cells, Dialect, Sql, Ty, Value};

/// Live objects in one namespace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NamespaceCounts {
    /// Deployments not deleted.
    pub deployments: u64,
    /// Pods not deleted.
    pub pods: u64,
}

/// A live namespace and what lives in it.
#[derive(Debug, Clone, PartialEq)]
pub struct NamespaceItem {
    /// The namespace.
    pub item: InventoryItem,
    /// Its live deployments and pods.
    pub counts: NamespaceCounts,
}

/// A page of the live namespaces of an organization's cluster, in inventory order, with
/// their counts. Another organization's cluster has none.
pub(crate) async fn namespace_page(
    db: &mut dyn Sql,
    org: OrgId,
    cluster: ClusterId,
    page: PageRequest,
) -> Result<Paged<NamespaceItem>, StoreError> {
    let d = db.dialect();
    let query = InventoryQuery {
        kind: ObjectKind::Namespace,
        cluster: Some(cluster),
        namespace: None,
        deployment: None,
        columns: Vec::new(),
        page,
    };
    let filter = inventory_filter(d, org, &query);
    let table = "k8s_namespaces";
    let raw = "uid, cluster_id, namespace, name, data, first_seen_at, updated_at";
    let order = item_order(ObjectKind::Namespace);
    let (inner, mut args) = filter.page_sql((table, raw, order), page);
    // The total is the cluster's kept count of live namespaces (one primary-key read)
    // rather than a count of the page's filter: on SQLite that count fetched every
    // namespace row of the cluster to check its organization. NULL (another
    // organization's cluster) reads as none. Its two values are bound after the page's.
    args.extend([Value::Id(*cluster.as_uuid()), Value::Id(*org.as_uuid())]);
    let (cluster_ph, org_ph) = (d.ph(args.len() - 1), d.ph(args.len()));
    let total = format!(
        "(SELECT coalesce(max(namespace_count), 0) FROM k8s_clusters WHERE id = {cluster_ph} \
         AND org_id = {org_ph})"
    );
    let columns = format!(
        "n.uid, {}, n.namespace, n.name, {}, n.first_seen_at, n.updated_at",
        d.text("n.cluster_id"),
        d.text("n.data")
    );
    let order = order
        .split(", ")
        .map(|c| format!("n.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    // The page is cut first, so only its namespaces are counted or looked up.
    let sql = match d {
        Dialect::Postgres => {
            // The kept counts of the page's names: a range of the primary key bounded by
            // the page's first and last name, so the lookup grows with the page, not with
            // the cluster (joined on the cluster alone, the planner scans all its rows).
            format!(
                "WITH n AS ({inner}) \
                 SELECT {columns}, coalesce(c.deployments, 0), coalesce(c.pods, 0), {total} \
                 FROM n LEFT JOIN k8s_namespace_counts c ON c.cluster_id = {cluster_ph} \
                 AND c.namespace = n.name AND c.namespace >= (SELECT min(name) FROM n) \
                 AND c.namespace <= (SELECT max(name) FROM n) ORDER BY {order}"
            )
        }
        Dialect::Sqlite => {
            let count = |of: &str| {
                format!(
                    "(SELECT count(*) FROM {of} x WHERE x.cluster_id = n.cluster_id \
                     AND x.namespace = n.name AND x.deleted_at IS NULL)"
                )
            };
            format!(
                "SELECT {columns}, {}, {}, {total} FROM ({inner}) n ORDER BY {order}",
                count("k8s_deployments"),
                count("k8s_pods"),
            )
        }
    };
    let types = [&ITEM_TYPES[..], &[Ty::I64, Ty::I64, Ty::I64]].concat();
    let mut rows = db.fetch(&sql, args, &types).await?;
    let total = filter.take_total(db, table, page, &mut rows).await?;
    let items = rows
        .into_iter()
        .map(|mut row| {
            let mut counts = Cells::new(row.split_off(ITEM_TYPES.len()));
            Ok(NamespaceItem {
                counts: NamespaceCounts {
                    deployments: counts.i64()?.max(0) as u64,
                    pods: counts.i64()?.max(0) as u64,
                },
                item: item_from(row)?,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(Paged { items, total })
}
