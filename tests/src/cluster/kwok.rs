//! KWOK's configuration: the stages that play the kubelets, from KWOK's own manifests, taught
//! the two states a test can ask for with a label — a node that is not Ready, and a pod whose
//! containers keep crashing — plus the resource-usage metrics.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use serde::Deserialize;
use serde_json::json;

use super::{CRASH_LOOP_LABEL, NODE_NOT_READY_LABEL};

/// Seconds between two simulated crashes of a crash-looping pod's containers. A kubelet backs
/// off exponentially up to 5 minutes; a fixed short period keeps the restart count moving
/// where a test or a demo can see it.
const CRASH_LOOP_PERIOD_MILLIS: u64 = 10_000;

pub(super) fn yaml_docs(text: &str) -> Result<Vec<serde_yaml::Value>> {
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let v = serde_yaml::Value::deserialize(doc)?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
}

/// Adds "label `label` is not `true`" to a stage's selector, so the stage leaves alone the
/// objects another stage owns (two stages writing one status would fight over it).
fn exclude_label(doc: &mut serde_yaml::Value, label: &str) -> Result<()> {
    let name = doc["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let exprs = doc["spec"]["selector"]["matchExpressions"]
        .as_sequence_mut()
        .ok_or_else(|| anyhow!("stage {name} has no matchExpressions"))?;
    exprs.push(serde_yaml::to_value(json!({
        "key": format!(".metadata.labels[\"{label}\"]"),
        "operator": "NotIn",
        "values": ["true"],
    }))?);
    Ok(())
}

/// KWOK's stages, with the two "keep the node Ready" stages leaving nodes alone that carry the
/// not-ready chaos label, and `pod-ready` leaving crash-looping pods to [`crash_loop_stages`].
pub(super) fn kwok_config(manifests: &Path) -> Result<String> {
    let mut docs = Vec::new();
    let stages = manifests.join("stages");
    let mut names: Vec<_> = std::fs::read_dir(&stages)
        .with_context(|| format!("reading {}", stages.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    names.sort();
    for path in names {
        for mut doc in yaml_docs(&std::fs::read_to_string(&path)?)? {
            match doc["metadata"]["name"].as_str().unwrap_or_default() {
                "node-initialize" | "node-heartbeat-with-lease" => {
                    exclude_label(&mut doc, NODE_NOT_READY_LABEL)?;
                }
                "pod-ready" => exclude_label(&mut doc, CRASH_LOOP_LABEL)?,
                _ => {}
            }
            docs.push(doc);
        }
    }
    docs.extend(crash_loop_stages()?);
    docs.extend(yaml_docs(&std::fs::read_to_string(
        manifests.join("metrics-resource.yaml"),
    )?)?);
    let mut out = String::new();
    for d in docs {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&d)?);
    }
    Ok(out)
}

/// The status of a pod whose containers all crashed once more: Running (the kubelet keeps
/// restarting them), not Ready, each container waiting in `CrashLoopBackOff` with its last
/// run terminated by exit code 1 and its restart count one higher than before.
const CRASH_LOOP_STATUS: &str = r#"{{ $now := Now }}
{{ $root := . }}
conditions:
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: Initialized
- lastTransitionTime: {{ $now | Quote }}
  reason: ContainersNotReady
  message: containers are crash-looping
  status: "False"
  type: Ready
- lastTransitionTime: {{ $now | Quote }}
  reason: ContainersNotReady
  message: containers are crash-looping
  status: "False"
  type: ContainersReady
containerStatuses:
{{ range $index, $item := .spec.containers }}
{{ $restarts := 0 }}
{{ with $root.status.containerStatuses }}{{ if lt $index (len .) }}{{ $restarts = (index . $index).restartCount }}{{ end }}{{ end }}
- image: {{ $item.image | Quote }}
  name: {{ $item.name | Quote }}
  ready: false
  started: false
  restartCount: {{ add1 $restarts }}
  lastState:
    terminated:
      exitCode: 1
      reason: Error
      startedAt: {{ $now | Quote }}
      finishedAt: {{ $now | Quote }}
  state:
    waiting:
      reason: CrashLoopBackOff
      message: {{ printf "back-off restarting failed container %s" $item.name | Quote }}
{{ end }}
phase: Running
startTime: {{ or $root.status.startTime $now | Quote }}
"#;

/// The addresses a pod gets when it first starts, as KWOK's `pod-ready` assigns them. Only
/// then: the status is applied as a patch, which keeps them, and a second allocation would
/// add another address of the same family (which the apiserver refuses).
const POD_ADDRESSES: &str = r#"{{ $hostIPs := NodeIPsWith .spec.nodeName }}
{{ with $hostIPs }}
hostIP: {{ index . 0 | Quote }}
hostIPs:
{{ range . }}
- ip: {{ . | Quote }}
{{ end }}
{{ end }}
{{ $podIPs := PodIPsWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) }}
{{ with $podIPs }}
podIP: {{ index . 0 | Quote }}
podIPs:
{{ range . }}
- ip: {{ . | Quote }}
{{ end }}
{{ end }}
"#;

/// Two stages for pods labelled [`CRASH_LOOP_LABEL`]: the first start crashes at once, and
/// every [`CRASH_LOOP_PERIOD_MILLIS`] after that the containers crash again.
fn crash_loop_stages() -> Result<Vec<serde_yaml::Value>> {
    let stage = |name: &str, phase: &str, delay_millis: u64, status: String| {
        serde_yaml::to_value(json!({
            "apiVersion": "kwok.x-k8s.io/v1alpha1",
            "kind": "Stage",
            "metadata": {"name": name},
            "spec": {
                "resourceRef": {"apiGroup": "v1", "kind": "Pod"},
                "selector": {"matchExpressions": [
                    {"key": format!(".metadata.labels[\"{CRASH_LOOP_LABEL}\"]"),
                     "operator": "In", "values": ["true"]},
                    {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"},
                    {"key": ".spec.nodeName", "operator": "Exists"},
                    {"key": ".status.phase", "operator": "In", "values": [phase]},
                ]},
                "delay": {"durationMilliseconds": delay_millis},
                "next": {"statusTemplate": status},
            },
        }))
    };
    Ok(vec![
        stage(
            "pod-crash-loop-start",
            "Pending",
            0,
            format!("{CRASH_LOOP_STATUS}{POD_ADDRESSES}"),
        )?,
        stage(
            "pod-crash-loop-restart",
            "Running",
            CRASH_LOOP_PERIOD_MILLIS,
            CRASH_LOOP_STATUS.to_owned(),
        )?,
    ])
}
