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

mod kwok;
mod pki;
mod process;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine as _;
use k8s_openapi::api::core::v1::{Namespace, Node, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::json;

use self::kwok::kwok_config;
use self::pki::Pki;
use self::process::Component;

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

/// One simulated node. Its InternalIP is always 127.0.0.1 (see the module docs).
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// `metadata.name`.
    pub name: String,
    /// Labels, e.g. a provider's node-pool label.
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// `spec.providerID`, e.g. `aws:///us-east-1a/i-0abc…` or `gce://project/zone/name`.
    pub provider_id: Option<String>,
    /// `status.capacity` (cpu, memory, pods, …), as quantities.
    pub capacity: BTreeMap<String, String>,
    /// `status.allocatable`; `None` means equal to capacity.
    pub allocatable: Option<BTreeMap<String, String>>,
    /// `status.nodeInfo.kubeletVersion`; `None` means KWOK's own (`kwok-v0.8.0`).
    pub kubelet_version: Option<String>,
}

impl NodeSpec {
    /// A node with 4 CPUs, 16 GiB and room for 110 pods, like a common cloud instance.
    pub fn new(name: impl Into<String>) -> Self {
        NodeSpec {
            name: name.into(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            provider_id: None,
            capacity: [("cpu", "4"), ("memory", "16Gi"), ("pods", "110")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            allocatable: None,
            kubelet_version: None,
        }
    }

    /// Adds a label.
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// Adds an annotation.
    pub fn annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.annotations.insert(key.into(), value.into());
        self
    }

    /// Sets `spec.providerID`.
    pub fn provider_id(mut self, id: impl Into<String>) -> Self {
        self.provider_id = Some(id.into());
        self
    }

    /// Sets CPU and memory capacity (quantities such as `"8"` and `"32Gi"`).
    pub fn capacity(mut self, cpu: impl Into<String>, memory: impl Into<String>) -> Self {
        self.capacity.insert("cpu".into(), cpu.into());
        self.capacity.insert("memory".into(), memory.into());
        self
    }

    /// Sets allocatable CPU and memory (defaults to capacity).
    pub fn allocatable(mut self, cpu: impl Into<String>, memory: impl Into<String>) -> Self {
        let mut a = self
            .allocatable
            .take()
            .unwrap_or_else(|| self.capacity.clone());
        a.insert("cpu".into(), cpu.into());
        a.insert("memory".into(), memory.into());
        self.allocatable = Some(a);
        self
    }

    /// Sets the kubelet version the node reports.
    pub fn kubelet_version(mut self, v: impl Into<String>) -> Self {
        self.kubelet_version = Some(v.into());
        self
    }

    fn to_node(&self, kwok_port: u16) -> Result<Node> {
        let mut annotations = self.annotations.clone();
        // metrics-server scrapes this path on the node's address; KWOK serves every node's
        // resource metrics from one server, told apart by path.
        annotations.insert(
            "metrics.k8s.io/resource-metrics-path".into(),
            format!("/metrics/nodes/{}/metrics/resource", self.name),
        );
        let mut labels = self.labels.clone();
        labels
            .entry("kubernetes.io/hostname".into())
            .or_insert_with(|| self.name.clone());
        labels
            .entry("kubernetes.io/os".into())
            .or_insert_with(|| "linux".into());
        labels
            .entry("kubernetes.io/arch".into())
            .or_insert_with(|| "amd64".into());
        labels.entry("type".into()).or_insert_with(|| "kwok".into());
        let mut status = json!({
            "capacity": self.capacity,
            "allocatable": self.allocatable.as_ref().unwrap_or(&self.capacity),
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": self.name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": kwok_port}},
        });
        if let Some(v) = &self.kubelet_version {
            status["nodeInfo"] = json!({
                "kubeletVersion": v, "kubeProxyVersion": v,
                "architecture": "amd64", "operatingSystem": "linux",
                "containerRuntimeVersion": "containerd://2.1.4",
                "kernelVersion": "6.1.0", "osImage": "Kubeworkz test node",
                "bootID": "", "machineID": "", "systemUUID": "",
            });
        }
        let node = json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": self.name, "labels": labels, "annotations": annotations},
            "spec": {"providerID": self.provider_id},
            "status": status,
        });
        Ok(serde_json::from_value(node)?)
    }
}

