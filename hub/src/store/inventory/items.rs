//! The API's inventory pages and single objects by uid: live objects of one kind, filtered by
//! cluster, namespace, owning workload or the kind's typed columns.
//!
//! Every page sorts by namespace, name and a unique key, so pages are stable.

use chrono::{DateTime, Utc};
use kubeworkz_shared::change::ObjectKind;
use kubeworkz_shared::ids::{ClusterId, OrgId};
use tracing::instrument;

use super::sort::{InventorySort, SortValue};
use crate::store::schema as tables;
use crate::store::sql::paging::{Filter, PageRequest, Paged, Total, escape_like};
use crate::store::sql::{Cells, Dialect, Ty, Value};
use crate::store::{Store, StoreError, on_conn};

/// Which inventory objects to list.
#[derive(Debug, Clone)]
pub struct InventoryQuery {
    /// Kind.
    pub kind: ObjectKind,
    /// Only this cluster's.
    pub cluster: Option<ClusterId>,
    /// Only this namespace's (with `cluster`).
    pub namespace: Option<String>,
    /// Only pods whose top owner is this workload: a Deployment, StatefulSet, DaemonSet, Job
    /// or CronJob, by kind and name (with `cluster` and `namespace`; see [`super::owners`]).
    pub owner: Option<(ObjectKind, String)>,
    /// Exact matches on the kind's typed columns, e.g. `("status", "deployed")`.
    pub columns: Vec<(&'static str, String)>,
    /// Case-insensitive substring of the name.
    pub search: Option<String>,
    /// The column the list sorts by before its key.
    pub sort: InventorySort,
    /// The sort from last to first.
    pub descending: bool,
    /// Continue after this object (the last of the previous page); `page.offset` is then
    /// only where the page stands.
    pub after: Option<InventoryKey>,
    /// The list's last page (`page.limit` items; `after` and `page.offset` are ignored),
    /// read as the first page of the reverse order and turned around, so it costs what the
    /// first page does.
    pub from_end: bool,
    /// The slice.
    pub page: PageRequest,
}

impl InventoryQuery {
    /// Every live object of `kind` (in `cluster`), by name: refine by setting fields.
    pub fn new(kind: ObjectKind, cluster: Option<ClusterId>, page: PageRequest) -> Self {
        Self {
            kind,
            cluster,
            namespace: None,
            owner: None,
            columns: Vec::new(),
            search: None,
            sort: InventorySort::Name,
            descending: false,
            after: None,
            from_end: false,
            page,
        }
    }

    /// The query whose page the store reads for this one: itself, or for the last page the
    /// first page of the reverse order (see [`Paged::turned`]).
    pub(super) fn reading(&self) -> InventoryQuery {
        if !self.from_end {
            return self.clone();
        }
        InventoryQuery {
            descending: !self.descending,
            after: None,
            from_end: false,
            page: PageRequest {
                limit: self.page.limit,
                offset: 0,
            },
            ..self.clone()
        }
    }
}

/// Where an object sorts in an inventory list: the key a page continues after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryKey {
    /// The value of the list's sort column (`None` when it sorts by name).
    pub sort: Option<SortValue>,
    /// Namespace (empty for cluster-scoped kinds).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Cluster.
    pub cluster_id: ClusterId,
    /// Uid.
    pub uid: String,
}

impl InventoryItem {
    /// This object's place in an inventory list.
    pub fn key(&self) -> InventoryKey {
        InventoryKey {
            sort: self.sort.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            cluster_id: self.cluster_id,
            uid: self.uid.clone(),
        }
    }
}

/// One live inventory object as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct InventoryItem {
    /// The Kubernetes uid: the id the API uses.
    pub uid: String,
    /// Its cluster.
    pub cluster_id: ClusterId,
    /// Namespace (empty for cluster-scoped kinds).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The projection, as JSON text.
    pub data: String,
    /// First ingest.
    pub first_seen_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// What `kubectl get` prints as STATUS, for pods (`CrashLoopBackOff`, `Init:0/1`) and
    /// Jobs (`Running`, `Complete`, `Failed`, `Suspended`); computed at ingest, so pages do
    /// not parse projections. `None` for other kinds.
    pub status: Option<String>,
    /// Its value of the list's sort column, read with it (`None` when the list sorts by
    /// name): the start of the page after it.
    pub sort: Option<SortValue>,
}

