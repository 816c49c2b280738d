//! Per-caller rate limits on the whole API: a GCRA limit keyed by subject (users, clients) or
//! address (anonymous callers), with the `RateLimit-*` headers on every answer. The counters are
//! governor's, in this process's memory, or on PostgreSQL a row per caller shared by every
//! instance (`legami_persistence::shared_limits`), so N instances allow the limit once, not N
//! times.

use crate::error::ApiError;
use crate::state::AppState;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpRequest, ResponseError, web};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use legami_persistence::DatabaseConnection;
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

/// Cells of a shared limit taken at once for one caller, spent here without asking the database.
#[derive(Debug, Clone)]
struct Lease {
    /// Cells taken and not spent yet.
    left: u32,
    /// Cells of an expired lease still to give back (the request that should have was refused).
    owed: u32,
    /// The caller's remaining requests after the cells were taken.
    remaining: u32,
    /// Seconds until the caller's bucket is full, when they were taken.
    reset: u64,
    at: Instant,
    /// Held while the caller's next lease is asked for, so concurrent requests wait for it
    /// instead of each asking the database.
    gate: std::sync::Arc<tokio::sync::Mutex<()>>,
}

/// How long leased cells may be spent; older ones are given back with the next request.
const LEASE_LIFE: Duration = Duration::from_millis(500);

/// At most this many cells are taken at once, and at most an eighth of what remains, so a limit
/// is exact near its end and an instance holds little of a caller's budget.
const LEASE_MOST: u32 = 64;

/// How many callers' leases are kept at most (more are forgotten, given back as time passes).
const LEASES: usize = 100_000;

/// Per-caller rate limits: anonymous callers per address, authenticated ones per subject.
pub struct RateLimits {
    anonymous: Option<Limit>,
    authenticated: Option<Limit>,
    /// The database that keeps the counters of every instance (PostgreSQL), if they are shared.
    shared: Option<DatabaseConnection>,
    /// Cells taken from the shared counters and not spent yet, per caller.
    leases: Mutex<HashMap<String, Lease>>,
}

impl RateLimits {
    /// Requests per minute for each kind of caller; 0 turns that limit off.
    pub fn new(anonymous_per_minute: u32, authenticated_per_minute: u32) -> Self {
        Self {
            anonymous: Limit::new(anonymous_per_minute),
            authenticated: Limit::new(authenticated_per_minute),
            shared: None,
            leases: Mutex::new(HashMap::new()),
        }
    }

    /// The same limits, counted in `db` (PostgreSQL) for every instance that shares it.
    pub fn shared_in(mut self, db: DatabaseConnection) -> Self {
        self.shared = Some(db);
        self
    }

