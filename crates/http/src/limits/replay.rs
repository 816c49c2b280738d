//! `Idempotency-Key` replay on POSTs of authenticated callers.

use crate::error::ApiError;
use crate::state::AppState;
use actix_web::body::{BoxBody, MessageBody, to_bytes};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpResponse, ResponseError, web};
use futures_util::StreamExt;
use legami_persistence::idempotency::{self, Begin, Stored};
use sha2::{Digest, Sha256};

/// The `Idempotency-Key` request header.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    hex::encode(h.finalize())
}

fn problem(req: ServiceRequest, err: ApiError) -> ServiceResponse<BoxBody> {
    req.into_response(err.error_response())
}

/// What is kept of a successful answer that carried a secret: a `409` naming the record.
fn withheld(status: u16, location: Option<String>) -> Stored {
    let where_ = location
        .as_deref()
        .map_or(String::new(), |l| format!(" ({l})"));
    let problem = serde_json::json!({
        "type": "/problems/conflict",
        "title": "Conflict",
        "status": 409,
        "detail": format!(
            "a request with this Idempotency-Key already succeeded ({status}){where_}; its answer \
             carried a secret, which is never stored or shown again"
        ),
    });
    Stored {
        status: 409,
        content_type: Some(crate::error::PROBLEM_JSON.to_owned()),
        location,
        body: problem.to_string(),
    }
}

/// `Idempotency-Key` on POSTs of authenticated callers: the same caller, path, key and body
/// within 24 hours replay the first answer (same status, body and `Location`, plus
/// `Idempotent-Replayed: true`); the same key with another body is `409`; while the first
/// request is still running, `409` as well. Answers of `4xx` and `5xx` are not kept, so a retry
/// runs again. An answer that carries a secret (`Cache-Control: no-store`, e.g. a new client's
/// secret) is never stored: a retry gets a `409` pointing at the created record instead.
/// Anonymous callers, invalid tokens and disabled accounts are never replayed; token requests
/// are left out.
pub async fn idempotency(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let skip = req.method() != Method::POST
        || !req.headers().contains_key(IDEMPOTENCY_KEY)
        || req.path().starts_with("/api/v1/auth/");
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let (false, Some(state)) = (skip, state) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let key = req
        .headers()
        .get(IDEMPOTENCY_KEY)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()));
    let Some(key) = key else {
        return Ok(problem(
            req,
            ApiError::invalid(
                "Idempotency-Key",
                "format",
                "1-255 visible ASCII characters, e.g. a UUID",
            ),
        ));
    };
    // Replays are for the same authenticated caller only: anonymous callers, and tokens that
    // are invalid or whose account or client is disabled, go straight to the handler (which
    // answers them), and nothing is stored for them.
    let subject = match crate::caller::identify(req.request().clone()).await {
        Ok(caller) => caller.subject(),
        Err(_) => None,
    };
    let Some(subject) = subject else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    // Read the body (within the configured limit and deadline), hash it, and hand it on
    // unchanged.
    let mut payload = req.take_payload();
    let mut body = web::BytesMut::new();
    let read = async {
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| ApiError::bad_request("the body could not be read"))?;
            if body.len() + chunk.len() > state.body_limit {
                return Err(ApiError::PayloadTooLarge(state.body_limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(())
    };
    let read = tokio::time::timeout(state.body_timeout, read)
        .await
        .map_err(|_| crate::extract::body_timed_out(state.body_timeout))
        .and_then(|r| r);
    if let Err(e) = read {
        return Ok(problem(req, e));
    }
    let body = body.freeze();
    req.set_payload(actix_web::dev::Payload::from(body.clone()));
    let key_hash = sha256_hex(&[
        subject.as_bytes(),
        req.method().as_str().as_bytes(),
        req.path().as_bytes(),
        key.as_bytes(),
    ]);
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .map(HeaderValue::as_bytes)
        .unwrap_or_default()
        .to_vec();
    let request_hash = sha256_hex(&[&content_type, &body]);
    let begun = match idempotency::begin(&state.db, &key_hash, &request_hash).await {
        Ok(b) => b,
        Err(e) => return Ok(problem(req, ApiError::from(e))),
    };
    match begun {
        Begin::Mismatch => Ok(problem(
            req,
            ApiError::Conflict(
                "this Idempotency-Key was already used with another body; use a new key".into(),
                None,
            ),
        )),
        Begin::InFlight => Ok(problem(
            req,
            ApiError::Conflict(
                "a request with this Idempotency-Key is still being processed; retry shortly"
                    .into(),
                None,
            ),
        )),
        Begin::Replay(stored) => {
            let mut res =
                HttpResponse::build(StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK));
            if let Some(ct) = &stored.content_type {
                res.insert_header((header::CONTENT_TYPE, ct.as_str()));
            }
            if let Some(loc) = &stored.location {
                res.insert_header((header::LOCATION, loc.as_str()));
            }
            res.insert_header(("Idempotent-Replayed", "true"));
            res.insert_header((header::CACHE_CONTROL, "no-store"));
            Ok(req.into_response(res.body(stored.body)))
        }
        Begin::Fresh => {
            let res = next.call(req).await;
            let res = match res {
                Ok(r) => r.map_into_boxed_body(),
                Err(e) => {
                    let _ = idempotency::abandon(&state.db, &key_hash).await;
                    return Err(e);
                }
            };
            // Refusals (4xx) and failures (5xx) are not kept: a retry, or a corrected body
            // under the same key, runs again.
            if res.status().is_client_error() || res.status().is_server_error() {
                let _ = idempotency::abandon(&state.db, &key_hash).await;
                return Ok(res);
            }
            let (req, res) = res.into_parts();
            let (head, body) = res.into_parts();
            let bytes = to_bytes(body).await.unwrap_or_default();
            let header_text = |name: header::HeaderName| {
                head.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let secret = header_text(header::CACHE_CONTROL)
                .is_some_and(|c| c.to_ascii_lowercase().contains("no-store"));
            let location = header_text(header::LOCATION);
            let stored = if secret {
                // The answer carries a secret (or must not be kept): only that it succeeded is
                // kept, so a retry neither repeats the write nor sees the secret again.
                withheld(head.status().as_u16(), location)
            } else {
                Stored {
                    status: head.status().as_u16(),
                    content_type: header_text(header::CONTENT_TYPE),
                    location,
                    body: String::from_utf8_lossy(&bytes).into_owned(),
                }
            };
            if idempotency::finish(&state.db, &key_hash, &stored)
                .await
                .is_err()
            {
                let _ = idempotency::abandon(&state.db, &key_hash).await;
            }
            Ok(ServiceResponse::new(
                req,
                head.set_body(BoxBody::new(bytes)),
            ))
        }
    }
}
