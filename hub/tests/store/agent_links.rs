//! What the agent transport re-reads about its live connections: enabled, gone, and pending
//! "sync now" requests, which any process may record and the connection holder clears.

use kubeworkz_hub::store::{DEFAULT_ORG, Store};
use kubeworkz_shared::ids::ClusterId;

use crate::fixtures::{agent_cluster, pull_cluster};
use crate::harness::TestStore;

async fn link(store: &dyn Store, id: ClusterId) -> Option<kubeworkz_hub::store::AgentLink> {
    store.agent_links(&[id]).await.unwrap().into_iter().next()
}

pub async fn resync_requests_are_recorded_scoped_and_cleared_once_delivered(t: TestStore) {
    let store = &*t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let other = store.ensure_organization("other").await.unwrap().id;
    let a = agent_cluster(store, org, "edge-a").await;
    let b = agent_cluster(store, org, "edge-b").await;
    let gone = ClusterId::new();

    // One answer for many clusters; a missing cluster is simply absent.
    let mut links = store.agent_links(&[a, gone, b]).await.unwrap();
    links.sort_by_key(|l| l.cluster != a);
    assert_eq!(links.len(), 2);
    assert!(
        links
            .iter()
            .all(|l| l.enabled && l.resync_requested_at.is_none())
    );
    assert_eq!(links[0].cluster, a);

    // Another organization cannot ask; neither can anyone for a missing cluster.
    assert!(!store.request_agent_resync(other, a).await.unwrap());
    assert!(!store.request_agent_resync(org, gone).await.unwrap());
    assert_eq!(link(store, a).await.unwrap().resync_requested_at, None);

    assert!(store.request_agent_resync(org, a).await.unwrap());
    let requested = link(store, a).await.unwrap().resync_requested_at.unwrap();
    assert_eq!(link(store, b).await.unwrap().resync_requested_at, None);

    // Delivering an older request leaves the newer one pending; delivering it clears it.
    store
        .clear_agent_resync(a, requested - chrono::Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(
        link(store, a).await.unwrap().resync_requested_at,
        Some(requested)
    );
    store.clear_agent_resync(a, requested).await.unwrap();
    assert_eq!(link(store, a).await.unwrap().resync_requested_at, None);

    // Disabled clusters are reported as such; deleted ones vanish from the answer.
    assert!(store.set_cluster_enabled(org, b, false).await.unwrap());
    assert!(!link(store, b).await.unwrap().enabled);
    assert!(store.delete_cluster(org, b).await.unwrap());
    assert!(link(store, b).await.is_none());

    // A pull-mode cluster is resynced in-process, not through this request.
    let pull = pull_cluster(store, org, "pulled").await;
    assert!(!store.request_agent_resync(org, pull).await.unwrap());

    // Many clusters in one call (more than one chunk of the IN list).
    let mut many = Vec::new();
    for i in 0..600 {
        many.push(agent_cluster(store, org, &format!("bulk-{i}")).await);
    }
    assert_eq!(store.agent_links(&many).await.unwrap().len(), 600);
}
