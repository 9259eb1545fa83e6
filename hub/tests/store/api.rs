//! What the REST API stores and reads: users, sessions, API tokens, the audit log, cluster
//! pages with counts, inventory pages and lookups, usage series.

use chrono::{Duration, Utc};
use kubeworkz_hub::store::{
    AuditEntry, AuditFilter, ClusterPatch, ClusterQuery, ClusterSort, DEFAULT_ORG, Environment,
    InventoryQuery, NamespaceItem, NewApiToken, NewSession, NewUser, PageRequest, Paged, Role,
    StoreError, UserChange,
};
use kubeworkz_shared::change::ObjectKind;
use kubeworkz_shared::model::UsageBucket;
use kubeworkz_shared::model::pod::PodPhase;
use kubeworkz_shared::time::UnixMillis;
use uuid::Uuid;

use crate::fixtures::{
    Cursors, agent_cluster, batch, delete_of, deployment, namespace, node, pod, snapshot,
};
use crate::harness::TestStore;

fn new_user(org: kubeworkz_shared::ids::OrgId, email: &str, role: Role) -> NewUser {
    NewUser {
        id: Uuid::now_v7(),
        org_id: org,
        email: email.into(),
        password_hash: "$argon2id$stand-in".into(),
        role,
    }
}

pub async fn users_sessions_and_api_tokens(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let other = store.ensure_organization("other").await.unwrap().id;
    assert_eq!(store.user_count().await.unwrap(), 0);
    let ann = store
        .create_user(&new_user(org, "ann@x.io", Role::Admin))
        .await
        .unwrap();
    let bob = store
        .create_user(&new_user(other, "bob@x.io", Role::Viewer))
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_user(&new_user(org, "ann@x.io", Role::Viewer))
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.user_count().await.unwrap(), 2);
    let mut found = store.login_candidates("ann@x.io", None, 8).await.unwrap();
    assert_eq!(found.len(), 1);
    let creds = found.remove(0);
    assert_eq!(creds.user, ann);
    assert_eq!(creds.organization, DEFAULT_ORG);
    assert_eq!(creds.password_hash, "$argon2id$stand-in");
    assert!(
        !format!("{creds:?}").contains("argon2"),
        "Debug hides the hash"
    );
    assert_eq!(store.users(org).await.unwrap(), vec![ann.clone()]);
    assert!(
        store.user(org, bob.id).await.unwrap().is_none(),
        "scoped by org"
    );
    assert_eq!(
        store.organization(org).await.unwrap().unwrap().name,
        DEFAULT_ORG
    );

    let now = Utc::now();
    let session = NewSession {
        token_hash: [1; 32],
        user_id: ann.id,
        org_id: org,
        csrf_hash: [2; 32],
        expires_at: now + Duration::hours(1),
    };
    store.create_session(&session).await.unwrap();
    let found = store.session(&[1; 32], now).await.unwrap().unwrap();
    assert_eq!(found.user.email, "ann@x.io");
    assert_eq!(found.csrf_hash, vec![2; 32]);
    assert!(
        store
            .session(&[1; 32], now + Duration::hours(2))
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.session(&[9; 32], now).await.unwrap().is_none());
    // A role change keeps the session; a new password ends it. Ann is not the last admin.
    store
        .create_user(&new_user(org, "zoe@x.io", Role::Admin))
        .await
        .unwrap();
    let to_viewer = UserChange {
        role: Some(Role::Viewer),
        ..UserChange::default()
    };
    let changed = store
        .update_user(org, ann.id, &to_viewer)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(changed.role, Role::Viewer);
    assert_eq!(
        store
            .session(&[1; 32], now)
            .await
            .unwrap()
            .unwrap()
            .user
            .role,
        Role::Viewer
    );
    let new_password = UserChange {
        password_hash: Some("$argon2id$new".into()),
        ..UserChange::default()
    };
    store
        .update_user(org, ann.id, &new_password)
        .await
        .unwrap()
        .unwrap();
    assert!(store.session(&[1; 32], now).await.unwrap().is_none());
    let to_admin = UserChange {
        role: Some(Role::Admin),
        ..UserChange::default()
    };
    assert!(
        store
            .update_user(other, ann.id, &to_admin)
            .await
            .unwrap()
            .is_none(),
        "another org's user is not found"
    );
    store
        .create_session(&NewSession {
            token_hash: [3; 32],
            ..session
        })
        .await
        .unwrap();
    assert!(store.delete_session(&[3; 32]).await.unwrap());
    assert!(!store.delete_session(&[3; 32]).await.unwrap());

    let token = |id, hash, expires_at| NewApiToken {
        id,
        org_id: org,
        user_id: ann.id,
        name: "ci".into(),
        token_hash: hash,
        role: Role::Viewer,
        expires_at,
    };
    let forever = store
        .create_api_token(&token(Uuid::now_v7(), [5; 32], None))
        .await
        .unwrap();
    store
        .create_api_token(&token(
            Uuid::now_v7(),
            [6; 32],
            Some(now + Duration::minutes(1)),
        ))
        .await
        .unwrap();
    assert_eq!(
        store.api_token(&[5; 32], now).await.unwrap().unwrap().id,
        forever.id
    );
    assert!(store.api_token(&[6; 32], now).await.unwrap().is_some());
    assert!(
        store
            .api_token(&[6; 32], now + Duration::minutes(2))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.api_tokens(org).await.unwrap().len(), 2);
    assert!(store.api_tokens(other).await.unwrap().is_empty());
    assert!(!store.revoke_api_token(other, forever.id).await.unwrap());
    assert!(store.revoke_api_token(org, forever.id).await.unwrap());
    assert!(store.api_token(&[5; 32], now).await.unwrap().is_none());

    assert!(!store.delete_user(other, ann.id).await.unwrap());
    assert!(store.delete_user(org, ann.id).await.unwrap());
    assert!(
        store.api_tokens(org).await.unwrap().is_empty(),
        "tokens go with their user"
    );
}