pub(super) const ITEM_TYPES: [Ty; 8] = [
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Time,
    Ty::Time,
    Ty::OptText,
];

/// The status column of `kind`'s items (the last of [`item_columns`]).
pub(super) fn item_status(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Pod | ObjectKind::Job => "status",
        _ => "NULL",
    }
}

pub(super) fn item_columns(d: Dialect, kind: ObjectKind) -> String {
    format!(
        "uid, {}, namespace, name, {}, first_seen_at, updated_at, {}",
        d.text("cluster_id"),
        d.text("data"),
        item_status(kind)
    )
}

pub(super) fn item_from(row: Vec<Value>) -> Result<InventoryItem, StoreError> {
    let mut c = Cells::new(row);
    Ok(InventoryItem {
        uid: c.text()?,
        cluster_id: ClusterId::from_uuid(c.uuid()?),
        namespace: c.text()?,
        name: c.text()?,
        data: c.text()?,
        first_seen_at: c.time()?,
        updated_at: c.time()?,
        status: c.opt_text()?,
        sort: None,
    })
}

/// The columns of a page of `query`: the item's, then its sort column's value if it sorts
/// by one.
fn page_columns(d: Dialect, query: &InventoryQuery) -> (String, Vec<Ty>) {
    let columns = item_columns(d, query.kind);
    match (query.sort.expression(query.kind), query.sort.ty(query.kind)) {
        (Some(expr), Some(ty)) => (
            format!("{columns}, {expr}"),
            [&ITEM_TYPES[..], &[ty]].concat(),
        ),
        _ => (columns, ITEM_TYPES.to_vec()),
    }
}

/// An item of a page of `query`, with its sort value when the list sorts by a column.
fn page_item_from(
    query: &InventoryQuery,
    mut row: Vec<Value>,
) -> Result<InventoryItem, StoreError> {
    let sort = if row.len() > ITEM_TYPES.len() {
        let mut c = Cells::new(row.split_off(ITEM_TYPES.len()));
        Some(query.sort.read(query.kind, &mut c)?)
    } else {
        None
    };
    Ok(InventoryItem {
        sort,
        ..item_from(row)?
    })
}

/// The sort key of every inventory page.
const ITEM_ORDER: &str = "namespace, name, cluster_id, uid";

/// The key columns of a page of `kind` sorted by `sort`: [`ITEM_ORDER`] for namespaced
/// kinds. Cluster-scoped objects all have the empty namespace, and leaving it out lets a
/// page of one cluster's nodes or namespaces walk the `(cluster_id, name)` live index in
/// order instead of sorting them all. A list sorted by a column leads with it, then name
/// (see [`super::sort`]).
fn item_key(kind: ObjectKind, sort: InventorySort) -> Vec<&'static str> {
    let mut key: Vec<&str> = sort.expression(kind).into_iter().collect();
    match (key.is_empty(), kind.is_namespaced()) {
        (true, true) => key.extend(ITEM_ORDER.split(", ")),
        (true, false) => key.extend(["name", "cluster_id", "uid"]),
        (false, true) => key.extend(["name", "namespace", "cluster_id", "uid"]),
        (false, false) => key.extend(["name", "cluster_id", "uid"]),
    }
    key
}

