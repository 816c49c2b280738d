//! Cross-cutting request handling: request ids, structured request logs, panics turned into
//! `500` problems, the finishing touches on every problem body, and large answers handed to
//! the connection in slices.

use crate::error::{ApiError, PROBLEM_JSON};
use actix_web::body::{BodySize, BoxBody, MessageBody, to_bytes};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, ResponseError, web};
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;
use tracing::Instrument;

/// The request id header, echoed or generated.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request id of the current request, stored in its extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn accepted_id(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    ok.then(|| s.to_owned())
}

/// Adds `request_id` and `instance` to a problem+json body.
async fn finish_problem(res: ServiceResponse<BoxBody>, id: &str) -> ServiceResponse<BoxBody> {
    let path = res.request().path().to_owned();
    let (req, res) = res.into_parts();
    let (head, body) = res.into_parts();
    let bytes = to_bytes(body).await.unwrap_or_default();
    let bytes = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(serde_json::Value::Object(mut map)) => {
            map.entry("instance").or_insert_with(|| path.into());
            map.insert("request_id".into(), id.into());
            serde_json::to_vec(&map).unwrap_or_else(|_| bytes.to_vec())
        }
        _ => bytes.to_vec(),
    };
    ServiceResponse::new(req, head.set_body(BoxBody::new(bytes)))
}

/// Gives every request an id (the client's `X-Request-Id` when sane), a tracing span and a log
/// line; turns a panic in a handler into a `500` problem; finishes problem bodies.
pub async fn request_context(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(accepted_id)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    // HEAD is answered as GET without the body, on every GET route.
    let is_head = req.method() == Method::HEAD;
    if is_head {
        req.head_mut().method = Method::GET;
    }
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.path());
    let started = Instant::now();
    let path = req.path().to_owned();
    let outcome = AssertUnwindSafe(next.call(req))
        .catch_unwind()
        .instrument(span.clone())
        .await;
    let res = match outcome {
        Ok(Ok(res)) => res.map_into_boxed_body(),
        Ok(Err(err)) => return Err(err),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            let _e = span.enter();
            tracing::error!(panic = %msg, "handler panicked");
            // The request was moved into the handler that panicked, so the answer travels as an
            // error carrying everything the problem body and headers need.
            return Err(Panicked {
                request_id: id,
                path,
            }
            .into());
        }
    };
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    let mut res = if is_problem {
        finish_problem(res, &id).await
    } else {
        res
    };
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    let status = res.status().as_u16();
    let _e = span.enter();
    tracing::info!(
        status,
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    Ok(res)
}

/// A handler panicked: answered as a generic `500` problem with the request id.
#[derive(Debug)]
struct Panicked {
    request_id: String,
    path: String,
}

impl std::fmt::Display for Panicked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("handler panicked")
    }
}

impl ResponseError for Panicked {
    fn status_code(&self) -> actix_web::http::StatusCode {
        actix_web::http::StatusCode::INTERNAL_SERVER_ERROR
    }

    fn error_response(&self) -> actix_web::HttpResponse {
        let mut problem = ApiError::Internal(String::new()).problem();
        problem.instance = Some(self.path.clone());
        problem.request_id = Some(self.request_id.clone());
        actix_web::HttpResponse::InternalServerError()
            .insert_header((header::CONTENT_TYPE, PROBLEM_JSON))
            .insert_header((REQUEST_ID, self.request_id.clone()))
            .body(serde_json::to_vec(&problem).unwrap_or_default())
    }
}

/// Answers larger than this are handed to the connection in slices of this size.
pub const SLICE: usize = 16 * 1024;

/// An answer already in memory, handed to the connection one slice at a time (zero-copy views
/// of the same bytes), with its full `Content-Length`.
///
/// actix-web copies a body it gets in one piece into the connection's write buffer, and a
/// keep-alive connection keeps that buffer's capacity: every connection that once carried a
/// 300 kB metric batch answer or a map box held on to 512 kB until it closed (tens of MiB of
/// resident memory under 64 connections). Given slices, the connection fills its buffer only up
/// to its 32 KiB write threshold.
struct Sliced(web::Bytes);

impl MessageBody for Sliced {
    type Error = std::convert::Infallible;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.0.len() as u64)
    }

    fn poll_next(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<web::Bytes, Self::Error>>> {
        let this = self.get_mut();
        if this.0.is_empty() {
            return Poll::Ready(None);
        }
        let n = this.0.len().min(SLICE);
        Poll::Ready(Some(Ok(this.0.split_to(n))))
    }
}

/// Hands in-memory answers larger than [`SLICE`] to the connection in slices (see [`Sliced`]);
/// streams and small answers pass as they are.
pub async fn slice_large_answers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let res = next.call(req).await?.map_into_boxed_body();
    Ok(res.map_body(|_, body| match body.size() {
        BodySize::Sized(n) if n > SLICE as u64 => match body.try_into_bytes() {
            Ok(bytes) => BoxBody::new(Sliced(bytes)),
            Err(body) => body,
        },
        _ => body,
    }))
}

/// Origins allowed to make cross-origin writes (`LEGAMI_CORS_ORIGINS`); reads are open to all.
#[derive(Debug, Clone, Default)]
pub struct WriteOrigins(std::sync::Arc<[String]>);

impl WriteOrigins {
    /// Parses a comma-separated list of origins.
    pub fn parse(raw: &str) -> Self {
        Self(
            raw.split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }

    /// Whether `origin` may write.
    pub fn allows(&self, origin: &[u8]) -> bool {
        self.0.iter().any(|o| o.as_bytes() == origin)
    }

    /// Whether the request carries an `Origin` that may not write.
    fn refuses(&self, req: &ServiceRequest) -> bool {
        req.headers()
            .get(header::ORIGIN)
            .is_some_and(|o| !self.allows(o.as_bytes()))
    }
}

/// The methods a read-only origin is offered in a preflight answer.
const READ_METHODS: HeaderValue = HeaderValue::from_static("GET, HEAD, OPTIONS");

/// Runs outside the CORS middleware: a preflight answer to an origin that may not write offers
/// only `GET, HEAD, OPTIONS`.
pub async fn read_only_preflights(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let refused = req
        .app_data::<web::Data<WriteOrigins>>()
        .is_some_and(|o| o.refuses(&req));
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut res = next.call(req).await?.map_into_boxed_body();
    if refused
        && preflight
        && res
            .headers()
            .contains_key(header::ACCESS_CONTROL_ALLOW_METHODS)
    {
        res.headers_mut()
            .insert(header::ACCESS_CONTROL_ALLOW_METHODS, READ_METHODS);
    }
    Ok(res)
}

/// A request other than `GET`, `HEAD` or `OPTIONS` carrying an `Origin` that may not write is
/// a `403` before it runs (whatever other headers it carries).
pub async fn refuse_cross_origin_writes(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let write = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if write
        && req
            .app_data::<web::Data<WriteOrigins>>()
            .is_some_and(|o| o.refuses(&req))
    {
        let res = ApiError::Forbidden(
            "this origin may not make cross-origin writes (see LEGAMI_CORS_ORIGINS); reads are \
             open to every origin"
                .into(),
        )
        .error_response();
        return Ok(req.into_response(res));
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_boxed_body)
}
