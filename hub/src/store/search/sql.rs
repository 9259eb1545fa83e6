//! The SQL of a search: one `SELECT` per kind the query admits, joined with `UNION ALL` into
//! the `hits` of a `WITH`, each scoped by the organization and reading only typed columns
//! (no JSON is parsed per row).
//!
//! Every value of the query is bound once and its placeholder reused by every kind's
//! conditions. Matching is case-insensitive on both backends (SQLite's `LIKE` is, and
//! PostgreSQL's `ILIKE`), and `*` in a value becomes `%`; values without `*` match whole,
//! except free text and images, which match anywhere in the name or image reference.

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
    /// The `search_labels` column, for kinds that carry labels.
    labels: Option<&'static str>,
    /// The `search_images` column, for kinds that carry images.
    images: Option<&'static str>,
    /// What `node:` compares: a pod's node, a node's own name.
    node: Option<&'static str>,
    /// What `ns:` compares: the namespace of namespaced kinds, a namespace's own name.
    in_namespace: Option<&'static str>,
    /// An FTS5 trigram table of the kind's names keyed by rowid (SQLite; PostgreSQL's
    /// trigram index serves the `ILIKE` itself).
    name_index: Option<&'static str>,
}

const INVENTORY_WHERE: &str = "t.org_id = {org} AND t.deleted_at IS NULL";

fn source(kind: SearchKind) -> Source {
    let object = |table: &str, status| Source {
        from: format!("{table} t JOIN k8s_clusters c ON c.id = t.cluster_id"),
        id: "t.uid",
        name: "t.name",
        namespace: "t.namespace",
        status,
        labels: None,
        images: None,
        node: None,
        in_namespace: Some("t.namespace"),
        name_index: None,
    };
    match kind {
        SearchKind::Cluster => Source {
            from: "k8s_clusters c".to_owned(),
            id: "",
            name: "c.name",
            namespace: "''",
            status: "coalesce(c.health_status, 'unknown')",
            labels: None,
            images: None,
            node: None,
            in_namespace: None,
            name_index: None,
        },
        SearchKind::Node => Source {
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
            in_namespace: Some("t.name"),
            ..object("k8s_namespaces", "t.phase")
        },
        SearchKind::Deployment => Source {
            labels: Some("t.search_labels"),
            images: Some("t.search_images"),
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
    /// The placeholder of the pattern for the pod name index (`k8s_pods_names`, SQLite),
    /// a `LIKE` without `ESCAPE` (which FTS5 would not take to its index): it matches a
    /// superset, and the escaped pattern on the row decides.
    name_index: Option<String>,
}

/// `None` for `kind:` terms, which choose the selects instead of adding conditions.
/// `name_index`: bind the pattern for the pod name index (a positive free-text term on
/// SQLite, when pods are searched).
fn bind_term<'a>(b: &mut Builder, term: &'a Term, name_index: bool) -> Option<Bound<'a>> {
    if term.key == Key::Status && !term.is_pattern() {
        let phs: Vec<String> = status_spellings(&term.value)
            .into_iter()
            .map(|s| b.bind(Value::Text(s)))
            .collect();
        return Some(Bound {
            term,
            ph: format!("({})", phs.join(", ")),
            name_index: None,
        });
    }
    let value = match term.key {
        Key::Kind => return None,
        Key::Text | Key::Image => format!("%{}%", pattern(&term.value)),
        Key::Label => match term.value.split_once('=') {
            Some((key, value)) => format!("%\n{}={}\n%", pattern(key), pattern(value)),
            None => format!("%\n{}=%", pattern(&term.value)),
        },
        _ => pattern(&term.value),
    };
    let ph = b.bind(Value::Text(value));
    let name_index = (name_index && term.key == Key::Text && !term.negated)
        .then(|| b.bind(Value::Text(format!("%{}%", term.value.replace('*', "%")))));
    Some(Bound {
        term,
        ph,
        name_index,
    })
}

/// The condition `bound` puts on rows of `source` (never NULL, so `NOT` is its opposite).
fn condition(b: &Builder, source: &Source, name: &str, bound: &Bound<'_>) -> String {
    let like = |column: &str| format!("{column} {} {} ESCAPE '\\'", b.like(), bound.ph);
    let cond = match bound.term.key {
        Key::Kind => None,
        Key::Text => Some(match (&bound.name_index, source.name_index) {
            (Some(ph), Some(index)) => format!(
                "{} AND t.rowid IN (SELECT rowid FROM {index} WHERE name LIKE {ph})",
                like(name)
            ),
            _ => like(name),
        }),
        Key::Cluster => Some(like("c.name")),
        Key::Namespace => source.in_namespace.map(like),
        Key::Label => source.labels.map(like),
        Key::Status if !bound.term.is_pattern() => {
            Some(format!("{} IN {}", source.status, bound.ph))
        }
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

/// The columns of `hits`.
pub(super) const HIT_COLUMNS: &str =
    "kind, id, cluster_id, cluster_name, namespace, name, status, labels, rank";

/// `hits (…) AS (SELECT … UNION ALL SELECT …)` for `query` in organization `org`, or
/// `None` when its `kind:` terms admit no kind.
pub(super) fn hits(b: &mut Builder, org: Value, query: &Query) -> Option<String> {
    let kinds: Vec<SearchKind> = SearchKind::ALL
        .into_iter()
        .filter(|k| query.admits(*k))
        .collect();
    if kinds.is_empty() {
        return None;
    }
    let org = b.bind(org);
    let name_index = b.d == Dialect::Sqlite && kinds.contains(&SearchKind::Pod);
    let bound: Vec<Bound<'_>> = query
        .terms
        .iter()
        .filter_map(|t| bind_term(b, t, name_index))
        .collect();
    let rank = query.ranking_text().map(|text| {
        let exact = b.bind(Value::Text(text.to_lowercase()));
        let prefix = b.bind(Value::Text(format!("{}%", pattern(text))));
        (exact, prefix)
    });
    let selects: Vec<String> = kinds
        .into_iter()
        .map(|kind| {
            let mut source = source(kind);
            let by_name =
                source.name_index.is_some() && bound.iter().any(|t| t.name_index.is_some());
            if by_name {
                // The name index yields a few rowids, and SQLite must start from them: not
                // from the clusters (a CROSS JOIN keeps the pods outer), nor from the
                // organization's pods in the phase index (a `+` keeps that column from
                // choosing an index).
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
                        .replace("t.org_id", if by_name { "+t.org_id" } else { "t.org_id" })
                        .replace("{org}", &org),
                ),
            };
            let mut conditions = vec![filter];
            conditions.extend(bound.iter().map(|t| condition(b, &source, name, t)));
            let rank = match &rank {
                Some((exact, prefix)) => format!(
                    "CASE WHEN lower({name}) = {exact} THEN 0 \
                     WHEN {name} {} {prefix} ESCAPE '\\' THEN 1 ELSE 2 END",
                    b.like()
                ),
                None => "0".to_owned(),
            };
            format!(
                "SELECT '{kind}', {id}, {cluster}, c.name, {namespace}, {name}, {status}, \
                 {labels}, {rank} FROM {from} WHERE {conditions}",
                kind = kind.as_str(),
                namespace = source.namespace,
                status = source.status,
                labels = source.labels.unwrap_or("''"),
                from = &source.from,
                conditions = conditions.join(" AND "),
            )
        })
        .collect();
    Some(format!(
        "hits ({HIT_COLUMNS}) AS ({})",
        selects.join(" UNION ALL ")
    ))
}

#[cfg(test)]
mod tests;
