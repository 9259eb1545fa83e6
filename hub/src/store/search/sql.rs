//! The SQL of a search: one `SELECT` per kind the query admits, joined with `UNION ALL` into
//! the `hits` of a `WITH`, each scoped by the organization and reading only typed columns
//! (no JSON is parsed per row).
//!
//! Every value of the query is bound once and its placeholder reused by every kind's
//! conditions. Matching is case-insensitive on both backends (SQLite's `LIKE` is, and
//! PostgreSQL's `ILIKE`), and `*` in a value becomes `%`; values without `*` match whole,
//! except free text and images, which match anywhere in the name or image reference.

use super::SearchKey;
use crate::search::{Key, Query, SearchKind, Term};
use crate::store::sql::{Dialect, Value};

/// Where one kind's rows come from and how its search columns read; `t` is the kind's row,
/// `c` its cluster (for [`SearchKind::Cluster`] both are the cluster row).
struct Source {
    /// What follows `FROM`: the row `t` and its cluster `c`.
    from: String,
    /// The object's id, as text.
    id: &'static str,
    /// The name people know it by (a Helm release's, not its Secret's).
    name: &'static str,
    namespace: &'static str,
    /// The status as the UI shows it (a pod's as kubectl prints it, a node's readiness…).
    status: &'static str,
    /// Every value `status` can take, for kinds whose status is computed from a few: a
    /// status term naming none of them admits no row, and the kind is not read at all.
    statuses: Option<&'static [&'static str]>,
    /// The `search_labels` column, for kinds that carry labels.
    labels: Option<&'static str>,
    /// The `search_images` column, for kinds that carry images.
    images: Option<&'static str>,
    /// What `node:` compares: a pod's node, a node's own name.
    node: Option<&'static str>,
    /// What `ns:` compares: the namespace of namespaced kinds, a namespace's own name.
    in_namespace: Option<&'static str>,
    /// An FTS5 trigram table of the kind's names keyed by rowid, for the kinds with many
    /// rows (SQLite; PostgreSQL's trigram indexes serve the `ILIKE` itself).
    name_index: Option<&'static str>,
    /// The same for `search_labels` (its column has the same name).
    labels_index: Option<&'static str>,
}

const INVENTORY_WHERE: &str = "t.org_id = {org} AND t.deleted_at IS NULL";

fn source(kind: SearchKind) -> Source {
    let object = |table: &str, status| Source {
        from: format!("{table} t JOIN k8s_clusters c ON c.id = t.cluster_id"),
        id: "t.uid",
        name: "t.name",
        namespace: "t.namespace",
        status,
        statuses: None,
        labels: None,
        images: None,
        node: None,
        in_namespace: Some("t.namespace"),
        name_index: None,
        labels_index: None,
    };
    match kind {
        SearchKind::Cluster => Source {
            from: "k8s_clusters c".to_owned(),
            id: "",
            name: "c.name",
            namespace: "''",
            status: "coalesce(c.health_status, 'unknown')",
            statuses: None,
            labels: None,
            images: None,
            node: None,
            in_namespace: None,
            name_index: None,
            labels_index: None,
        },
        SearchKind::Node => Source {
            statuses: Some(&["Ready", "NotReady"]),
            labels: Some("t.search_labels"),
            node: Some("t.name"),
            in_namespace: None,
            ..object(
                "k8s_nodes",
                "CASE WHEN t.ready THEN 'Ready' ELSE 'NotReady' END",
            )
        },
        SearchKind::Namespace => Source {
            labels: Some("t.search_labels"),
            name_index: Some("k8s_namespaces_names"),
            labels_index: Some("k8s_namespaces_labels"),
            in_namespace: Some("t.name"),
            ..object("k8s_namespaces", "t.phase")
        },
        SearchKind::Deployment => Source {
            statuses: Some(&["Available", "Unavailable"]),
            labels: Some("t.search_labels"),
            images: Some("t.search_images"),
            name_index: Some("k8s_deployments_names"),
            labels_index: Some("k8s_deployments_labels"),
            ..object(
                "k8s_deployments",
                "CASE WHEN t.replicas_available >= t.replicas_desired THEN 'Available' \
                 ELSE 'Unavailable' END",
            )
        },
        SearchKind::Pod => Source {
            labels: Some("t.search_labels"),
            images: Some("t.search_images"),
            node: Some("coalesce(t.node_name, '')"),
            name_index: Some("k8s_pods_names"),
            labels_index: Some("k8s_pods_labels"),
            ..object("k8s_pods", "t.status")
        },
        SearchKind::Pvc => object("k8s_pvcs", "t.phase"),
        SearchKind::HelmRelease => Source {
            name: "t.release_name",
            ..object("k8s_helm_releases", "t.status")
        },
    }
}

