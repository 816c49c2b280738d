//! Extractors that turn every kind of bad input into the same problem+json errors.

use crate::error::{ApiError, ProblemField};
use crate::listing::ListQuery;
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

/// A query string deserialised with repeatable parameters (`theme=a&theme=b`); unknown
/// parameters are a `422` naming them.
#[derive(Debug)]
pub struct Qs<T>(pub T);

/// Pulls the name out of serde's "unknown field `x`, expected ..." message.
fn backticked(msg: &str) -> Option<String> {
    let start = msg.find('`')? + 1;
    let end = start + msg[start..].find('`')?;
    Some(msg[start..end].to_owned())
}

impl<T: DeserializeOwned> FromRequest for Qs<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let qs = req.query_string();
        std::future::ready(no_control_characters(qs).and_then(|()| parse_qs(qs).map(Qs)))
    }
}

/// A collection's query string, split in two: its own filters (`F`) and the parameters every
/// collection shares ([`ListQuery`]: `limit`, `cursor`, `sort`, `count`, `fields`, `format`),
/// declared once. Parameters neither knows are a `422` naming them.
#[derive(Debug)]
pub struct ListQs<F>(pub F, pub ListQuery);

impl<F: DeserializeOwned> FromRequest for ListQs<F> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let qs = req.query_string();
        let split = || -> Result<Self, ApiError> {
            no_control_characters(qs)?;
            let Ok(pairs) = serde_html_form::from_str::<Vec<(String, String)>>(qs) else {
                // Malformed: the typed parse says how.
                return Err(parse_qs::<F>(qs).err().unwrap_or_else(|| {
                    ApiError::invalid("query", "format", "malformed query string")
                }));
            };
            let (shared, own): (Vec<_>, Vec<_>) = pairs
                .into_iter()
                .partition(|(k, _)| ListQuery::NAMES.contains(&k.as_str()));
            let encode = |p: &[(String, String)]| serde_html_form::to_string(p).unwrap_or_default();
            Ok(ListQs(
                parse_qs(&encode(&own))?,
                parse_qs(&encode(&shared))?,
            ))
        };
        std::future::ready(split())
    }
}

/// Deserialises a query string; unknown and repeated parameters are named.
fn parse_qs<T: DeserializeOwned>(qs: &str) -> Result<T, ApiError> {
    serde_html_form::from_str::<T>(qs).map_err(|e| {
        let msg = e.to_string();
        if msg.starts_with("unknown field") {
            let name = backticked(&msg).unwrap_or_default();
            ApiError::invalid(
                &name,
                "unknown_parameter",
                format!("unknown query parameter '{name}'"),
            )
        } else if msg.starts_with("duplicate field") {
            let name = backticked(&msg).unwrap_or_default();
            ApiError::invalid(
                &name,
                "repeated",
                format!("parameter '{name}' may be given once"),
            )
        } else {
            ApiError::invalid("query", "format", format!("malformed query string: {msg}"))
        }
    })
}

