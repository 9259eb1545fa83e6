//! The REST API's read models: filtered, sorted, paged lists of clusters (with live counts)
//! and inventory, single objects by uid, cluster edits, and usage time series. Written once
//! against [`Sql`].
//!
//! Every list sorts by a whitelisted column and then by a unique key, so pages are stable.
//! The cluster list reads the counts ingest keeps on each cluster row ([`cluster_counts`]),
//! so a page costs the same whatever the clusters hold.

use chrono::{DateTime, Utc};
use kubeworkz_shared::change::ObjectKind;
use kubeworkz_shared::ids::{ClusterId, OrgId};

use super::StoreError;
use super::cluster_counts;
use super::clusters;
use super::paging::{Filter, PageRequest, Paged, Total};
use super::sql::{Cells, Dialect, Sql, Ty, Value};
use super::tables;
use super::types::{Cluster, ClusterMode, Environment};

/// Filters and order of the cluster list; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct ClusterQuery {
    /// Environment.
    pub environment: Option<Environment>,
    /// Detected provider name.
    pub provider: Option<String>,
    /// `healthy`, `degraded`, `critical`, or `unknown` (never judged).
    pub health: Option<String>,
    /// Carries this tag.
    pub tag: Option<String>,
    /// Agent or pull mode.
    pub mode: Option<ClusterMode>,
    /// Case-insensitive substring of the name or description.
    pub search: Option<String>,
    /// Order.
    pub sort: ClusterSort,
    /// Descending.
    pub descending: bool,
    /// The slice.
    pub page: PageRequest,
}

/// Columns the cluster list sorts by; ties are broken by id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClusterSort {
    /// Name.
    #[default]
    Name,
    /// Registration time.
    CreatedAt,
    /// Environment.
    Environment,
    /// Health status.
    Health,
    /// Last successful ingest.
    LastSync,
}

impl ClusterSort {
    fn column(self) -> &'static str {
        match self {
            ClusterSort::Name => "name",
            ClusterSort::CreatedAt => "created_at",
            ClusterSort::Environment => "environment",
            ClusterSort::Health => "health_status",
            ClusterSort::LastSync => "last_sync_at",
        }
    }

    /// Whether the column may be NULL (never judged, never synced): those sort last, which
    /// takes a `CASE` the indexes cannot serve.
    fn nullable(self) -> bool {
        matches!(self, ClusterSort::Health | ClusterSort::LastSync)
    }
}

/// Live counts shown beside a cluster.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClusterCounts {
    /// Nodes.
    pub nodes: u64,
    /// Ready nodes.
    pub nodes_ready: u64,
    /// Namespaces.
    pub namespaces: u64,
    /// Deployments.
    pub deployments: u64,
    /// Pods.
    pub pods: u64,
}

/// A cluster with its live counts.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSummary {
    /// The cluster.
    pub cluster: Cluster,
    /// Its counts.
    pub counts: ClusterCounts,
}

/// Changes to a cluster's descriptive fields; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ClusterPatch {
    /// New name (unique in the organization).
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New environment.
    pub environment: Option<Environment>,
    /// New tags.
    pub tags: Option<Vec<String>>,
    /// Enable or disable (a disabled cluster's certificates are revoked).
    pub enabled: Option<bool>,
}

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
    /// The slice.
    pub page: PageRequest,
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
}

/// Usage of one hour, summed over the selected containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageHour {
    /// Start of the hour.
    pub hour_start: DateTime<Utc>,
    /// CPU used, millicore-seconds.
    pub cpu_millicore_seconds: u64,
    /// Memory used, byte-seconds.
    pub memory_byte_seconds: u64,
    /// Largest memory sample of any one container.
    pub memory_max_bytes: u64,
}