/// What cluster to start.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    /// Name of the cluster, context and user in the kubeconfig; also in the temp dir's name.
    pub name: String,
    /// Simulated nodes, created before [`TestCluster::start`] returns.
    pub nodes: Vec<NodeSpec>,
    /// The `gitVersion` the API server reports (`/version`), e.g. `v1.36.3-eks-4f2a1c9`,
    /// `v1.36.3-gke.1200` or `v1.36.3+k3s1`. `None` means [`KUBE_VERSION`].
    pub server_version: Option<String>,
    /// Start metrics-server and register `v1beta1.metrics.k8s.io` (default true).
    pub metrics_server: bool,
    /// How long [`TestCluster::start`] may take once the binaries exist (default 180 s).
    pub start_timeout: Duration,
}

impl Default for ClusterSpec {
    fn default() -> Self {
        ClusterSpec {
            name: "kwok".into(),
            nodes: vec![NodeSpec::new("kwok-node-0")],
            server_version: None,
            metrics_server: true,
            start_timeout: Duration::from_secs(180),
        }
    }
}

impl ClusterSpec {
    /// A spec with the given name and nodes, and the defaults otherwise.
    pub fn new(name: impl Into<String>, nodes: Vec<NodeSpec>) -> Self {
        ClusterSpec {
            name: name.into(),
            nodes,
            ..Default::default()
        }
    }

    /// Sets [`ClusterSpec::server_version`].
    pub fn server_version(mut self, v: impl Into<String>) -> Self {
        self.server_version = Some(v.into());
        self
    }
}

/// CPU and memory usage of a container, as KWOK should report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    /// CPU in millicores (a rate).
    pub cpu_millis: u64,
    /// Memory working set in bytes.
    pub memory_bytes: u64,
}

impl Usage {
    /// Usage of `cpu_millis` millicores and `memory_bytes` bytes.
    pub fn new(cpu_millis: u64, memory_bytes: u64) -> Self {
        Usage {
            cpu_millis,
            memory_bytes,
        }
    }

    fn to_kwok(&self) -> serde_json::Value {
        json!({
            "cpu": {"value": format!("{}m", self.cpu_millis)},
            "memory": {"value": self.memory_bytes.to_string()},
        })
    }
}

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