/// The statement under construction: its bound values, in placeholder order.
pub(super) struct Builder {
    d: Dialect,
    pub args: Vec<Value>,
}

impl Builder {
    pub(super) fn new(d: Dialect) -> Self {
        Self {
            d,
            args: Vec::new(),
        }
    }

    /// Binds `value`; returns its placeholder.
    pub(super) fn bind(&mut self, value: Value) -> String {
        self.args.push(value);
        self.d.ph(self.args.len())
    }

    /// The case-insensitive `LIKE` of this backend.
    fn like(&self) -> &'static str {
        match self.d {
            Dialect::Sqlite => "LIKE",
            Dialect::Postgres => "ILIKE",
        }
    }

    /// `{column}` as text (UUID columns are native on PostgreSQL).
    pub(super) fn text(&self, column: &str) -> String {
        self.d.text(column)
    }
}

/// `text` with `LIKE`'s own characters escaped (by `\`) and `*` turned into `%`.
fn pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        match c {
            '\\' | '%' | '_' => {
                out.push('\\');
                out.push(c);
            }
            '*' => out.push('%'),
            c => out.push(c),
        }
    }
    out
}

/// Statuses as the store spells them (`Table` columns and [`source`]'s expressions, and the
/// container reasons kubelets report that a pod's status takes): `status:pending` is compared
/// by equality with `Pending`, which an index serves, where a case-insensitive `LIKE` would
/// read every row.
const STATUSES: [&str; 43] = [
    "Running",
    "Pending",
    "Succeeded",
    "Failed",
    "Unknown",
    "Ready",
    "NotReady",
    "Available",
    "Unavailable",
    "Active",
    "Terminating",
    "Bound",
    "Lost",
    "Deployed",
    "Uninstalled",
    "Superseded",
    "Uninstalling",
    "PendingInstall",
    "PendingUpgrade",
    "PendingRollback",
    "healthy",
    "degraded",
    "critical",
    "unknown",
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "ErrImageNeverPull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
    "ContainerCreating",
    "PodInitializing",
    "OOMKilled",
    "Completed",
    "Error",
    "ContainerCannotRun",
    "DeadlineExceeded",
    "Evicted",
    "NodeLost",
    "NodeAffinity",
    "SchedulingGated",
];

/// The spellings a status without `*` may have: the known ones it equals ignoring case, or
/// itself.
fn status_spellings(value: &str) -> Vec<String> {
    let known: Vec<String> = STATUSES
        .iter()
        .filter(|s| s.eq_ignore_ascii_case(value))
        .map(|s| (*s).to_owned())
        .collect();
    if known.is_empty() {
        vec![value.to_owned()]
    } else {
        known
    }
}

/// A term's value bound once, as what each key compares with.
struct Bound<'a> {
    term: &'a Term,
    /// The placeholder of the `LIKE` pattern, or the `IN (…)` list of a status.
    ph: String,
    /// A status compared by equality: the spellings in the `IN (…)` list.
    spellings: Vec<String>,
    /// The placeholder of the pattern for the FTS5 indexes ([`Source::name_index`] for
    /// free text, [`Source::labels_index`] for labels; SQLite), a `LIKE` without `ESCAPE`
    /// (which FTS5 would not take to its index): it matches a superset, and the escaped
    /// pattern on the row decides.
    index: Option<String>,
}

/// `None` for `kind:` terms, which choose the selects instead of adding conditions.
/// `fts`: bind the pattern for the FTS5 indexes (SQLite) when the term can use them.
fn bind_term<'a>(b: &mut Builder, term: &'a Term, fts: bool) -> Option<Bound<'a>> {
    if term.key == Key::Status && !term.is_pattern() {
        let spellings = status_spellings(&term.value);
        // A known status is written into the statement, not bound: PostgreSQL's generic plan
        // of a prepared statement guesses a third of the pods for `status = $2` and reads the
        // first 1,001 of a facet scan through any index, filtering a hundred times more rows
        // than the status index would give (STATUSES holds letters only).
        let phs: Vec<String> = spellings
            .iter()
            .map(|s| match STATUSES.contains(&s.as_str()) {
                true => format!("'{s}'"),
                false => b.bind(Value::Text(s.clone())),
            })
            .collect();
        return Some(Bound {
            term,
            ph: format!("({})", phs.join(", ")),
            spellings,
            index: None,
        });
    }
    let value = |pattern: fn(&str) -> String| match term.key {
        Key::Text | Key::Image => format!("%{}%", pattern(&term.value)),
        Key::Label => match term.value.split_once('=') {
            Some((key, value)) => format!("%\n{}={}\n%", pattern(key), pattern(value)),
            None => format!("%\n{}=%", pattern(&term.value)),
        },
        _ => pattern(&term.value),
    };
    if term.key == Key::Kind {
        return None;
    }
    let ph = b.bind(Value::Text(value(pattern)));
    let index =
        (fts && uses_fts(term)).then(|| b.bind(Value::Text(value(|v| v.replace('*', "%")))));
    Some(Bound {
        term,
        ph,
        spellings: Vec::new(),
        index,
    })
}

