//! Cluster info reported by collectors (`kubeworkz_hub::cluster_info::record`): provider and
//! version stored as registration stores them, nothing written for a repeated report, and a
//! version change audited.

use kubeworkz_hub::cluster_info::{self, Recorded, VERSION_CHANGED};
use kubeworkz_hub::store::{AuditFilter, DEFAULT_ORG, PageRequest};
use kubeworkz_shared::ids::ClusterId;
use kubeworkz_shared::model::provider::ProviderDetection;
use kubeworkz_shared::model::{ClusterInfo, Provider};

use crate::fixtures::agent_cluster;
use crate::harness::TestStore;

fn eks(version: &str) -> ClusterInfo {
    ClusterInfo::new(
        version,
        "linux/amd64",
        ProviderDetection {
            provider: Provider::Eks,
            evidence: "node label eks.amazonaws.com/nodegroup".into(),
        },
    )
}

pub async fn cluster_info_is_stored_once_and_a_version_change_is_audited(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let id = agent_cluster(store, org, "edge").await;
    let actor = format!("agent:{id}");
    let changes = AuditFilter {
        action: Some(VERSION_CHANGED.to_owned()),
        ..AuditFilter::default()
    };

    let first = eks("v1.36.3-eks-4f2a1c9");
    assert_eq!(
        cluster_info::record(store, org, id, &first, &actor)
            .await
            .unwrap(),
        Recorded::Updated { from: None }
    );
    let cluster = store.cluster(org, id).await.unwrap().unwrap();
    assert_eq!(cluster.provider.as_deref(), Some("eks"));
    assert_eq!(cluster.version.as_deref(), Some("v1.36.3-eks-4f2a1c9"));
    let updated_at = cluster.updated_at;

    // Agents resend their info on every connection: the same report writes nothing.
    assert_eq!(
        cluster_info::record(store, org, id, &first, &actor)
            .await
            .unwrap(),
        Recorded::Unchanged
    );
    let cluster = store.cluster(org, id).await.unwrap().unwrap();
    assert_eq!(cluster.updated_at, updated_at, "nothing written");
    let page = PageRequest::default();
    assert_eq!(
        store.audit_page(org, &changes, page).await.unwrap().total,
        0
    );

    // An upgrade: stored, and in the audit log with both versions.
    let upgraded = eks("v1.37.0-eks-1a2b3c4");
    assert_eq!(
        cluster_info::record(store, org, id, &upgraded, &actor)
            .await
            .unwrap(),
        Recorded::Updated {
            from: Some("v1.36.3-eks-4f2a1c9".into())
        }
    );
    let cluster = store.cluster(org, id).await.unwrap().unwrap();
    assert_eq!(cluster.version.as_deref(), Some("v1.37.0-eks-1a2b3c4"));
    let audited = store.audit_page(org, &changes, page).await.unwrap();
    assert_eq!(audited.total, 1);
    let entry = &audited.items[0];
    assert_eq!(entry.actor, actor);
    assert_eq!(entry.target, format!("cluster:{id}"));
    assert_eq!(
        entry.result,
        "from v1.36.3-eks-4f2a1c9 to v1.37.0-eks-1a2b3c4"
    );

    // A cluster deleted meanwhile: nothing to record, no error.
    assert_eq!(
        cluster_info::record(store, org, ClusterId::new(), &upgraded, &actor)
            .await
            .unwrap(),
        Recorded::NoCluster
    );
}