impl TestCluster {
    /// Starts a cluster and waits until it is ready: API server `/readyz`, every node Ready,
    /// the `default` ServiceAccount made by the controller manager, and (with metrics-server)
    /// the `v1beta1.metrics.k8s.io` APIService Available.
    pub async fn start(spec: ClusterSpec) -> Result<TestCluster> {
        let bin = bin_dir().await?;
        let server_version = spec
            .server_version
            .clone()
            .unwrap_or_else(|| KUBE_VERSION.to_string());
        let apiserver_bin = apiserver_binary(&bin, &server_version).await?;
        let t0 = Instant::now();
        let deadline = t0 + spec.start_timeout;

        let dir = tempfile::Builder::new()
            .prefix(&format!("kubeworkz-cluster-{}-", spec.name))
            .tempdir()?;
        let root = dir.path().to_path_buf();
        let logs = root.join("logs");
        std::fs::create_dir_all(&logs)?;
        let pki = Pki::generate(&root)?;

        // Held for the cluster's life: components bind late and restart (see `ports`).
        let port_reservations = crate::ports::reserve(7)?;
        let p: Vec<u16> = port_reservations.iter().map(|r| r.port()).collect();
        let ports = Ports {
            etcd_client: p[0],
            etcd_peer: p[1],
            apiserver: p[2],
            controller_manager: p[3],
            scheduler: p[4],
            kwok: p[5],
            metrics_server: p[6],
        };
        let server = format!("https://127.0.0.1:{}", ports.apiserver);

        let kubeconfig_yaml = kubeconfig(
            &spec.name,
            &server,
            &pki.ca.cert_pem,
            &format!("{}-admin", spec.name),
            &pki.admin.cert_pem,
            &pki.admin.key_pem,
        );
        let kubeconfig_path = root.join("admin.kubeconfig");
        std::fs::write(&kubeconfig_path, &kubeconfig_yaml)?;
        let write_kc = |file: &str, user: &str, pair: &pki::CertPair| -> Result<PathBuf> {
            let path = root.join(file);
            std::fs::write(
                &path,
                kubeconfig(
                    &spec.name,
                    &server,
                    &pki.ca.cert_pem,
                    user,
                    &pair.cert_pem,
                    &pair.key_pem,
                ),
            )?;
            Ok(path)
        };
        let kcm_kc = write_kc(
            "kube-controller-manager.kubeconfig",
            "kube-controller-manager",
            &pki.controller_manager,
        )?;
        let sched_kc = write_kc(
            "kube-scheduler.kubeconfig",
            "kube-scheduler",
            &pki.scheduler,
        )?;
        let kwok_kc = write_kc("kwok.kubeconfig", "kwok", &pki.kwok)?;
        let ms_kc = write_kc("metrics-server.kubeconfig", "metrics-server", &pki.admin)?;

        let path = |p: &Path| p.display().to_string();
        let etcd_data = root.join("etcd");
        let mut components = BTreeMap::new();
        let etcd_client_url = format!("http://127.0.0.1:{}", ports.etcd_client);
        let etcd_peer_url = format!("http://127.0.0.1:{}", ports.etcd_peer);
        components.insert(
            ComponentKind::Etcd,
            Component::new(
                "etcd",
                bin.join("etcd"),
                vec![
                    s("--name=etcd"),
                    format!("--data-dir={}", path(&etcd_data)),
                    format!("--listen-client-urls={etcd_client_url}"),
                    format!("--advertise-client-urls={etcd_client_url}"),
                    format!("--listen-peer-urls={etcd_peer_url}"),
                    format!("--initial-advertise-peer-urls={etcd_peer_url}"),
                    format!("--initial-cluster=etcd={etcd_peer_url}"),
                    s("--initial-cluster-state=new"),
                    // Throwaway data: no fsync, small quota, quiet.
                    s("--unsafe-no-fsync=true"),
                    s("--quota-backend-bytes=1073741824"),
                    s("--snapshot-count=10000"),
                    s("--log-level=warn"),
                ],
                &logs,
            ),
        );
        let apiserver_certs = root.join("certs").join("kube-apiserver");
        std::fs::create_dir_all(&apiserver_certs)?;
        components.insert(
            ComponentKind::ApiServer,
            Component::new(
                "kube-apiserver",
                apiserver_bin.clone(),
                vec![
                    format!("--etcd-servers={etcd_client_url}"),
                    s("--bind-address=127.0.0.1"),
                    s("--advertise-address=127.0.0.1"),
                    format!("--secure-port={}", ports.apiserver),
                    format!("--cert-dir={}", path(&apiserver_certs)),
                    format!("--tls-cert-file={}", path(&pki.apiserver.cert_path)),
                    format!("--tls-private-key-file={}", path(&pki.apiserver.key_path)),
                    format!("--client-ca-file={}", path(&pki.ca.cert_path)),
                    s("--authorization-mode=Node,RBAC"),
                    s("--enable-admission-plugins=NodeRestriction"),
                    s("--allow-privileged=true"),
                    s("--service-cluster-ip-range=10.96.0.0/16"),
                    // The "kubernetes" Service's endpoints would be 127.0.0.1, which Endpoints
                    // validation rejects; nothing in a test cluster needs them.
                    s("--endpoint-reconciler-type=none"),
                    s("--service-account-issuer=https://kubernetes.default.svc.cluster.local"),
                    format!("--service-account-key-file={}", path(&pki.sa_pub_path)),
                    format!(
                        "--service-account-signing-key-file={}",
                        path(&pki.sa_key_path)
                    ),
                    // Aggregation layer: the API server proxies metrics.k8s.io to metrics-server
                    // as front-proxy-client, which metrics-server trusts via the requestheader CA.
                    format!(
                        "--requestheader-client-ca-file={}",
                        path(&pki.front_proxy_ca.cert_path)
                    ),
                    s("--requestheader-allowed-names=front-proxy-client"),
                    s("--requestheader-username-headers=X-Remote-User"),
                    s("--requestheader-group-headers=X-Remote-Group"),
                    s("--requestheader-extra-headers-prefix=X-Remote-Extra-"),
                    format!(
                        "--proxy-client-cert-file={}",
                        path(&pki.front_proxy_client.cert_path)
                    ),
                    format!(
                        "--proxy-client-key-file={}",
                        path(&pki.front_proxy_client.key_path)
                    ),
                    s("--profiling=false"),
                    s("--v=1"),
                ],
                &logs,
            ),
        );
        let kcm_certs = root.join("certs").join("kube-controller-manager");
        std::fs::create_dir_all(&kcm_certs)?;
        components.insert(
            ComponentKind::ControllerManager,
            Component::new(
                "kube-controller-manager",
                bin.join("kube-controller-manager"),
                vec![
                    format!("--kubeconfig={}", path(&kcm_kc)),
                    format!("--authentication-kubeconfig={}", path(&kcm_kc)),
                    format!("--authorization-kubeconfig={}", path(&kcm_kc)),
                    s("--bind-address=127.0.0.1"),
                    format!("--secure-port={}", ports.controller_manager),
                    format!("--cert-dir={}", path(&kcm_certs)),
                    // Leader election as in production: its Lease is a health signal.
                    s("--leader-elect=true"),
                    // No client-side throttling: scale tests create thousands of pods.
                    s("--kube-api-qps=1000"),
                    s("--kube-api-burst=2000"),
                    s("--controllers=*"),
                    s("--use-service-account-credentials=true"),
                    format!(
                        "--service-account-private-key-file={}",
                        path(&pki.sa_key_path)
                    ),
                    format!("--root-ca-file={}", path(&pki.ca.cert_path)),
                    format!("--cluster-signing-cert-file={}", path(&pki.ca.cert_path)),
                    format!("--cluster-signing-key-file={}", path(&pki.ca.key_path)),
                    format!("--cluster-name={}", spec.name),
                    // It would otherwise create /usr/libexec/kubernetes/… on the host.
                    format!(
                        "--flex-volume-plugin-dir={}",
                        path(&root.join("flexvolume"))
                    ),
                    s("--profiling=false"),
                    s("--v=1"),
                ],
                &logs,
            ),
        );
        components.insert(
            ComponentKind::Scheduler,
            Component::new(
                "kube-scheduler",
                bin.join("kube-scheduler"),
                vec![
                    format!("--kubeconfig={}", path(&sched_kc)),
                    format!("--authentication-kubeconfig={}", path(&sched_kc)),
                    format!("--authorization-kubeconfig={}", path(&sched_kc)),
                    s("--bind-address=127.0.0.1"),
                    format!("--secure-port={}", ports.scheduler),
                    s("--leader-elect=true"),
                    s("--kube-api-qps=1000"),
                    s("--kube-api-burst=2000"),
                    s("--profiling=false"),
                    s("--v=1"),
                ],
                &logs,
            ),
        );
        let manifests = bin.join("kwok-manifests");
        let kwok_yaml = root.join("kwok.yaml");
        std::fs::write(&kwok_yaml, kwok_config(&manifests)?)?;
        components.insert(
            ComponentKind::Kwok,
            Component::new(
                "kwok",
                bin.join("kwok"),
                vec![
                    format!("--kubeconfig={}", path(&kwok_kc)),
                    format!("--config={}", path(&kwok_yaml)),
                    s("--manage-all-nodes=true"),
                    s("--node-ip=127.0.0.1"),
                    format!("--node-port={}", ports.kwok),
                    format!("--server-address=127.0.0.1:{}", ports.kwok),
                    format!("--tls-cert-file={}", path(&pki.kwok_serving.cert_path)),
                    format!(
                        "--tls-private-key-file={}",
                        path(&pki.kwok_serving.key_path)
                    ),
                    s("--node-lease-duration-seconds=40"),
                    s("--enable-crds=ResourceUsage,ClusterResourceUsage"),
                ],
                &logs,
            ),
        );
        if spec.metrics_server {
            let ms_certs = root.join("certs").join("metrics-server");
            std::fs::create_dir_all(&ms_certs)?;
            components.insert(
                ComponentKind::MetricsServer,
                Component::new(
                    "metrics-server",
                    bin.join("metrics-server"),
                    vec![
                        format!("--kubeconfig={}", path(&ms_kc)),
                        format!("--authentication-kubeconfig={}", path(&ms_kc)),
                        format!("--authorization-kubeconfig={}", path(&ms_kc)),
                        s("--bind-address=127.0.0.1"),
                        format!("--secure-port={}", ports.metrics_server),
                        format!("--cert-dir={}", path(&ms_certs)),
                        s("--kubelet-preferred-address-types=InternalIP"),
                        s("--kubelet-use-node-status-port"),
                        // KWOK's serving certificate is ours, but metrics-server has no flag for a
                        // kubelet CA other than the cluster's; same as kwokctl.
                        s("--kubelet-insecure-tls"),
                        s("--metric-resolution=10s"),
                        s("--kubelet-request-timeout=5s"),
                        s("--profiling=false"),
                    ],
                    &logs,
                ),
            );
        }

        let client = {
            let kc = kube::config::Kubeconfig::from_yaml(&kubeconfig_yaml)?;
            let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
            kube::Client::try_from(cfg)?
        };
        let cluster = TestCluster {
            name: spec.name.clone(),
            server_version,
            ports,
            kubeconfig_yaml,
            kubeconfig_path,
            client,
            components: Mutex::new(components),
            _port_reservations: port_reservations,
            dir,
        };
        match cluster.bring_up(&spec, deadline).await {
            Ok(()) => {
                tracing::info!(cluster = %cluster.name, secs = t0.elapsed().as_secs_f64(), "test cluster ready");
                Ok(cluster)
            }
            Err(e) => Err(e.context(
                cluster.diagnostics(&format!("cluster {} failed to start", cluster.name)),
            )),
        }
    }

