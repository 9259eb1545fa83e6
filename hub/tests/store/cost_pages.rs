//! Hourly cost rows read a page at a time (the FOCUS export's reader): every row once, in
//! hour, namespace and part order, whatever the page size, only the cluster and window asked
//! for, and nothing of another organization.

use kubeworkz_hub::store::{CostPeriod, CostRowFilter, CostRowKey, DEFAULT_ORG};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::time::{MILLIS_PER_HOUR, UnixMillis};

use crate::costs::row;
use crate::fixtures::agent_cluster;
use crate::harness::TestStore;

const HOUR: i64 = MILLIS_PER_HOUR;

/// Saves `hours` hours from `start` of namespaces a, b (relabeled within the hour: two
/// parts) and c in `cluster`, each row's cost naming its hour and namespace.
async fn save_hours(t: &TestStore, org: OrgId, cluster: ClusterId, start: i64, hours: i64) {
    for h in 0..hours {
        let at = UnixMillis(start + h * HOUR);
        let n = 1000 * (h as u64 + 1);
        let mut b2 = row(cluster, at, "b", "data", n + 3);
        b2.labels.insert("relabeled".into(), "yes".into());
        let rows = [
            row(cluster, at, "a", "platform", n + 1),
            row(cluster, at, "b", "platform", n + 2),
            b2,
            row(cluster, at, "c", "platform", n + 4),
        ];
        t.store
            .save_cost_hour(org, cluster, at, &rows, chrono::Utc::now())
            .await
            .unwrap();
    }
}

/// Every row of `cluster` in `[start, end)` read in pages of `limit`, and the page count.
async fn read_all(
    t: &TestStore,
    org: OrgId,
    cluster: ClusterId,
    window: (UnixMillis, UnixMillis),
    limit: u32,
) -> (Vec<u64>, usize) {
    let mut after: Option<CostRowKey> = None;
    let (mut costs, mut pages) = (Vec::new(), 0);
    loop {
        let page = t
            .store
            .cost_hours_page(org, cluster, window, after.as_ref(), limit)
            .await
            .unwrap();
        pages += 1;
        assert!(page.rows.len() <= limit as usize);
        costs.extend(page.rows.iter().map(|r| r.cost.total.0));
        match page.next {
            Some(next) => after = Some(next),
            None => return (costs, pages),
        }
    }
}

pub async fn hourly_rows_page_by_key_in_order_once_each(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let a = agent_cluster(store, org, "prod-eu-1").await;
    let b = agent_cluster(store, org, "prod-us-1").await;
    let other = store.ensure_organization("other").await.unwrap().id;
    let theirs = agent_cluster(store, other, "theirs").await;
    let start = (UnixMillis::now().0.div_euclid(HOUR) - 10) * HOUR;
    save_hours(&t, org, a, start, 3).await;
    save_hours(&t, org, b, start, 3).await;
    save_hours(&t, other, theirs, start, 3).await;

    // Hours 1 and 2 only: 2 hours × 4 rows, by hour then namespace then part.
    let window = (UnixMillis(start + HOUR), UnixMillis(start + 3 * HOUR));
    let expected = vec![2001, 2002, 2003, 2004, 3001, 3002, 3003, 3004];
    for limit in [1, 2, 3, 8, 100] {
        let (costs, pages) = read_all(&t, org, a, window, limit).await;
        assert_eq!(costs, expected, "limit {limit}");
        // Full pages continue; the one after the last full page is short (or empty).
        assert_eq!(pages, 8 / limit as usize + 1, "limit {limit}");
    }
    // The same rows as the unpaged reader.
    let all = store
        .cost_rows(
            org,
            &CostRowFilter {
                period: CostPeriod::Hour,
                start: window.0,
                end: window.1,
                cluster: Some(a),
                namespace: None,
            },
        )
        .await
        .unwrap();
    let (paged, _) = read_all(&t, org, a, window, 3).await;
    assert_eq!(
        all.iter().map(|r| r.cost.total.0).collect::<Vec<_>>(),
        paged
    );
    let relabeled = &all[2];
    assert_eq!(
        (relabeled.namespace.as_str(), relabeled.team.as_str()),
        ("b", "data")
    );
    assert_eq!(relabeled.end, UnixMillis(start + 2 * HOUR));

    // Another organization's cluster, read as this one: nothing; and the other way round.
    assert_eq!(
        read_all(&t, org, theirs, window, 5).await.0,
        Vec::<u64>::new()
    );
    assert_eq!(read_all(&t, other, a, window, 5).await.0, Vec::<u64>::new());
    assert_eq!(read_all(&t, other, theirs, window, 5).await.0, expected);
}
