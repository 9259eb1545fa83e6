//! Real Kubernetes clusters for integration tests, one set of processes per [`TestCluster`].
//!
//! Every cluster is made of the real components, built from the published Go modules by
//! `tests/kube-tools/build.sh`: etcd, kube-apiserver, kube-controller-manager and
//! kube-scheduler (Kubernetes v1.36.3), metrics-server behind the real aggregation layer, and
//! KWOK playing the kubelets. Only the kubelet is simulated: Deployments become ReplicaSets and
//! Pods through the real controllers, the real scheduler binds them, and KWOK marks nodes Ready
//! and pods Running and serves each node's `/metrics/resource` with the usage a test asks for.
//!
//! Everything listens on 127.0.0.1 on ports reserved across test processes (`crate::ports`)
//! and keeps its data in a temporary directory, so several clusters can run at once in one
//! test. Dropping a [`TestCluster`] kills every
//! process and deletes the directory, also when the test panics.
//!
//! # Binaries
//! Found in `$KUBEWORKZ_KUBE_BIN` if set (a bin dir printed by `build.sh`), else by running
//! `tests/kube-tools/build.sh --print-bin-dir`, which builds them on first use (a cold build
//! takes many minutes; CI runs `bash tests/kube-tools/build.sh` before the tests).
//! A [`ClusterSpec::server_version`] other than [`KUBE_VERSION`] is a kube-apiserver relinked
//! with that `gitVersion` (`build.sh --apiserver-version`), cached by version string: the API
//! server really reports it, as managed clusters' API servers do.
//!
//! # Resource usage
//! KWOK computes each container's usage from a `ResourceUsage` object named like the pod (see
//! [`TestCluster::set_pod_usage`]) or, failing that, from the pod's annotations
//! [`USAGE_CPU_ANNOTATION`] / [`USAGE_MEMORY_ANNOTATION`] (per container; defaults 1m and 1Mi).
//! A node's usage is the sum of its pods'. metrics-server scrapes KWOK every 10 s, and derives
//! CPU from two samples of a cumulative counter, so CPU appears in `PodMetrics` after about 20 s
//! and, being a rate, is approximately (not exactly) what was set; memory is exact.
//!
//! # Failing pods
//! A pod labelled [`CRASH_LOOP_LABEL`]`=true` crash-loops instead of becoming Ready (KWOK
//! stages of our own; see `cluster/kwok.rs`).
//!
//! # Addresses
//! Simulated nodes always have InternalIP 127.0.0.1 (KWOK's own server): metrics-server scrapes
//! node addresses, so a node address elsewhere would send traffic off this machine.

mod exec;
mod knobs;
mod kwok;
mod logs;
mod pki;
mod process;
mod spec;
mod start;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine as _;
use k8s_openapi::api::core::v1::Node;
use kube::core::{ApiResource, GroupVersionKind};

use self::process::Component;

pub use self::logs::{PodLogs, append_log_lines};
pub use self::spec::{ClusterSpec, NodeSpec, Usage};

/// The Kubernetes release the test clusters run (and `k8s-openapi`'s `v1_36` feature matches).
pub const KUBE_VERSION: &str = "v1.36.3";

/// Pod annotation giving each container's CPU usage (a quantity, e.g. `250m`) when no
/// `ResourceUsage` names the pod. Set it in a Deployment's pod template.
pub const USAGE_CPU_ANNOTATION: &str = "kwok.x-k8s.io/usage-cpu";
/// Pod annotation giving each container's memory usage (a quantity, e.g. `128Mi`).
pub const USAGE_MEMORY_ANNOTATION: &str = "kwok.x-k8s.io/usage-memory";

/// KWOK's chaos-stage label: a node carrying it with value `true` turns NotReady.
const NODE_NOT_READY_LABEL: &str = "node-not-ready.stage.kwok.x-k8s.io";
/// Pod label: with value `true` the simulated kubelet runs the pod's containers into a crash
/// loop (Running, not Ready, each container waiting in `CrashLoopBackOff` after exit code 1,
/// its restart count growing every 10 s). Set it in a Deployment's pod template to get a
/// Deployment that never becomes available.
pub const CRASH_LOOP_LABEL: &str = "crash-loop.stage.kubeworkz.io";
const FIELD_MANAGER: &str = "kubeworkz-testkit";

/// The components of a cluster, by role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ComponentKind {
    /// etcd.
    Etcd,
    /// kube-apiserver.
    ApiServer,
    /// kube-controller-manager.
    ControllerManager,
    /// kube-scheduler.
    Scheduler,
    /// The KWOK controller (the simulated kubelets).
    Kwok,
    /// metrics-server.
    MetricsServer,
}

