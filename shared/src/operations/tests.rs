use super::*;

#[test]
fn operation_lists_parse_and_refuse_unknown_names() {
    let set = OperationSet::parse(" logs, ,").unwrap();
    assert!(set.allows(Operation::Logs));
    assert_eq!(set.names(), vec!["logs"]);
    assert!(!OperationSet::parse("").unwrap().allows(Operation::Logs));
    assert_eq!(
        OperationSet::parse("logs,exec-all"),
        Err(UnknownOperation("exec-all".into()))
    );
    assert_eq!(
        OperationSet::all().names(),
        vec!["logs", "events", "objects", "actions", "exec"]
    );
}