    async fn bring_up(&self, spec: &ClusterSpec, deadline: Instant) -> Result<()> {
        self.spawn(ComponentKind::Etcd)?;
        let etcd_port = self.ports.etcd_client;
        self.poll("etcd to listen", deadline, || async move {
            Ok(tokio::net::TcpStream::connect(("127.0.0.1", etcd_port))
                .await
                .ok()
                .map(|_| ()))
        })
        .await?;
        self.spawn(ComponentKind::ApiServer)?;
        self.wait_apiserver_ready(deadline).await?;

        // KWOK's CRDs must be served before it starts watching them.
        self.install_kwok_crds(deadline).await?;
        for kind in [
            ComponentKind::ControllerManager,
            ComponentKind::Scheduler,
            ComponentKind::Kwok,
        ] {
            self.spawn(kind)?;
        }
        // Usage from pod annotations unless a ResourceUsage names the pod (kwokctl's default).
        let bin = bin_dir().await?;
        let cru: serde_json::Value = serde_yaml::from_str(&std::fs::read_to_string(
            bin.join("kwok-manifests")
                .join("usage-from-annotation.yaml"),
        )?)?;
        let cru: DynamicObject = serde_json::from_value(cru)?;
        Api::<DynamicObject>::all_with(
            self.client.clone(),
            &kwok_api("ClusterResourceUsage", "clusterresourceusages"),
        )
        .create(&PostParams::default(), &cru)
        .await
        .context("creating the default ClusterResourceUsage")?;

        if spec.metrics_server {
            self.spawn(ComponentKind::MetricsServer)?;
            self.register_metrics_apiservice().await?;
        }
        for node in &spec.nodes {
            self.add_node(node).await?;
        }
        let names: Vec<String> = spec.nodes.iter().map(|n| n.name.clone()).collect();
        self.wait_nodes_ready(&names, deadline).await?;
        let sas: Api<ServiceAccount> = Api::namespaced(self.client.clone(), "default");
        self.poll(
            "the default ServiceAccount (kube-controller-manager)",
            deadline,
            || {
                let sas = sas.clone();
                async move { Ok(sas.get_opt("default").await?.map(|_| ())) }
            },
        )
        .await?;
        if spec.metrics_server {
            self.wait_metrics_api_available(deadline).await?;
        }
        Ok(())
    }

