//! Workload actions (operators and admins): `POST /api/v1/k8s/deployments/{id}/scale`,
//! `POST …/deployments/{id}/restart` and `DELETE /api/v1/k8s/pods/{id}`, carried out on the
//! cluster now through its agent (chart switch `operations.actions`) or its kubeconfig.
//!
//! Every attempt is in the audit log with who, the cluster and object, and the change or the
//! error in words. A client that may retry sends an `Idempotency-Key` (1 to 255 visible
//! ASCII characters): the first request with a key claims it, and a retry with the same key
//! and request is answered the first success without acting again (replays carry
//! `Idempotent-Replayed: true`). A failed action is not remembered, since it did not act:
//! a retry runs it again. Keys are the user's own and last `store::ACTION_KEY_TTL`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use kubeworkz_shared::change::ObjectKind;
use kubeworkz_shared::operations::ActionOutcome;
use kubeworkz_shared::protocol::{NamedObject, OperationRequest, ScaleRequest};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use super::audit::record_detail;
use super::context::RequestContext;
use super::extract::{ApiJson, ApiPath, Operator, Principal};
use super::inventory::own_object;
use super::operations::fetch;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::store::{ActionClaim, ActionKey};

/// Most replicas a deployment may be scaled to from the hub.
pub const MAX_REPLICAS: u32 = 10_000;

/// The request header naming an action's idempotency key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The response header of an answer replayed for a retried key.
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

/// Longest idempotency key.
const MAX_KEY_LEN: usize = 255;

/// The new replica count.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScaleBody {
    /// How many pods the deployment should run: 0 to 10000.
    pub replicas: i64,
}

/// What an action did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ActionView {
    /// The cluster it ran on.
    pub cluster_id: Uuid,
    /// `deployment` or `pod`.
    pub kind: String,
    /// The object's namespace.
    pub namespace: String,
    /// The object's name.
    pub name: String,
    /// `scale`, `restart` or `delete`.
    pub action: String,
    /// The change, in words (`replicas 2 -> 3`).
    pub change: String,
    /// A scaled deployment's replicas now.
    pub replicas: Option<u32>,
    /// A restarted deployment's `kubectl.kubernetes.io/restartedAt` (RFC 3339).
    pub restarted_at: Option<String>,
}

/// One action as the handlers describe it.
struct Action {
    kind: ObjectKind,
    /// The kind's name in views and audit targets.
    kind_name: &'static str,
    verb: &'static str,
    /// The audit log's action (`deployment.scale`).
    audited_as: &'static str,
}

const SCALE: Action = Action {
    kind: ObjectKind::Deployment,
    kind_name: "deployment",
    verb: "scale",
    audited_as: "deployment.scale",
};
const RESTART: Action = Action {
    kind: ObjectKind::Deployment,
    kind_name: "deployment",
    verb: "restart",
    audited_as: "deployment.restart",
};
const DELETE: Action = Action {
    kind: ObjectKind::Pod,
    kind_name: "pod",
    verb: "delete",
    audited_as: "pod.delete",
};

