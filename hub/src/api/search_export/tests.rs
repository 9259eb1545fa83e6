use std::collections::BTreeMap;

use super::*;

#[test]
fn csv_rows_are_quoted_and_formulas_defused() {
    let hit = SearchHit {
        kind: "pod",
        id: "u".into(),
        cluster_id: uuid::Uuid::nil(),
        cluster_name: "prod, eu".into(),
        namespace: "web".into(),
        name: "=HYPERLINK(\"x\")".into(),
        status: "Running".into(),
        labels: BTreeMap::from([("app".into(), "web".into()), ("tier".into(), "-1".into())]),
        link: "/admin/kubernetes/pods/u".into(),
    };
    let row: Vec<String> = csv_fields(&hit).iter().map(|f| csv_text(f)).collect();
    assert_eq!(
        row.join(","),
        "pod,\"prod, eu\",web,\"'=HYPERLINK(\"\"x\"\")\",Running,app=web;tier=-1,\
         /admin/kubernetes/pods/u"
    );
}
