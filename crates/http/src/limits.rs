//! Abuse limits: per-caller rate limits on the whole API (governor's GCRA limiter, keyed by
//! subject or address), throttling of failed logins per account/client and per address, and
//! `Idempotency-Key` replay on POSTs.

use crate::error::ApiError;
use crate::state::AppState;
use actix_web::body::{BoxBody, MessageBody, to_bytes};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use futures_util::StreamExt;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use legami_persistence::idempotency::{self, Begin, Stored};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The address a request came from (the peer; put the server behind a proxy that limits by the
/// real address, or trust the peer).
pub fn client_address(req: &HttpRequest) -> String {
    req.peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

type Keyed =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// One limit: a quota per minute and the limiter that enforces it.
pub struct Limit {
    per_minute: u32,
    limiter: Keyed,
}

impl Limit {
    fn new(per_minute: u32) -> Option<Self> {
        let n = NonZeroU32::new(per_minute)?;
        Some(Self {
            per_minute,
            limiter: RateLimiter::keyed(Quota::per_minute(n))
                .with_middleware::<StateInformationMiddleware>(),
        })
    }
}

/// Per-caller rate limits: anonymous callers per address, authenticated ones per subject.
pub struct RateLimits {
    anonymous: Option<Limit>,
    authenticated: Option<Limit>,
}

impl RateLimits {
    /// Requests per minute for each kind of caller; 0 turns that limit off.
    pub fn new(anonymous_per_minute: u32, authenticated_per_minute: u32) -> Self {
        Self {
            anonymous: Limit::new(anonymous_per_minute),
            authenticated: Limit::new(authenticated_per_minute),
        }
    }

    /// Forgets keys whose buckets are full again (call now and then to bound memory).
    pub fn retain_recent(&self) {
        for l in [&self.anonymous, &self.authenticated].into_iter().flatten() {
            l.limiter.retain_recent();
            l.limiter.shrink_to_fit();
        }
    }
}

const RL_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const RL_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RL_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");
const RL_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

/// Who a request counts against: the verified token's subject, else the address.
fn rate_key(req: &ServiceRequest, state: &AppState) -> (bool, String) {
    let token = crate::caller::bearer(req.request()).and_then(Result::ok);
    if let Some(claims) = token.and_then(|t| state.keys.verify(t)) {
        let kind = if claims.client_id.is_some() {
            "client"
        } else {
            "user"
        };
        return (true, format!("{kind}:{}", claims.sub));
    }
    (false, client_address(req.request()))
}

fn set_rate_headers(
    h: &mut header::HeaderMap,
    limit: u32,
    remaining: u32,
    reset: u64,
    policy: &str,
) {
    for (name, value) in [
        (RL_LIMIT, limit.to_string()),
        (RL_REMAINING, remaining.to_string()),
        (RL_RESET, reset.to_string()),
        (RL_POLICY, policy.to_owned()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
}

/// The rate-limit middleware for `/api/v1`: `429` problems with `Retry-After`, and
/// `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`, `RateLimit-Policy` headers
/// (draft-ietf-httpapi-ratelimit-headers) on every answer.
pub async fn rate_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let (Some(state), Some(limits)) = (
        req.app_data::<web::Data<AppState>>().cloned(),
        req.app_data::<web::Data<RateLimits>>().cloned(),
    ) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    if !req.path().starts_with("/api/") {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    let (authenticated, key) = rate_key(&req, &state);
    let limit = if authenticated {
        &limits.authenticated
    } else {
        &limits.anonymous
    };
    let Some(limit) = limit else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let per_minute = limit.per_minute;
    let cell = 60.0 / f64::from(per_minute);
    let policy = format!("{per_minute};w=60");
    match limit.limiter.check_key(&key) {
        Ok(snapshot) => {
            let remaining = snapshot.remaining_burst_capacity();
            let reset = (f64::from(per_minute - remaining.min(per_minute)) * cell).ceil() as u64;
            let mut res = next
                .call(req)
                .await
                .map(ServiceResponse::map_into_boxed_body)?;
            set_rate_headers(res.headers_mut(), per_minute, remaining, reset, &policy);
            Ok(res)
        }
        Err(not_until) => {
            let wait = not_until
                .wait_time_from(DefaultClock::default().now())
                .as_secs_f64()
                .ceil()
                .max(1.0) as u64;
            let err = ApiError::TooManyRequests {
                detail: format!(
                    "rate limit of {per_minute} requests per minute exceeded; retry in {wait} s"
                ),
                retry_after: wait,
            };
            let mut res = err.error_response();
            set_rate_headers(res.headers_mut(), per_minute, 0, wait, &policy);
            Ok(req.into_response(res))
        }
    }
}

/// What a failed login is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleScope {
    /// One account (or API client) tried from one address: `max` failures.
    Account,
    /// One address, whatever it tries: `4 × max` failures.
    Address,
}

/// A throttle key: a scope and a fixed-size digest of what it names, so an e-mail of any length
/// costs the same 16 bytes and nothing a client typed is kept in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ThrottleKey([u8; 16], bool);

impl ThrottleKey {
    /// The key of `parts` (an account or client and an address, or an address alone).
    pub fn new(scope: ThrottleScope, parts: &[&str]) -> Self {
        let mut h = Sha256::new();
        h.update([scope as u8]);
        for p in parts {
            h.update((p.len() as u64).to_be_bytes());
            h.update(p.as_bytes());
        }
        let digest = h.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest[..16]);
        Self(out, scope == ThrottleScope::Address)
    }
}

/// Throttles failed logins: after `max` failures within `window` for one account or client from
/// one address, or `4 × max` for one address, further attempts are `429` until the oldest
/// failure ages out. The account count is per address, so failures from one address never lock
/// the account's owner out elsewhere. Only failures count (a rate limiter would count every
/// attempt), and a success clears the account's record. Memory is bounded: keys are 16-byte
/// digests, each keeps at most its limit of timestamps, [`LoginThrottle::prune`] (on a timer)
/// forgets aged-out keys, and past `cap` keys the stalest are forgotten first.
pub struct LoginThrottle {
    max: usize,
    window: Duration,
    cap: usize,
    failures: Mutex<HashMap<ThrottleKey, std::collections::VecDeque<Instant>>>,
}

/// How many keys the throttle remembers at most.
pub const THROTTLE_KEYS: usize = 100_000;

impl LoginThrottle {
    /// A throttle allowing `max` failures per account within `window` (0 turns it off).
    pub fn new(max: u32, window: Duration) -> Self {
        Self::with_cap(max, window, THROTTLE_KEYS)
    }

    /// The same with another bound on the keys kept (at least 1).
    pub fn with_cap(max: u32, window: Duration, cap: usize) -> Self {
        Self {
            max: max as usize,
            window,
            cap: cap.max(1),
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn limit_for(&self, key: &ThrottleKey) -> usize {
        if key.1 { self.max * 4 } else { self.max }
    }

    /// How many keys are remembered now.
    pub fn len(&self) -> usize {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `429` if any of `keys` has too many recent failures.
    pub fn check(&self, keys: &[ThrottleKey]) -> Result<(), ApiError> {
        if self.max == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for key in keys {
            if let Some(list) = map.get_mut(key) {
                while list
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= self.window)
                {
                    list.pop_front();
                }
                if list.len() >= self.limit_for(key) {
                    let oldest = list.front().copied().unwrap_or(now);
                    let wait = self.window.saturating_sub(now.duration_since(oldest));
                    return Err(ApiError::TooManyRequests {
                        detail: "too many failed attempts; wait before trying again".into(),
                        retry_after: wait.as_secs().max(1),
                    });
                }
            }
        }
        Ok(())
    }

    /// Records a failure against each of `keys`.
    pub fn fail(&self, keys: &[ThrottleKey]) {
        if self.max == 0 {
            return;
        }
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for key in keys {
            if !map.contains_key(key) && map.len() >= self.cap {
                self.make_room(&mut map, now);
            }
            let limit = self.limit_for(key);
            let list = map.entry(*key).or_default();
            list.push_back(now);
            while list.len() > limit {
                list.pop_front();
            }
        }
    }

    /// Forgets aged-out keys; if that is not enough, the quarter whose last failure is oldest.
    fn make_room(
        &self,
        map: &mut HashMap<ThrottleKey, std::collections::VecDeque<Instant>>,
        now: Instant,
    ) {
        self.retain_live(map, now);
        if map.len() < self.cap {
            return;
        }
        let mut last: Vec<Instant> = map.values().filter_map(|l| l.back().copied()).collect();
        let cut = last.len() / 4;
        let (_, &mut bound, _) = last.select_nth_unstable(cut);
        map.retain(|_, l| l.back().is_some_and(|t| *t > bound));
    }

    fn retain_live(
        &self,
        map: &mut HashMap<ThrottleKey, std::collections::VecDeque<Instant>>,
        now: Instant,
    ) {
        map.retain(|_, list| {
            list.retain(|t| now.duration_since(*t) < self.window);
            !list.is_empty()
        });
    }

    /// Forgets every key whose failures have all aged out (run on a timer).
    pub fn prune(&self) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        self.retain_live(&mut map, now);
        map.shrink_to_fit();
    }

    /// Clears the failures of an account after a successful login.
    pub fn succeed(&self, key: &ThrottleKey) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(key);
    }
}

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
