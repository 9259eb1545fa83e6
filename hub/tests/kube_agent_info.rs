//! Agent mode as a new user meets it, every part real: four test clusters made to look like
//! EKS, GKE, k3s and upstream Kubernetes (server version, node labels, providerIDs), the real
//! `serve`, a token from the real `token create`, and its printed install line run by the
//! real Helm against the hub's own chart repository (`helm template` with the same
//! arguments: the chart downloaded over HTTP from the running hub). The rendered chart is
//! applied to the cluster and the real agent runs as its Deployment would (its environment,
//! resolved from the rendered Secret, as its ServiceAccount).
//!
//! Then, through the REST API: provider and version appear within 5 s of enrollment for each
//! provider; polled every 500 ms for the first 60 s, the health verdict never says "no
//! nodes" while the counts show nodes; and restarting one apiserver as another `gitVersion`
//! updates the stored version of its agent cluster and of the same cluster registered in pull
//! mode, each with a `cluster.version_changed` audit entry.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use futures::future::try_join_all;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kubeworkz_testkit::cluster::{ClusterSpec, KUBE_VERSION, NodeSpec, TestCluster, bin_dir};
use serde::Deserialize;
use serde_json::Value;

use kubeworkz_testkit::chart;

mod support;

use support::hub::{Hub, cli, login_session};
use support::real_agent::Agent;

const ADMIN_EMAIL: &str = "admin@example.com";
const ADMIN_PASSWORD: &str = "correct horse battery staple";
const GKE_VERSION: &str = "v1.36.3-gke.1200";
const ENROLLED: &str = "enrolled with the hub";

/// One provider's test cluster: its name (also the hub's cluster name), the version its
/// apiserver reports, its two nodes, and what the hub must store as its provider.
struct Case {
    name: &'static str,
    version: &'static str,
    nodes: [NodeSpec; 2],
    provider: &'static str,
}

fn cases() -> Vec<Case> {
    let eks = |name: &str| {
        NodeSpec::new(name)
            .label("eks.amazonaws.com/nodegroup", "general")
            .label("node.kubernetes.io/instance-type", "m6i.large")
            .provider_id(format!("aws:///us-east-1a/i-0abc{name}"))
    };
    let gke = |name: &str| {
        NodeSpec::new(name)
            .label("cloud.google.com/gke-nodepool", "default-pool")
            .provider_id(format!("gce://acme-prod/us-central1-a/{name}"))
    };
    let k3s = |name: &str| NodeSpec::new(name).provider_id(format!("k3s://{name}"));
    vec![
        Case {
            name: "eks",
            version: "v1.36.3-eks-4f2a1c9",
            nodes: [eks("ip-10-0-1-23"), eks("ip-10-0-1-24")],
            provider: "eks",
        },
        Case {
            name: "gke",
            version: GKE_VERSION,
            nodes: [gke("gke-pool-a"), gke("gke-pool-b")],
            provider: "gke",
        },
        Case {
            name: "k3s",
            version: "v1.36.3+k3s1",
            nodes: [k3s("edge-1"), k3s("edge-2")],
            provider: "k3s",
        },
        Case {
            name: "vanilla",
            version: KUBE_VERSION,
            nodes: [NodeSpec::new("node-1"), NodeSpec::new("node-2")],
            provider: "vanilla",
        },
    ]
}

/// The REST API as the logged-in admin.
struct ApiClient {
    base: String,
    http: reqwest::Client,
    session: String,
}

impl ApiClient {
    async fn login(base: String) -> Result<Self> {
        let session = login_session(&base, ADMIN_EMAIL, ADMIN_PASSWORD).await?;
        Ok(Self {
            base,
            http: reqwest::Client::new(),
            session,
        })
    }

