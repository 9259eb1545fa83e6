//! What a running cluster offers a test: its addresses and client, its processes and logs,
//! and the knobs later tests turn (nodes added or made NotReady, pod usage, the apiserver
//! stopped, restarted or relinked as another version, namespaces).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use k8s_openapi::api::core::v1::{Namespace, Node, ServiceAccount};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::json;

use super::{
    ComponentKind, FIELD_MANAGER, NODE_NOT_READY_LABEL, NodeSpec, TestCluster, Usage,
    apiserver_binary, bin_dir, kwok_api, node_ready, poll,
};

impl TestCluster {
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

    pub(super) async fn apply_resource_usage(
        &self,
        namespace: &str,
        pod: &str,
        usages: serde_json::Value,
    ) -> Result<()> {
        self.apply_kwok(
            ("ResourceUsage", "resourceusages"),
            namespace,
            pod,
            json!({"usages": usages}),
        )
        .await
    }

    /// Creates or replaces KWOK's namespaced object `kind` (kind and plural) named like pod
    /// `namespace/pod`, with `spec`.
    pub(super) async fn apply_kwok(
        &self,
        (kind, plural): (&str, &str),
        namespace: &str,
        pod: &str,
        spec: serde_json::Value,
    ) -> Result<()> {
        let ar = kwok_api(kind, plural);
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), namespace, &ar);
        let obj = json!({
            "apiVersion": "kwok.x-k8s.io/v1alpha1",
            "kind": kind,
            "metadata": {"name": pod, "namespace": namespace},
            "spec": spec,
        });
        api.patch(
            pod,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&obj),
        )
        .await
        .with_context(|| format!("applying {kind} {namespace}/{pod}"))?;
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
