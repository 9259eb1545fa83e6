//! Events about an object and the object as the cluster has it now.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Namespace, Node, Pod};
use kube::api::ListParams;
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::kube_error;
use crate::protocol::{LiveKind, ObjectRequest, OperationError};

/// Most events returned for one object (the newest first after the warnings).
pub const MAX_EVENTS: usize = 200;

/// One event as the hub shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventSummary {
    /// `Normal` or `Warning`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Short, machine-readable reason (`ScalingReplicaSet`, `BackOff`).
    pub reason: String,
    /// What happened, in words.
    pub message: String,
    /// How many times it happened.
    pub count: i32,
    /// The last time it happened (RFC 3339), when known.
    pub last_seen: Option<String>,
    /// Who reported it (`deployment-controller`, `kubelet`).
    pub source: String,
}

impl EventSummary {
    fn from_event(event: Event) -> Self {
        let last_seen = event
            .last_timestamp
            .map(|t| t.0.to_string())
            .or_else(|| event.event_time.map(|t| t.0.to_string()))
            .or_else(|| event.metadata.creation_timestamp.map(|t| t.0.to_string()));
        Self {
            type_: event.type_.unwrap_or_else(|| "Normal".into()),
            reason: event.reason.unwrap_or_default(),
            message: event.message.unwrap_or_default(),
            count: event.count.unwrap_or(1),
            last_seen,
            source: event
                .source
                .and_then(|s| s.component)
                .or(event.reporting_component)
                .unwrap_or_default(),
        }
    }
}

fn kind_name(kind: LiveKind) -> &'static str {
    match kind {
        LiveKind::Pod => "Pod",
        LiveKind::Deployment => "Deployment",
        LiveKind::Node => "Node",
        LiveKind::Namespace => "Namespace",
    }
}

/// The events about `object`, warnings first, then the newest first; at most [`MAX_EVENTS`].
pub async fn events(
    client: &kube::Client,
    object: &ObjectRequest,
) -> Result<Vec<EventSummary>, OperationError> {
    let kind = kind_name(object.kind);
    let fields = format!(
        "involvedObject.kind={kind},involvedObject.name={}",
        object.name
    );
    let api: Api<Event> = match object.kind {
        LiveKind::Pod | LiveKind::Deployment => Api::namespaced(client.clone(), &object.namespace),
        LiveKind::Node | LiveKind::Namespace => Api::all(client.clone()),
    };
    let list = api
        .list(&ListParams::default().fields(&fields))
        .await
        .map_err(kube_error)?;
    let mut events: Vec<EventSummary> = list
        .items
        .into_iter()
        .map(EventSummary::from_event)
        .collect();
    events.sort_by(|a, b| {
        (b.type_ == "Warning")
            .cmp(&(a.type_ == "Warning"))
            .then_with(|| b.last_seen.cmp(&a.last_seen))
    });
    events.truncate(MAX_EVENTS);
    Ok(events)
}

/// `object` as the cluster has it now, as JSON without `managedFields`. Read with `list` by
/// name, the verb the collector already holds, so no further RBAC is needed.
pub async fn object(
    client: &kube::Client,
    object: &ObjectRequest,
) -> Result<Vec<u8>, OperationError> {
    match object.kind {
        LiveKind::Pod => {
            live::<Pod>(Api::namespaced(client.clone(), &object.namespace), object).await
        }
        LiveKind::Deployment => {
            live::<Deployment>(Api::namespaced(client.clone(), &object.namespace), object).await
        }
        LiveKind::Node => live::<Node>(Api::all(client.clone()), object).await,
        LiveKind::Namespace => live::<Namespace>(Api::all(client.clone()), object).await,
    }
}

async fn live<K>(api: Api<K>, object: &ObjectRequest) -> Result<Vec<u8>, OperationError>
where
    K: Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let fields = format!("metadata.name={}", object.name);
    let mut list = api
        .list(&ListParams::default().fields(&fields))
        .await
        .map_err(kube_error)?;
    let mut found = list.items.pop().ok_or_else(|| {
        OperationError::NotFound(format!(
            "{} {} is not in the cluster",
            kind_name(object.kind),
            object.name
        ))
    })?;
    found.meta_mut().managed_fields = None;
    serde_json::to_vec(&found)
        .map_err(|err| OperationError::Unavailable(format!("cannot encode the object: {err}")))
}