pub async fn the_audit_log_is_filtered_and_paged_per_organization(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let other = store.ensure_organization("other").await.unwrap().id;
    let start = Utc::now() - Duration::minutes(10);
    for (i, (org, action)) in [
        (org, "a.one"),
        (org, "a.two"),
        (org, "a.one"),
        (other, "a.one"),
    ]
    .into_iter()
    .enumerate()
    {
        store
            .record_audit(&AuditEntry {
                id: Uuid::now_v7(),
                org_id: org,
                at: start + Duration::minutes(i as i64),
                actor: "ann".into(),
                action: action.into(),
                target: format!("t{i}"),
                result: "success".into(),
                source_ip: Some("127.0.0.1".into()),
                request_id: Some(format!("r{i}")),
                detail: (i == 0).then(|| "replicas 2 -> 3".to_owned()),
            })
            .await
            .unwrap();
    }
    let page = PageRequest {
        limit: 10,
        offset: 0,
    };
    let all = store
        .audit_page(org, &AuditFilter::default(), page)
        .await
        .unwrap();
    assert_eq!(all.total, 3);
    let targets: Vec<_> = all.items.iter().map(|e| e.target.as_str()).collect();
    assert_eq!(targets, ["t2", "t1", "t0"], "newest first, this org only");
    assert_eq!(all.items[2].detail.as_deref(), Some("replicas 2 -> 3"));
    assert_eq!(all.items[1].detail, None);
    let filter = AuditFilter {
        action: Some("a.one".into()),
        ..AuditFilter::default()
    };
    let ones = store
        .audit_page(
            org,
            &filter,
            PageRequest {
                limit: 1,
                offset: 1,
            },
        )
        .await
        .unwrap();
    assert_eq!(ones.total, 2);
    assert_eq!(ones.items.len(), 1);
    assert_eq!(ones.items[0].target, "t0");
    let since = AuditFilter {
        since: Some(start + Duration::seconds(30)),
        until: Some(start + Duration::seconds(150)),
        ..AuditFilter::default()
    };
    let window = store.audit_page(org, &since, page).await.unwrap();
    assert_eq!(
        window
            .items
            .iter()
            .map(|e| e.target.as_str())
            .collect::<Vec<_>>(),
        ["t2", "t1"]
    );
}

