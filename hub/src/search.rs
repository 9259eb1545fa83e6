//! The search query language: `payments kind:pod status:CrashLoopBackOff -label:tier=batch`.
//!
//! A query is terms separated by spaces, and every term must hold (AND). A term is free text
//! (matched against names) or `key:value`; a leading `-` negates it; `"quoted phrases"` keep
//! their spaces, in free text and in values. `*` in a value is a wildcard. Parsing is pure:
//! the store turns a [`Query`] into SQL (`store::search`), and the API turns a
//! [`QueryError`] into a 400 that names the 1-based character position of the problem, so a
//! person can find it in what they typed.

/// What a term constrains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// Free text: the name contains it (exact and prefix matches rank first).
    Text,
    /// The object's kind (`kind:pod`).
    Kind,
    /// The cluster's name (`cluster:prod-*`).
    Cluster,
    /// The namespace (`ns:payments`, `namespace:payments`).
    Namespace,
    /// A label, `key=value` or `key` alone for "has the label".
    Label,
    /// The object's status as the UI shows it (`status:Pending`).
    Status,
    /// The health of the object's cluster (`health:degraded`).
    Health,
    /// The node a pod runs on, or a node's name (`node:ip-10-0-*`).
    Node,
    /// A container image (`image:nginx:1.25`).
    Image,
    /// The cluster's environment (`env:production`).
    Env,
    /// The cluster's detected provider (`provider:eks`).
    Provider,
}

impl Key {
    /// The key a term names, by its name or an alias.
    fn named(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "kind" | "type" => Key::Kind,
            "cluster" => Key::Cluster,
            "ns" | "namespace" => Key::Namespace,
            "label" | "l" => Key::Label,
            "status" | "state" => Key::Status,
            "health" => Key::Health,
            "node" => Key::Node,
            "image" => Key::Image,
            "env" | "environment" => Key::Env,
            "provider" => Key::Provider,
            _ => return None,
        })
    }
}

/// The kinds search covers, in the order facets list them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SearchKind {
    /// A registered cluster.
    Cluster,
    /// A node.
    Node,
    /// A namespace.
    Namespace,
    /// A Deployment.
    Deployment,
    /// A pod.
    Pod,
    /// A PersistentVolumeClaim.
    Pvc,
    /// A Helm release.
    HelmRelease,
}

impl SearchKind {
    /// Every kind.
    pub const ALL: [SearchKind; 7] = [
        SearchKind::Cluster,
        SearchKind::Node,
        SearchKind::Namespace,
        SearchKind::Deployment,
        SearchKind::Pod,
        SearchKind::Pvc,
        SearchKind::HelmRelease,
    ];

    /// The stable name the API uses (`helm_release`).
    pub fn as_str(self) -> &'static str {
        match self {
            SearchKind::Cluster => "cluster",
            SearchKind::Node => "node",
            SearchKind::Namespace => "namespace",
            SearchKind::Deployment => "deployment",
            SearchKind::Pod => "pod",
            SearchKind::Pvc => "pvc",
            SearchKind::HelmRelease => "helm_release",
        }
    }

    /// The kind a `kind:` value names: its name, plural, or the short names `kubectl` knows.
    pub fn named(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "cluster" | "clusters" => SearchKind::Cluster,
            "node" | "nodes" | "no" => SearchKind::Node,
            "namespace" | "namespaces" | "ns" => SearchKind::Namespace,
            "deployment" | "deployments" | "deploy" => SearchKind::Deployment,
            "pod" | "pods" | "po" => SearchKind::Pod,
            "pvc" | "pvcs" | "persistentvolumeclaim" | "persistentvolumeclaims" => SearchKind::Pvc,
            "helm_release" | "helm_releases" | "helmrelease" | "helmreleases" | "helm"
            | "release" | "releases" => SearchKind::HelmRelease,
            _ => return None,
        })
    }
}

/// One term of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// `-` before it: the term must not hold.
    pub negated: bool,
    /// What it constrains.
    pub key: Key,
    /// The value (unquoted); for [`Key::Kind`], a valid kind name.
    pub value: String,
    /// Where the term starts in the query, 1-based, in characters.
    pub position: usize,
}

impl Term {
    /// The kind a `kind:` term names (parsing checked it).
    pub fn kind(&self) -> Option<SearchKind> {
        (self.key == Key::Kind)
            .then(|| SearchKind::named(&self.value))
            .flatten()
    }

    /// Whether the value holds a `*` wildcard.
    pub fn is_pattern(&self) -> bool {
        self.value.contains('*')
    }
}

/// A parsed query: every term must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// The terms, in the order written.
    pub terms: Vec<Term>,
}

