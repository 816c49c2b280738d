//! What every write handler shares: `If-Match`, merge patches, `201` answers.

use crate::caller::Caller;
use crate::error::{ApiError, ProblemField};
use crate::extract::{READ_ONLY, from_value, if_match_ok};
use crate::respond::{self, etag_for};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::IntoParams;

/// Query parameters of reads of one record.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OneQuery {
    /// Comma-separated field names to return (plus `id`).
    #[param(example = "name,slug,location")]
    pub fields: Option<String>,
}

/// Fails with `412` unless `If-Match` (when sent) names the current representation.
pub fn check_if_match(req: &HttpRequest, current: &impl Serialize) -> Result<(), ApiError> {
    if if_match_ok(req, &etag_for(current)?) {
        Ok(())
    } else {
        Err(ApiError::PreconditionFailed)
    }
}

/// Applies an RFC 7396 merge patch to the writable view of a record; read-only fields are a 400.
pub fn merge<T: DeserializeOwned + utoipa::ToSchema + 'static>(
    mut merged: Value,
    patch: Value,
) -> Result<T, ApiError> {
    if let Some(obj) = patch.as_object() {
        for ro in READ_ONLY {
            if obj.contains_key(*ro) {
                return Err(ApiError::BadRequest {
                    detail: format!("'{ro}' is set by the server and cannot be written"),
                    errors: vec![ProblemField {
                        field: format!("/{ro}"),
                        code: "read_only".into(),
                        message: format!("'{ro}' is read-only"),
                    }],
                });
            }
        }
    }
    json_patch::merge(&mut merged, &patch);
    from_value(merged)
}

/// A `201 Created` with `Location` and `ETag`.
pub fn created(
    req: &HttpRequest,
    caller: &Caller,
    body: &impl Serialize,
    location: &str,
) -> Result<HttpResponse, ApiError> {
    let mut res = respond::json(req, caller, StatusCode::CREATED, body)?;
    if let Ok(v) = header::HeaderValue::from_str(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(res)
}

/// How many times a write without `If-Match` is applied again when other writes to the record got
/// in between its read and its write (each round lets at least one of them through, so this many
/// writers of one record at once all succeed); past it the answer is `412`.
const UNCONDITIONAL_ROUNDS: usize = 20;

/// Whether a write that lost a race for the record may be applied again to the new version: the
/// caller set no precondition and it has rounds left.
pub fn again(
    req: &HttpRequest,
    result: &legami_persistence::StoreResult<impl Sized>,
    round: usize,
) -> bool {
    matches!(result, Err(legami_persistence::StoreError::Stale))
        && !req.headers().contains_key(header::IF_MATCH)
        && round < UNCONDITIONAL_ROUNDS
}
