//! The cluster list and detail as the API shows them (with their live counts), and edits.
//!
//! Every list sorts by a whitelisted column and then by a unique key, so pages are stable.
//! The counts are the ones ingest keeps on each cluster row (`ingest::cluster_counts`), so
//! a page costs the same whatever the clusters hold.

use kubeworkz_shared::ids::{ClusterId, OrgId};
use tracing::instrument;

use super::{
    CLUSTER_TYPES, Cluster, ClusterMode, Environment, cluster, cluster_from, cluster_select,
    revoke_certificates, update_columns,
};
use crate::store::SortValue;
use crate::store::sql::paging::{Filter, PageRequest, Paged, Total, escape_like};
use crate::store::sql::{Cells, Dialect, Sql, Ty, Value};
use crate::store::{Store, StoreError, in_tx, on_conn};

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
    /// Continue after this cluster (the last of the previous page); `page.offset` is then
    /// only where the page stands.
    pub after: Option<ClusterKey>,
    /// The list's last page (`page.limit` clusters; `after` and `page.offset` are ignored),
    /// read as the first page of the reverse order and turned around.
    pub from_end: bool,
    /// The slice.
    pub page: PageRequest,
}

/// Where a cluster sorts in the list: the key a page continues after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterKey {
    /// The sort column's value (`None`: never judged or never synced, which sort last).
    pub value: Option<SortValue>,
    /// Id.
    pub id: ClusterId,
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

    /// `summary`'s value of this column.
    pub fn value(self, summary: &ClusterSummary) -> Option<SortValue> {
        let c = &summary.cluster;
        match self {
            ClusterSort::Name => Some(SortValue::Text(c.name.clone())),
            ClusterSort::CreatedAt => Some(SortValue::Time(c.created_at)),
            ClusterSort::Environment => Some(SortValue::Text(c.environment.as_str().into())),
            ClusterSort::Health => c
                .health
                .as_ref()
                .map(|h| SortValue::Text(h.status.as_str().into())),
            ClusterSort::LastSync => c.last_sync_at.map(SortValue::Time),
        }
    }

    /// A cursor's value of this column; `None` if it is not one.
    pub fn value_from_text(self, text: &str) -> Option<SortValue> {
        match self {
            ClusterSort::CreatedAt | ClusterSort::LastSync => {
                chrono::DateTime::parse_from_rfc3339(text)
                    .ok()
                    .map(|t| SortValue::Time(t.with_timezone(&chrono::Utc)))
            }
            _ => Some(SortValue::Text(text.to_owned())),
        }
    }
}

impl ClusterSummary {
    /// This cluster's place in the list sorted by `sort`.
    pub fn key(&self, sort: ClusterSort) -> ClusterKey {
        ClusterKey {
            value: sort.value(self),
            id: self.cluster.id,
        }
    }
}

/// Starts `filter`'s page after `after` in the order of `sort` (NULLs last either way),
/// then id, in one direction: a row comparison, and for a nullable column the NULLs after
/// every value.
fn seek_after(filter: &mut Filter, sort: ClusterSort, after: &ClusterKey, descending: bool) {
    let column = sort.column();
    let op = if descending { "<" } else { ">" };
    let id = Value::Id(*after.id.as_uuid());
    match &after.value {
        Some(value) if !sort.nullable() => filter.seek(
            &format!("{column}, id"),
            vec![value.value(), id],
            descending,
        ),
        Some(value) => filter.seek_where(vec![value.value(), id], |p| {
            format!(
                "({column} IS NULL OR ({column}, id) {op} ({}, {}))",
                p[0], p[1]
            )
        }),
        None => filter.seek_where(vec![id], |p| {
            format!("({column} IS NULL AND id {op} {})", p[0])
        }),
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

/// The count columns of `k8s_clusters`, in [`counts_from`]'s order.
const COUNT_COLUMNS: &str =
    "node_count, node_ready_count, namespace_count, deployment_count, pod_count";

/// The decode types of [`COUNT_COLUMNS`].
const COUNT_TYPES: [Ty; 5] = [Ty::I64; 5];

/// Reads [`COUNT_COLUMNS`] from the next five cells.
fn counts_from(c: &mut Cells) -> Result<ClusterCounts, StoreError> {
    let mut next = || -> Result<u64, StoreError> { Ok(c.i64()?.max(0) as u64) };
    Ok(ClusterCounts {
        nodes: next()?,
        nodes_ready: next()?,
        namespaces: next()?,
        deployments: next()?,
        pods: next()?,
    })
}

/// The columns of a [`ClusterSummary`]: the cluster's, then its kept counts.
fn summary_select(db: &dyn Sql) -> String {
    format!("{}, {}", cluster_select(db), COUNT_COLUMNS)
}

/// The decode types of [`summary_select`]: the cluster's, then the counts'.
fn summary_types() -> Vec<Ty> {
    [&CLUSTER_TYPES[..], &COUNT_TYPES[..]].concat()
}

fn summary_from(mut row: Vec<Value>) -> Result<ClusterSummary, StoreError> {
    let counts = row.split_off(CLUSTER_TYPES.len());
    Ok(ClusterSummary {
        counts: counts_from(&mut Cells::new(counts))?,
        cluster: cluster_from(row)?,
    })
}

impl Store {
    /// A filtered, sorted page of clusters with live counts.
    #[instrument(skip_all)]
    pub async fn cluster_page(
        &self,
        org: OrgId,
        query: &ClusterQuery,
    ) -> Result<Paged<ClusterSummary>, StoreError> {
        let from_end = query.from_end;
        // The last page is the first of the reverse order: every column reversed, NULLs too.
        let query = &ClusterQuery {
            descending: query.descending != from_end,
            after: query.after.clone().filter(|_| !from_end),
            from_end: false,
            page: PageRequest {
                limit: query.page.limit,
                offset: if from_end { 0 } else { query.page.offset },
            },
            ..query.clone()
        };
        let paged: Paged<ClusterSummary> = on_conn!(self, |db| async {
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
                    Dialect::Sqlite => {
                        format!("EXISTS (SELECT 1 FROM json_each(tags) WHERE value = {p})")
                    }
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
            if let Some(after) = &query.after {
                seek_after(&mut filter, query.sort, after, query.descending);
            }
            let mut order = format!("{column} {direction}, id {direction}");
            if query.sort.nullable() {
                let nulls = if from_end { " DESC" } else { "" };
                order.insert_str(
                    0,
                    &format!("CASE WHEN {column} IS NULL THEN 1 ELSE 0 END{nulls}, "),
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
            Ok::<_, StoreError>(Paged { items, total })
        })?;
        Ok(paged.turned(from_end))
    }

    /// Edits a cluster's descriptive fields or enabled flag.
    #[instrument(skip_all)]
    pub async fn update_cluster(
        &self,
        org: OrgId,
        id: ClusterId,
        patch: &ClusterPatch,
    ) -> Result<Option<Cluster>, StoreError> {
        in_tx!(self, |db| async {
            let Some(current) = cluster(db, org, id).await? else {
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
                update_columns(db, org, id, &assignments, values).await?;
            }
            if patch.enabled == Some(false) {
                revoke_certificates(db, org, id).await?;
            }
            cluster(db, org, id).await
        })
    }

    /// One cluster with live counts.
    #[instrument(skip_all)]
    pub async fn cluster_summary(
        &self,
        org: OrgId,
        id: ClusterId,
    ) -> Result<Option<ClusterSummary>, StoreError> {
        on_conn!(self, |db| async {
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
        })
    }
}
