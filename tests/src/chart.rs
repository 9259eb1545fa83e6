//! The charts on a real test cluster: rendered and linted by the real Helm, server-side
//! applied, and a client authenticated as the agent chart's ServiceAccount. Shared by the
//! agent's and the hub's real-cluster tests.

use std::path::PathBuf;
use std::process::Command;

use crate::cluster::{TestCluster, bin_dir};
use anyhow::{Context, Result, bail};
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::GroupVersionKind;
use kube::discovery::{Discovery, Scope};
use serde::Deserialize;

/// The namespace the chart is installed in.
pub const NAMESPACE: &str = "kubeworkz";
/// The release name.
pub const RELEASE: &str = "kw";
/// The chart's ServiceAccount (and Deployment) name for [`RELEASE`].
pub const FULLNAME: &str = "kw-kubeworkz-agent";
/// The Secret the agent keeps its credentials in.
pub const CREDENTIALS_SECRET: &str = "kw-kubeworkz-agent-credentials";
/// The Secret holding the enrollment token.
pub const TOKEN_SECRET: &str = "kw-kubeworkz-agent-token";

/// The agent chart's directory name under `manifests/charts`.
pub const AGENT_CHART: &str = "kubeworkz-agent";
/// The hub chart's directory name under `manifests/charts`.
pub const HUB_CHART: &str = "kubeworkz-hub";

/// `manifests/charts/<name>` in this checkout.
pub fn chart_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../manifests/charts")
        .join(name)
}

/// `helm template` of the agent chart with `--set` `values`, rendered by the real Helm
/// (built in tests/kube-tools).
pub async fn render_chart(values: &[(&str, &str)], kube_version: &str) -> Result<String> {
    render(AGENT_CHART, NAMESPACE, values, kube_version).await
}

/// `helm template` of the chart `name` as release [`RELEASE`] in `namespace`; a refusal
/// (a `fail` in a template, or the values schema) is an error carrying Helm's message.
pub async fn render(
    name: &str,
    namespace: &str,
    values: &[(&str, &str)],
    kube_version: &str,
) -> Result<String> {
    let mut args = vec!["template".to_owned(), RELEASE.to_owned()];
    args.push(chart_dir(name).display().to_string());
    args.extend(["--namespace", namespace, "--kube-version", kube_version].map(String::from));
    helm(args, values).await
}

/// `helm lint --strict` of the chart `name` with `--set` `values`.
pub async fn lint(name: &str, values: &[(&str, &str)], kube_version: &str) -> Result<String> {
    let mut args = vec!["lint".to_owned(), "--strict".to_owned()];
    args.push(chart_dir(name).display().to_string());
    args.extend(["--kube-version", kube_version].map(String::from));
    helm(args, values).await
}

/// Runs the real Helm with `args` and a `--set` per value; its stdout, or an error with its
/// output.
async fn helm(args: Vec<String>, values: &[(&str, &str)]) -> Result<String> {
    let helm = bin_dir().await?.join("helm");
    let mut command = Command::new(&helm);
    command.args(&args);
    for (key, value) in values {
        command.arg("--set").arg(format!("{key}={value}"));
    }
    let out = command
        .output()
        .with_context(|| format!("running {}", helm.display()))?;
    if !out.status.success() {
        bail!(
            "helm {} failed: {}{}",
            args[0],
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// Server-side applies every document of `yaml`.
pub async fn apply(client: &kube::Client, yaml: &str) -> Result<()> {
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

/// A kubeconfig for `cluster` authenticated as the chart's ServiceAccount (a bound token, as
/// in a pod); the real agent binary runs with it written to a file.
pub async fn service_account_kubeconfig(cluster: &TestCluster) -> Result<Kubeconfig> {
    service_account_kubeconfig_of(cluster, FULLNAME).await
}

/// [`service_account_kubeconfig`] for the ServiceAccount `name` of [`NAMESPACE`] (another
/// release name than [`RELEASE`]).
pub async fn service_account_kubeconfig_of(
    cluster: &TestCluster,
    name: &str,
) -> Result<Kubeconfig> {
    let sas: Api<ServiceAccount> = Api::namespaced(cluster.client(), NAMESPACE);
    let request: TokenRequest = serde_json::from_value(serde_json::json!({
        "spec": {"audiences": [], "expirationSeconds": 3600}
    }))?;
    let token = sas
        .create_token_request(name, &PostParams::default(), &request)
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
    Ok(kubeconfig)
}

/// A client authenticated as the chart's ServiceAccount.
pub async fn agent_client(cluster: &TestCluster) -> Result<kube::Client> {
    let kubeconfig = service_account_kubeconfig(cluster).await?;
    let config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    Ok(kube::Client::try_from(config)?)
}