/// Whether a trigram index narrows `term`: a positive free-text or label term with three
/// characters in a row that are no wildcard (FTS5 reads every row for less). A label's
/// pattern always has them (`\nkey=`).
fn uses_fts(term: &Term) -> bool {
    let literal_run = term
        .value
        .split(['*', '%', '_'])
        .any(|run| run.chars().count() >= 3);
    !term.negated && (term.key == Key::Label || (term.key == Key::Text && literal_run))
}

/// `condition` narrowed first to the rowids an FTS5 `index` of `column` yields for the
/// bound term, when both exist.
fn indexed(condition: String, index: Option<&str>, column: &str, bound: &Bound<'_>) -> String {
    match (&bound.index, index) {
        (Some(ph), Some(index)) => format!(
            "{condition} AND t.rowid IN (SELECT rowid FROM {index} WHERE {column} LIKE {ph})"
        ),
        _ => condition,
    }
}

/// The condition `bound` puts on rows of `source` (never NULL, so `NOT` is its opposite).
fn condition(b: &Builder, source: &Source, name: &str, bound: &Bound<'_>) -> String {
    let like = |column: &str| format!("{column} {} {} ESCAPE '\\'", b.like(), bound.ph);
    let cond = match bound.term.key {
        Key::Kind => None,
        Key::Text => Some(indexed(like(name), source.name_index, "name", bound)),
        Key::Cluster => Some(like("c.name")),
        Key::Namespace => source.in_namespace.map(like),
        Key::Label => source
            .labels
            .map(|labels| indexed(like(labels), source.labels_index, "search_labels", bound)),
        Key::Status if !bound.term.is_pattern() => match source.statuses {
            Some(known) if !bound.spellings.iter().any(|s| known.contains(&s.as_str())) => None,
            _ => Some(format!("{} IN {}", source.status, bound.ph)),
        },
        Key::Status => Some(like(source.status)),
        Key::Health => Some(like("coalesce(c.health_status, 'unknown')")),
        Key::Node => source.node.map(like),
        Key::Image => source.images.map(like),
        Key::Env => Some(like("c.environment")),
        Key::Provider => Some(like("coalesce(c.provider, '')")),
    };
    let cond = cond.unwrap_or_else(|| "1 = 0".to_owned());
    if bound.term.negated {
        format!("NOT ({cond})")
    } else {
        cond
    }
}

/// The bound values of the key a page continues after.
struct Seek {
    rank: String,
    name: String,
    kind: String,
    cluster_id: String,
    id: String,
}

fn seek_values(b: &mut Builder, key: &SearchKey) -> Seek {
    Seek {
        rank: b.bind(Value::I64(key.rank)),
        name: b.bind(Value::Text(key.name.clone())),
        kind: b.bind(Value::Text(key.kind.as_str().to_owned())),
        cluster_id: b.bind(Value::Text(key.cluster_id.clone())),
        id: b.bind(Value::Text(key.id.clone())),
    }
}

impl Seek {
    /// The rows of one kind's select that sort after the key. Without a rank the name
    /// alone bounds the index range the select reads in order; the whole key decides.
    fn condition(
        &self,
        ranked: Option<&str>,
        name: &str,
        kind: &str,
        cluster: &str,
        id: &str,
    ) -> String {
        let Seek {
            rank: r,
            name: n,
            kind: k,
            cluster_id: c,
            id: i,
        } = self;
        match ranked {
            Some(rank) => {
                format!("({rank}, {name}, '{kind}', {cluster}, {id}) > ({r}, {n}, {k}, {c}, {i})")
            }
            None => format!(
                "{name} >= {n} AND ({name}, '{kind}', {cluster}, {id}) > ({n}, {k}, {c}, {i})"
            ),
        }
    }
}