/// The `ORDER BY` of a page of `kind` sorted by `sort`, every key column in the one
/// direction.
pub(super) fn item_order(kind: ObjectKind, sort: InventorySort, descending: bool) -> String {
    let direction = if sort.columns_descending(descending) {
        " DESC"
    } else {
        ""
    };
    item_key(kind, sort)
        .iter()
        .map(|c| format!("{c}{direction}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The live objects of the organization that `query` selects.
pub(super) fn inventory_filter(d: Dialect, org: OrgId, query: &InventoryQuery) -> Filter {
    let table = tables::table(query.kind);
    let mut filter = Filter::new(d, "org_id", Value::Id(*org.as_uuid()));
    filter.raw("deleted_at IS NULL");
    if let Some(cluster) = query.cluster {
        filter.bind(Value::Id(*cluster.as_uuid()), |p| {
            format!("cluster_id = {p}")
        });
    }
    if let Some(namespace) = &query.namespace {
        filter.bind(Value::Text(namespace.clone()), |p| {
            format!("namespace = {p}")
        });
    }
    if let Some((kind, name)) = &query.owner {
        // An owner kind that owns no pods selects none.
        filter.bind(Value::Text(name.clone()), |p| {
            super::owners::pods_of(*kind, p).unwrap_or_else(|| "1 = 0".to_owned())
        });
    }
    for (column, value) in &query.columns {
        // Column names come from the API's constant list, never from the request.
        debug_assert!(table.extra.iter().any(|(c, _)| c == column));
        filter.bind(Value::Text(value.clone()), |p| format!("{column} = {p}"));
    }
    if let Some(search) = &query.search {
        let pattern = format!("%{}%", escape_like(search));
        let like = match d {
            Dialect::Sqlite => "LIKE",
            Dialect::Postgres => "ILIKE",
        };
        filter.bind(Value::Text(pattern), |p| {
            format!("name {like} {p} ESCAPE '\\'")
        });
    }
    if let Some(after) = &query.after {
        let mut values = Vec::with_capacity(5);
        let namespace = query
            .kind
            .is_namespaced()
            .then(|| Value::Text(after.namespace.clone()));
        let name = Value::Text(after.name.clone());
        match (query.sort.expression(query.kind), &after.sort) {
            (Some(_), Some(value)) => {
                values.extend([value.value(), name]);
                values.extend(namespace);
            }
            // A key without the sort column's value cannot start a sorted page: it starts
            // at the list's beginning, as a cursor of another order would.
            (Some(_), None) => return filter,
            (None, _) => {
                values.extend(namespace);
                values.push(name);
            }
        }
        values.extend([
            Value::Id(*after.cluster_id.as_uuid()),
            Value::Text(after.uid.clone()),
        ]);
        let descending = query.sort.columns_descending(query.descending);
        filter.seek(
            &item_key(query.kind, query.sort).join(", "),
            values,
            descending,
        );
    }
    filter
}

impl Store {
    /// A page of live inventory objects.
    #[instrument(skip_all)]
    pub async fn inventory_page(
        &self,
        org: OrgId,
        query: &InventoryQuery,
    ) -> Result<Paged<InventoryItem>, StoreError> {
        let from_end = query.from_end;
        let query = &query.reading();
        let paged = on_conn!(self, |db| async {
            let d = db.dialect();
            let table = tables::table(query.kind);
            let filter = inventory_filter(d, org, query);
            let (columns, types) = page_columns(d, query);
            let order = item_order(query.kind, query.sort, query.descending);
            let (rows, total) = filter
                .fetch_page(
                    db,
                    (table.name, &columns, &order),
                    query.page,
                    &types,
                    Total::AfterPage,
                )
                .await?;
            let items = rows
                .into_iter()
                .map(|row| page_item_from(query, row))
                .collect::<Result<_, _>>()?;
            Ok::<_, StoreError>(Paged { items, total })
        })?;
        Ok(paged.turned(from_end))
    }

    /// One live object by uid.
    #[instrument(skip_all)]
    pub async fn inventory_item(
        &self,
        org: OrgId,
        kind: ObjectKind,
        uid: &str,
    ) -> Result<Option<InventoryItem>, StoreError> {
        on_conn!(self, |db| async {
            let d = db.dialect();
            let sql = format!(
                "SELECT {} FROM {} WHERE uid = {} AND org_id = {} AND deleted_at IS NULL",
                item_columns(d, kind),
                tables::table(kind).name,
                d.ph(1),
                d.ph(2)
            );
            let rows = db
                .fetch(
                    &sql,
                    vec![Value::Text(uid.to_owned()), Value::Id(*org.as_uuid())],
                    &ITEM_TYPES,
                )
                .await?;
            rows.into_iter().next().map(item_from).transpose()
        })
    }
}
