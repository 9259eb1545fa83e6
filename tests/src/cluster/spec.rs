//! What a test asks for: the cluster ([`ClusterSpec`]), its nodes ([`NodeSpec`]) and the
//! usage KWOK reports for a pod or container ([`Usage`]).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use k8s_openapi::api::core::v1::Node;
use serde_json::json;

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

    pub(super) fn to_node(&self, kwok_port: u16) -> Result<Node> {
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

    pub(super) fn to_kwok(&self) -> serde_json::Value {
        json!({
            "cpu": {"value": format!("{}m", self.cpu_millis)},
            "memory": {"value": self.memory_bytes.to_string()},
        })
    }
}
