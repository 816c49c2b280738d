//! The one error type of the HTTP layer and its RFC 9457 problem+json rendering.
//!
//! 5xx errors are logged with their cause and shown to the client only as a generic problem; the
//! request-id middleware adds `request_id` and `instance` to every problem body on the way out.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use legami_domain::{FieldError, FieldErrors};
use legami_persistence::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid field or parameter.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"field": "/address/municipality", "code": "unknown", "message": "no municipality has this ISTAT code"}))]
pub struct ProblemField {
    /// JSON pointer into the body (`/location/lat`), or the name of the query parameter.
    pub field: String,
    /// Machine-readable rule: `required`, `format`, `range`, `enum`, `unknown`, `check_digit`, ...
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

/// An RFC 9457 problem details body, as every error of the API is answered.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "/problems/validation", "title": "Invalid request", "status": 422,
    "detail": "1 field is invalid", "instance": "/api/v1/organisations",
    "request_id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a2b",
    "errors": [{"field": "/address/municipality", "code": "unknown", "message": "no municipality has this ISTAT code"}]
}))]
pub struct Problem {
    /// A relative URI naming the kind of problem (`/problems/validation`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong this time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The request id, as in the `X-Request-Id` response header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// One entry per invalid field (validation problems only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemField>,
}

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: malformed JSON, unknown body fields, read-only fields, bad cursor.
    #[error("{detail}")]
    BadRequest {
        /// What is wrong.
        detail: String,
        /// Field-level details, when known.
        errors: Vec<ProblemField>,
    },
    /// 401: no or bad credentials.
    #[error("authentication required")]
    Unauthorized(String),
    /// 403: authenticated but not allowed.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// 404: not found or not visible.
    #[error("not found")]
    NotFound,
    /// 405 with the allowed methods.
    #[error("method not allowed")]
    MethodNotAllowed(Vec<String>),
    /// 406: no acceptable representation.
    #[error("not acceptable")]
    NotAcceptable(String),
    /// 409: unique conflict or state conflict.
    #[error("conflict: {0}")]
    Conflict(String, Option<String>),
    /// 412: `If-Match` does not match.
    #[error("precondition failed")]
    PreconditionFailed,
    /// 413: body too large.
    #[error("payload too large")]
    PayloadTooLarge(usize),
    /// 408: the body did not arrive in time.
    #[error("request timeout")]
    RequestTimeout(String),
    /// 415: unsupported `Content-Type`.
    #[error("unsupported media type")]
    UnsupportedMediaType(String),
    /// 422: validation failed.
    #[error("validation failed")]
    Validation(Vec<ProblemField>),
    /// 429: rate limited or throttled; retry after this many seconds.
    #[error("too many requests")]
    TooManyRequests {
        /// What was limited.
        detail: String,
        /// Seconds until a retry may succeed.
        retry_after: u64,
    },
    /// 503: database unreachable.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// 500: a bug; the cause is logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The most problem entries one answer lists.
pub const MAX_PROBLEM_FIELDS: usize = 50;

/// The longest `message` of one entry (bytes; a value echoed from the request is cut).
const MAX_MESSAGE: usize = 300;

/// Cuts `s` to at most [`MAX_MESSAGE`] bytes (on a character boundary), marking the cut.
fn cut(s: &mut String) {
    if s.len() > MAX_MESSAGE {
        let mut at = MAX_MESSAGE;
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        s.truncate(at);
        s.push('…');
    }
}

/// Problem entries as sent: duplicates dropped, each field and message at most [`MAX_MESSAGE`] bytes, at
/// most [`MAX_PROBLEM_FIELDS`] entries; with the number of distinct entries.
fn bounded(errors: &[ProblemField]) -> (usize, Vec<ProblemField>) {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    let mut distinct = 0;
    for e in errors {
        if !seen.insert((&e.field, &e.code, &e.message)) {
            continue;
        }
        distinct += 1;
        if out.len() < MAX_PROBLEM_FIELDS {
            let mut e = e.clone();
            cut(&mut e.field);
            cut(&mut e.message);
            out.push(e);
        }
    }
    (distinct, out)
}

