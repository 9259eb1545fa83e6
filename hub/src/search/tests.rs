use super::*;

fn terms(text: &str) -> Vec<(bool, Key, String, usize)> {
    parse(text)
        .unwrap()
        .terms
        .into_iter()
        .map(|t| (t.negated, t.key, t.value, t.position))
        .collect()
}

fn fails(text: &str) -> (String, usize) {
    let e = parse(text).unwrap_err();
    (e.message, e.position)
}

#[test]
fn free_text_keys_negation_and_quotes() {
    assert_eq!(
        terms(r#"payments kind:pod -label:tier=batch ns:"my ns" "a b""#),
        vec![
            (false, Key::Text, "payments".into(), 1),
            (false, Key::Kind, "pod".into(), 10),
            (true, Key::Label, "tier=batch".into(), 19),
            (false, Key::Namespace, "my ns".into(), 37),
            (false, Key::Text, "a b".into(), 48),
        ]
    );
    assert_eq!(
        terms("image:nginx:1.25 cluster:prod-* NAMESPACE:web"),
        vec![
            (false, Key::Image, "nginx:1.25".into(), 1),
            (false, Key::Cluster, "prod-*".into(), 18),
            (false, Key::Namespace, "web".into(), 33),
        ],
        "a value may hold ':'; keys are case-insensitive"
    );
    assert!(parse("   ").unwrap().terms.is_empty(), "empty matches all");
}

#[test]
fn positions_count_characters_not_bytes() {
    assert_eq!(terms("été -x")[1].3, 5);
    assert_eq!(fails("café foo:bar").1, 6);
}

#[test]
fn unknown_keys_and_kinds_are_reported_where_they_are() {
    let (message, position) = fails("web colour:red");
    assert!(message.contains("unknown key \"colour\""), "{message}");
    assert_eq!(position, 5);
    let (message, position) = fails("kind:widget");
    assert!(message.contains("unknown kind \"widget\""), "{message}");
    assert_eq!(position, 6);
    assert_eq!(fails("-colour:red").1, 2, "after the minus");
}

#[test]
fn malformed_terms_are_refused_with_their_position() {
    assert_eq!(fails("web ns:").1, 8);
    assert!(fails("web ns:").0.contains("needs a value"));
    assert_eq!(fails(r#"a "open"#), ("a quote is not closed".into(), 3));
    assert_eq!(fails("a - b").1, 3);
    assert_eq!(fails("label:=web").1, 7);
    assert_eq!(fails(r#"a """#).1, 3);
    assert_eq!(fails("a\u{7}b").1, 2);
    let long = "a".repeat(MAX_QUERY_CHARS + 1);
    assert_eq!(fails(&long).1, MAX_QUERY_CHARS + 1);
    let many = vec!["x"; MAX_TERMS + 1].join(" ");
    assert_eq!(fails(&many).1, 2 * MAX_TERMS + 1);
}

#[test]
fn kinds_have_aliases_and_kind_terms_admit_kinds() {
    assert_eq!(SearchKind::named("deploy"), Some(SearchKind::Deployment));
    assert_eq!(SearchKind::named("Pods"), Some(SearchKind::Pod));
    assert_eq!(SearchKind::named("helm"), Some(SearchKind::HelmRelease));
    let q = parse("kind:pods").unwrap();
    assert!(q.admits(SearchKind::Pod) && !q.admits(SearchKind::Node));
    let q = parse("-kind:pod").unwrap();
    assert!(!q.admits(SearchKind::Pod) && q.admits(SearchKind::Cluster));
    let q = parse("kind:pod kind:node").unwrap();
    assert!(
        SearchKind::ALL.iter().all(|k| !q.admits(*k)),
        "AND of kinds"
    );
    for kind in SearchKind::ALL {
        assert_eq!(SearchKind::named(kind.as_str()), Some(kind));
    }
}

#[test]
fn ranking_uses_the_first_positive_free_text() {
    let q = parse("-old kind:pod api web").unwrap();
    assert_eq!(q.ranking_text(), Some("api"));
    assert!(parse("kind:pod").unwrap().ranking_text().is_none());
}