/// A filtered, sorted page of the organization's clusters with their counts.
pub(crate) async fn cluster_page(
    db: &mut dyn Sql,
    org: OrgId,
    query: &ClusterQuery,
) -> Result<Paged<ClusterSummary>, StoreError> {
    let d = db.dialect();
    let mut filter = Filter::new(d, "org_id", Value::Id(*org.as_uuid()));
    if let Some(env) = query.environment {
        filter.bind(Value::Text(env.as_str().into()), |p| {
            format!("environment = {p}")
        });
    }
    if let Some(provider) = &query.provider {
        filter.bind(Value::Text(provider.clone()), |p| format!("provider = {p}"));
    }
    match query.health.as_deref() {
        None => {}
        Some("unknown") => filter.raw("health_status IS NULL"),
        Some(status) => filter.bind(Value::Text(status.into()), |p| {
            format!("health_status = {p}")
        }),
    }
    if let Some(mode) = query.mode {
        filter.bind(Value::Text(mode.as_str().into()), |p| format!("mode = {p}"));
    }
    if let Some(tag) = &query.tag {
        filter.bind(Value::Text(tag.clone()), |p| match d {
            Dialect::Sqlite => format!("EXISTS (SELECT 1 FROM json_each(tags) WHERE value = {p})"),
            Dialect::Postgres => format!("tags @> jsonb_build_array(CAST({p} AS text))"),
        });
    }
    if let Some(search) = &query.search {
        let pattern = format!("%{}%", escape_like(&search.to_lowercase()));
        filter.bind(Value::Text(pattern), |p| {
            format!("(lower(name) LIKE {p} ESCAPE '\\' OR lower(description) LIKE {p} ESCAPE '\\')")
        });
    }
    let direction = if query.descending { "DESC" } else { "ASC" };
    // NULLs (never judged, never synced) sort last either way, on both backends.
    let column = query.sort.column();
    let mut order = format!("{column} {direction}, id {direction}");
    if query.sort.nullable() {
        order.insert_str(
            0,
            &format!("CASE WHEN {column} IS NULL THEN 1 ELSE 0 END, "),
        );
    }
    let columns = summary_select(db);
    let (rows, total) = filter
        .fetch_page(
            db,
            ("k8s_clusters", &columns, &order),
            query.page,
            &summary_types(),
            Total::InPage,
        )
        .await?;
    let items = rows
        .into_iter()
        .map(summary_from)
        .collect::<Result<_, _>>()?;
    Ok(Paged { items, total })
}

fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// The columns of a [`ClusterSummary`]: the cluster's, then its kept counts.
fn summary_select(db: &dyn Sql) -> String {
    format!(
        "{}, {}",
        clusters::cluster_select(db),
        cluster_counts::COUNT_COLUMNS
    )
}

/// The decode types of [`summary_select`]: the cluster's, then the counts'.
fn summary_types() -> Vec<Ty> {
    [
        &clusters::CLUSTER_TYPES[..],
        &cluster_counts::COUNT_TYPES[..],
    ]
    .concat()
}

fn summary_from(mut row: Vec<Value>) -> Result<ClusterSummary, StoreError> {
    let counts = row.split_off(clusters::CLUSTER_TYPES.len());
    Ok(ClusterSummary {
        counts: cluster_counts::counts_from(&mut Cells::new(counts))?,
        cluster: clusters::cluster_from(row)?,
    })
}

/// Applies a patch; `None` when the cluster is not the organization's. A taken name is
/// [`StoreError::Conflict`].
pub(crate) async fn update_cluster(
    db: &mut dyn Sql,
    org: OrgId,
    id: ClusterId,
    patch: &ClusterPatch,
) -> Result<Option<Cluster>, StoreError> {
    let Some(current) = clusters::cluster(db, org, id).await? else {
        return Ok(None);
    };
    if let Some(name) = &patch.name
        && *name != current.name
    {
        let mut filter = Filter::new(db.dialect(), "org_id", Value::Id(*org.as_uuid()));
        filter.bind(Value::Text(name.clone()), |p| format!("name = {p}"));
        let taken = filter.count(db, "k8s_clusters").await?;
        if taken > 0 {
            return Err(StoreError::Conflict(format!(
                "a cluster named {name:?} already exists"
            )));
        }
    }
    let mut assignments = Vec::new();
    let mut values = Vec::new();
    if let Some(name) = &patch.name {
        assignments.push("name");
        values.push(Value::Text(name.clone()));
    }
    if let Some(description) = &patch.description {
        assignments.push("description");
        values.push(Value::Text(description.clone()));
    }
    if let Some(environment) = patch.environment {
        assignments.push("environment");
        values.push(Value::Text(environment.as_str().into()));
    }
    if let Some(tags) = &patch.tags {
        assignments.push("tags!");
        values.push(Value::Text(
            serde_json::to_string(tags).expect("tags serialize"),
        ));
    }
    if let Some(enabled) = patch.enabled {
        assignments.push("enabled");
        values.push(Value::Bool(enabled));
    }
    if !assignments.is_empty() {
        clusters::update_cluster(db, org, id, &assignments, values).await?;
    }
    if patch.enabled == Some(false) {
        super::agents::revoke_certificates(db, org, id).await?;
    }
    clusters::cluster(db, org, id).await
}

pub(super) const ITEM_TYPES: [Ty; 7] = [
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Time,
    Ty::Time,
];