    fn comps(&self) -> MutexGuard<'_, BTreeMap<ComponentKind, Component>> {
        self.components.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn spawn(&self, kind: ComponentKind) -> Result<()> {
        let mut comps = self.comps();
        let c = comps
            .get_mut(&kind)
            .ok_or_else(|| anyhow!("{} is not part of this cluster", kind.name()))?;
        c.start()
    }

    /// Like [`poll`], but fails at once if a started component has exited (it would not come
    /// back, and its log says why).
    async fn poll<T, F, Fut>(&self, what: &str, deadline: Instant, mut f: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>>>,
    {
        let mut last: Option<String> = None;
        loop {
            if let Some(dead) = self.dead_component() {
                bail!("{dead} while waiting for {what}");
            }
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

    fn dead_component(&self) -> Option<String> {
        let mut comps = self.comps();
        for c in comps.values_mut() {
            if let Some(status) = c.exited() {
                return Some(format!(
                    "{} exited ({status}); see {}",
                    c.name,
                    c.log_path().display()
                ));
            }
        }
        None
    }

    async fn wait_apiserver_ready(&self, deadline: Instant) -> Result<()> {
        let client = self.client.clone();
        self.poll("kube-apiserver /readyz", deadline, || {
            let client = client.clone();
            async move {
                let req = http::Request::get("/readyz").body(Vec::new())?;
                let text = client.request_text(req).await?;
                Ok((text.trim() == "ok").then_some(()))
            }
        })
        .await
    }

    async fn install_kwok_crds(&self, deadline: Instant) -> Result<()> {
        let bin = bin_dir().await?;
        let crds: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let mut names = Vec::new();
        for file in [
            "kwok.x-k8s.io_resourceusages.yaml",
            "kwok.x-k8s.io_clusterresourceusages.yaml",
        ] {
            let path = bin.join("kwok-manifests").join("crds").join(file);
            let crd: CustomResourceDefinition = serde_yaml::from_str(
                &std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?,
            )?;
            let name = crd.metadata.name.clone().unwrap_or_default();
            crds.create(&PostParams::default(), &crd)
                .await
                .with_context(|| format!("creating CRD {name}"))?;
            names.push(name);
        }
        for name in names {
            let crds = crds.clone();
            self.poll(&format!("CRD {name} Established"), deadline, || {
                let (crds, name) = (crds.clone(), name.clone());
                async move {
                    let crd = crds.get(&name).await?;
                    let established = crd
                        .status
                        .and_then(|s| s.conditions)
                        .unwrap_or_default()
                        .iter()
                        .any(|c| c.type_ == "Established" && c.status == "True");
                    Ok(established.then_some(()))
                }
            })
            .await?;
        }
        Ok(())
    }

    async fn register_metrics_apiservice(&self) -> Result<()> {
        // The aggregator resolves an ExternalName Service to https://<externalName>:<port>
        // (k8s.io/apiserver/pkg/util/proxy.ResolveCluster), which is how a Service can lead to a
        // process on this machine's loopback: Endpoints may not hold loopback addresses.
        let svc: k8s_openapi::api::core::v1::Service = serde_json::from_value(json!({
            "metadata": {"name": "metrics-server", "namespace": "kube-system",
                         "labels": {"k8s-app": "metrics-server"}},
            "spec": {"type": "ExternalName", "externalName": "localhost",
                     "ports": [{"name": "https", "port": self.ports.metrics_server, "protocol": "TCP"}]},
        }))?;
        Api::namespaced(self.client.clone(), "kube-system")
            .create(&PostParams::default(), &svc)
            .await
            .context("creating the metrics-server Service")?;
        // metrics-server serves a self-signed certificate (like its upstream manifest, which
        // also sets insecureSkipTLSVerify); the aggregator's client certificate is verified.
        let apisvc: APIService = serde_json::from_value(json!({
            "metadata": {"name": "v1beta1.metrics.k8s.io", "labels": {"k8s-app": "metrics-server"}},
            "spec": {
                "service": {"name": "metrics-server", "namespace": "kube-system", "port": self.ports.metrics_server},
                "group": "metrics.k8s.io", "version": "v1beta1",
                "insecureSkipTLSVerify": true,
                "groupPriorityMinimum": 100, "versionPriority": 100,
            },
        }))?;
        Api::<APIService>::all(self.client.clone())
            .create(&PostParams::default(), &apisvc)
            .await
            .context("creating the v1beta1.metrics.k8s.io APIService")?;
        Ok(())
    }

    async fn wait_metrics_api_available(&self, deadline: Instant) -> Result<()> {
        let api: Api<APIService> = Api::all(self.client.clone());
        self.poll(
            "APIService v1beta1.metrics.k8s.io Available",
            deadline,
            || {
                let api = api.clone();
                async move {
                    let a = api.get("v1beta1.metrics.k8s.io").await?;
                    let cond = a
                        .status
                        .and_then(|s| s.conditions)
                        .unwrap_or_default()
                        .into_iter()
                        .find(|c| c.type_ == "Available");
                    match cond {
                        Some(c) if c.status == "True" => Ok(Some(())),
                        Some(c) => Err(anyhow!(
                            "{}: {}",
                            c.reason.unwrap_or_default(),
                            c.message.unwrap_or_default()
                        )),
                        None => Ok(None),
                    }
                }
            },
        )
        .await
    }

    async fn wait_nodes_ready(&self, names: &[String], deadline: Instant) -> Result<()> {
        let nodes: Api<Node> = Api::all(self.client.clone());
        self.poll(&format!("nodes {names:?} Ready"), deadline, || {
            let nodes = nodes.clone();
            async move {
                let list = nodes.list(&ListParams::default()).await?;
                let ready: Vec<String> = list
                    .items
                    .iter()
                    .filter(|n| node_ready(n))
                    .filter_map(|n| n.metadata.name.clone())
                    .collect();
                Ok(names.iter().all(|n| ready.contains(n)).then_some(()))
            }
        })
        .await
    }

    fn diagnostics(&self, headline: &str) -> String {
        let mut out = format!(
            "{headline}; cluster dir {} (deleted on drop unless KUBEWORKZ_KEEP_CLUSTER_DIR is set)\n",
            self.dir.path().display()
        );
        let comps = self.comps();
        for c in comps.values() {
            out.push_str(&format!(
                "----- {} ({}) last lines -----\n",
                c.name,
                c.log_path().display()
            ));
            let t = c.log_tail(3000);
            out.push_str(&t);
            if !t.ends_with('\n') {
                out.push('\n');
            }
        }
        out
    }

    /// Cluster name (also the kubeconfig's cluster, context and user prefix).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `gitVersion` this cluster's API server was built to report.
    pub fn server_version(&self) -> &str {
        &self.server_version
    }

    /// `https://127.0.0.1:<port>`; the same across [`TestCluster::restart_apiserver`].
    pub fn server_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.ports.apiserver)
    }

    /// A complete kubeconfig (certificates and key inline) for a cluster admin
    /// (`system:masters`), as a cloud provider would hand one out.
    pub fn kubeconfig_yaml(&self) -> &str {
        &self.kubeconfig_yaml
    }

    /// The same kubeconfig as a file, for tools that take a path (`KUBECONFIG`).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig_path
    }