impl Query {
    /// The first free-text term that is not negated: what results are ranked by.
    pub fn ranking_text(&self) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| t.key == Key::Text && !t.negated)
            .map(|t| t.value.as_str())
    }

    /// Whether objects of `kind` can match: no `kind:` term excludes it.
    pub fn admits(&self, kind: SearchKind) -> bool {
        self.terms
            .iter()
            .filter_map(|t| t.kind().map(|k| (t.negated, k)))
            .all(|(negated, k)| (k == kind) != negated)
    }
}

/// A query that cannot be parsed, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at position {position}")]
pub struct QueryError {
    /// What is wrong, in words.
    pub message: String,
    /// Where, 1-based, in characters.
    pub position: usize,
}

/// The longest query accepted, in characters: a search box, not a document.
pub const MAX_QUERY_CHARS: usize = 1_000;

/// The most terms in one query: each adds conditions to every kind's statement.
pub const MAX_TERMS: usize = 20;

/// Parses `text`; an empty query is valid and matches everything.
pub fn parse(text: &str) -> Result<Query, QueryError> {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() > MAX_QUERY_CHARS {
        return Err(error(
            format!("the query is longer than {MAX_QUERY_CHARS} characters"),
            MAX_QUERY_CHARS + 1,
        ));
    }
    let mut terms = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        let (term, next) = term(&chars, i)?;
        if terms.len() == MAX_TERMS {
            return Err(error(
                format!("a query has at most {MAX_TERMS} terms"),
                i + 1,
            ));
        }
        terms.push(term);
        i = next;
    }
    Ok(Query { terms })
}

fn error(message: impl Into<String>, position: usize) -> QueryError {
    QueryError {
        message: message.into(),
        position,
    }
}

/// The term starting at `start` (not whitespace), and where the next one may start.
fn term(chars: &[char], start: usize) -> Result<(Term, usize), QueryError> {
    let mut i = start;
    let negated = chars[i] == '-';
    if negated {
        i += 1;
        if i == chars.len() || chars[i].is_whitespace() {
            return Err(error("a '-' must be followed by a term", start + 1));
        }
    }
    let (key, value_start) = match key_end(chars, i) {
        Some(colon) => {
            let name: String = chars[i..colon].iter().collect();
            let key = Key::named(&name).ok_or_else(|| {
                error(
                    format!(
                        "unknown key {name:?} (known: kind, cluster, ns, label, status, \
                         health, node, image, env, provider)"
                    ),
                    i + 1,
                )
            })?;
            (key, colon + 1)
        }
        None => (Key::Text, i),
    };
    let (value, next) = value(chars, value_start)?;
    if value.is_empty() {
        let message = if key == Key::Text {
            "an empty phrase matches nothing"
        } else {
            "a key needs a value after ':'"
        };
        return Err(error(message, value_start + 1));
    }
    if key == Key::Kind && SearchKind::named(&value).is_none() {
        return Err(error(
            format!(
                "unknown kind {value:?} (known: cluster, node, namespace, deployment, pod, \
                 pvc, helm_release)"
            ),
            value_start + 1,
        ));
    }
    if key == Key::Label && value.starts_with('=') {
        return Err(error("a label needs a key before '='", value_start + 1));
    }
    let term = Term {
        negated,
        key,
        value,
        position: start + 1,
    };
    Ok((term, next))
}

/// The position of the `:` that ends a key at `start`, if the term has one: a key is
/// letters and `_` directly followed by `:` (so `nginx:1.25` alone is free text only when
/// `nginx` is no key, and reported as an unknown key otherwise: a typo must not silently
/// search names).
fn key_end(chars: &[char], start: usize) -> Option<usize> {
    let mut i = start;
    while i < chars.len() && (chars[i].is_ascii_alphabetic() || chars[i] == '_') {
        i += 1;
    }
    (i > start && i < chars.len() && chars[i] == ':').then_some(i)
}

/// The value at `start`: up to the next whitespace, with `"…"` parts taken whole (their
/// quotes removed), and where it ends.
fn value(chars: &[char], start: usize) -> Result<(String, usize), QueryError> {
    let mut out = String::new();
    let mut i = start;
    while i < chars.len() && !chars[i].is_whitespace() {
        if chars[i] == '"' {
            let open = i;
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                out.push(chars[i]);
                i += 1;
            }
            if i == chars.len() {
                return Err(error("a quote is not closed", open + 1));
            }
            i += 1;
        } else {
            if chars[i].is_control() {
                return Err(error("control characters are not allowed", i + 1));
            }
            out.push(chars[i]);
            i += 1;
        }
    }
    Ok((out, i))
}

#[cfg(test)]
mod tests;
