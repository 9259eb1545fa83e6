//! A page of a cluster's namespaces with each one's live deployment and pod counts, for the
//! namespaces table, in one statement whose total is a column too: the cluster's kept count
//! of its live namespaces.
//!
//! The counts are the ones ingest keeps in `k8s_namespace_counts` (`ingest::namespace_counts`
//! says how), joined to the page by key: counting on read, per namespace of the page, was
//! most of the page's database work.

use kubeworkz_shared::change::ObjectKind;
use kubeworkz_shared::ids::{ClusterId, OrgId};
use tracing::instrument;

use super::items::{
    ITEM_TYPES, InventoryItem, InventoryQuery, inventory_filter, item_from, item_order, item_status,
};
use crate::store::sql::paging::{PageRequest, Paged};
use crate::store::sql::{Cells, Dialect, Ty, Value};
use crate::store::{Store, StoreError, on_conn};

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

impl Store {
    /// A page of the live namespaces of a cluster with their live deployment and pod
    /// counts, in one statement (plus a count when the page cannot tell the total).
    #[instrument(skip_all)]
    pub async fn namespace_page(
        &self,
        org: OrgId,
        cluster: ClusterId,
        page: PageRequest,
    ) -> Result<Paged<NamespaceItem>, StoreError> {
        let query = InventoryQuery::new(ObjectKind::Namespace, Some(cluster), page);
        self.namespace_list(org, cluster, &query).await
    }

    /// [`Store::namespace_page`] filtered by name, in either order, or after a namespace
    /// (`query`'s kind is namespaces; its cluster is `cluster`).
    #[instrument(skip_all)]
    pub async fn namespace_list(
        &self,
        org: OrgId,
        cluster: ClusterId,
        query: &InventoryQuery,
    ) -> Result<Paged<NamespaceItem>, StoreError> {
        let from_end = query.from_end;
        let query = InventoryQuery {
            kind: ObjectKind::Namespace,
            cluster: Some(cluster),
            ..query.reading()
        };
        let page = query.page;
        let paged = on_conn!(self, |db| async {
            let d = db.dialect();
            let filter = inventory_filter(d, org, &query);
            let table = "k8s_namespaces";
            let mut raw =
                "uid, cluster_id, namespace, name, data, first_seen_at, updated_at".to_owned();
            let mut sort_column = String::new();
            if let Some(expr) = query.sort.expression(ObjectKind::Namespace) {
                raw.push_str(&format!(", {expr} AS sort_value"));
                sort_column.push_str(", n.sort_value");
            }
            let order = item_order(ObjectKind::Namespace, query.sort, query.descending);
            let (inner, mut args) = filter.page_sql((table, &raw, &order), page);
            args.push(Value::Id(*cluster.as_uuid()));
            let cluster_ph = d.ph(args.len());
            // Unfiltered, the total is the cluster's kept count of live namespaces (one
            // primary-key read) rather than a count of the page's filter: on SQLite that count
            // fetched every namespace row of the cluster to check its organization. NULL
            // (another organization's cluster) reads as none. Its values are bound after the
            // page's. A name filter is counted.
            let total = if query.search.is_some() {
                filter.total_column(table)
            } else {
                args.push(Value::Id(*org.as_uuid()));
                format!(
                    "(SELECT coalesce(max(namespace_count), 0) FROM k8s_clusters \
                     WHERE id = {cluster_ph} AND org_id = {})",
                    d.ph(args.len())
                )
            };
            let columns = format!(
                "n.uid, {}, n.namespace, n.name, {}, n.first_seen_at, n.updated_at, {}",
                d.text("n.cluster_id"),
                d.text("n.data"),
                item_status(ObjectKind::Namespace)
            );
            // The outer statement orders the page's rows by the value the page read (the
            // sort column's expression names the table, which the outer statement does not).
            let order = match query.sort.expression(ObjectKind::Namespace) {
                Some(expr) => order.replacen(expr, "sort_value", 1),
                None => order,
            };
            let order = order
                .split(", ")
                .map(|c| format!("n.{c}"))
                .collect::<Vec<_>>()
                .join(", ");
            // The page is cut first, so only its namespaces are looked up. On PostgreSQL the
            // lookup is also bounded by the page's first and last name, a range of the primary key,
            // so it grows with the page, not with the cluster (joined on the cluster alone, the
            // planner scans all its rows); SQLite looks each name up by key as it is.
            let range = match d {
                Dialect::Postgres => {
                    " AND c.namespace >= (SELECT min(name) FROM n) AND c.namespace <= (SELECT max(name) FROM n)"
                }
                Dialect::Sqlite => "",
            };
            let sql = format!(
                "WITH n AS ({inner}) \
         SELECT {columns}, coalesce(c.deployments, 0), coalesce(c.pods, 0){sort_column}, {total} \
         FROM n LEFT JOIN k8s_namespace_counts c ON c.cluster_id = {cluster_ph} \
         AND c.namespace = n.name{range} ORDER BY {order}"
            );
            let sort_type = query.sort.ty(ObjectKind::Namespace);
            let types = [
                &ITEM_TYPES[..],
                &[Ty::I64, Ty::I64],
                sort_type.as_slice(),
                &[Ty::I64],
            ]
            .concat();
            let mut rows = db.fetch(&sql, args, &types).await?;
            let total = filter.take_total(db, table, page, &mut rows).await?;
            let items = rows
                .into_iter()
                .map(|mut row| {
                    let mut counts = Cells::new(row.split_off(ITEM_TYPES.len()));
                    let deployments = counts.i64()?.max(0) as u64;
                    let pods = counts.i64()?.max(0) as u64;
                    let sort = match sort_type {
                        Some(_) => Some(query.sort.read(ObjectKind::Namespace, &mut counts)?),
                        None => None,
                    };
                    Ok(NamespaceItem {
                        counts: NamespaceCounts { deployments, pods },
                        item: InventoryItem {
                            sort,
                            ..item_from(row)?
                        },
                    })
                })
                .collect::<Result<_, StoreError>>()?;
            Ok::<_, StoreError>(Paged { items, total })
        })?;
        Ok(paged.turned(from_end))
    }
}