/// `POST /api/v1/k8s/deployments/{id}/scale`.
#[utoipa::path(post, path = "/api/v1/k8s/deployments/{id}/scale", tag = "operations",
    request_body = ScaleBody,
    params(("id" = String, Path, description = "Deployment id (its Kubernetes uid)"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retries with this key \
            and body answer the first success without scaling again")),
    responses(
        (status = 200, body = ActionView, description = "Scaled"),
        (status = 400, body = ErrorBody, description = "Replicas not from 0 to 10000, or a bad key"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "A viewer"),
        (status = 404, body = ErrorBody, description = "Not in the inventory, or no longer in the cluster"),
        (status = 409, body = ErrorBody, description = "Not enabled in the agent's chart \
            (`operations.actions`), the cluster is disabled, or the key's first request still runs"),
        (status = 422, body = ErrorBody, description = "The key was used for another request"),
        (status = 502, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(super) async fn scale(
    State(state): State<AppState>,
    Operator(who): Operator,
    ctx: RequestContext,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    body: Result<ApiJson<ScaleBody>, ApiError>,
) -> Result<Response, ApiError> {
    let replicas = body.and_then(|ApiJson(body)| {
        u32::try_from(body.replicas)
            .ok()
            .filter(|n| *n <= MAX_REPLICAS)
            .ok_or_else(|| {
                ApiError::BadRequest(format!("replicas must be from 0 to {MAX_REPLICAS}"))
            })
    });
    let body = replicas.as_ref().map_or(String::new(), u32::to_string);
    run(
        &state,
        &who,
        &ctx,
        &headers,
        &SCALE,
        &id,
        &body,
        |deployment| {
            Ok(OperationRequest::Scale(ScaleRequest {
                deployment,
                replicas: replicas?,
            }))
        },
    )
    .await
}

/// `POST /api/v1/k8s/deployments/{id}/restart`.
#[utoipa::path(post, path = "/api/v1/k8s/deployments/{id}/restart", tag = "operations",
    params(("id" = String, Path, description = "Deployment id (its Kubernetes uid)"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retries with this key \
            answer the first success without restarting again")),
    responses(
        (status = 200, body = ActionView, description = "Restarted: the deployment rolls its pods"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "A viewer"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 502, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub(super) async fn restart(
    State(state): State<AppState>,
    Operator(who): Operator,
    ctx: RequestContext,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    run(&state, &who, &ctx, &headers, &RESTART, &id, "", |target| {
        Ok(OperationRequest::Restart(target))
    })
    .await
}

/// `DELETE /api/v1/k8s/pods/{id}`.
#[utoipa::path(delete, path = "/api/v1/k8s/pods/{id}", tag = "operations",
    params(("id" = String, Path, description = "Pod id (its Kubernetes uid)"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retries with this key \
            answer the first success without deleting again")),
    responses(
        (status = 200, body = ActionView, description = "Deleted (its controller, if any, makes a new one)"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "A viewer"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 502, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub(super) async fn delete_pod(
    State(state): State<AppState>,
    Operator(who): Operator,
    ctx: RequestContext,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    run(&state, &who, &ctx, &headers, &DELETE, &id, "", |target| {
        Ok(OperationRequest::DeletePod(target))
    })
    .await
}

/// Claims the idempotency key (if any), carries `action` out on object `id` with the request
/// `make` builds, keeps a success for retries and audits the attempt. `body` is the request's
/// content beyond the action and object, for telling a key's requests apart.
#[allow(clippy::too_many_arguments)]
async fn run(
    state: &AppState,
    who: &Principal,
    ctx: &RequestContext,
    headers: &HeaderMap,
    action: &Action,
    id: &str,
    body: &str,
    make: impl FnOnce(NamedObject) -> Result<OperationRequest, ApiError>,
) -> Result<Response, ApiError> {
    let mut target = format!("{}:{id}", action.kind_name);
    let key = match idempotency_key(headers, who, action, id, body) {
        Ok(key) => key,
        Err(err) => return audit_failure(state, who, ctx, action, &target, err).await,
    };
    if let Some(key) = &key {
        let claim = state.store.claim_action(key, chrono::Utc::now()).await?;
        match claim {
            ActionClaim::Claimed => {}
            ActionClaim::Finished { status, body } => {
                return replay(state, who, ctx, action, status, body).await;
            }
            ActionClaim::Running => {
                let err = ApiError::Conflict(
                    "the first request with this Idempotency-Key is still running".into(),
                );
                return audit_failure(state, who, ctx, action, &target, err).await;
            }
            ActionClaim::OtherRequest => {
                let err = ApiError::Unprocessable(
                    "this Idempotency-Key was used for another request: use a new key".into(),
                );
                return audit_failure(state, who, ctx, action, &target, err).await;
            }
        }
    }
    let result = async {
        let item = own_object(state, who, action.kind, id).await?;
        target = format!(
            "cluster:{}/{}/{}/{}",
            item.cluster_id, item.namespace, action.kind_name, item.name
        );
        let named = NamedObject {
            namespace: item.namespace.clone(),
            name: item.name.clone(),
        };
        let answer = fetch(state, who, item.cluster_id, make(named)?).await?;
        let outcome: ActionOutcome = serde_json::from_slice(&answer)
            .map_err(|_| ApiError::Upstream("the cluster's answer could not be read".into()))?;
        Ok::<_, ApiError>(ActionView {
            cluster_id: *item.cluster_id.as_uuid(),
            kind: action.kind_name.to_owned(),
            namespace: item.namespace,
            name: item.name,
            action: action.verb.to_owned(),
            change: outcome.change,
            replicas: outcome.replicas,
            restarted_at: outcome.restarted_at,
        })
    }
    .await;
    match result {
        Ok(view) => {
            let json = serde_json::to_string(&view)
                .map_err(|err| ApiError::Internal(anyhow::anyhow!("encoding an action: {err}")))?;
            if let Some(key) = &key
                && let Err(err) = state.store.finish_action(key, 200, &json).await
            {
                tracing::error!(error = %err, "keeping an action's answer for retries failed");
            }
            record(
                state,
                who,
                ctx,
                action,
                &target,
                "success".into(),
                view.change.clone(),
            )
            .await;
            Ok(Json(view).into_response())
        }
        Err(err) => {
            if let Some(key) = &key
                && let Err(release) = state.store.release_action(key).await
            {
                tracing::error!(error = %release, "releasing an action's key failed");
            }
            audit_failure(state, who, ctx, action, &target, err).await
        }
    }
}

/// The request's idempotency key, if it sent one; a malformed one is a 400.
fn idempotency_key(
    headers: &HeaderMap,
    who: &Principal,
    action: &Action,
    id: &str,
    body: &str,
) -> Result<Option<ActionKey>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|k| (1..=MAX_KEY_LEN).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"
            ))
        })?;
    let mut hash = Sha256::new();
    for part in [action.audited_as, id, body] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    Ok(Some(ActionKey {
        org_id: who.org_id,
        user_id: who.user_id,
        key: key.to_owned(),
        request_hash: hash.finalize().to_vec(),
    }))
}

/// Answers a retried key with its first success, and audits the replay.
async fn replay(
    state: &AppState,
    who: &Principal,
    ctx: &RequestContext,
    action: &Action,
    status: u16,
    body: String,
) -> Result<Response, ApiError> {
    let view: ActionView = serde_json::from_str(&body)
        .map_err(|err| ApiError::Internal(anyhow::anyhow!("a kept action answer: {err}")))?;
    let target = format!(
        "cluster:{}/{}/{}/{}",
        view.cluster_id, view.namespace, view.kind, view.name
    );
    let detail = format!(
        "replayed for its Idempotency-Key, not run again: {}",
        view.change
    );
    record(state, who, ctx, action, &target, "success".into(), detail).await;
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut response = (status, Json(view)).into_response();
    response
        .headers_mut()
        .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    Ok(response)
}

/// Audits a failed attempt with its error in words, and answers it.
async fn audit_failure(
    state: &AppState,
    who: &Principal,
    ctx: &RequestContext,
    action: &Action,
    target: &str,
    err: ApiError,
) -> Result<Response, ApiError> {
    let outcome = format!("failure: {}", err.status_and_code().1);
    record(state, who, ctx, action, target, outcome, err.to_string()).await;
    Err(err)
}

async fn record(
    state: &AppState,
    who: &Principal,
    ctx: &RequestContext,
    action: &Action,
    target: &str,
    outcome: String,
    detail: String,
) {
    let what = (action.audited_as, target);
    record_detail(
        state,
        who.org_id,
        &who.actor,
        ctx,
        what,
        outcome,
        Some(detail),
    )
    .await;
}
