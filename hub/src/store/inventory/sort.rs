//! The columns an inventory list sorts by, ahead of its unique key, and the typed value of
//! that column a keyset page continues after.
//!
//! A sorted page's order is the sort column, then name, namespace, cluster and uid, every
//! column in one direction, so a row comparison with the last row's values starts the next
//! page (ties on the sort column, such as the many pods that never restarted, are walked by
//! name and uid). Name comes before namespace so that, in a list of one namespace, the
//! comparison's leading columns are the `(cluster_id, namespace, <column>, name)` index's.

use chrono::{DateTime, Utc};
use kubeworkz_shared::change::ObjectKind;

use crate::store::StoreError;
use crate::store::sql::{Cells, Ty, Value};

/// What an inventory list sorts by. Every kind sorts by name; the others by the kinds
/// [`InventorySort::of_kind`] lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum InventorySort {
    /// Namespace, then name (for cluster-scoped kinds, name).
    #[default]
    Name,
    /// Age: youngest first ascending. A pod's creation time; for other kinds, when the hub
    /// first saw the object (their creation time is not a column).
    Age,
    /// A pod's node (unscheduled pods first).
    Node,
    /// A pod's container restarts, summed.
    Restarts,
    /// A pod's or claim's phase.
    Phase,
    /// A deployment's, StatefulSet's or DaemonSet's ready replicas (pods).
    Ready,
    /// A deployment's, StatefulSet's or DaemonSet's desired replicas (pods).
    Replicas,
    /// A pod's, Job's or Helm release's status.
    Status,
    /// A Helm release's chart.
    Chart,
    /// A claim's bound capacity (an unbound claim's is 0).
    Capacity,
    /// A claim's storage class (a claim of the default class, which names none, first).
    StorageClass,
    /// A namespace's live pods, as ingest keeps them in `k8s_namespace_counts`.
    Pods,
}

/// A namespace's live pod count, looked up by primary key in the counts ingest keeps (a
/// namespace nothing ever ran in has no row: 0). A page reads it for every namespace of the
/// cluster and sorts them, so it costs what the cluster's size does, unlike the other sorts:
/// `docs/benchmarks.md` ("Namespaces by pod count") measures it against an index of the
/// counts, which ingest would rewrite on every pod change.
const NAMESPACE_PODS: &str = "coalesce((SELECT c.pods FROM k8s_namespace_counts c \
    WHERE c.cluster_id = k8s_namespaces.cluster_id AND c.namespace = k8s_namespaces.name), 0)";

/// The type of a sort column's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Text,
    Int,
    Time,
}

/// A row's value of its list's sort column: where a keyset page continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortValue {
    /// A text column.
    Text(String),
    /// An integer column.
    Int(i64),
    /// A timestamp.
    Time(DateTime<Utc>),
}

impl SortValue {
    /// Its wire form, for a cursor.
    pub fn to_text(&self) -> String {
        match self {
            SortValue::Text(t) => t.clone(),
            SortValue::Int(n) => n.to_string(),
            SortValue::Time(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        }
    }

    /// The bound value, for a seek.
    pub(crate) fn value(&self) -> Value {
        match self {
            SortValue::Text(t) => Value::Text(t.clone()),
            SortValue::Int(n) => Value::I64(*n),
            SortValue::Time(t) => Value::Time(*t),
        }
    }
}

impl InventorySort {
    /// Every sort, for parsing.
    const ALL: [InventorySort; 12] = [
        InventorySort::Name,
        InventorySort::Age,
        InventorySort::Node,
        InventorySort::Restarts,
        InventorySort::Phase,
        InventorySort::Ready,
        InventorySort::Replicas,
        InventorySort::Status,
        InventorySort::Chart,
        InventorySort::Capacity,
        InventorySort::StorageClass,
        InventorySort::Pods,
    ];

    /// Its name in the API's `sort` parameter.
    pub fn key(self) -> &'static str {
        match self {
            InventorySort::Name => "name",
            InventorySort::Age => "age",
            InventorySort::Node => "node",
            InventorySort::Restarts => "restarts",
            InventorySort::Phase => "phase",
            InventorySort::Ready => "ready",
            InventorySort::Replicas => "replicas",
            InventorySort::Status => "status",
            InventorySort::Chart => "chart",
            InventorySort::Capacity => "capacity",
            InventorySort::StorageClass => "storage_class",
            InventorySort::Pods => "pods",
        }
    }