impl ComponentKind {
    /// The component's binary and log file name.
    pub fn name(self) -> &'static str {
        match self {
            ComponentKind::Etcd => "etcd",
            ComponentKind::ApiServer => "kube-apiserver",
            ComponentKind::ControllerManager => "kube-controller-manager",
            ComponentKind::Scheduler => "kube-scheduler",
            ComponentKind::Kwok => "kwok",
            ComponentKind::MetricsServer => "metrics-server",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Ports {
    etcd_client: u16,
    etcd_peer: u16,
    apiserver: u16,
    controller_manager: u16,
    scheduler: u16,
    kwok: u16,
    metrics_server: u16,
}

/// A running cluster. See the module docs. Dropping it kills every process and deletes its
/// directory.
pub struct TestCluster {
    name: String,
    server_version: String,
    ports: Ports,
    kubeconfig_yaml: String,
    kubeconfig_path: PathBuf,
    client: kube::Client,
    components: Mutex<BTreeMap<ComponentKind, Component>>,
    /// Released after the processes were killed.
    _port_reservations: Vec<crate::ports::PortReservation>,
    // Last: dropped (deleted) after the processes were killed.
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for TestCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCluster")
            .field("name", &self.name)
            .field("server", &self.server_url())
            .field("server_version", &self.server_version)
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        // Kill in reverse start order so no component spends its last moments retrying.
        if let Ok(mut comps) = self.components.lock() {
            while let Some((_, mut c)) = comps.pop_last() {
                c.stop();
            }
        }
        // For debugging a failure: keep the logs, PKI and etcd data.
        if std::env::var_os("KUBEWORKZ_KEEP_CLUSTER_DIR").is_some() {
            eprintln!("kubeworkz-testkit: keeping {}", self.dir.path().display());
            self.dir.disable_cleanup(true);
        }
    }
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

static BIN_DIR: tokio::sync::OnceCell<PathBuf> = tokio::sync::OnceCell::const_new();

async fn run_build_sh(args: &[&str]) -> Result<String> {
    let script = manifest_dir().join("kube-tools").join("build.sh");
    let out = tokio::process::Command::new("bash")
        .arg(&script)
        .args(args)
        .stderr(std::process::Stdio::inherit())
        .output()
        .await
        .with_context(|| format!("running {}", script.display()))?;
    if !out.status.success() {
        bail!(
            "{} {} failed: {}",
            script.display(),
            args.join(" "),
            out.status
        );
    }
    let stdout = String::from_utf8(out.stdout)?;
    stdout
        .lines()
        .last()
        .map(|l| l.trim().to_string())
        .ok_or_else(|| anyhow!("{} printed nothing", script.display()))
}

/// The directory with the cluster binaries: `$KUBEWORKZ_KUBE_BIN`, or what
/// `tests/kube-tools/build.sh --print-bin-dir` prints (building them if needed).
pub async fn bin_dir() -> Result<PathBuf> {
    BIN_DIR
        .get_or_try_init(|| async {
            if let Some(dir) = std::env::var_os("KUBEWORKZ_KUBE_BIN") {
                return Ok(PathBuf::from(dir));
            }
            Ok(PathBuf::from(run_build_sh(&["--print-bin-dir"]).await?))
        })
        .await
        .cloned()
}

async fn apiserver_binary(bin: &Path, version: &str) -> Result<PathBuf> {
    if version == KUBE_VERSION {
        return Ok(bin.join("kube-apiserver"));
    }
    // bin is <cache>/<key>/bin; build.sh keeps variants in <cache>/<key>/variants/<version>/.
    if let Some(parent) = bin.parent() {
        let cached = parent.join("variants").join(version).join("kube-apiserver");
        if cached.is_file() {
            return Ok(cached);
        }
    }
    Ok(PathBuf::from(
        run_build_sh(&["--apiserver-version", version]).await?,
    ))
}

fn kubeconfig(
    name: &str,
    server: &str,
    ca_pem: &str,
    user: &str,
    cert_pem: &str,
    key_pem: &str,
) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: {name}
  cluster:
    server: {server}
    certificate-authority-data: {ca}
users:
- name: {user}
  user:
    client-certificate-data: {cert}
    client-key-data: {key}
contexts:
- name: {name}
  context:
    cluster: {name}
    user: {user}
current-context: {name}
preferences: {{}}
",
        ca = b64(ca_pem),
        cert = b64(cert_pem),
        key = b64(key_pem),
    )
}

/// Polls `f` every 250 ms until it yields `Some`, fails, or `deadline` passes.
async fn poll<T, F, Fut>(what: &str, deadline: Instant, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let mut last: Option<String> = None;
    loop {
        match f().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last = Some(format!("{e:#}")),
        }
        if Instant::now() >= deadline {
            bail!(
                "timed out waiting for {what}{}",
                last.map(|l| format!(" (last error: {l})"))
                    .unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn s(v: impl ToString) -> String {
    v.to_string()
}

fn kwok_api(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kwok.x-k8s.io", "v1alpha1", kind),
        plural,
    )
}

fn node_ready(n: &Node) -> bool {
    n.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

// The metrics.k8s.io types are the product's own (kube-rs can list them like any resource).
pub use kubeworkz_shared::model::usage::{ContainerMetrics, NodeMetrics, PodMetrics};
