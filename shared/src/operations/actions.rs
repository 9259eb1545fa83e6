//! Workload actions: scale a deployment, restart it as `kubectl rollout restart` does, delete
//! a pod. Each asks for no more than the chart's `operations.actions` grants:
//! `deployments/scale` get and patch, `patch` on deployments, `delete` on pods.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde::{Deserialize, Serialize};

use super::kube_error;
use crate::protocol::{NamedObject, OperationError, ScaleRequest};

/// The annotation `kubectl rollout restart` sets on a deployment's pod template; a new value
/// makes the deployment roll its pods.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// What an action did, as the hub shows it and records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionOutcome {
    /// The change, in words (`replicas 2 -> 3`).
    pub change: String,
    /// A scaled deployment's replicas now.
    pub replicas: Option<u32>,
    /// A restarted deployment's `restartedAt` (RFC 3339).
    pub restarted_at: Option<String>,
}

/// Sets the deployment's replicas through its `scale` subresource.
pub async fn scale(
    client: &kube::Client,
    request: &ScaleRequest,
) -> Result<ActionOutcome, OperationError> {
    let target = &request.deployment;
    let api: Api<Deployment> = Api::namespaced(client.clone(), &target.namespace);
    let before = api
        .get_scale(&target.name)
        .await
        .map_err(kube_error)?
        .spec
        .and_then(|s| s.replicas)
        .unwrap_or(0);
    let patch = serde_json::json!({ "spec": { "replicas": request.replicas } });
    api.patch_scale(&target.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(kube_error)?;
    Ok(ActionOutcome {
        change: format!("replicas {before} -> {}", request.replicas),
        replicas: Some(request.replicas),
        restarted_at: None,
    })
}

/// Restarts the deployment's pods: a new [`RESTARTED_AT`] on its pod template.
pub async fn restart(
    client: &kube::Client,
    target: &NamedObject,
) -> Result<ActionOutcome, OperationError> {
    let now = k8s_openapi::jiff::Timestamp::now();
    let at = k8s_openapi::jiff::Timestamp::from_second(now.as_second())
        .map_err(|err| OperationError::Unavailable(format!("no clock: {err}")))?
        .to_string();
    let patch = serde_json::json!({
        "spec": { "template": { "metadata": { "annotations": { RESTARTED_AT: at } } } }
    });
    let api: Api<Deployment> = Api::namespaced(client.clone(), &target.namespace);
    api.patch(&target.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(kube_error)?;
    Ok(ActionOutcome {
        change: format!("{RESTARTED_AT} = {at}"),
        replicas: None,
        restarted_at: Some(at),
    })
}

/// Deletes the pod (gracefully, with its own grace period).
pub async fn delete_pod(
    client: &kube::Client,
    target: &NamedObject,
) -> Result<ActionOutcome, OperationError> {
    let api: Api<Pod> = Api::namespaced(client.clone(), &target.namespace);
    api.delete(&target.name, &DeleteParams::default())
        .await
        .map_err(kube_error)?;
    Ok(ActionOutcome {
        change: "deleted".into(),
        replicas: None,
        restarted_at: None,
    })
}
