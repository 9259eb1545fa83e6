//! The hourly cost gauges of the hub's `/metrics`: the last complete hour's cost per cluster
//! and per namespace, for the Prometheus dashboards people already have. The cost run
//! refreshes them after each round ([`CostGauges::refresh`]), so a scrape only copies numbers
//! and never reads the database.
//!
//! Cardinality is bounded: one series per cluster, and at most [`MAX_NAMESPACE_SERIES`]
//! namespace series (the most expensive; how many were left out is its own gauge).

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::time::{MILLIS_PER_HOUR, UnixMillis};

use super::NanoDollars;
use crate::store::{CostPeriod, CostRowFilter, Store, StoreError};

/// The most namespace series exported: a hub with more namespaces exports the most expensive.
pub const MAX_NAMESPACE_SERIES: usize = 2000;

/// One refresh's numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostSnapshot {
    /// Start of the hour reported.
    pub hour_start: UnixMillis,
    /// Cost per cluster (its namespaces and idle), by cluster label.
    pub clusters: BTreeMap<String, NanoDollars>,
    /// Cost per (cluster label, namespace), idle as `__idle__`; the most expensive only.
    pub namespaces: Vec<(String, String, NanoDollars)>,
    /// Namespace series left out by [`MAX_NAMESPACE_SERIES`].
    pub dropped: usize,
}

/// The gauges, shared by the cost worker (writer) and `/metrics` (reader).
#[derive(Debug, Default)]
pub struct CostGauges {
    snapshot: RwLock<Option<CostSnapshot>>,
}

impl CostGauges {
    /// The numbers of the last refresh, if any.
    pub fn snapshot(&self) -> Option<CostSnapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Reads the stored rows of the hour starting at `hour_start` for every organization's
    /// `clusters` and replaces the gauges with them.
    pub async fn refresh(
        &self,
        store: &Store,
        clusters: &[(OrgId, ClusterId)],
        hour_start: UnixMillis,
    ) -> Result<(), StoreError> {
        let mut orgs: Vec<OrgId> = clusters.iter().map(|(org, _)| *org).collect();
        orgs.sort();
        orgs.dedup();
        // Cluster names are unique within an organization: qualify the ones that are not
        // unique across organizations as `org/cluster`.
        let mut named: Vec<(OrgId, String, ClusterId)> = Vec::new();
        let mut org_names = HashMap::new();
        for org in &orgs {
            if let Some(o) = store.organization(*org).await? {
                org_names.insert(*org, o.name);
            }
            for c in store.list_clusters(*org).await? {
                named.push((*org, c.name, c.id));
            }
        }
        let mut uses: HashMap<&str, usize> = HashMap::new();
        for (_, name, _) in &named {
            *uses.entry(name.as_str()).or_default() += 1;
        }
        let labels: HashMap<ClusterId, String> = named
            .iter()
            .map(|(org, name, id)| {
                let label = if uses[name.as_str()] > 1 {
                    let org_name = org_names.get(org).map_or("", String::as_str);
                    format!("{org_name}/{name}")
                } else {
                    name.clone()
                };
                (*id, label)
            })
            .collect();

        let mut snapshot = CostSnapshot {
            hour_start,
            clusters: BTreeMap::new(),
            namespaces: Vec::new(),
            dropped: 0,
        };
        for org in &orgs {
            let filter = CostRowFilter {
                period: CostPeriod::Hour,
                start: hour_start,
                end: UnixMillis(hour_start.0 + MILLIS_PER_HOUR),
                cluster: None,
                namespace: None,
            };
            for row in store.cost_rows(*org, &filter).await? {
                let Some(label) = labels.get(&row.cluster) else {
                    continue;
                };
                *snapshot.clusters.entry(label.clone()).or_default() += row.cost.total;
                // A namespace relabeled within the hour has several parts: one series.
                match snapshot.namespaces.last_mut() {
                    Some((l, ns, cost)) if *l == *label && *ns == row.namespace => {
                        *cost += row.cost.total;
                    }
                    _ => snapshot
                        .namespaces
                        .push((label.clone(), row.namespace, row.cost.total)),
                }
            }
        }
        snapshot
            .namespaces
            .sort_by(|a, b| b.2.cmp(&a.2).then_with(|| (&a.0, &a.1).cmp(&(&b.0, &b.1))));
        snapshot.dropped = snapshot
            .namespaces
            .len()
            .saturating_sub(MAX_NAMESPACE_SERIES);
        snapshot.namespaces.truncate(MAX_NAMESPACE_SERIES);
        *self
            .snapshot
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(snapshot);
        Ok(())
    }
}
