use super::*;
use crate::search::parse;

#[test]
fn patterns_escape_like_and_turn_stars_into_percent() {
    assert_eq!(pattern("prod-*"), "prod-%");
    assert_eq!(pattern("a_b%c\\"), "a\\_b\\%c\\\\");
}

#[test]
fn values_are_bound_once_and_excluded_kinds_have_no_select() {
    let query = parse("web kind:pvc -label:tier=batch").unwrap();
    let mut b = Builder::new(Dialect::Postgres);
    let sql = hits(&mut b, Value::Text("org".into()), &query, Reach::All).unwrap();
    assert_eq!(sql.matches("SELECT").count(), 1, "{sql}");
    assert!(sql.contains("NOT (1 = 0)"), "claims carry no labels: {sql}");
    assert!(sql.contains("ILIKE"), "{sql}");
    assert_eq!(
        b.args[2],
        Value::Text("%\ntier=batch\n%".into()),
        "org, the two terms that bind, then the ranking"
    );
    let all = parse("kind:pod kind:node").unwrap();
    assert!(
        hits(
            &mut Builder::new(Dialect::Sqlite),
            Value::I64(0),
            &all,
            Reach::All
        )
        .is_none()
    );
}

#[test]
fn known_statuses_are_compared_by_equality_in_every_spelling() {
    assert_eq!(status_spellings("pending"), ["Pending"]);
    assert_eq!(status_spellings("UNKNOWN"), ["Unknown", "unknown"]);
    assert_eq!(status_spellings("crashloopbackoff"), ["CrashLoopBackOff"]);
    assert_eq!(status_spellings("Init:0/1"), ["Init:0/1"]);
    let mut b = Builder::new(Dialect::Sqlite);
    let sql = hits(
        &mut b,
        Value::I64(0),
        &parse("kind:pod status:unknown api").unwrap(),
        Reach::All,
    )
    .unwrap();
    assert!(sql.contains("t.status IN ('Unknown', 'unknown')"), "{sql}");
    assert!(
        sql.contains("t.rowid IN (SELECT rowid FROM k8s_pods_names WHERE name LIKE ?3)"),
        "positive free text on pods uses the name index: {sql}"
    );
    assert!(
        sql.contains("+t.org_id") && sql.contains("CROSS JOIN"),
        "{sql}"
    );
    let mut b = Builder::new(Dialect::Sqlite);
    let sql = hits(
        &mut b,
        Value::I64(0),
        &parse("kind:ns -api").unwrap(),
        Reach::All,
    )
    .unwrap();
    assert!(!sql.contains("k8s_pods_names"), "{sql}");
}

#[test]
fn a_page_orders_and_limits_each_kind_and_seeks_inside_it() {
    let key = SearchKey {
        rank: 0,
        name: "api-3".into(),
        kind: SearchKind::Pod,
        cluster_id: "c".into(),
        id: "u".into(),
    };
    let reach = Reach::Page {
        after: Some(&key),
        limit: 51,
    };
    let mut b = Builder::new(Dialect::Sqlite);
    let query = parse("status:CrashLoopBackOff kind:pod").unwrap();
    let sql = hits(&mut b, Value::I64(0), &query, reach).unwrap();
    assert!(
        sql.contains("ORDER BY name, cluster_id, id LIMIT 51) k0"),
        "no rank without free text, so the status index's name order serves it: {sql}"
    );
    assert!(
        sql.contains("t.name >= ?3 AND (t.name, 'pod', t.cluster_id, t.uid) > (?3, ?4, ?5, ?6)"),
        "{sql}"
    );
    let mut b = Builder::new(Dialect::Sqlite);
    let sql = hits(
        &mut b,
        Value::I64(0),
        &parse("api").unwrap(),
        Reach::Page {
            after: None,
            limit: 3,
        },
    )
    .unwrap();
    assert_eq!(
        sql.matches("ORDER BY rank, name, cluster_id, id LIMIT 3)")
            .count(),
        7,
        "{sql}"
    );
}

#[test]
fn trigram_indexes_narrow_only_terms_with_three_literal_characters() {
    let uses = |q: &str| uses_fts(&parse(q).unwrap().terms[0]);
    assert!(uses("api"));
    assert!(uses("a*pi-3"));
    assert!(!uses("ap*i"), "no run of three");
    assert!(!uses("a_b"), "`_` is a wildcard to the index");
    assert!(!uses("-api"), "negation reads the row");
    assert!(uses("label:a"), "`\\na=` is three");
    assert!(!uses("node:ip-10"));
    let sql = hits(
        &mut Builder::new(Dialect::Sqlite),
        Value::I64(0),
        &parse("kind:deploy label:team=x").unwrap(),
        Reach::All,
    )
    .unwrap();
    assert!(
        sql.contains(
            "t.rowid IN (SELECT rowid FROM k8s_deployments_labels WHERE search_labels LIKE ?3)"
        ) && sql.contains("+t.org_id"),
        "{sql}"
    );
}

#[test]
fn a_status_no_row_of_a_kind_can_have_reads_none_of_it() {
    let sql = hits(
        &mut Builder::new(Dialect::Sqlite),
        Value::I64(0),
        &parse("kind:deploy status:CrashLoopBackOff").unwrap(),
        Reach::All,
    )
    .unwrap();
    assert!(
        sql.contains("WHERE t.org_id = ?1 AND t.deleted_at IS NULL AND 1 = 0"),
        "{sql}"
    );
    let sql = hits(
        &mut Builder::new(Dialect::Sqlite),
        Value::I64(0),
        &parse("kind:deploy status:available").unwrap(),
        Reach::All,
    )
    .unwrap();
    assert!(!sql.contains("1 = 0"), "{sql}");
}