    /// Forgets keys whose buckets are full again (call now and then to bound memory).
    pub async fn prune(&self) {
        for l in [&self.anonymous, &self.authenticated].into_iter().flatten() {
            l.limiter.retain_recent();
            l.limiter.shrink_to_fit();
        }
        if let Some(db) = &self.shared {
            self.leases
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|_, l| l.at.elapsed() < LEASE_LIFE);
            if let Err(e) = legami_persistence::shared_limits::prune_rates(db).await {
                tracing::warn!(error = %e, "cannot prune the shared rate limits");
            }
        }
    }

    /// One request against a limit shared through `db`: a cell leased earlier when there is
    /// one, else a lease of a few cells (one near the limit) from the shared counter, giving
    /// back what an expired lease did not spend. Never admits more than the limit across
    /// instances; an instance holding unspent cells can make another refuse a little early.
    async fn take_shared(
        &self,
        db: &DatabaseConnection,
        limit: &Limit,
        key: &str,
    ) -> legami_persistence::StoreResult<Result<(u32, u64), u64>> {
        let spend = |leases: &mut HashMap<String, Lease>| match leases.get_mut(key) {
            Some(l) if l.left > 0 && l.at.elapsed() < LEASE_LIFE => {
                l.left -= 1;
                Ok((l.remaining + l.left, l.reset))
            }
            Some(l) => Err(Some(l.gate.clone())),
            None => Err(None),
        };
        let gate = match spend(&mut self.leases.lock().unwrap_or_else(|p| p.into_inner())) {
            Ok(answer) => return Ok(Ok(answer)),
            Err(gate) => gate.unwrap_or_default(),
        };
        // One request of this caller asks for the next lease; the others wait for it here and
        // spend from it.
        let _turn = gate.lock().await;
        let (cells, refund) = {
            let mut leases = self.leases.lock().unwrap_or_else(|p| p.into_inner());
            if let Ok(answer) = spend(&mut leases) {
                return Ok(Ok(answer));
            }
            match leases.get(key) {
                Some(l) => ((l.remaining / 8).clamp(1, LEASE_MOST), l.left + l.owed),
                None => (1, 0),
            }
        };
        let per_minute = limit.per_minute;
        let cell = 60.0 / f64::from(per_minute);
        let take = legami_persistence::shared_limits::take;
        let mut got = take(db, key, per_minute, 60.0, cells, refund).await?;
        let mut taken = cells;
        if got.is_err() && cells > 1 {
            // Not room for a lease: one request may still fit.
            got = take(db, key, per_minute, 60.0, 1, refund).await?;
            taken = 1;
        }
        let mut leases = self.leases.lock().unwrap_or_else(|p| p.into_inner());
        if leases.len() >= LEASES && !leases.contains_key(key) {
            leases.clear();
        }
        Ok(match got {
            Ok(ahead) => {
                // Rounded with a margin: the arrival times are seconds since the epoch.
                let remaining = (f64::from(per_minute) - ahead / cell + 1e-3)
                    .floor()
                    .max(0.0);
                let lease = Lease {
                    left: taken - 1,
                    owed: 0,
                    remaining: remaining as u32,
                    reset: ahead.max(0.0).ceil() as u64,
                    at: Instant::now(),
                    gate: gate.clone(),
                };
                let answer = (lease.remaining + lease.left, lease.reset);
                leases.insert(key.to_owned(), lease);
                Ok(answer)
            }
            Err(wait) => {
                // Nothing was taken or given back: the unspent cells are still owed.
                leases.insert(
                    key.to_owned(),
                    Lease {
                        left: 0,
                        owed: refund,
                        remaining: 0,
                        reset: wait.ceil() as u64,
                        at: Instant::now(),
                        gate: gate.clone(),
                    },
                );
                Err(wait.ceil().max(1.0) as u64)
            }
        })
    }

    /// Counts one request of `key` against `limit`: `Ok((remaining, reset))` when allowed,
    /// `Err(wait)` in seconds when not. Shared counters that cannot be reached fall back to
    /// this process's own (a limit per instance, rather than none).
    async fn take(&self, limit: &Limit, key: &str) -> Result<(u32, u64), u64> {
        let per_minute = limit.per_minute;
        let cell = 60.0 / f64::from(per_minute);
        if let Some(db) = &self.shared {
            match self.take_shared(db, limit, key).await {
                Ok(answer) => return answer,
                Err(e) => {
                    tracing::warn!(error = %e, "shared rate limits unavailable: counting in this process");
                }
            }
        }
        match limit.limiter.check_key(&key.to_owned()) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let reset = (f64::from(per_minute - remaining.min(per_minute)) * cell).ceil();
                Ok((remaining, reset as u64))
            }
            Err(not_until) => Err(not_until
                .wait_time_from(DefaultClock::default().now())
                .as_secs_f64()
                .ceil()
                .max(1.0) as u64),
        }
    }
}

const RL_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const RL_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RL_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");
const RL_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

/// Who a request counts against: the verified token's subject, else the address. `Keys`
/// remembers the verified token, so [`crate::caller::identify`] does not check its signature
/// again.
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
    let policy = format!("{per_minute};w=60");
    match limits.take(limit, &key).await {
        Ok((remaining, reset)) => {
            let mut res = next
                .call(req)
                .await
                .map(ServiceResponse::map_into_boxed_body)?;
            set_rate_headers(res.headers_mut(), per_minute, remaining, reset, &policy);
            Ok(res)
        }
        Err(wait) => {
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
