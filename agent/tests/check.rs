//! `kubeworkz-agent check` with the chart's own RBAC, against a real apiserver: the rendered
//! manifests are applied, the check runs with the chart ServiceAccount's token, and it must
//! collect everything — and be refused Secrets when Helm releases are off.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::GroupVersionKind;
use kube::discovery::{Discovery, Scope};
use kubeworkz_agent::check;
use kubeworkz_shared::change::ObjectKind;
use kubeworkz_testkit::cluster::{ClusterSpec, NodeSpec, TestCluster, bin_dir};
use serde::Deserialize;

const NAMESPACE: &str = "kubeworkz";
const RELEASE: &str = "kw";

/// `helm template` of the agent chart, rendered by the real Helm (built in tests/kube-tools).
async fn render_chart(helm_releases: bool, kube_version: &str) -> Result<String> {
    let helm = bin_dir().await?.join("helm");
    let chart =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../manifests/charts/kubeworkz-agent");
    let out = Command::new(&helm)
        .args(["template", RELEASE])
        .arg(&chart)
        .args(["--namespace", NAMESPACE, "--kube-version", kube_version])
        .args([
            "--set",
            "hub.address=hub.example.com:7443",
            "--set",
            "token=kwt_test",
        ])
        .arg("--set")
        .arg(format!("helm.releases.enabled={helm_releases}"))
        .output()
        .with_context(|| format!("running {}", helm.display()))?;
    if !out.status.success() {
        bail!(
            "helm template failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// Server-side applies every document of `yaml`.
async fn apply(client: &kube::Client, yaml: &str) -> Result<()> {
    let discovery = Discovery::new(client.clone()).run().await?;
    for document in serde_yaml::Deserializer::from_str(yaml) {
        let value = serde_yaml::Value::deserialize(document)?;
        if value.is_null() {
            continue;
        }
        let object: DynamicObject = serde_yaml::from_value(value)?;
        let types = object
            .types
            .clone()
            .context("document without apiVersion/kind")?;
        let gvk = GroupVersionKind::try_from(&types)?;
        let (resource, caps) = discovery
            .resolve_gvk(&gvk)
            .with_context(|| format!("unknown kind {gvk:?}"))?;
        let name = object
            .metadata
            .name
            .clone()
            .context("document without a name")?;
        let api: Api<DynamicObject> = match caps.scope {
            Scope::Namespaced => {
                let ns = object.metadata.namespace.as_deref().unwrap_or(NAMESPACE);
                Api::namespaced_with(client.clone(), ns, &resource)
            }
            Scope::Cluster => Api::all_with(client.clone(), &resource),
        };
        api.patch(
            &name,
            &PatchParams::apply("kubeworkz-test").force(),
            &Patch::Apply(&object),
        )
        .await
        .with_context(|| format!("applying {} {name}", types.kind))?;
    }
    Ok(())
}

/// A client authenticated as the chart's ServiceAccount (a bound token, as in a pod).
async fn agent_client(cluster: &TestCluster) -> Result<kube::Client> {
    let sas: Api<ServiceAccount> = Api::namespaced(cluster.client(), NAMESPACE);
    let request: TokenRequest = serde_json::from_value(serde_json::json!({
        "spec": {"audiences": [], "expirationSeconds": 3600}
    }))?;
    let token = sas
        .create_token_request(
            &format!("{RELEASE}-kubeworkz-agent"),
            &PostParams::default(),
            &request,
        )
        .await?
        .status
        .context("token request without status")?
        .token;
    let mut kubeconfig = Kubeconfig::from_yaml(cluster.kubeconfig_yaml())?;
    for user in &mut kubeconfig.auth_infos {
        user.auth_info = Some(serde_json::from_value(
            serde_json::json!({ "token": token }),
        )?);
    }
    let config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    Ok(kube::Client::try_from(config)?)
}

async fn cluster_with_chart(name: &str, helm_releases: bool) -> Result<TestCluster> {
    let cluster = TestCluster::start(ClusterSpec::new(name, vec![NodeSpec::new("node-a")])).await?;
    cluster.create_namespace(NAMESPACE).await?;
    apply(
        &cluster.client(),
        &render_chart(helm_releases, cluster.server_version()).await?,
    )
    .await?;
    Ok(cluster)
}

#[tokio::test]
async fn the_charts_rbac_is_enough_to_collect_everything() -> Result<()> {
    let cluster = cluster_with_chart("rbac-full", true).await?;
    let client = agent_client(&cluster).await?;
    let report = check::run(client, true, Duration::from_secs(90)).await?;
    println!("{report}");
    assert!(report.ok(), "{report}");
    assert!(report.access.iter().all(|a| a.allowed));
    let count = |kind| {
        report
            .counts
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, n)| *n)
    };
    assert_eq!(count(ObjectKind::Node), Some(1));
    assert!(count(ObjectKind::Namespace).unwrap_or(0) >= 5, "{report}");
    assert_eq!(count(ObjectKind::HelmRelease), Some(0));
    assert!(report.server_version.starts_with("v1.36."), "{report}");
    Ok(())
}

#[tokio::test]
async fn without_helm_releases_the_agent_cannot_read_secrets() -> Result<()> {
    let cluster = cluster_with_chart("rbac-nohelm", false).await?;
    let client = agent_client(&cluster).await?;

    let report = check::run(client.clone(), false, Duration::from_secs(90)).await?;
    assert!(report.ok(), "{report}");
    assert!(
        !report
            .counts
            .iter()
            .any(|(k, _)| *k == ObjectKind::HelmRelease)
    );

    // Asking for Helm releases anyway: exactly the three secret verbs are denied.
    let report = check::run(client.clone(), true, Duration::from_secs(20)).await?;
    assert!(!report.ok());
    let denied: Vec<_> = report
        .access
        .iter()
        .filter(|a| !a.allowed)
        .map(|a| (a.permission.resource, a.verb))
        .collect();
    assert_eq!(
        denied,
        [
            ("secrets", "get"),
            ("secrets", "list"),
            ("secrets", "watch")
        ]
    );
    assert!(
        format!("{report}").contains("DENY get    core/secrets"),
        "{report}"
    );

    // And the apiserver refuses a direct read.
    let err = Api::<Secret>::all(client)
        .list(&Default::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 403),
        "{err}"
    );
    Ok(())
}
