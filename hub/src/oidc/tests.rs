use super::*;

fn mapping(group: &str, role: Role) -> GroupRole {
    GroupRole {
        group: group.into(),
        role,
    }
}

#[test]
fn the_most_privileged_mapped_group_wins_else_the_default() {
    let mappings = [
        mapping("dev", Role::Viewer),
        mapping("platform", Role::Admin),
    ];
    let groups = |g: &[&str]| g.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        role_for(&groups(&["dev", "platform"]), &mappings, None),
        Some(Role::Admin)
    );
    assert_eq!(
        role_for(&groups(&["platform", "dev"]), &mappings, None),
        Some(Role::Admin)
    );
    assert_eq!(
        role_for(&groups(&["dev"]), &mappings, Some(Role::Admin)),
        Some(Role::Viewer),
        "a mapped group decides, not the default"
    );
    assert_eq!(
        role_for(&groups(&["sales"]), &mappings, Some(Role::Viewer)),
        Some(Role::Viewer)
    );
    assert_eq!(role_for(&groups(&["sales"]), &mappings, None), None);
    assert_eq!(role_for(&[], &[], None), None);
    let on_call = [
        mapping("dev", Role::Viewer),
        mapping("on-call", Role::Operator),
        mapping("platform", Role::Admin),
    ];
    assert_eq!(
        role_for(&groups(&["dev", "on-call"]), &on_call, None),
        Some(Role::Operator),
        "the operator ranks between viewer and admin"
    );
    assert_eq!(
        role_for(&groups(&["on-call", "platform"]), &on_call, None),
        Some(Role::Admin)
    );
    assert_eq!(settings::role("operator"), Ok(Role::Operator));
}

#[test]
fn a_groups_claim_may_be_a_list_or_one_string() {
    let list = serde_json::json!(["a", "b", 3]);
    assert_eq!(strings_of(Some(&list)), ["a", "b"]);
    let one = serde_json::json!("a");
    assert_eq!(strings_of(Some(&one)), ["a"]);
    assert!(strings_of(Some(&serde_json::json!({"a": 1}))).is_empty());
    assert!(strings_of(None).is_empty());
}

#[test]
fn a_verified_login_never_shows_its_tokens() {
    let v = Verified {
        issuer: "https://idp".into(),
        subject: "sub".into(),
        email: "a@x.io".into(),
        email_verified: true,
        groups: vec![],
        id_token: "eyJ.secret-id-token".into(),
        refresh_token: Some("secret-refresh".into()),
        expires_at: Utc::now(),
    };
    let shown = format!("{v:?}");
    assert!(!shown.contains("secret"), "{shown}");
}
