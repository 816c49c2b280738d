//! Conditional GET: strong ETags, `304`, `Cache-Control`, and the one rule of what a record's
//! tag means (used by reads and by `If-Match`).

use crate::caller::Caller;
use crate::error::ApiError;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// A strong entity tag for a body.
pub fn etag_of(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    format!("\"{}\"", hex::encode(&digest[..16]))
}

/// Whether `If-None-Match` names `etag` (or `*`).
pub(crate) fn not_modified(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',').any(|t| {
                let t = t.trim();
                t == "*" || t == etag || t.strip_prefix("W/") == Some(etag)
            })
        })
}

/// Sets the caching headers every read carries.
pub fn cache_headers(res: &mut HttpResponseBuilder, caller: &Caller) {
    res.insert_header((
        header::CACHE_CONTROL,
        if caller.is_authenticated() {
            HeaderValue::from_static("private, no-cache")
        } else {
            HeaderValue::from_static("public, max-age=60")
        },
    ));
    res.insert_header((
        header::VARY,
        HeaderValue::from_static("Accept, Accept-Encoding, Authorization"),
    ));
}

/// A body with a strong ETag; a `GET` whose `If-None-Match` matches gets `304` and no body.
pub fn tagged(
    req: &HttpRequest,
    caller: &Caller,
    status: StatusCode,
    content_type: &'static str,
    body: Vec<u8>,
) -> HttpResponse {
    let etag = etag_of(&body);
    tagged_as(req, caller, status, content_type, body, etag)
}

/// A body with the given strong ETag, answering `304` like [`tagged`].
pub(crate) fn tagged_as(
    req: &HttpRequest,
    caller: &Caller,
    status: StatusCode,
    content_type: &'static str,
    body: Vec<u8>,
    etag: String,
) -> HttpResponse {
    let mut res = HttpResponse::build(status);
    cache_headers(&mut res, caller);
    res.insert_header((header::ETAG, etag.clone()));
    if (req.method() == Method::GET || req.method() == Method::HEAD) && not_modified(req, &etag) {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .insert_header((header::CACHE_CONTROL, res_cache_value(caller)))
            .finish();
    }
    res.insert_header((header::CONTENT_TYPE, content_type))
        .body(body)
}

pub(crate) fn res_cache_value(caller: &Caller) -> &'static str {
    if caller.is_authenticated() {
        "private, no-cache"
    } else {
        "public, max-age=60"
    }
}

/// A record's detail read. One rule for what a record's ETag means, used by reads and by
/// preconditions: the tag of its stored representation (the body a write answers with). A read
/// whose body differs from it (a project's computed `results`, a sparse fieldset) is tagged
/// `"<record>.<body>"`: the body part keeps `If-None-Match` exact when only a computed part
/// changed, and `If-Match` compares the record part (see [`record_tag_of`]).
pub fn record_json(
    req: &HttpRequest,
    caller: &Caller,
    record: &impl Serialize,
    body: &serde_json::Value,
) -> Result<HttpResponse, ApiError> {
    let stored = serde_json::to_vec(record).map_err(|e| ApiError::Internal(e.to_string()))?;
    let bytes = serde_json::to_vec(body).map_err(|e| ApiError::Internal(e.to_string()))?;
    let etag = if stored == bytes {
        etag_of(&stored)
    } else {
        let (r, b) = (etag_of(&stored), etag_of(&bytes));
        format!("{}.{}", r.trim_end_matches('"'), b.trim_start_matches('"'))
    };
    Ok(tagged_as(
        req,
        caller,
        StatusCode::OK,
        "application/json",
        bytes,
        etag,
    ))
}

/// The record part of an entity tag (`"r.b"` -> `"r"`; a plain tag is its own record part).
pub fn record_tag_of(tag: &str) -> std::borrow::Cow<'_, str> {
    match tag.split_once('.') {
        Some((r, _)) if tag.starts_with('"') && tag.ends_with('"') => format!("{r}\"").into(),
        _ => tag.into(),
    }
}

/// A JSON body with an ETag.
pub fn json(
    req: &HttpRequest,
    caller: &Caller,
    status: StatusCode,
    value: &impl Serialize,
) -> Result<HttpResponse, ApiError> {
    let body = serde_json::to_vec(value).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(tagged(req, caller, status, "application/json", body))
}

/// The ETag a `GET` by the same caller would return for this record (for `If-Match`).
pub fn etag_for(value: &impl Serialize) -> Result<String, ApiError> {
    let body = serde_json::to_vec(value).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(etag_of(&body))
}