pub async fn cluster_and_inventory_pages_are_scoped_counted_and_stable(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let other = store.ensure_organization("other").await.unwrap().id;
    let a = agent_cluster(store, org, "alpha").await;
    let b = agent_cluster(store, org, "bravo").await;
    let theirs = agent_cluster(store, other, "alpha").await;
    let objects = vec![
        node("n1", "a-n1"),
        namespace("web", "a-ns", None),
        deployment("web", "web", "a-dep", 1),
        pod("web", "web-1", "a-p1", PodPhase::Running),
        pod("web", "web-2", "a-p2", PodPhase::Running),
    ];
    let mut cursors = Cursors::new(1);
    store
        .ingest_changes(
            org,
            a,
            cursors.next(),
            &batch(snapshot(&ObjectKind::ALL, &objects)),
        )
        .await
        .unwrap();
    store
        .update_cluster(
            org,
            b,
            &ClusterPatch {
                environment: Some(Environment::Staging),
                tags: Some(vec!["gpu".into()]),
                ..ClusterPatch::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .update_cluster(org, theirs, &ClusterPatch::default())
            .await
            .unwrap()
            .is_none()
    );
    let renamed = store
        .update_cluster(
            org,
            b,
            &ClusterPatch {
                name: Some("alpha".into()),
                ..ClusterPatch::default()
            },
        )
        .await;
    assert!(matches!(renamed, Err(StoreError::Conflict(_))));

    let query = ClusterQuery {
        page: PageRequest {
            limit: 10,
            offset: 0,
        },
        ..ClusterQuery::default()
    };
    let page = store.cluster_page(org, &query).await.unwrap();
    assert_eq!(page.total, 2);
    assert_eq!(page.items[0].cluster.id, a);
    assert_eq!(
        (page.items[0].counts.nodes, page.items[0].counts.pods),
        (1, 2)
    );
    assert_eq!(page.items[0].counts.namespaces, 1);
    assert_eq!(page.items[1].counts.pods, 0);
    let tagged = ClusterQuery {
        tag: Some("gpu".into()),
        sort: ClusterSort::Name,
        descending: true,
        ..query.clone()
    };
    let page = store.cluster_page(org, &tagged).await.unwrap();
    assert_eq!(
        page.items.iter().map(|c| c.cluster.id).collect::<Vec<_>>(),
        [b]
    );
    let summary = store.cluster_summary(org, a).await.unwrap().unwrap();
    assert_eq!(summary.counts.deployments, 1);
    assert!(store.cluster_summary(other, a).await.unwrap().is_none());

    let pods = InventoryQuery {
        kind: ObjectKind::Pod,
        cluster: Some(a),
        namespace: Some("web".into()),
        owner: Some((ObjectKind::Deployment, "web".into())),
        columns: vec![("phase", "Running".into())],
        search: None,
        sort: Default::default(),
        descending: false,
        after: None,
        from_end: false,
        page: PageRequest {
            limit: 1,
            offset: 1,
        },
    };
    let page = store.inventory_page(org, &pods).await.unwrap();
    assert_eq!(page.total, 2);
    assert_eq!(page.items[0].name, "web-2");
    assert!(page.items[0].data.contains("web-2"));
    assert_eq!(store.inventory_page(other, &pods).await.unwrap().total, 0);
    let item = store
        .inventory_item(org, ObjectKind::Namespace, "a-ns")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((item.cluster_id, item.name.as_str()), (a, "web"));
    assert!(
        store
            .inventory_item(other, ObjectKind::Namespace, "a-ns")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .inventory_item(org, ObjectKind::Pod, "a-ns")
            .await
            .unwrap()
            .is_none()
    );

    let hour = (Utc::now() - Duration::hours(3)).timestamp();
    let hour = chrono::DateTime::from_timestamp(hour - hour % 3600, 0).unwrap();
    let bucket = |namespace: &str, cpu| UsageBucket {
        namespace: namespace.into(),
        pod: "p".into(),
        container: "c".into(),
        hour_start: UnixMillis(hour.timestamp_millis()),
        cpu_millicore_seconds: cpu,
        memory_byte_seconds: 10,
        memory_max_bytes: cpu,
        samples: 1,
        covered_millis: 1,
    };
    store
        .ingest_usage(
            org,
            a,
            cursors.next(),
            &[bucket("web", 100), bucket("db", 50)],
        )
        .await
        .unwrap();
    let from = hour - Duration::hours(1);
    let to = Utc::now();
    let all = store.usage_series(org, a, None, from, to).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(
        (all[0].cpu_millicore_seconds, all[0].memory_max_bytes),
        (150, 100)
    );
    let web = store
        .usage_series(org, a, Some("web"), from, to)
        .await
        .unwrap();
    assert_eq!(web[0].cpu_millicore_seconds, 100);
    assert!(
        store
            .usage_series(other, a, None, from, to)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .usage_series(org, a, None, from, hour)
            .await
            .unwrap()
            .is_empty(),
        "[from, to)"
    );
}

pub async fn namespace_pages_count_live_objects_in_the_org(t: TestStore) {
    let store = &t.store;
    let org = store.ensure_organization(DEFAULT_ORG).await.unwrap().id;
    let other = store.ensure_organization("other").await.unwrap().id;
    let a = agent_cluster(store, org, "alpha").await;
    let b = agent_cluster(store, org, "bravo").await;
    let gone = pod("web", "web-3", "a-p3", PodPhase::Running);
    let objects = vec![
        namespace("web", "a-ns", None),
        namespace("db", "a-db", None),
        namespace("empty", "a-empty", None),
        deployment("web", "web", "a-dep", 3),
        deployment("web", "api", "a-dep2", 1),
        pod("web", "web-1", "a-p1", PodPhase::Running),
        pod("web", "web-2", "a-p2", PodPhase::Running),
        gone.clone(),
        pod("db", "db-0", "a-p4", PodPhase::Running),
    ];
    let mut cursors = Cursors::new(1);
    let all = batch(snapshot(&ObjectKind::ALL, &objects));
    store
        .ingest_changes(org, a, cursors.next(), &all)
        .await
        .unwrap();
    store
        .ingest_changes(org, a, cursors.next(), &batch(vec![delete_of(&gone)]))
        .await
        .unwrap();
    let other_pods = vec![pod("web", "web-1", "b-p1", PodPhase::Running)];
    store
        .ingest_changes(
            org,
            b,
            Cursors::new(1).next(),
            &batch(snapshot(&[ObjectKind::Pod], &other_pods)),
        )
        .await
        .unwrap();

    let counted = |paged: &Paged<NamespaceItem>| -> Vec<(String, u64, u64)> {
        paged
            .items
            .iter()
            .map(|n| (n.item.name.clone(), n.counts.deployments, n.counts.pods))
            .collect()
    };
    let page = |limit, offset| PageRequest { limit, offset };
    let all = store.namespace_page(org, a, page(50, 0)).await.unwrap();
    assert_eq!(
        counted(&all),
        vec![
            ("db".to_string(), 0, 1),
            ("empty".to_string(), 0, 0),
            ("web".to_string(), 2, 2),
        ],
        "by name; the deleted pod and the other cluster's pod are not counted"
    );
    assert_eq!(all.total, 3);
    assert_eq!(all.items[2].item.uid, "a-ns");
    assert_eq!(all.items[2].item.cluster_id, a);
    let first = store.namespace_page(org, a, page(2, 0)).await.unwrap();
    assert_eq!(
        (counted(&first).len(), first.total),
        (2, 3),
        "a full page counts the rest"
    );
    let last = store.namespace_page(org, a, page(2, 2)).await.unwrap();
    assert_eq!(
        (counted(&last), last.total),
        (vec![("web".to_string(), 2, 2)], 3)
    );
    let past = store.namespace_page(org, a, page(2, 5)).await.unwrap();
    assert_eq!((past.items.len(), past.total), (0, 3), "past the end");
    let theirs = store.namespace_page(other, a, page(50, 0)).await.unwrap();
    assert_eq!(
        (theirs.items.len(), theirs.total),
        (0, 0),
        "another organization's cluster has no namespaces"
    );

    let hour = (Utc::now() - Duration::hours(2)).timestamp();
    let hour = chrono::DateTime::from_timestamp(hour - hour % 3600, 0).unwrap();
    let bucket = |pod: &str, container: &str, cpu| UsageBucket {
        namespace: "web".into(),
        pod: pod.into(),
        container: container.into(),
        hour_start: UnixMillis(hour.timestamp_millis()),
        cpu_millicore_seconds: cpu,
        memory_byte_seconds: 10,
        memory_max_bytes: cpu,
        samples: 1,
        covered_millis: 1,
    };
    let buckets = [
        bucket("web-1", "app", 100),
        bucket("web-1", "sidecar", 20),
        bucket("web-2", "app", 7),
    ];
    store
        .ingest_usage(org, a, cursors.next(), &buckets)
        .await
        .unwrap();
    let (from, to) = (hour - Duration::hours(1), Utc::now());
    let web1 = store
        .pod_usage_series(org, a, "web", "web-1", from, to)
        .await
        .unwrap();
    assert_eq!(web1.len(), 1);
    assert_eq!(
        (web1[0].cpu_millicore_seconds, web1[0].memory_max_bytes),
        (120, 100),
        "all containers of the pod, not its neighbours"
    );
    for (org, cluster, ns) in [(org, b, "web"), (other, a, "web"), (org, a, "db")] {
        let none = store
            .pod_usage_series(org, cluster, ns, "web-1", from, to)
            .await
            .unwrap();
        assert!(none.is_empty());
    }
}
