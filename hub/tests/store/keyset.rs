//! The cluster list and the audit log page by keyset: a page continues after the last row of
//! the one before, in every order and both directions, through ties and (for health and last
//! sync) the NULLs that sort last either way, and lands on the rows one long page shows.

use chrono::{Duration, Utc};
use kubeworkz_hub::store::{
    AuditEntry, AuditFilter, ClusterPatch, ClusterQuery, ClusterSort, DEFAULT_ORG, Environment,
    PageRequest, Store,
};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::model::{HealthReport, HealthStatus};
use uuid::Uuid;

use crate::fixtures::agent_cluster;
use crate::harness::TestStore;

/// The cluster names of `query` walked by keyset, `limit` a page, and each page's total.
async fn walk_clusters(
    store: &Store,
    org: OrgId,
    mut query: ClusterQuery,
    limit: u32,
) -> (Vec<String>, Vec<u64>) {
    query.page = PageRequest { limit, offset: 0 };
    let (mut names, mut totals) = (Vec::new(), Vec::new());
    loop {
        let page = store.cluster_page(org, &query).await.unwrap();
        totals.push(page.total);
        let full = page.items.len() == limit as usize;
        let last = page.items.last().map(|s| s.key(query.sort));
        names.extend(page.items.into_iter().map(|s| s.cluster.name));
        match last {
            Some(key) if full => {
                query.after = Some(key);
                query.page.offset += u64::from(limit);
            }
            _ => return (names, totals),
        }
        assert!(totals.len() < 20, "the walk ends");
    }
}

pub async fn the_cluster_list_pages_by_keyset_in_every_order(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let other = store.ensure_organization("other").await.unwrap().id;
    agent_cluster(store, other, "theirs").await;
    let health = [
        Some(HealthStatus::Degraded),
        None,
        Some(HealthStatus::Healthy),
        None,
        Some(HealthStatus::Degraded),
        None,
        Some(HealthStatus::Critical),
    ];
    let mut ids: Vec<ClusterId> = Vec::new();
    for (i, status) in health.iter().enumerate() {
        let id = agent_cluster(store, org, &format!("c{i}")).await;
        let environment = [Environment::Staging, Environment::Production][i % 2];
        let patch = ClusterPatch {
            environment: Some(environment),
            ..ClusterPatch::default()
        };
        store.update_cluster(org, id, &patch).await.unwrap();
        if let Some(status) = status {
            let report = HealthReport {
                status: *status,
                reasons: vec![],
            };
            store
                .record_health(org, id, &report, Utc::now())
                .await
                .unwrap();
        }
        ids.push(id);
    }
    let unjudged = ["c1", "c3", "c5"];
    for sort in [
        ClusterSort::Name,
        ClusterSort::CreatedAt,
        ClusterSort::Environment,
        ClusterSort::Health,
        ClusterSort::LastSync,
    ] {
        for descending in [false, true] {
            let query = ClusterQuery {
                sort,
                descending,
                ..ClusterQuery::default()
            };
            let (one_page, _) = walk_clusters(store, org, query.clone(), 100).await;
            let (walked, totals) = walk_clusters(store, org, query, 2).await;
            let case = format!("{sort:?}, descending {descending}");
            assert_eq!(one_page.len(), 7, "{case}: this organization's clusters");
            assert_eq!(walked, one_page, "{case}: pages of 2 by keyset");
            assert_eq!(totals, [7, 7, 7, 7], "{case}: every page's total");
            let last = ClusterQuery {
                from_end: true,
                page: PageRequest {
                    limit: 3,
                    offset: 0,
                },
                ..ClusterQuery {
                    sort,
                    descending,
                    ..ClusterQuery::default()
                }
            };
            let page = store.cluster_page(org, &last).await.unwrap();
            let names: Vec<String> = page.items.into_iter().map(|s| s.cluster.name).collect();
            assert_eq!(
                names,
                one_page[4..],
                "{case}: the last page read from the end"
            );
            assert_eq!(page.total, 7);
            if sort == ClusterSort::Health {
                let mut last: Vec<&str> = walked[4..].iter().map(String::as_str).collect();
                last.sort_unstable();
                assert_eq!(last, unjudged, "{case}: never judged sorts last");
            }
        }
    }
    let names = |from: usize| -> Vec<String> { (from..7).map(|i| format!("c{i}")).collect() };
    let query = ClusterQuery {
        after: Some(
            store
                .cluster_summary(org, ids[2])
                .await
                .unwrap()
                .unwrap()
                .key(ClusterSort::Name),
        ),
        ..ClusterQuery::default()
    };
    let (rest, _) = walk_clusters(store, org, query, 3).await;
    assert_eq!(rest, names(3), "a page after c2 starts at c3");
}

pub async fn the_audit_log_pages_by_keyset_through_entries_of_one_instant(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let start = Utc::now() - Duration::minutes(10);
    // Entries 2, 3 and 4 share an instant.
    let minutes = [0, 1, 2, 2, 2, 3, 4];
    for (i, minute) in minutes.into_iter().enumerate() {
        store
            .record_audit(&AuditEntry {
                id: Uuid::now_v7(),
                org_id: org,
                at: start + Duration::minutes(minute),
                actor: "ann".into(),
                action: "a.one".into(),
                target: format!("t{i}"),
                result: "success".into(),
                source_ip: None,
                request_id: None,
                detail: None,
            })
            .await
            .unwrap();
    }
    let page = |limit, offset| PageRequest { limit, offset };
    let all = store
        .audit_page(org, &AuditFilter::default(), page(100, 0))
        .await
        .unwrap();
    let order: Vec<&str> = all.items.iter().map(|e| e.target.as_str()).collect();
    assert_eq!(
        order,
        ["t6", "t5", "t4", "t3", "t2", "t1", "t0"],
        "newest first; one instant's entries by id, last first"
    );
    let mut filter = AuditFilter::default();
    let (mut walked, mut offset) = (Vec::new(), 0);
    loop {
        let p = store
            .audit_page(org, &filter, page(2, offset))
            .await
            .unwrap();
        assert_eq!(p.total, 7, "every page's total");
        walked.extend(p.items.iter().map(|e| e.target.clone()));
        match p.items.last() {
            Some(last) if p.items.len() == 2 => filter.after = Some(last.key()),
            _ => break,
        }
        offset += 2;
    }
    assert_eq!(walked, order);
}
