//! Exec into simulated containers: KWOK's `Exec` and `ClusterExec` resources make
//! `pods/exec` run the command on the test host (`local`), in a working directory the test
//! chooses, behind the real apiserver's exec path (to KWOK's kubelet server).

use std::path::Path;

use anyhow::{Context, Result};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

use super::{FIELD_MANAGER, TestCluster, kwok_api};

fn local_execs(work_dir: &Path) -> Value {
    json!([{"local": {"workDir": work_dir}}])
}

impl TestCluster {
    /// Makes `pods/exec` of pod `namespace/pod` run commands on the test host in `work_dir`
    /// (KWOK's `Exec`, created or replaced), for every container of the pod.
    pub async fn set_pod_exec(&self, namespace: &str, pod: &str, work_dir: &Path) -> Result<()> {
        let spec = json!({"execs": local_execs(work_dir)});
        self.apply_kwok(("Exec", "execs"), namespace, pod, spec)
            .await
    }

    /// The same for every pod of `namespace`, present and future (KWOK's `ClusterExec`
    /// named `exec-<namespace>`): for pods a controller makes.
    pub async fn set_namespace_exec(&self, namespace: &str, work_dir: &Path) -> Result<()> {
        let ar = kwok_api("ClusterExec", "clusterexecs");
        let api: Api<DynamicObject> = Api::all_with(self.client(), &ar);
        let name = format!("exec-{namespace}");
        let obj = json!({
            "apiVersion": "kwok.x-k8s.io/v1alpha1",
            "kind": "ClusterExec",
            "metadata": {"name": name},
            "spec": {
                "selector": {"matchNamespaces": [namespace]},
                "execs": local_execs(work_dir),
            },
        });
        api.patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&obj),
        )
        .await
        .with_context(|| format!("applying ClusterExec {name}"))?;
        Ok(())
    }
}