impl ApiError {
    /// A 400 with a detail sentence.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::BadRequest {
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    /// A 422 for one query parameter or body field.
    pub fn invalid(field: &str, code: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![ProblemField {
            field: field.to_owned(),
            code: code.to_owned(),
            message: message.into(),
        }])
    }

    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        use StatusCode as S;
        match self {
            Self::BadRequest { .. } => (S::BAD_REQUEST, "/problems/bad-request", "Bad request"),
            Self::Unauthorized(_) => (S::UNAUTHORIZED, "/problems/unauthorized", "Unauthorized"),
            Self::Forbidden(_) => (S::FORBIDDEN, "/problems/forbidden", "Forbidden"),
            Self::NotFound => (S::NOT_FOUND, "/problems/not-found", "Not found"),
            Self::MethodNotAllowed(_) => (
                S::METHOD_NOT_ALLOWED,
                "/problems/method-not-allowed",
                "Method not allowed",
            ),
            Self::NotAcceptable(_) => (
                S::NOT_ACCEPTABLE,
                "/problems/not-acceptable",
                "Not acceptable",
            ),
            Self::Conflict(..) => (S::CONFLICT, "/problems/conflict", "Conflict"),
            Self::PreconditionFailed => (
                S::PRECONDITION_FAILED,
                "/problems/precondition-failed",
                "Precondition failed",
            ),
            Self::PayloadTooLarge(_) => (
                S::PAYLOAD_TOO_LARGE,
                "/problems/payload-too-large",
                "Payload too large",
            ),
            Self::RequestTimeout(_) => (
                S::REQUEST_TIMEOUT,
                "/problems/request-timeout",
                "Request timeout",
            ),
            Self::UnsupportedMediaType(_) => (
                S::UNSUPPORTED_MEDIA_TYPE,
                "/problems/unsupported-media-type",
                "Unsupported media type",
            ),
            Self::Validation(_) => (
                S::UNPROCESSABLE_ENTITY,
                "/problems/validation",
                "Invalid request",
            ),
            Self::TooManyRequests { .. } => (
                S::TOO_MANY_REQUESTS,
                "/problems/too-many-requests",
                "Too many requests",
            ),
            Self::Unavailable(_) => (
                S::SERVICE_UNAVAILABLE,
                "/problems/unavailable",
                "Service unavailable",
            ),
            Self::Internal(_) => (
                S::INTERNAL_SERVER_ERROR,
                "/problems/internal",
                "Internal server error",
            ),
        }
    }

    /// The problem body for this error.
    pub fn problem(&self) -> Problem {
        let (status, kind, title) = self.parts();
        let (detail, errors) = match self {
            Self::BadRequest { detail, errors } => (Some(detail.clone()), bounded(errors).1),
            Self::Unauthorized(d) | Self::Forbidden(d) | Self::NotAcceptable(d) => {
                (Some(d.clone()), Vec::new())
            }
            Self::UnsupportedMediaType(d) | Self::RequestTimeout(d) => (Some(d.clone()), Vec::new()),
            Self::NotFound => (Some("no such resource, or it is not visible to you".into()), Vec::new()),
            Self::MethodNotAllowed(allow) => (
                Some(format!("this resource allows {}", allow.join(", "))),
                Vec::new(),
            ),
            Self::Conflict(d, field) => (
                Some(d.clone()),
                field
                    .iter()
                    .map(|f| ProblemField {
                        field: f.clone(),
                        code: "conflict".into(),
                        message: d.clone(),
                    })
                    .collect(),
            ),
            Self::PreconditionFailed => (
                Some("the record changed since you read it: fetch it again and retry with its new ETag".into()),
                Vec::new(),
            ),
            Self::PayloadTooLarge(limit) => (
                Some(format!("the body is larger than the limit of {limit} bytes")),
                Vec::new(),
            ),
            Self::Validation(errors) => {
                let (n, listed) = bounded(errors);
                let detail = match n {
                    1 => "1 field is invalid".to_owned(),
                    n if n > listed.len() => format!(
                        "{n} fields or values are invalid; the first {} are listed",
                        listed.len()
                    ),
                    n => format!("{n} fields are invalid"),
                };
                (Some(detail), listed)
            }
            Self::TooManyRequests { detail, .. } => (Some(detail.clone()), Vec::new()),
            Self::Unavailable(_) => (
                Some("the database is unreachable; retry shortly".into()),
                Vec::new(),
            ),
            Self::Internal(_) => (
                Some("an unexpected error occurred; quote the request id when reporting it".into()),
                Vec::new(),
            ),
        };
        Problem {
            kind: kind.to_owned(),
            title: title.to_owned(),
            status: status.as_u16(),
            detail,
            instance: None,
            request_id: None,
            errors,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.parts().0
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Internal(cause) => tracing::error!(%cause, "internal error"),
            Self::Unavailable(cause) => tracing::warn!(%cause, "database unavailable"),
            _ => {}
        }
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        res.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        match self {
            Self::MethodNotAllowed(allow) => {
                res.insert_header((header::ALLOW, allow.join(", ")));
            }
            Self::Unauthorized(_) => {
                res.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                ));
            }
            Self::Unavailable(_) => {
                res.insert_header((header::RETRY_AFTER, HeaderValue::from_static("5")));
            }
            Self::RequestTimeout(_) => {
                // The rest of the body may still come: the connection cannot be reused.
                res.force_close();
            }
            Self::TooManyRequests { retry_after, .. } => {
                res.insert_header((header::RETRY_AFTER, retry_after.max(&1).to_string()));
            }
            _ => {}
        }
        res.body(serde_json::to_vec(&self.problem()).unwrap_or_default())
    }
}

impl From<FieldErrors> for ApiError {
    fn from(e: FieldErrors) -> Self {
        Self::Validation(e.0.into_iter().map(ProblemField::from).collect())
    }
}

impl From<FieldError> for ProblemField {
    fn from(e: FieldError) -> Self {
        Self {
            field: e.field,
            code: e.code,
            message: e.message,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound,
            StoreError::Conflict { field, message } => Self::Conflict(message, field),
            StoreError::Stale => Self::PreconditionFailed,
            StoreError::Invalid(errs) => errs.into(),
            StoreError::Unavailable(cause) => Self::Unavailable(cause),
            StoreError::Db(cause) => Self::Internal(cause),
        }
    }
}
