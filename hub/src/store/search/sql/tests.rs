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
    let sql = hits(&mut b, Value::Text("org".into()), &query).unwrap();
    assert_eq!(sql.matches("SELECT").count(), 1, "{sql}");
    assert!(sql.contains("NOT (1 = 0)"), "claims carry no labels: {sql}");
    assert!(sql.contains("ILIKE"), "{sql}");
    assert_eq!(
        b.args[2],
        Value::Text("%\ntier=batch\n%".into()),
        "org, the two terms that bind, then the ranking"
    );
    let all = parse("kind:pod kind:node").unwrap();
    assert!(hits(&mut Builder::new(Dialect::Sqlite), Value::I64(0), &all).is_none());
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
    )
    .unwrap();
    assert!(sql.contains("t.status IN (?2, ?3)"), "{sql}");
    assert!(
        sql.contains("t.rowid IN (SELECT rowid FROM k8s_pods_names WHERE name LIKE ?5)"),
        "positive free text on pods uses the name index: {sql}"
    );
    assert!(
        sql.contains("+t.org_id") && sql.contains("CROSS JOIN"),
        "{sql}"
    );
    let mut b = Builder::new(Dialect::Sqlite);
    let sql = hits(&mut b, Value::I64(0), &parse("kind:ns -api").unwrap()).unwrap();
    assert!(!sql.contains("k8s_pods_names"), "{sql}");
}