    /// A client for the admin kubeconfig. Cheap to clone; survives API server restarts.
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// The cluster's temporary directory (logs in `logs/`, PKI in `pki/`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A component's log file.
    pub fn log_path(&self, kind: ComponentKind) -> PathBuf {
        self.dir
            .path()
            .join("logs")
            .join(format!("{}.log", kind.name()))
    }

    /// The last lines of every component's log, for a failing test's message.
    pub fn logs_tail(&self) -> String {
        self.diagnostics(&format!("cluster {}", self.name))
    }

    /// Resident set size of each running component, in KiB (from `/proc/<pid>/status`).
    pub fn rss_kib(&self) -> BTreeMap<ComponentKind, u64> {
        self.comps()
            .iter_mut()
            .filter_map(|(k, c)| Some((*k, c.rss_kib()?)))
            .collect()
    }

    /// Process ids of the running components (e.g. for `ps`).
    pub fn pids(&self) -> BTreeMap<ComponentKind, u32> {
        self.comps()
            .iter_mut()
            .filter_map(|(k, c)| Some((*k, c.pid()?)))
            .collect()
    }

    /// Creates a simulated node (KWOK makes it Ready shortly after).
    pub async fn add_node(&self, node: &NodeSpec) -> Result<()> {
        let api: Api<Node> = Api::all(self.client.clone());
        api.create(&PostParams::default(), &node.to_node(self.ports.kwok)?)
            .await
            .with_context(|| format!("creating node {}", node.name))?;
        Ok(())
    }

