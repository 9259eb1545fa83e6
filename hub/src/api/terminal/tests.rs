//! The terminal's query parsing and session counting (pure logic; the sessions themselves
//! run against real clusters in `hub/tests/kube_exec.rs`).

use super::*;
use crate::store::Role;

#[test]
fn the_query_names_the_command_one_argument_at_a_time() {
    let params = parse_params(Some(
        "container=app&command=sh&command=-c&command=echo%20hi%20there&tty=false&cols=80&rows=24",
    ))
    .unwrap();
    assert_eq!(
        params,
        ExecParams {
            container: Some("app".into()),
            command: vec!["sh".into(), "-c".into(), "echo hi there".into()],
            tty: false,
            size: Some(TerminalSize { cols: 80, rows: 24 }),
        }
    );
    let defaults = parse_params(None).unwrap();
    assert_eq!(defaults.command, vec![DEFAULT_COMMAND.to_owned()]);
    assert!(defaults.tty);
    assert_eq!(defaults.size, None);
}

#[test]
fn bad_queries_are_refused_in_words() {
    let message = |query: &str| match parse_params(Some(query)) {
        Err(ApiError::BadRequest(message)) => message,
        other => panic!("{query}: {other:?}"),
    };
    assert_eq!(message("cols=80"), "cols and rows go together");
    assert_eq!(message("cols=0&rows=2"), "cols must be from 1 to 1000");
    assert_eq!(message("tty=maybe"), "tty must be true or false");
    assert_eq!(
        message("container="),
        "container must be a container name of 1 to 253 characters"
    );
    assert_eq!(message("command="), "the command is empty");
    assert!(message("shell=bash").starts_with("unknown query parameter \"shell\""));
    let many = vec!["command=x"; 65].join("&");
    assert_eq!(message(&many), "the command has more than 64 arguments");
}

fn principal(user: Uuid, org: OrgId) -> Principal {
    Principal {
        user_id: user,
        org_id: org,
        actor: "someone@example.com".into(),
        role: Role::Admin,
        credential: Credential::Token(Uuid::nil()),
    }
}

#[test]
fn sessions_are_capped_per_user_and_given_back() {
    let sessions = std::sync::Arc::new(TerminalSessions::default());
    let org = OrgId::default();
    let alice = principal(Uuid::now_v7(), org);
    let mut held: Vec<_> = (0..MAX_TERMINALS_PER_USER)
        .map(|_| TerminalSessions::open(&sessions, &alice).unwrap())
        .collect();
    assert!(matches!(
        TerminalSessions::open(&sessions, &alice),
        Err(ApiError::OverLimit(_))
    ));
    // Another user of the organization still may.
    let bob = principal(Uuid::now_v7(), org);
    let bobs = TerminalSessions::open(&sessions, &bob).unwrap();
    held.pop();
    held.push(TerminalSessions::open(&sessions, &alice).unwrap());
    drop(held);
    drop(bobs);
    assert!(sessions.open.lock().unwrap().is_empty());
}

#[test]
fn sessions_are_capped_per_organization() {
    let sessions = std::sync::Arc::new(TerminalSessions::default());
    let org = OrgId::default();
    let held: Vec<_> = (0..MAX_TERMINALS_PER_ORG)
        .map(|_| TerminalSessions::open(&sessions, &principal(Uuid::now_v7(), org)).unwrap())
        .collect();
    match TerminalSessions::open(&sessions, &principal(Uuid::now_v7(), org)) {
        Err(ApiError::OverLimit(message)) => assert_eq!(
            message,
            format!("this organization already has {MAX_TERMINALS_PER_ORG} terminals open")
        ),
        other => panic!("{other:?}"),
    }
    drop(held);
}
