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

#[test]
fn exits_read_the_kubelet_status() {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Status, StatusCause, StatusDetails};
    let success = Status {
        status: Some("Success".into()),
        ..Status::default()
    };
    assert_eq!(exit_of(Some(success)).code, Some(0));
    let failed = Status {
        status: Some("Failure".into()),
        reason: Some("NonZeroExitCode".into()),
        message: Some("command terminated with non-zero exit code: exit status 3".into()),
        details: Some(StatusDetails {
            causes: Some(vec![StatusCause {
                reason: Some("ExitCode".into()),
                message: Some("3".into()),
                ..StatusCause::default()
            }]),
            ..StatusDetails::default()
        }),
        ..Status::default()
    };
    let exit = exit_of(Some(failed));
    assert_eq!(exit.code, Some(3));
    assert!(exit.message.contains("exit status 3"));
    let none = exit_of(None);
    assert_eq!(
        (none.code, none.message.as_str()),
        (None, "the exec stream ended without an exit status")
    );
}

#[test]
fn exec_commands_are_bounded() {
    assert!(check_command(&["sh".into()]).is_ok());
    assert_eq!(
        check_command(&[]),
        Err(OperationError::BadRequest("the command is empty".into()))
    );
    let long = vec!["x".repeat(MAX_EXEC_COMMAND_BYTES + 1)];
    assert_eq!(
        check_command(&long),
        Err(OperationError::BadRequest(format!(
            "the command is longer than {MAX_EXEC_COMMAND_BYTES} bytes"
        )))
    );
}
