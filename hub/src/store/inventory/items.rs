//! The API's inventory pages and single objects by uid: live objects of one kind, filtered by
//! cluster, namespace, owning deployment or the kind's typed columns.
//!
//! Every page sorts by namespace, name and a unique key, so pages are stable.

use chrono::{DateTime, Utc};
use kubeworkz_shared::change::ObjectKind;
use kubeworkz_shared::ids::{ClusterId, OrgId};
use tracing::instrument;

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
    /// Only pods owned by this Deployment name (with `cluster` and `namespace`).
    pub deployment: Option<String>,
    /// Exact matches on the kind's typed columns, e.g. `("status", "deployed")`.
    pub columns: Vec<(&'static str, String)>,
    /// Case-insensitive substring of the name.
    pub search: Option<String>,
    /// Names from last to first.
    pub descending: bool,
    /// Continue after this object (the last of the previous page); `page.offset` is then
    /// only where the page stands.
    pub after: Option<InventoryKey>,
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
            deployment: None,
            columns: Vec::new(),
            search: None,
            descending: false,
            after: None,
            page,
        }
    }
}

/// Where an object sorts in an inventory list: the key a page continues after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryKey {
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
    /// What `kubectl get` prints as STATUS, for pods (`CrashLoopBackOff`, `Init:0/1`);
    /// computed at ingest, so pages do not parse projections. `None` for other kinds.
    pub status: Option<String>,
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
        ObjectKind::Pod => "status",
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
    })
}

/// The sort key of every inventory page.
const ITEM_ORDER: &str = "namespace, name, cluster_id, uid";

/// [`ITEM_ORDER`] for `kind`: cluster-scoped objects all have the empty namespace, and
/// leaving it out lets a page of one cluster's nodes or namespaces walk the
/// `(cluster_id, name)` live index in order instead of sorting them all.
fn item_key(kind: ObjectKind) -> &'static str {
    if kind.is_namespaced() {
        ITEM_ORDER
    } else {
        "name, cluster_id, uid"
    }
}

/// The `ORDER BY` of a page of `kind`, every key column in the one direction.
pub(super) fn item_order(kind: ObjectKind, descending: bool) -> String {
    let direction = if descending { " DESC" } else { "" };
    item_key(kind)
        .split(", ")
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
    if let Some(deployment) = &query.deployment {
        filter.bind(Value::Text(deployment.clone()), |p| {
            format!("owner_kind = 'Deployment' AND owner_name = {p}")
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
        let mut values = Vec::with_capacity(4);
        if query.kind.is_namespaced() {
            values.push(Value::Text(after.namespace.clone()));
        }
        values.extend([
            Value::Text(after.name.clone()),
            Value::Id(*after.cluster_id.as_uuid()),
            Value::Text(after.uid.clone()),
        ]);
        filter.seek(item_key(query.kind), values, query.descending);
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
        on_conn!(self, |db| async {
            let d = db.dialect();
            let table = tables::table(query.kind);
            let filter = inventory_filter(d, org, query);
            let (rows, total) = filter
                .fetch_page(
                    db,
                    (
                        table.name,
                        &item_columns(d, query.kind),
                        &item_order(query.kind, query.descending),
                    ),
                    query.page,
                    &ITEM_TYPES,
                    Total::AfterPage,
                )
                .await?;
            let items = rows.into_iter().map(item_from).collect::<Result<_, _>>()?;
            Ok(Paged { items, total })
        })
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
