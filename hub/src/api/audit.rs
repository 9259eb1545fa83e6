//! The audit trail: every mutation through the API is recorded (who, organization, action,
//! target, result, time, source IP, request id), and admins read it with filters.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use kubeworkz_shared::ids::OrgId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::context::RequestContext;
use super::costs::Format;
use super::extract::{Admin, ApiQuery, Principal};
use super::list_columns::{AUDIT_HEADER, audit_fields};
use super::search_export::{download, download_page, download_request};
use super::views::{PageParams, bad_cursor, keyset, page_of};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::store::{AuditEntry, AuditFilter, AuditKey};

/// Records the outcome of a mutation and passes it through. A failed audit write is logged
/// (the mutation already happened; failing the request would misreport it).
pub(super) async fn audited<T>(
    state: &AppState,
    who: &Principal,
    ctx: &RequestContext,
    action: &str,
    target: &str,
    result: Result<T, ApiError>,
) -> Result<T, ApiError> {
    let outcome = match &result {
        Ok(_) => "success".to_owned(),
        Err(e) => format!("failure: {}", e.status_and_code().1),
    };
    record(state, who.org_id, &who.actor, ctx, action, target, outcome).await;
    result
}

/// Appends one entry; failures are logged, not returned.
pub(super) async fn record(
    state: &AppState,
    org: kubeworkz_shared::ids::OrgId,
    actor: &str,
    ctx: &RequestContext,
    action: &str,
    target: &str,
    result: String,
) {
    record_detail(state, org, actor, ctx, (action, target), result, None).await;
}

/// Appends one entry with what it changed or why it failed (`detail`, never a secret);
/// failures are logged, not returned.
pub(super) async fn record_detail(
    state: &AppState,
    org: kubeworkz_shared::ids::OrgId,
    actor: &str,
    ctx: &RequestContext,
    (action, target): (&str, &str),
    result: String,
    detail: Option<String>,
) {
    let entry = AuditEntry {
        id: Uuid::now_v7(),
        org_id: org,
        at: Utc::now(),
        actor: actor.to_owned(),
        action: action.to_owned(),
        target: target.to_owned(),
        result,
        source_ip: ctx.source_ip.map(|ip| ip.to_string()),
        request_id: Some(ctx.request_id.clone()),
        detail,
    };
    if let Err(err) = state.store.record_audit(&entry).await {
        tracing::error!(error = %err, action, request_id = %ctx.request_id, "audit write failed");
    }
}

/// One audit entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    /// Id.
    pub id: Uuid,
    /// When.
    pub at: DateTime<Utc>,
    /// Who: a user's email or `token:<id>`.
    pub actor: String,
    /// What, e.g. `cluster.delete`.
    pub action: String,
    /// On what, e.g. `cluster:<id>`.
    pub target: String,
    /// `success` or `failure: <code>`.
    pub result: String,
    /// Client address.
    pub source_ip: Option<String>,
    /// Request id.
    pub request_id: Option<String>,
    /// What the mutation changed (`replicas 2 -> 3`), or why it failed, in words.
    pub detail: Option<String>,
}

page_of!(AuditPage, AuditView);

/// Filters of `GET /api/v1/audit`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Exact actor.
    pub actor: Option<String>,
    /// Exact action.
    pub action: Option<String>,
    /// Exact target.
    pub target: Option<String>,
    /// Exact result.
    pub result: Option<String>,
    /// At or after (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Before (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// Items per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Items to skip.
    pub offset: Option<u64>,
    /// The `next_cursor` of the previous page (instead of `offset`).
    pub cursor: Option<String>,
    /// `csv` or `json`: every entry (all pages, the filters applied) as a download instead
    /// of a page.
    pub format: Option<Format>,
}

/// `GET /api/v1/audit`: the organization's audit log, newest first (admin).
#[utoipa::path(get, path = "/api/v1/audit", tag = "admin", params(AuditParams),
    responses((status = 200, description = "A page, or with `format` every entry",
        content((AuditListAnswer = "application/json"), (String = "text/csv"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    Admin(who): Admin,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Response, ApiError> {
    let after = match keyset(params.cursor.as_deref(), AUDIT_ORDER)? {
        Some(key) => Some(audit_key(key)?),
        None => None,
    };
    let page = PageParams::slice(params.limit, params.offset, params.cursor).page()?;
    let filter = AuditFilter {
        actor: params.actor,
        action: params.action,
        target: params.target,
        result: params.result,
        since: params.since,
        until: params.until,
        after,
    };
    if let Some(format) = params.format {
        return Ok(audit_download(&state, who.org_id, filter, format));
    }
    let paged = state.store.audit_page(who.org_id, &filter, page).await?;
    let key = paged.items.last().map(|e| {
        let key = e.key();
        vec![
            key.at.to_rfc3339_opts(SecondsFormat::Nanos, true),
            key.id.to_string(),
        ]
    });
    let page = AuditPage::new(paged, page, AuditView::from);
    Ok(Json(page.keyed(key, AUDIT_ORDER)).into_response())
}

/// Every entry `filter` selects (all pages, by keyset) as a CSV or JSON download.
fn audit_download(state: &AppState, org: OrgId, filter: AuditFilter, format: Format) -> Response {
    let store = state.store.clone();
    download(
        format,
        "audit-log",
        AUDIT_HEADER,
        audit_fields,
        move |after: Option<AuditKey>| {
            let store = store.clone();
            let filter = AuditFilter {
                after,
                ..filter.clone()
            };
            async move {
                let page = store.audit_page(org, &filter, download_request()).await?;
                Ok(download_page(page.items, AuditEntry::key, AuditView::from))
            }
        },
    )
}

/// The JSON answer of the audit log, for the API document only (see
/// [`super::views::ObjectListAnswer`]).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum AuditListAnswer {
    /// A page (no `format`).
    Page(AuditPage),
    /// Every entry (`format=json`).
    Rows(Vec<AuditView>),
}

/// The audit log's one order, as its cursors name it.
const AUDIT_ORDER: &str = "at";

/// An entry's key from a cursor: its time, then its id.
fn audit_key(key: Vec<String>) -> Result<AuditKey, ApiError> {
    let [at, id]: [String; 2] = key.try_into().map_err(|_| bad_cursor())?;
    Ok(AuditKey {
        at: DateTime::parse_from_rfc3339(&at)
            .map_err(|_| bad_cursor())?
            .with_timezone(&Utc),
        id: Uuid::parse_str(&id).map_err(|_| bad_cursor())?,
    })
}

impl From<AuditEntry> for AuditView {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: e.id,
            at: e.at,
            actor: e.actor,
            action: e.action,
            target: e.target,
            result: e.result,
            source_ip: e.source_ip,
            request_id: e.request_id,
            detail: e.detail,
        }
    }
}