/// The columns of `hits`.
pub(super) const HIT_COLUMNS: &str =
    "kind, id, cluster_id, cluster_name, namespace, name, status, labels, rank";

/// How much of each kind's match a statement reads.
pub(super) enum Reach<'a> {
    /// All of it (the facets cap the union as a whole).
    All,
    /// The first `limit` in the answer's order, after `after`: each kind's select is ordered
    /// and limited on its own, so an index in name order (a pod status's) yields a page
    /// without sorting every match, and the union merges a few rows per kind.
    Page {
        after: Option<&'a SearchKey>,
        limit: u64,
    },
}

/// `hits (…) AS (SELECT … UNION ALL SELECT …)` for `query` in organization `org`, or
/// `None` when its `kind:` terms admit no kind.
pub(super) fn hits(b: &mut Builder, org: Value, query: &Query, reach: Reach<'_>) -> Option<String> {
    let kinds: Vec<SearchKind> = SearchKind::ALL
        .into_iter()
        .filter(|k| query.admits(*k))
        .collect();
    if kinds.is_empty() {
        return None;
    }
    let org = b.bind(org);
    let fts = b.d == Dialect::Sqlite;
    let bound: Vec<Bound<'_>> = query
        .terms
        .iter()
        .filter_map(|t| bind_term(b, t, fts))
        .collect();
    let rank = query.ranking_text().map(|text| {
        let exact = b.bind(Value::Text(text.to_lowercase()));
        let prefix = b.bind(Value::Text(format!("{}%", pattern(text))));
        (exact, prefix)
    });
    let seek = match &reach {
        Reach::Page {
            after: Some(key), ..
        } => Some(seek_values(b, key)),
        _ => None,
    };
    let selects: Vec<String> = kinds
        .into_iter()
        .enumerate()
        .map(|(arm, kind)| {
            let mut source = source(kind);
            let by_index = bound.iter().any(|t| {
                t.index.is_some()
                    && match t.term.key {
                        Key::Text => source.name_index.is_some(),
                        _ => source.labels_index.is_some(),
                    }
            });
            if by_index {
                // The name or label index yields a few rowids, and SQLite must start from
                // them: not from the clusters (a CROSS JOIN keeps the kind's rows outer), nor
                // from the organization's rows in another index (a `+` keeps that column
                // from choosing one).
                source.from = source.from.replacen(" JOIN ", " CROSS JOIN ", 1);
            }
            let name = source.name;
            let (id, cluster, filter) = match kind {
                SearchKind::Cluster => {
                    (b.text("c.id"), b.text("c.id"), format!("c.org_id = {org}"))
                }
                _ => (
                    source.id.to_owned(),
                    b.text("t.cluster_id"),
                    INVENTORY_WHERE
                        .replace("t.org_id", if by_index { "+t.org_id" } else { "t.org_id" })
                        .replace("{org}", &org),
                ),
            };
            let mut conditions = vec![filter];
            conditions.extend(bound.iter().map(|t| condition(b, &source, name, t)));
            let ranked = rank.as_ref().map(|(exact, prefix)| {
                format!(
                    "CASE WHEN lower({name}) = {exact} THEN 0 \
                     WHEN {name} {} {prefix} ESCAPE '\\' THEN 1 ELSE 2 END",
                    b.like()
                )
            });
            let kind = kind.as_str();
            if let Some(seek) = &seek {
                conditions.push(seek.condition(ranked.as_deref(), name, kind, &cluster, &id));
            }
            let select = format!(
                "SELECT '{kind}' AS kind, {id} AS id, {cluster} AS cluster_id, \
                 c.name AS cluster_name, {namespace} AS namespace, {name} AS name, \
                 {status} AS status, {labels} AS labels, {rank} AS rank \
                 FROM {from} WHERE {conditions}",
                namespace = source.namespace,
                status = source.status,
                labels = source.labels.unwrap_or("''"),
                rank = ranked.as_deref().unwrap_or("0"),
                from = &source.from,
                conditions = conditions.join(" AND "),
            );
            match reach {
                Reach::All => select,
                // Without free text every rank is 0, and leaving it out of the order lets
                // an index in name order serve it.
                Reach::Page { limit, .. } => format!(
                    "SELECT * FROM ({select} ORDER BY {}name, cluster_id, id LIMIT {limit}) k{arm}",
                    if ranked.is_some() { "rank, " } else { "" }
                ),
            }
        })
        .collect();
    Some(format!(
        "hits ({HIT_COLUMNS}) AS ({})",
        selects.join(" UNION ALL ")
    ))
}

#[cfg(test)]
mod tests;