    async fn get(&self, path: &str) -> Result<Value> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.session)
            .send()
            .await?;
        ensure!(
            response.status() == 200,
            "GET {path}: {}",
            response.status()
        );
        Ok(response.json().await?)
    }

    /// The id of the cluster named `name`, once it exists.
    async fn cluster_id(&self, name: &str) -> Result<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let page = self.get("/api/v1/k8s/clusters?limit=100").await?;
            let found = page["items"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["name"] == name)
                .and_then(|c| c["id"].as_str());
            if let Some(id) = found {
                return Ok(id.to_owned());
            }
            ensure!(Instant::now() < deadline, "no cluster {name}: {page}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Runs `helm_line` (`helm install …` as `token create` printed it) as `helm template` with
/// the same arguments and the real Helm, in a Helm home of its own.
fn helm_template(helm_line: &str, helm_home: &Path, helm: &Path) -> Result<String> {
    let args: Vec<&str> = helm_line.split_whitespace().collect();
    ensure!(
        args.len() > 2 && args[0] == "helm" && args[1] == "install",
        "not an install line: {helm_line}"
    );
    let out = Command::new(helm)
        .arg("template")
        .args(&args[2..])
        .args(["--kube-version", KUBE_VERSION])
        .env("HELM_CACHE_HOME", helm_home.join("cache"))
        .env("HELM_CONFIG_HOME", helm_home.join("config"))
        .env("HELM_DATA_HOME", helm_home.join("data"))
        .output()
        .with_context(|| format!("running {}", helm.display()))?;
    ensure!(
        out.status.success(),
        "helm template failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

/// The rendered Deployment's ServiceAccount and its container's environment, resolved as the
/// kubelet would (values, the token Secret's key, the pod's namespace).
async fn deployment_env(
    cluster: &TestCluster,
    manifests: &str,
) -> Result<(String, Vec<(String, String)>)> {
    let deployment = serde_yaml::Deserializer::from_str(manifests)
        .map(serde_yaml::Value::deserialize)
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .find(|doc| doc["kind"].as_str() == Some("Deployment"))
        .context("no Deployment rendered")?;
    let spec = &deployment["spec"]["template"]["spec"];
    let account = spec["serviceAccountName"]
        .as_str()
        .context("serviceAccountName")?
        .to_owned();
    let secrets: Api<Secret> = Api::namespaced(cluster.client(), chart::NAMESPACE);
    let mut env = Vec::new();
    for var in spec["containers"][0]["env"]
        .as_sequence()
        .context("container env")?
    {
        let name = var["name"].as_str().context("env name")?.to_owned();
        let value = if let Some(value) = var["value"].as_str() {
            value.to_owned()
        } else if let Some(key_ref) = var["valueFrom"].get("secretKeyRef") {
            let secret = secrets
                .get(key_ref["name"].as_str().context("secret name")?)
                .await?;
            let key = key_ref["key"].as_str().context("secret key")?;
            let bytes = secret
                .data
                .and_then(|mut data| data.remove(key))
                .with_context(|| format!("secret key {key}"))?;
            String::from_utf8(bytes.0)?
        } else if var["valueFrom"]["fieldRef"]["fieldPath"].as_str() == Some("metadata.namespace") {
            chart::NAMESPACE.to_owned()
        } else {
            bail!("env {name} has no value the test can resolve: {var:?}");
        };
        env.push((name, value));
    }
    Ok((account, env))
}

/// `token create` (printing the install line for the hub at `public_url`), the line run by
/// Helm, its output applied, and the agent started as the Deployment would run it.
async fn install_agent(
    cluster: &TestCluster,
    db: &str,
    quic: &str,
    public_url: &str,
    dir: &Path,
) -> Result<Agent> {
    let name = cluster.name();
    let (ok, out, err) = cli(
        db,
        &[
            "token",
            "create",
            "--name",
            name,
            "--hub-address",
            quic,
            "--public-url",
            public_url,
            "--output",
            "json",
        ],
    );
    ensure!(ok, "token create: {out}{err}");
    let created: Value = serde_json::from_str(out.trim())?;
    let helm_line = created["helm"].as_str().context("helm line")?;
    ensure!(
        helm_line.contains(&format!(" --repo {public_url}/charts ")),
        "{helm_line}"
    );
    let helm = bin_dir().await?.join("helm");
    let manifests = helm_template(helm_line, &dir.join(format!("helm-{name}")), &helm)?;

    cluster.create_namespace(chart::NAMESPACE).await?;
    chart::apply(&cluster.client(), &manifests).await?;
    let (account, rendered) = deployment_env(cluster, &manifests).await?;
    let kubeconfig = dir.join(format!("{name}.kubeconfig"));
    std::fs::write(
        &kubeconfig,
        serde_yaml::to_string(&chart::service_account_kubeconfig_of(cluster, &account).await?)?,
    )?;
    let mut env: Vec<(&str, String)> = rendered
        .iter()
        // Four agents share this machine: the admin port is picked by the system, and the
        // log stays JSON for the test to read.
        .filter(|(k, _)| k != "KUBEWORKZ_ADMIN_LISTEN" && k != "KUBEWORKZ_LOG_FORMAT")
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    env.push(("KUBECONFIG", kubeconfig.display().to_string()));
    env.push(("KUBEWORKZ_ADMIN_LISTEN", "127.0.0.1:0".to_owned()));
    Agent::start(&env, &dir.join(format!("{name}-agent.log")))
}

/// From enrollment on: provider and version stored within 5 s, and for 60 s (polled every
/// 500 ms) never "no nodes" beside counted nodes. Returns the cluster's id.
async fn watch_enrollment(api: &ApiClient, agent: &mut Agent, case: &Case) -> Result<String> {
    agent
        .wait_log(ENROLLED, 1, Duration::from_secs(120))
        .await?;
    let enrolled = Instant::now();
    let id = api.cluster_id(case.name).await?;
    let mut identified: Option<Duration> = None;
    let mut polls = 0;
    while enrolled.elapsed() < Duration::from_secs(60) {
        let view = api.get(&format!("/api/v1/k8s/clusters/{id}")).await?;
        let nodes = view["counts"]["nodes"].as_u64().unwrap_or(0);
        let no_nodes = view["health"]["reasons"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|reason| reason["code"] == "no_nodes");
        ensure!(
            !(no_nodes && nodes > 0),
            "{}: \"no nodes\" beside {nodes} counted nodes, {:?} after enrollment: {view}",
            case.name,
            enrolled.elapsed()
        );
        if identified.is_none() {
            if view["provider"] == case.provider && view["version"] == case.version {
                identified = Some(enrolled.elapsed());
            } else {
                ensure!(
                    enrolled.elapsed() <= Duration::from_secs(5),
                    "{}: provider and version not stored 5 s after enrollment: {view}",
                    case.name
                );
            }
        }
        polls += 1;
        tokio::time::sleep(Duration::from_millis(if identified.is_some() {
            500
        } else {
            100
        }))
        .await;
    }
    eprintln!(
        "{}: provider and version stored {:?} after enrollment; {polls} polls",
        case.name,
        identified.context("never identified")?
    );
    Ok(id)
}

/// Waits until the cluster `id` shows `version` (and still `provider`).
async fn until_version(api: &ApiClient, id: &str, provider: &str, version: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let view = api.get(&format!("/api/v1/k8s/clusters/{id}")).await?;
        if view["version"] == version {
            ensure!(view["provider"] == provider, "{view}");
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "version never became {version}: {view}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_report_provider_version_and_upgrades_with_the_chart_from_the_hub() -> Result<()> {
    let cases = cases();
    let clusters = try_join_all(cases.iter().map(|case| {
        let mut spec = ClusterSpec::new(case.name, case.nodes.to_vec());
        spec.server_version = Some(case.version.to_owned());
        spec.metrics_server = false; // not needed here; four clusters start quicker
        TestCluster::start(spec)
    }))
    .await?;

    let dir = tempfile::tempdir()?;
    let db = format!("sqlite://{}", dir.path().join("kubeworkz.db").display());
    let mut hub = Hub::start_with_admin(&db, ADMIN_EMAIL, ADMIN_PASSWORD);
    let quic = hub.quic_addr()?.to_string();
    let public_url = hub.api_url()?;
    let api = ApiClient::login(public_url.clone()).await?;

    let mut agents = Vec::new();
    for cluster in &clusters {
        agents.push(install_agent(cluster, &db, &quic, &public_url, dir.path()).await?);
    }
    let watched = cases
        .iter()
        .zip(agents.iter_mut())
        .map(|(case, agent)| watch_enrollment(&api, agent, case));
    let ids = try_join_all(watched).await?;

    // The GKE cluster registered in pull mode too, then upgraded: both rows follow.
    let gke = cases.iter().position(|c| c.name == "gke").context("gke")?;
    let kubeconfig = dir.path().join("gke-admin.kubeconfig");
    std::fs::write(&kubeconfig, clusters[gke].kubeconfig_yaml())?;
    let (ok, out, err) = cli(
        &db,
        &[
            "cluster",
            "add",
            "--name",
            "gke-pull",
            "--kubeconfig",
            &kubeconfig.display().to_string(),
            "--pull-allow-loopback",
        ],
    );
    ensure!(ok, "cluster add: {out}{err}");
    let pull_id = api.cluster_id("gke-pull").await?;
    until_version(&api, &pull_id, "gke", GKE_VERSION).await?;

    let mut clusters = clusters;
    clusters[gke].restart_apiserver_as(KUBE_VERSION).await?;
    for (id, actor) in [
        (ids[gke].clone(), format!("agent:{}", ids[gke])),
        (pull_id.clone(), "system".to_owned()),
    ] {
        until_version(&api, &id, "gke", KUBE_VERSION).await?;
        let audit = api
            .get(&format!(
                "/api/v1/audit?action=cluster.version_changed&target=cluster:{id}"
            ))
            .await?;
        let entries = audit["items"].as_array().context("audit items")?;
        ensure!(entries.len() == 1, "one version change for {id}: {audit}");
        assert_eq!(entries[0]["actor"], actor.as_str());
        assert_eq!(
            entries[0]["result"],
            format!("from {GKE_VERSION} to {KUBE_VERSION}").as_str()
        );
    }
    for agent in agents {
        agent.stop().await?;
    }
    hub.stop()?;
    Ok(())
}