    /// Waits until the named nodes are Ready.
    pub async fn wait_nodes_ready_within(&self, names: &[String], timeout: Duration) -> Result<()> {
        self.wait_nodes_ready(names, Instant::now() + timeout).await
    }

    /// Sets the usage of every container of pod `namespace/pod` (a KWOK `ResourceUsage` named
    /// like the pod, created or replaced). Overrides the pod's usage annotations.
    pub async fn set_pod_usage(&self, namespace: &str, pod: &str, usage: Usage) -> Result<()> {
        self.apply_resource_usage(namespace, pod, json!([{"usage": usage.to_kwok()}]))
            .await
    }

    /// Sets the usage of named containers of pod `namespace/pod`; containers not named report
    /// zero.
    pub async fn set_container_usage(
        &self,
        namespace: &str,
        pod: &str,
        containers: &[(&str, Usage)],
    ) -> Result<()> {
        let usages: Vec<_> = containers
            .iter()
            .map(|(name, u)| json!({"containers": [name], "usage": u.to_kwok()}))
            .collect();
        self.apply_resource_usage(namespace, pod, json!(usages))
            .await
    }

    async fn apply_resource_usage(
        &self,
        namespace: &str,
        pod: &str,
        usages: serde_json::Value,
    ) -> Result<()> {
        let ar = kwok_api("ResourceUsage", "resourceusages");
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), namespace, &ar);
        let obj = json!({
            "apiVersion": "kwok.x-k8s.io/v1alpha1",
            "kind": "ResourceUsage",
            "metadata": {"name": pod, "namespace": namespace},
            "spec": {"usages": usages},
        });
        api.patch(
            pod,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&obj),
        )
        .await
        .with_context(|| format!("applying ResourceUsage {namespace}/{pod}"))?;
        Ok(())
    }

    /// Kills the API server: the cluster becomes unreachable (connection refused) until
    /// [`TestCluster::start_apiserver`]. etcd keeps the state.
    pub fn stop_apiserver(&self) {
        self.stop_component(ComponentKind::ApiServer);
    }

    /// Starts the API server again (same port and certificates) and waits for `/readyz`.
    ///
    /// Components that exited meanwhile are restarted too, as a kubelet restarts static pods:
    /// with leader election on, kube-controller-manager and kube-scheduler exit once they
    /// cannot renew their Lease (after ~10 s without an apiserver), exactly as real ones do.
    pub async fn start_apiserver(&self) -> Result<()> {
        // Only those that died; a component a test stopped on purpose stays stopped. They
        // are reaped now and started once the apiserver answers (they exit at start-up
        // without one).
        let died: Vec<ComponentKind> = self
            .comps()
            .iter_mut()
            .filter_map(|(kind, c)| c.exited().map(|_| *kind))
            .collect();
        for kind in &died {
            self.stop_component(*kind);
        }
        self.spawn(ComponentKind::ApiServer)?;
        self.wait_apiserver_ready(Instant::now() + Duration::from_secs(120))
            .await
            .map_err(|e| e.context(self.diagnostics("kube-apiserver failed to restart")))?;
        for kind in died {
            self.spawn(kind)?;
        }
        Ok(())
    }

    /// [`TestCluster::stop_apiserver`] then [`TestCluster::start_apiserver`].
    pub async fn restart_apiserver(&self) -> Result<()> {
        self.stop_apiserver();
        self.start_apiserver().await
    }

    /// Restarts the API server as a build that reports `version` as its `gitVersion` (built
    /// and cached like [`ClusterSpec::server_version`]): an upgrade, as the cluster's clients
    /// see one. etcd keeps the state; [`TestCluster::server_version`] says `version` after.
    pub async fn restart_apiserver_as(&mut self, version: &str) -> Result<()> {
        let program = apiserver_binary(&bin_dir().await?, version).await?;
        self.stop_apiserver();
        self.comps()
            .get_mut(&ComponentKind::ApiServer)
            .ok_or_else(|| anyhow!("this cluster has no API server"))?
            .set_program(program);
        self.server_version = version.to_owned();
        self.start_apiserver().await
    }

    /// Kills a component (idempotent). Stopping the scheduler leaves new pods Pending;
    /// stopping KWOK freezes the simulated kubelets (nodes turn NotReady after the
    /// controller manager's grace period, ~50 s).
    pub fn stop_component(&self, kind: ComponentKind) {
        if let Some(c) = self.comps().get_mut(&kind) {
            c.stop();
        }
    }

    /// Starts a stopped component again (no-op if running). For the API server prefer
    /// [`TestCluster::start_apiserver`], which also waits for readiness.
    pub fn start_component(&self, kind: ComponentKind) -> Result<()> {
        self.spawn(kind)
    }

    /// Whether a component's process is running.
    pub fn is_running(&self, kind: ComponentKind) -> bool {
        self.comps().get_mut(&kind).is_some_and(|c| c.is_running())
    }

    /// Makes a node NotReady (`ready = false`) or Ready again, through KWOK's `node-not-ready`
    /// chaos stage, and waits until its Ready condition says so.
    pub async fn set_node_ready(&self, node: &str, ready: bool, timeout: Duration) -> Result<()> {
        let api: Api<Node> = Api::all(self.client.clone());
        let value = if ready {
            serde_json::Value::Null
        } else {
            json!("true")
        };
        let patch = json!({"metadata": {"labels": {NODE_NOT_READY_LABEL: value}}});
        api.patch(node, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        let name = node.to_string();
        poll(
            &format!("node {node} Ready={ready}"),
            Instant::now() + timeout,
            || {
                let (api, name) = (api.clone(), name.clone());
                async move { Ok((node_ready(&api.get(&name).await?) == ready).then_some(())) }
            },
        )
        .await
    }

    /// Creates a namespace and waits for its `default` ServiceAccount, so pods can be created
    /// in it at once.
    pub async fn create_namespace(&self, name: &str) -> Result<()> {
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))?;
        Api::<Namespace>::all(self.client.clone())
            .create(&PostParams::default(), &ns)
            .await?;
        let sas: Api<ServiceAccount> = Api::namespaced(self.client.clone(), name);
        self.poll(
            &format!("ServiceAccount {name}/default"),
            Instant::now() + Duration::from_secs(60),
            || {
                let sas = sas.clone();
                async move { Ok(sas.get_opt("default").await?.map(|_| ())) }
            },
        )
        .await
    }
}

fn node_ready(n: &Node) -> bool {
    n.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

// The metrics.k8s.io types are the product's own (kube-rs can list them like any resource).
pub use kubeworkz_shared::model::usage::{ContainerMetrics, NodeMetrics, PodMetrics};
