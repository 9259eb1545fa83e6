//! What the agent transport re-reads about its live connections: enabled, gone, and pending
//! "sync now" requests, which any process may record and the connection holder clears.

use chrono::Utc;
use kubeworkz_hub::store::{
    CertificateStanding, DEFAULT_ORG, NewIssuedCertificate, SessionCertificate, Store,
};
use kubeworkz_shared::ids::ClusterId;

use crate::fixtures::{agent_cluster, pull_cluster};
use crate::harness::TestStore;

async fn link(store: &Store, id: ClusterId) -> Option<kubeworkz_hub::store::AgentLink> {
    store.agent_links(&[id]).await.unwrap().into_iter().next()
}

pub async fn resync_requests_are_recorded_scoped_and_cleared_once_delivered(t: TestStore) {
    let store = &t.store;
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
    assert!(!store.request_resync(other, a).await.unwrap());
    assert!(!store.request_resync(org, gone).await.unwrap());
    assert_eq!(link(store, a).await.unwrap().resync_requested_at, None);

    assert!(store.request_resync(org, a).await.unwrap());
    let requested = link(store, a).await.unwrap().resync_requested_at.unwrap();
    assert_eq!(link(store, b).await.unwrap().resync_requested_at, None);

    // Delivering an older request leaves the newer one pending; delivering it clears it.
    store
        .clear_resync(a, requested - chrono::Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(
        link(store, a).await.unwrap().resync_requested_at,
        Some(requested)
    );
    store.clear_resync(a, requested).await.unwrap();
    assert_eq!(link(store, a).await.unwrap().resync_requested_at, None);

    // Disabled clusters are reported as such; deleted ones vanish from the answer.
    assert!(store.set_cluster_enabled(org, b, false).await.unwrap());
    assert!(!link(store, b).await.unwrap().enabled);
    assert!(store.delete_cluster(org, b).await.unwrap());
    assert!(link(store, b).await.is_none());

    // A pull-mode cluster takes the same request: the replica collecting it relists it.
    let pull = pull_cluster(store, org, "pulled").await;
    assert!(store.request_resync(org, pull).await.unwrap());
    assert!(
        link(store, pull)
            .await
            .unwrap()
            .resync_requested_at
            .is_some()
    );
    assert!(
        !store.request_resync(other, pull).await.unwrap(),
        "another org's"
    );

    // Many clusters in one call (more than one chunk of the IN list).
    let mut many = Vec::new();
    for i in 0..600 {
        many.push(agent_cluster(store, org, &format!("bulk-{i}")).await);
    }
    assert_eq!(store.agent_links(&many).await.unwrap().len(), 600);
}

fn session(cluster: ClusterId, serial: &str) -> SessionCertificate {
    SessionCertificate {
        cluster,
        serial: serial.into(),
    }
}

async fn issue(store: &Store, cluster: ClusterId, serial: &str, days: i64) {
    store
        .record_issued_certificate(&NewIssuedCertificate {
            cluster_id: cluster,
            serial: serial.into(),
            not_before: Utc::now() - chrono::Duration::days(30),
            not_after: Utc::now() + chrono::Duration::days(days),
        })
        .await
        .unwrap();
}

pub async fn session_links_judge_each_sessions_certificate_in_one_call(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let valid = agent_cluster(store, org, "valid").await;
    let expired = agent_cluster(store, org, "expired").await;
    let revoked = agent_cluster(store, org, "revoked").await;
    let foreign = agent_cluster(store, org, "foreign").await;
    let deleted = agent_cluster(store, org, "deleted").await;
    issue(store, valid, "01", 7).await;
    issue(store, valid, "02", 7).await;
    issue(store, expired, "03", -1).await;
    issue(store, revoked, "04", 7).await;
    issue(store, deleted, "05", 7).await;
    assert!(
        store
            .set_cluster_enabled(org, revoked, false)
            .await
            .unwrap()
    );
    assert!(store.delete_cluster(org, deleted).await.unwrap());

    let sessions = [
        session(valid, "01"),
        session(expired, "03"),
        session(revoked, "04"),
        // Another cluster's serial, presented for this one (the join must not match it).
        session(foreign, "01"),
        session(deleted, "05"),
    ];
    let mut links = store.session_links(&sessions).await.unwrap();
    links.sort_by_key(|l| sessions.iter().position(|s| s.cluster == l.link.cluster));
    let got: Vec<_> = links
        .iter()
        .map(|l| (l.link.cluster, l.link.enabled, l.certificate))
        .collect();
    assert_eq!(
        got,
        vec![
            (valid, true, CertificateStanding::Valid),
            (expired, true, CertificateStanding::Expired),
            (revoked, false, CertificateStanding::Revoked),
            (foreign, true, CertificateStanding::Unknown),
        ],
        "a deleted cluster is absent"
    );
    // The cluster's other certificate is judged by its own row; an unknown serial is unknown.
    let other = store.session_links(&[session(valid, "02")]).await.unwrap();
    assert_eq!(other[0].certificate, CertificateStanding::Valid);
    let unknown = store.session_links(&[session(valid, "ff")]).await.unwrap();
    assert_eq!(unknown[0].certificate, CertificateStanding::Unknown);
    // Resync requests come with the answer, as from `agent_links`.
    assert!(store.request_resync(org, valid).await.unwrap());
    let requested = store.session_links(&[session(valid, "01")]).await.unwrap();
    assert!(requested[0].link.resync_requested_at.is_some());

    // More sessions than one chunk of the IN lists.
    let mut many = Vec::new();
    for i in 0..600 {
        let cluster = agent_cluster(store, org, &format!("bulk-{i}")).await;
        let serial = format!("{i:04x}aa");
        issue(store, cluster, &serial, 7).await;
        many.push(session(cluster, &serial));
    }
    let links = store.session_links(&many).await.unwrap();
    assert_eq!(links.len(), 600);
    assert!(
        links
            .iter()
            .all(|l| l.certificate == CertificateStanding::Valid)
    );
}
