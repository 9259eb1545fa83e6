//! Exec into simulated containers: KWOK's `Exec` and `ClusterExec` resources make
//! `pods/exec` run the command on the test host (`local`), in a working directory the test
//! chooses, behind the real apiserver's exec path (to KWOK's kubelet server).

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

use super::{ComponentKind, FIELD_MANAGER, TestCluster, kwok_api};

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

    /// KWOK's child processes running `command` (its name, as `/proc/PID/comm` has it) now:
    /// the commands of the exec sessions it serves, each running until its stream to KWOK
    /// closes or it exits. The far end of an exec, for tests that close its client.
    pub fn exec_processes(&self, command: &str) -> Result<Vec<u32>> {
        let kwok = *self
            .pids()
            .get(&ComponentKind::Kwok)
            .context("KWOK is not running")?;
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").context("listing /proc")? {
            let Ok(pid) = entry?.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            // Gone while we list: not running.
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // `PID (COMM) STATE PPID …`; COMM may hold spaces and parentheses.
            let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
                continue;
            };
            let comm = &stat[open + 1..close];
            let mut rest = stat[close + 1..].split_whitespace();
            let (state, ppid) = (rest.next(), rest.next());
            if comm == command
                && state != Some("Z")
                && ppid.and_then(|p| p.parse::<u32>().ok()) == Some(kwok)
            {
                found.push(pid);
            }
        }
        Ok(found)
    }

    /// Waits until no exec session of KWOK's runs `command` any more; returns how long that
    /// took.
    pub async fn wait_exec_processes_ended(
        &self,
        command: &str,
        within: Duration,
    ) -> Result<Duration> {
        let what = format!("end of KWOK's {command} processes");
        super::logs::time_until(within, &what, || {
            Ok(self.exec_processes(command)?.is_empty())
        })
        .await
    }
}