    /// The sorts a list of `kind` offers, name first.
    pub fn of_kind(kind: ObjectKind) -> Vec<InventorySort> {
        Self::ALL
            .into_iter()
            .filter(|s| s.column(kind).is_some() || *s == InventorySort::Name)
            .collect()
    }

    /// The sort named `key` if lists of `kind` offer it; `namespace` names the default
    /// order of namespaced kinds.
    pub fn parse(kind: ObjectKind, key: &str) -> Option<InventorySort> {
        if key == "namespace" && kind.is_namespaced() {
            return Some(InventorySort::Name);
        }
        Self::of_kind(kind).into_iter().find(|s| s.key() == key)
    }

    /// The column expression of this sort on `kind`'s table and its type; `None` for name
    /// and for sorts the kind does not offer.
    fn column(self, kind: ObjectKind) -> Option<(&'static str, Column)> {
        use ObjectKind as K;
        match (self, kind) {
            (InventorySort::Name, _) => None,
            (InventorySort::Age, K::Pod) => Some(("created_at", Column::Time)),
            (InventorySort::Age, _) => Some(("first_seen_at", Column::Time)),
            (InventorySort::Node, K::Pod) => Some(("coalesce(node_name, '')", Column::Text)),
            (InventorySort::Restarts, K::Pod) => Some(("restarts", Column::Int)),
            (InventorySort::Phase, K::Pod | K::PersistentVolumeClaim) => {
                Some(("phase", Column::Text))
            }
            (InventorySort::Ready, K::Deployment | K::StatefulSet | K::DaemonSet) => {
                Some(("replicas_ready", Column::Int))
            }
            (InventorySort::Replicas, K::Deployment | K::StatefulSet | K::DaemonSet) => {
                Some(("replicas_desired", Column::Int))
            }
            (InventorySort::Status, K::Pod | K::Job) => Some(("status", Column::Text)),
            (InventorySort::Status, K::HelmRelease) => Some(("status", Column::Text)),
            (InventorySort::Chart, K::HelmRelease) => Some(("chart_name", Column::Text)),
            (InventorySort::Capacity, K::PersistentVolumeClaim) => {
                Some(("coalesce(capacity_bytes, 0)", Column::Int))
            }
            (InventorySort::StorageClass, K::PersistentVolumeClaim) => {
                Some(("coalesce(storage_class, '')", Column::Text))
            }
            (InventorySort::Pods, K::Namespace) => Some((NAMESPACE_PODS, Column::Int)),
            _ => None,
        }
    }

    /// Whether ascending means the column's values from last to first (age: youngest first
    /// is the latest time first).
    fn inverted(self) -> bool {
        self == InventorySort::Age
    }

    /// The sort column's expression, if the list sorts by one.
    pub(super) fn expression(self, kind: ObjectKind) -> Option<&'static str> {
        self.column(kind).map(|(expr, _)| expr)
    }

    /// Whether a list of `kind` sorted this way sorts by a column (its keys carry the
    /// column's value).
    pub fn expression_of(self, kind: ObjectKind) -> bool {
        self.column(kind).is_some()
    }

    /// The decode type of the sort column.
    pub(super) fn ty(self, kind: ObjectKind) -> Option<Ty> {
        self.column(kind).map(|(_, column)| match column {
            Column::Text => Ty::Text,
            Column::Int => Ty::I64,
            Column::Time => Ty::Time,
        })
    }

    /// Whether the list's columns run from last to first, asked for `descending` or not.
    pub(super) fn columns_descending(self, descending: bool) -> bool {
        descending != self.inverted()
    }

    /// Reads the sort column's value, the next cell.
    pub(super) fn read(self, kind: ObjectKind, c: &mut Cells) -> Result<SortValue, StoreError> {
        Ok(match self.column(kind).map(|(_, column)| column) {
            Some(Column::Int) => SortValue::Int(c.i64()?),
            Some(Column::Time) => SortValue::Time(c.time()?),
            _ => SortValue::Text(c.text()?),
        })
    }

    /// A cursor's value of this sort column on `kind`; `None` if it is not one.
    pub fn value_from_text(self, kind: ObjectKind, text: &str) -> Option<SortValue> {
        match self.column(kind)?.1 {
            Column::Text => Some(SortValue::Text(text.to_owned())),
            Column::Int => text.parse().ok().map(SortValue::Int),
            Column::Time => DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|t| SortValue::Time(t.with_timezone(&Utc))),
        }
    }
}

#[cfg(test)]
mod tests;
