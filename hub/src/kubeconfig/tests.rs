use super::*;

const CA: &str =
    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUIuLi4KLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=";
const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.super-secret-token-value";

fn kubeconfig(user: &str, extra_context: bool, current: Option<&str>) -> String {
    let current = current
        .map(|c| format!("current-context: {c}\n"))
        .unwrap_or_default();
    let second = if extra_context {
        "- name: staging\n  context:\n    cluster: prod\n    user: admin\n"
    } else {
        ""
    };
    format!(
        "apiVersion: v1
kind: Config
{current}clusters:
- name: prod
  cluster:
    server: https://prod.example.com:6443
    certificate-authority-data: {CA}
- name: other
  cluster:
    server: https://other.example.com
contexts:
- name: prod
  context:
    cluster: prod
    user: admin
{second}users:
- name: admin
  user:
{user}
- name: someone-else
  user:
    token: other-token
"
    )
}

fn token_user() -> String {
    format!("    token: {TOKEN}")
}

#[test]
fn keeps_only_the_chosen_context_cluster_and_user() {
    let v = validate(&kubeconfig(&token_user(), false, Some("prod")), None).unwrap();
    assert_eq!(v.context, "prod");
    assert_eq!(v.server, "https://prod.example.com:6443");
    assert!(v.warnings.is_empty(), "{:?}", v.warnings);
    let yaml = v.to_yaml();
    assert!(
        yaml.contains(TOKEN),
        "the sealed plaintext keeps the credentials"
    );
    assert!(!yaml.contains("other-token"), "other users are dropped");
    assert!(
        !yaml.contains("other.example.com"),
        "other clusters are dropped"
    );
    // The minified file is itself a valid kubeconfig.
    assert_eq!(validate(&yaml, None).unwrap().server, v.server);
}

#[test]
fn debug_output_never_holds_credentials() {
    let v = validate(&kubeconfig(&token_user(), false, Some("prod")), None).unwrap();
    assert!(!format!("{v:?}").contains(TOKEN));
}

#[test]
fn the_only_context_is_used_without_current_context() {
    let v = validate(&kubeconfig(&token_user(), false, None), None).unwrap();
    assert_eq!(v.context, "prod");
}

#[test]
fn several_contexts_and_no_current_one_must_be_chosen() {
    let err = validate(&kubeconfig(&token_user(), true, None), None).unwrap_err();
    assert!(err.to_string().contains("choose one"), "{err}");
    let v = validate(&kubeconfig(&token_user(), true, None), Some("staging")).unwrap();
    assert_eq!(v.context, "staging");
    let err = validate(&kubeconfig(&token_user(), true, None), Some("dev")).unwrap_err();
    assert!(
        err.to_string().contains(r#"context "dev" not found"#),
        "{err}"
    );
}

#[test]
fn credential_plugins_point_to_agent_mode() {
    let exec = "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: aws\n      args: [eks, get-token, --cluster-name, prod]";
    let err = validate(&kubeconfig(exec, false, Some("prod")), None).unwrap_err();
    assert!(matches!(err, KubeconfigError::CredentialPlugin { .. }));
    assert!(err.to_string().contains("agent"), "{err}");

    let provider =
        "    auth-provider:\n      name: gcp\n      config:\n        access-token: ya29.secret";
    let err = validate(&kubeconfig(provider, false, Some("prod")), None).unwrap_err();
    assert!(err.to_string().contains("auth-provider"), "{err}");
    assert!(!err.to_string().contains("ya29"), "{err}");
}

#[test]
fn file_paths_are_refused_with_the_flatten_hint() {
    for (user, field) in [
        ("    tokenFile: /var/run/token", "tokenFile"),
        (
            "    client-certificate: /home/me/.kube/cert.pem\n    client-key: /home/me/.kube/key.pem",
            "client-certificate",
        ),
    ] {
        let err = validate(&kubeconfig(user, false, Some("prod")), None).unwrap_err();
        assert!(err.to_string().starts_with(field), "{err}");
        assert!(err.to_string().contains("--flatten"), "{err}");
    }
    let yaml = kubeconfig(&token_user(), false, Some("prod")).replace(
        &format!("certificate-authority-data: {CA}"),
        "certificate-authority: /etc/ca.pem",
    );
    let err = validate(&yaml, None).unwrap_err();
    assert!(
        err.to_string().starts_with("certificate-authority"),
        "{err}"
    );
}

#[test]
fn basic_auth_and_missing_credentials_are_refused() {
    let basic = "    username: admin\n    password: hunter2";
    let err = validate(&kubeconfig(basic, false, Some("prod")), None).unwrap_err();
    assert!(matches!(err, KubeconfigError::BasicAuth(_)));
    assert!(!err.to_string().contains("hunter2"));
    let err = validate(&kubeconfig("    {}", false, Some("prod")), None).unwrap_err();
    assert!(matches!(err, KubeconfigError::NoCredentials(_)), "{err}");
}

#[test]
fn syntax_errors_give_a_position_and_no_content() {
    let err = validate("apiVersion: v1\nclusters: [\n  token: s3cr3t-value", None).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("kubeconfig is not valid YAML (line"),
        "{text}"
    );
    assert!(!text.contains("s3cr3t"), "{text}");
    let err = validate(
        "clusters: 5\nusers: [{name: x, user: {token: s3cr3t}}]",
        None,
    )
    .unwrap_err();
    assert!(!err.to_string().contains("s3cr3t"), "{err}");
}

#[test]
fn dangling_references_and_plain_http_are_refused() {
    let yaml = kubeconfig(&token_user(), false, Some("prod")).replace("user: admin", "user: ghost");
    let err = validate(&yaml, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"context "prod" refers to user "ghost", which the kubeconfig does not define"#
    );
    let yaml = kubeconfig(&token_user(), false, Some("prod")).replace(
        "https://prod.example.com:6443",
        "http://prod.example.com:8080",
    );
    assert!(matches!(
        validate(&yaml, None),
        Err(KubeconfigError::NoServer(_))
    ));
}

#[test]
fn skipping_tls_verification_is_allowed_with_a_warning() {
    let yaml = kubeconfig(&token_user(), false, Some("prod")).replace(
        &format!("certificate-authority-data: {CA}"),
        "insecure-skip-tls-verify: true",
    );
    let v = validate(&yaml, None).unwrap();
    assert_eq!(v.warnings.len(), 1);
    assert!(v.warnings[0].contains("skips TLS verification"));
}

#[test]
fn oversize_input_is_refused_before_parsing() {
    let big = "#".repeat(MAX_KUBECONFIG_BYTES + 1);
    assert_eq!(
        validate(&big, None).unwrap_err(),
        KubeconfigError::TooLarge {
            max: MAX_KUBECONFIG_BYTES
        }
    );
}

#[test]
fn a_proxy_is_refused_because_the_hub_connects_itself() {
    let yaml = kubeconfig(&token_user(), false, Some("prod")).replace(
        "server: https://prod.example.com:6443",
        "server: https://prod.example.com:6443\n    proxy-url: socks5://169.254.169.254:1080",
    );
    let err = validate(&yaml, None).unwrap_err();
    assert_eq!(err, KubeconfigError::Proxy("prod".into()));
    assert!(err.to_string().contains("proxy-url"), "{err}");
}
