//! Starting a cluster: the components in order, each waited for, with the logs of every
//! component in the error when one does not come up.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::api::core::v1::{Node, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use serde_json::json;

use super::kwok::kwok_config;
use super::pki::{self, Pki};
use super::process::Component;
use super::{
    ClusterSpec, ComponentKind, KUBE_VERSION, Ports, TestCluster, apiserver_binary, bin_dir,
    kubeconfig, kwok_api, node_ready, s,
};

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
                    // Logs and exec reach KWOK's kubelet server at the node's address (its
                    // name does not resolve).
                    s("--kubelet-preferred-address-types=InternalIP"),
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
                    s("--enable-crds=ResourceUsage,ClusterResourceUsage,Logs,Exec,ClusterExec"),
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

    pub(super) async fn bring_up(&self, spec: &ClusterSpec, deadline: Instant) -> Result<()> {
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

    pub(super) fn comps(&self) -> MutexGuard<'_, BTreeMap<ComponentKind, Component>> {
        self.components.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn spawn(&self, kind: ComponentKind) -> Result<()> {
        let mut comps = self.comps();
        let c = comps
            .get_mut(&kind)
            .ok_or_else(|| anyhow!("{} is not part of this cluster", kind.name()))?;
        c.start()
    }

    /// Like [`poll`], but fails at once if a started component has exited (it would not come
    /// back, and its log says why).
    pub(super) async fn poll<T, F, Fut>(&self, what: &str, deadline: Instant, mut f: F) -> Result<T>
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

    pub(super) fn dead_component(&self) -> Option<String> {
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

    pub(super) async fn wait_apiserver_ready(&self, deadline: Instant) -> Result<()> {
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

    pub(super) async fn install_kwok_crds(&self, deadline: Instant) -> Result<()> {
        let bin = bin_dir().await?;
        let crds: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let mut names = Vec::new();
        for file in [
            "kwok.x-k8s.io_resourceusages.yaml",
            "kwok.x-k8s.io_clusterresourceusages.yaml",
            "kwok.x-k8s.io_logs.yaml",
            "kwok.x-k8s.io_execs.yaml",
            "kwok.x-k8s.io_clusterexecs.yaml",
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

    pub(super) async fn register_metrics_apiservice(&self) -> Result<()> {
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

    pub(super) async fn wait_metrics_api_available(&self, deadline: Instant) -> Result<()> {
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

    pub(super) async fn wait_nodes_ready(&self, names: &[String], deadline: Instant) -> Result<()> {
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

    pub(super) fn diagnostics(&self, headline: &str) -> String {
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
}