/// The one rule for text in query strings: no parameter name or value holds a control
/// character (a NUL reaches PostgreSQL as an error, others are never meant). Every offending
/// parameter is named, each once.
fn no_control_characters(query: &str) -> Result<(), ApiError> {
    let Ok(pairs) = serde_html_form::from_str::<Vec<(String, String)>>(query) else {
        // Malformed query strings are reported by the typed parse.
        return Ok(());
    };
    let mut errors: Vec<ProblemField> = Vec::new();
    for (name, value) in &pairs {
        if name.chars().any(char::is_control) || value.chars().any(char::is_control) {
            let field: String = name.chars().filter(|c| !c.is_control()).collect();
            if errors.iter().any(|e| e.field == field) {
                continue;
            }
            errors.push(ProblemField {
                field,
                code: "format".into(),
                message: "query parameters must not contain control characters".into(),
            });
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Reads the body with the configured size limit, after checking its `Content-Type`.
async fn read_body(req: &HttpRequest, payload: &mut Payload) -> Result<web::Bytes, ApiError> {
    let limit = req
        .app_data::<web::Data<AppState>>()
        .map_or(1 << 20, |s| s.body_limit);
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence != "application/json" && essence != "application/merge-patch+json" {
        return Err(ApiError::UnsupportedMediaType(format!(
            "send the body as application/json (or application/merge-patch+json for PATCH), not '{ct}'"
        )));
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    let deadline = body_deadline(req);
    // Sized once from the declared length (already bounded by the limit) instead of doubling:
    // a queued metric batch holds its body until its turn comes.
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(0));
    let read = async {
        while let Some(chunk) = payload.next().await {
            let chunk = chunk
                .map_err(|e| ApiError::bad_request(format!("could not read the body: {e}")))?;
            if body.len() + chunk.len() > limit {
                return Err(ApiError::PayloadTooLarge(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(())
    };
    tokio::time::timeout(deadline, read)
        .await
        .map_err(|_| body_timed_out(deadline))??;
    Ok(body.freeze())
}

/// How long a request body may take to arrive (`LEGAMI_BODY_TIMEOUT_SECS`).
pub fn body_deadline(req: &HttpRequest) -> std::time::Duration {
    req.app_data::<web::Data<AppState>>()
        .map_or(std::time::Duration::from_secs(30), |s| s.body_timeout)
}

/// The `408` for a body that did not arrive in time (the connection is then closed).
pub fn body_timed_out(deadline: std::time::Duration) -> ApiError {
    ApiError::RequestTimeout(format!(
        "the body did not arrive within {} s; nothing was stored",
        deadline.as_secs()
    ))
}

/// Fields nobody may write: the server sets them.
pub const READ_ONLY: &[&str] = &["id", "created_at", "updated_at", "version"];

/// Turns a serde path (`address.municipality`, `themes[2]`) into a JSON pointer.
fn pointer(path: &serde_path_to_error::Path) -> String {
    let mut out = String::new();
    for seg in path.iter() {
        use serde_path_to_error::Segment as S;
        match seg {
            S::Seq { index } => out.push_str(&format!("/{index}")),
            S::Map { key } => out.push_str(&format!("/{key}")),
            S::Enum { variant } => out.push_str(&format!("/{variant}")),
            S::Unknown => {}
        }
    }
    out
}

/// Deserialises a JSON value into `T`: unknown fields are a `400` (typos, mass assignment);
/// a value of the wrong shape (an array for an object, a string for a number) and missing
/// required fields are a `422` naming every such field at once (checked against `T`'s
/// OpenAPI schema, see [`crate::shape`]), then serde's own errors a `422` naming the field.
pub fn from_value<T: DeserializeOwned + utoipa::ToSchema + 'static>(
    value: serde_json::Value,
) -> Result<T, ApiError> {
    let shape = crate::shape::check::<T>(&value);
    match read_value::<T>(value) {
        Err(e @ ApiError::BadRequest { .. }) => Err(e),
        _ if !shape.is_empty() => Err(ApiError::Validation(shape)),
        other => other,
    }
}

fn read_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let at = pointer(e.path());
        let msg = e.inner().to_string();
        if msg.starts_with("unknown field") {
            let name = backticked(&msg).unwrap_or_default();
            let field = format!("{}/{name}", at.rsplit_once('/').map_or("", |(p, _)| p));
            let (code, message) = if READ_ONLY.contains(&name.as_str()) {
                (
                    "read_only",
                    format!("'{name}' is set by the server and cannot be written"),
                )
            } else {
                ("unknown_field", format!("unknown field '{name}'"))
            };
            ApiError::BadRequest {
                detail: message.clone(),
                errors: vec![ProblemField {
                    field,
                    code: code.into(),
                    message,
                }],
            }
        } else if msg.starts_with("missing field") {
            let name = backticked(&msg).unwrap_or_default();
            let field = if at.is_empty() {
                format!("/{name}")
            } else {
                format!("{at}/{name}")
            };
            ApiError::invalid(&field, "required", format!("'{name}' is required"))
        } else {
            let clean = msg.split(" at line").next().unwrap_or(&msg).to_owned();
            ApiError::invalid(if at.is_empty() { "/" } else { &at }, "type", clean)
        }
    })
}

/// A JSON request body: `415` for another content type, `413` over the limit, `400` for
/// malformed JSON; the value must be an object.
#[derive(Debug)]
pub struct JsonObject(pub serde_json::Value);

impl FromRequest for JsonObject {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            let body = read_body(&req, &mut payload).await?;
            let value: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
            if !value.is_object() {
                return Err(ApiError::bad_request("the body must be a JSON object"));
            }
            Ok(Self(value))
        })
    }
}

/// The `If-Match` header, when present: the entity tags the client expects, or `*`.
pub fn if_match(req: &HttpRequest) -> Option<Vec<String>> {
    let raw = req.headers().get(header::IF_MATCH)?.to_str().ok()?;
    Some(
        raw.split(',')
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect(),
    )
}

/// Whether `If-Match` allows a change to a record whose current tag is `current`: a tag
/// matches when its record part does (any detail read of the current version).
pub fn if_match_ok(req: &HttpRequest, current: &str) -> bool {
    match if_match(req) {
        None => true,
        Some(tags) => tags
            .iter()
            .any(|t| t == "*" || crate::respond::record_tag_of(t) == current),
    }
}

/// A JSON request body of any shape (object or array), with the same checks as [`JsonObject`].
#[derive(Debug)]
pub struct JsonAny(pub serde_json::Value);

impl JsonAny {
    /// Reads a JSON body (content type and size checked) inside a handler, for handlers that
    /// must decide something (a queue position) between reading the bytes and parsing them.
    pub async fn read(req: &HttpRequest, payload: web::Payload) -> Result<web::Bytes, ApiError> {
        read_body(req, &mut payload.into_inner()).await
    }

    /// Parses bytes read by [`JsonAny::read`].
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        serde_json::from_slice(body)
            .map(Self)
            .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))
    }
}

impl FromRequest for JsonAny {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            let body = read_body(&req, &mut payload).await?;
            Self::parse(&body)
        })
    }
}
