//! Live deployment and pod counts per namespace of one cluster, for the namespaces table.
//! One grouped query per page of namespaces (like the cluster list's counts) instead of two
//! count queries per row.

use std::collections::HashMap;

use kubeworkz_shared::ids::{ClusterId, OrgId};

use super::StoreError;
use super::sql::{Cells, Sql, Ty, Value};

/// Live objects in one namespace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NamespaceCounts {
    /// Deployments not deleted.
    pub deployments: u64,
    /// Pods not deleted.
    pub pods: u64,
}

/// Counts of the named namespaces of an organization's cluster, keyed by namespace name;
/// a namespace without live deployments or pods is absent (its counts are zero). Another
/// organization's cluster counts nothing.
pub(crate) async fn namespace_counts(
    db: &mut dyn Sql,
    org: OrgId,
    cluster: ClusterId,
    names: &[String],
) -> Result<HashMap<String, NamespaceCounts>, StoreError> {
    if names.is_empty() {
        return Ok(HashMap::new());
    }
    let d = db.dialect();
    let mut args = vec![Value::Id(*org.as_uuid()), Value::Id(*cluster.as_uuid())];
    args.extend(names.iter().map(|n| Value::Text(n.clone())));
    let list = (3..=names.len() + 2)
        .map(|n| d.ph(n))
        .collect::<Vec<_>>()
        .join(", ");
    let parts: Vec<String> = ["k8s_deployments", "k8s_pods"]
        .iter()
        .enumerate()
        .map(|(i, table)| {
            // As in the cluster counts, the organization is checked on the cluster so the
            // count reads only the `(cluster_id, …) WHERE deleted_at IS NULL` indexes.
            format!(
                "SELECT CAST({i} AS BIGINT), namespace, count(*) FROM {table} WHERE cluster_id \
                 IN (SELECT id FROM k8s_clusters WHERE org_id = {} AND id = {}) \
                 AND namespace IN ({list}) AND deleted_at IS NULL GROUP BY namespace",
                d.ph(1),
                d.ph(2)
            )
        })
        .collect();
    let rows = db
        .fetch(
            &parts.join(" UNION ALL "),
            args,
            &[Ty::I64, Ty::Text, Ty::I64],
        )
        .await?;
    let mut out: HashMap<String, NamespaceCounts> = HashMap::new();
    for row in rows {
        let mut c = Cells::new(row);
        let which = c.i64()?;
        let namespace = c.text()?;
        let n = c.i64()?.max(0) as u64;
        let counts = out.entry(namespace).or_default();
        if which == 0 {
            counts.deployments = n;
        } else {
            counts.pods = n;
        }
    }
    Ok(out)
}
