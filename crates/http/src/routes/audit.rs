//! `/audit` (admin): who created, changed, deleted or restored what, and when, with the changed
//! fields before and after.

use crate::answers;
use crate::caller::Caller;
use crate::cursor;
use crate::error::ApiError;
use crate::extract::Qs;
use crate::respond;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Utc};
use legami_persistence::audit::{self as store, AuditFilter};
use legami_persistence::pagination::KeysetPos;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

/// Query parameters of `GET /audit`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Record type: `organisation`, `lab`, `project`, `network`, `area`, `metrics`, `theme`,
    /// `indicator`, `user`, `client`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub kind: Option<String>,
    /// Record id (for `metrics`: the project id; for themes and indicators: the code).
    pub id: Option<String>,
    /// Actor id (a user or client id).
    pub actor: Option<String>,
    /// Page size, 1-100 (default 20).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// Opaque cursor from `page.next_cursor`.
    pub cursor: Option<String>,
}

/// One audit entry.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"seq": 42, "at": "2026-11-22T09:30:00Z", "actor": {"type": "user", "id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a31"}, "action": "update", "type": "lab", "id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a2c", "changes": {"name": {"before": "Vecchio nome", "after": "Nuovo nome"}}}))]
pub struct AuditEntryDto {
    /// Position in the log (newest first).
    pub seq: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: ActorDto,
    /// `create`, `update`, `delete` or `restore`.
    #[schema(pattern = "^(create|update|delete|restore)$")]
    pub action: String,
    /// Record type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Record id.
    pub id: String,
    /// Changed fields: `{field: {"before": ..., "after": ...}}`.
    #[schema(value_type = Object)]
    pub changes: Value,
}

/// Who made a change.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"type": "user", "id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a31"}))]
pub struct ActorDto {
    /// `user`, `client` or `system` (loaders and the command line).
    #[serde(rename = "type")]
    #[schema(pattern = "^(user|client|system)$")]
    pub kind: String,
    /// The user's or client's id.
    pub id: String,
}

/// Paging of the audit log.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"limit": 20, "next_cursor": null}))]
pub struct AuditPage {
    /// Page size.
    pub limit: u64,
    /// Cursor of the next (older) page, null at the end.
    pub next_cursor: Option<String>,
}

/// A page of the audit log.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"data": [{"seq": 42, "at": "2026-11-22T09:30:00Z", "actor": {"type": "user", "id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a31"}, "action": "update", "type": "lab", "id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a2c", "changes": {"name": {"before": "Vecchio nome", "after": "Nuovo nome"}}}], "page": {"limit": 20, "next_cursor": null}}))]
pub struct AuditList {
    /// Entries, newest first.
    pub data: Vec<AuditEntryDto>,
    /// Paging.
    pub page: AuditPage,
}

/// The audit log (admin), newest first.
///
/// Who changed what: one entry per create, change, delete or restore, with the actor, the time, the
/// record and the changed fields before and after. Filter by record `type` and `id` or by `actor`;
/// page with `limit` and `cursor`.
#[utoipa::path(
    tag = "auth",
    params(AuditQuery),
    responses(
        (status = 200, description = "Audit entries", body = AuditList),
        answers::BadCursor, answers::NoToken, answers::NotAdmin, answers::InvalidParameter,
    ),
    security(("bearer" = []))
)]
#[get("/audit")]
pub async fn list_audit(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    q: Qs<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.may_administer()?;
    let q = q.0;
    let limit = match q.limit.as_deref() {
        None => 20,
        Some(l) => match l.parse::<u64>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => {
                return Err(ApiError::invalid(
                    "limit",
                    "range",
                    "limit is a whole number from 1 to 100",
                ));
            }
        },
    };
    let before = match q.cursor.as_deref() {
        None => None,
        Some(c) => Some(
            cursor::decode(&state.cursor_secret, "audit", "-seq", c)
                .ok()
                .and_then(|p| p.key.parse::<i64>().ok())
                .ok_or_else(|| ApiError::BadRequest {
                    detail: "the cursor is not an audit cursor".into(),
                    errors: vec![crate::error::ProblemField {
                        field: "cursor".into(),
                        code: "invalid".into(),
                        message: "malformed, tampered or foreign cursor".into(),
                    }],
                })?,
        ),
    };
    let filter = AuditFilter {
        entity: q.kind,
        record_id: q.id,
        actor_id: q.actor,
    };
    let entries = store::list(&state.db, &filter, before, limit).await?;
    let next_cursor = (entries.len() as u64 == limit)
        .then(|| entries.last())
        .flatten()
        .map(|e| {
            cursor::encode(
                &state.cursor_secret,
                "audit",
                "-seq",
                &KeysetPos {
                    key: e.seq.to_string(),
                    id: String::new(),
                },
            )
        });
    let body = AuditList {
        data: entries
            .into_iter()
            .map(|e| AuditEntryDto {
                seq: e.seq,
                at: e.at,
                actor: ActorDto {
                    kind: e.actor_type,
                    id: e.actor_id,
                },
                action: e.action,
                kind: e.entity,
                id: e.record_id,
                changes: e.changes,
            })
            .collect(),
        page: AuditPage { limit, next_cursor },
    };
    respond::json(&req, &caller, StatusCode::OK, &body)
}
