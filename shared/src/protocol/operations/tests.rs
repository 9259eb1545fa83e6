//! Golden postcard bytes of every operation message: these fail when an existing encoding
//! changes (append variants and fields instead).

use super::*;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn check<T>(message: &T, want: &str)
where
    T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let bytes = postcard::to_stdvec(message).unwrap();
    assert_eq!(hex(&bytes), want, "{message:?}");
    let limits = crate::protocol::DecodeLimits::for_frame(bytes.len() as u32);
    let (back, _) = crate::protocol::budget::decode::<T>(&bytes, &limits).unwrap();
    assert_eq!(&back, message);
}

#[test]
fn golden_requests() {
    check(
        &OperationRequest::Logs(LogsRequest {
            namespace: "ns".into(),
            pod: "p".into(),
            container: Some("c".into()),
            follow: true,
            tail_lines: Some(10),
            since_seconds: None,
            previous: false,
            timestamps: true,
        }),
        "00026e73017001016301010a000001",
    );
    let object = ObjectRequest {
        kind: LiveKind::Deployment,
        namespace: "ns".into(),
        name: "d".into(),
    };
    check(&OperationRequest::Events(object.clone()), "0101026e730164");
    check(
        &OperationRequest::Object(ObjectRequest {
            kind: LiveKind::Namespace,
            namespace: String::new(),
            name: "n".into(),
        }),
        "020300016e",
    );
    let web = NamedObject {
        namespace: "ns".into(),
        name: "w".into(),
    };
    check(
        &OperationRequest::Scale(ScaleRequest {
            deployment: web.clone(),
            replicas: 300,
        }),
        "03026e730177ac02",
    );
    check(&OperationRequest::Restart(web.clone()), "04026e730177");
    check(&OperationRequest::DeletePod(web), "05026e730177");
    check(
        &OperationRequest::Exec(ExecRequest {
            namespace: "ns".into(),
            pod: "p".into(),
            container: Some("c".into()),
            command: vec!["sh".into()],
            tty: true,
            size: Some(TerminalSize {
                cols: 80,
                rows: 300,
            }),
        }),
        "06026e73017001016301027368010150ac02",
    );
}

#[test]
fn golden_exec_frames() {
    check(&ExecInput::Stdin(b"ls\n".to_vec()), "00036c730a");
    check(
        &ExecInput::Resize(TerminalSize {
            cols: 120,
            rows: 40,
        }),
        "017828",
    );
    check(&ExecInput::Close, "02");
    check(&ExecOutput::Stdout(b"hi".to_vec()), "00026869");
    check(&ExecOutput::Stderr(b"e".to_vec()), "010165");
    check(
        &ExecOutput::Exit(ExecExit {
            code: Some(-3),
            message: String::new(),
        }),
        "02010500",
    );
    check(
        &ExecOutput::Exit(ExecExit {
            code: None,
            message: "gone".into(),
        }),
        "020004676f6e65",
    );
}

#[test]
fn golden_responses() {
    check(&OperationResponse::Streaming, "00");
    let failures = [
        (OperationError::NotEnabled(Operation::Logs), "010000"),
        (OperationError::NotEnabled(Operation::Events), "010001"),
        (OperationError::NotEnabled(Operation::Objects), "010002"),
        (OperationError::NotEnabled(Operation::Actions), "010003"),
        (OperationError::NotEnabled(Operation::Exec), "010004"),
        (OperationError::Busy, "0101"),
        (OperationError::BadRequest("b".into()), "01020162"),
        (OperationError::NotFound("n".into()), "0103016e"),
        (
            OperationError::Kubernetes {
                code: 404,
                message: "m".into(),
            },
            "01049403016d",
        ),
        (OperationError::Unavailable("u".into()), "01050175"),
    ];
    for (error, want) in failures {
        check(&OperationResponse::Failed(error), want);
    }
}

#[test]
fn errors_read_as_the_chart_switch() {
    assert_eq!(
        OperationError::NotEnabled(Operation::Logs).to_string(),
        "not enabled in this agent's chart (operations.logs)"
    );
    assert_eq!(
        OperationError::NotEnabled(Operation::Actions).to_string(),
        "not enabled in this agent's chart (operations.actions)"
    );
    for op in Operation::ALL {
        assert_eq!(Operation::parse(op.as_str()), Some(op));
    }
    assert_eq!(Operation::parse("exec-everything"), None);
}