pub(super) fn item_columns(d: Dialect) -> String {
    format!(
        "uid, {}, namespace, name, {}, first_seen_at, updated_at",
        d.text("cluster_id"),
        d.text("data")
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
    })
}

/// The order of every inventory page.
const ITEM_ORDER: &str = "namespace, name, cluster_id, uid";

/// [`ITEM_ORDER`] for `kind`: cluster-scoped objects all have the empty namespace, and
/// leaving it out lets a page of one cluster's nodes or namespaces walk the
/// `(cluster_id, name)` live index in order instead of sorting them all.
pub(super) fn item_order(kind: ObjectKind) -> &'static str {
    if kind.is_namespaced() {
        ITEM_ORDER
    } else {
        "name, cluster_id, uid"
    }
}

/// A page of live inventory objects, by namespace, name and uid.
pub(crate) async fn inventory_page(
    db: &mut dyn Sql,
    org: OrgId,
    query: &InventoryQuery,
) -> Result<Paged<InventoryItem>, StoreError> {
    let d = db.dialect();
    let table = tables::table(query.kind);
    let filter = inventory_filter(d, org, query);
    let (rows, total) = filter
        .fetch_page(
            db,
            (table.name, &item_columns(d), item_order(query.kind)),
            query.page,
            &ITEM_TYPES,
            Total::AfterPage,
        )
        .await?;
    let items = rows.into_iter().map(item_from).collect::<Result<_, _>>()?;
    Ok(Paged { items, total })
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
    filter
}

/// One live object of the organization by uid.
pub(crate) async fn inventory_item(
    db: &mut dyn Sql,
    org: OrgId,
    kind: ObjectKind,
    uid: &str,
) -> Result<Option<InventoryItem>, StoreError> {
    let d = db.dialect();
    let sql = format!(
        "SELECT {} FROM {} WHERE uid = {} AND org_id = {} AND deleted_at IS NULL",
        item_columns(d),
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
}

/// Usage per hour in `[from, to)` of a cluster, or of one of its namespaces, or of one pod
/// of that namespace (`pod` is only read with `namespace`).
pub(crate) async fn usage_series(
    db: &mut dyn Sql,
    org: OrgId,
    cluster: ClusterId,
    namespace: Option<&str>,
    pod: Option<&str>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<UsageHour>, StoreError> {
    let d = db.dialect();
    let mut args = vec![
        Value::Id(*org.as_uuid()),
        Value::Id(*cluster.as_uuid()),
        Value::Time(from),
        Value::Time(to),
    ];
    let mut sql = format!(
        "SELECT hour_start, CAST(sum(cpu_millicore_seconds) AS BIGINT), \
         CAST(sum(memory_byte_seconds) AS BIGINT), max(memory_max_bytes) \
         FROM k8s_resource_metrics WHERE org_id = {} AND cluster_id = {} \
         AND hour_start >= {} AND hour_start < {}",
        d.ph(1),
        d.ph(2),
        d.ph(3),
        d.ph(4)
    );
    if let Some(namespace) = namespace {
        args.push(Value::Text(namespace.to_owned()));
        sql.push_str(&format!(" AND namespace = {}", d.ph(5)));
        if let Some(pod) = pod {
            args.push(Value::Text(pod.to_owned()));
            sql.push_str(&format!(" AND pod = {}", d.ph(6)));
        }
    }
    sql.push_str(" GROUP BY hour_start ORDER BY hour_start");
    db.fetch(&sql, args, &[Ty::Time, Ty::I64, Ty::I64, Ty::I64])
        .await?
        .into_iter()
        .map(|row| {
            let mut c = Cells::new(row);
            Ok(UsageHour {
                hour_start: c.time()?,
                cpu_millicore_seconds: c.i64()?.max(0) as u64,
                memory_byte_seconds: c.i64()?.max(0) as u64,
                memory_max_bytes: c.i64()?.max(0) as u64,
            })
        })
        .collect()
}

/// One cluster of the organization with its counts.
pub(crate) async fn cluster_summary(
    db: &mut dyn Sql,
    org: OrgId,
    id: ClusterId,
) -> Result<Option<ClusterSummary>, StoreError> {
    let d = db.dialect();
    let sql = format!(
        "SELECT {} FROM k8s_clusters WHERE org_id = {} AND id = {}",
        summary_select(db),
        d.ph(1),
        d.ph(2)
    );
    let args = vec![Value::Id(*org.as_uuid()), Value::Id(*id.as_uuid())];
    let rows = db.fetch(&sql, args, &summary_types()).await?;
    rows.into_iter().next().map(summary_from).transpose()
}
