//! An in-process cache of the answers to anonymous `GET`s.
//!
//! Anonymous answers are already public (`Cache-Control: public, max-age=60`); keeping the
//! rendered bytes lets a hot record, page or map box skip the database. The cache stays exact for
//! every write made through this process, and a write drops only what it can change: the data is
//! cut into kinds ([`Deps`]: organisations, labs, projects, networks, areas, metrics, themes,
//! indicators), each with its own write generation. A handler names what its answer is read from
//! ([`reads`]; a lab is its lab and the areas its filters may name, the map is labs,
//! organisations and areas, a summary is everything) and a write handler what it may change
//! ([`writes`]; a lab write its labs, a metric batch the metrics); a handler that names nothing
//! reads and writes everything. An entry keeps the generations it was read at, and is served only
//! while none of the kinds it was read from has moved on. A write moves its kinds on when it
//! ends, unless it was refused with a `4xx` (which changed nothing); a `5xx` may have happened
//! after its commit, so it counts. So nothing read before or during a write is served after it,
//! and a metric batch leaves the cached labs where they were. On PostgreSQL,
//! writes committed by other processes (a second instance, `legami seed`, hand-written SQL) are
//! heard as notices of their kinds ([`crate::notices::follow`]) and drop what they change as soon as
//! they arrive; while the notices cannot be heard, nothing is cached. On SQLite, writes made by
//! other processes are seen within the entry lifetime (`LEGAMI_RESPONSE_CACHE_TTL_MS`, 10 s by
//! default), which bounds every entry everywhere. Only `200` answers with a known length up to
//! 1 MiB are kept (no streamed exports, no errors, no health checks); the total size is bounded
//! by `LEGAMI_RESPONSE_CACHE_MB` (`quick_cache`, weighted by bytes); 0 turns the cache off.

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::{Error, HttpMessage, HttpRequest, HttpResponse};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Largest answer kept.
const MAX_ENTRY: u64 = 1 << 20;

/// How many kinds of data [`Deps`] tells apart.
const KINDS: usize = 8;

/// Kinds of data: what an answer was read from, or what a write may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deps(u16);

impl Deps {
    /// Nothing a cached answer shows (accounts, clients).
    pub const NONE: Deps = Deps(0);
    /// Organisations.
    pub const ORGANISATIONS: Deps = Deps(1);
    /// Labs.
    pub const LABS: Deps = Deps(1 << 1);
    /// Projects.
    pub const PROJECTS: Deps = Deps(1 << 2);
    /// Networks.
    pub const NETWORKS: Deps = Deps(1 << 3);
    /// Areas.
    pub const AREAS: Deps = Deps(1 << 4);
    /// Metric observations and their rollups.
    pub const METRICS: Deps = Deps(1 << 5);
    /// The themes vocabulary.
    pub const THEMES: Deps = Deps(1 << 6);
    /// The indicators catalogue.
    pub const INDICATORS: Deps = Deps(1 << 7);
    /// Every record type.
    pub const RECORDS: Deps = Deps(0b1_1111);
    /// Everything (what an unnamed read or write is taken to be).
    pub const ALL: Deps = Deps((1 << KINDS) - 1);

    /// Both.
    pub const fn and(self, other: Deps) -> Deps {
        Deps(self.0 | other.0)
    }

    fn has(self, kind: usize) -> bool {
        self.0 & (1 << kind) != 0
    }

    /// The kinds a write notice names (`legami_persistence::notices`: the name of a kind, as in
    /// [`NOTICE_KINDS`]); a name this build does not know counts as everything.
    pub fn of_notice(kind: &str) -> Deps {
        NOTICE_KINDS
            .iter()
            .find(|(name, _)| *name == kind)
            .map_or(Deps::ALL, |(_, deps)| *deps)
    }
}

/// The names PostgreSQL's write notices give the kinds (the triggers of migration
/// `m20261208_000014_write_notices`).
pub const NOTICE_KINDS: [(&str, Deps); KINDS] = [
    ("organisations", Deps::ORGANISATIONS),
    ("labs", Deps::LABS),
    ("projects", Deps::PROJECTS),
    ("networks", Deps::NETWORKS),
    ("areas", Deps::AREAS),
    ("metrics", Deps::METRICS),
    ("themes", Deps::THEMES),
    ("indicators", Deps::INDICATORS),
];

#[derive(Debug, Clone, Copy)]
struct Reads(Deps);

#[derive(Debug, Clone, Copy)]
struct Writes(Deps);

/// Names what the answer to `req` is read from (unnamed: everything).
pub fn reads(req: &HttpRequest, deps: Deps) {
    req.extensions_mut().insert(Reads(deps));
}

/// Names what the write `req` may change (unnamed: everything); a write's handler calls it
/// before it writes.
pub fn writes(req: &HttpRequest, deps: Deps) {
    let before = req.extensions().get::<Writes>().map_or(Deps::NONE, |w| w.0);
    req.extensions_mut().insert(Writes(before.and(deps)));
}

/// The write generation of each kind.
type Generations = [u64; KINDS];

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    uri: String,
    accept: Vec<u8>,
}

#[derive(Debug)]
struct Stored {
    /// What the answer was read from.
    deps: Deps,
    /// The generations it was read at.
    read_at: Generations,
    at: Instant,
    headers: Vec<(HeaderName, HeaderValue)>,
    etag: Option<String>,
    body: Bytes,
}

#[derive(Debug, Clone)]
struct Entry(Arc<Stored>);

#[derive(Debug, Clone)]
struct ByBytes;

impl quick_cache::Weighter<Key, Entry> for ByBytes {
    fn weight(&self, key: &Key, val: &Entry) -> u64 {
        (key.uri.len() + key.accept.len() + val.0.body.len() + 256) as u64
    }
}

/// The shared cache (one per server, across workers).
pub struct ResponseCache {
    entries: Option<quick_cache::sync::Cache<Key, Entry, ByBytes>>,
    generations: [AtomicU64; KINDS],
    ttl: Duration,
    /// Whether answers may be kept and served: false while the notices of other instances'
    /// writes cannot be heard ([`crate::notices::follow`]).
    hearing: AtomicBool,
    /// When the latest write (here or heard of) ended, in milliseconds since [`epoch`].
    last_write: AtomicU64,
}

/// What an answer read from a replica is known to hold: every write committed on the primary
/// before this instant (`None`: unknown). It is kept only if no write ended since.
#[derive(Debug, Clone, Copy)]
pub struct ReadAsOf(pub Option<Instant>);

/// The instant this process's millisecond clock counts from.
fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn millis(at: Instant) -> u64 {
    at.saturating_duration_since(epoch()).as_millis() as u64
}

impl ResponseCache {
    /// A cache of at most `megabytes` (0: off) whose entries live at most `ttl`.
    pub fn new(megabytes: u64, ttl: Duration) -> Self {
        let bytes = megabytes.saturating_mul(1 << 20);
        Self {
            entries: (bytes > 0 && !ttl.is_zero())
                .then(|| quick_cache::sync::Cache::with_weighter(4096, bytes, ByBytes)),
            generations: std::array::from_fn(|_| AtomicU64::new(0)),
            ttl,
            hearing: AtomicBool::new(true),
            last_write: AtomicU64::new(0),
        }
    }

    /// Whether answers are kept and served now.
    pub fn serving(&self) -> bool {
        self.entries.is_some() && self.hearing.load(Ordering::SeqCst)
    }

    /// Stops or resumes serving cached answers; either way the cache is emptied, and nothing
    /// read before is kept after (a request under way when this is called stores nothing stale).
    pub(crate) fn hear(&self, hearing: bool) {
        self.hearing.store(hearing, Ordering::SeqCst);
        self.written(Deps::ALL);
        if let Some(entries) = &self.entries {
            entries.clear();
        }
    }

    /// Makes every answer read from `deps` before now stale (called when a write ends).
    pub fn written(&self, deps: Deps) {
        // Rounded up: an answer read as of the same millisecond is not kept.
        self.last_write
            .fetch_max(millis(Instant::now()) + 1, Ordering::SeqCst);
        for (kind, g) in self.generations.iter().enumerate() {
            if deps.has(kind) {
                g.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    fn now(&self) -> Generations {
        std::array::from_fn(|kind| self.generations[kind].load(Ordering::SeqCst))
    }

    /// Whether `hit` was read after every write, up to `now`, to what it was read from.
    fn fresh(&self, hit: &Stored, now: &Generations) -> bool {
        hit.at.elapsed() < self.ttl
            && (0..KINDS).all(|k| !hit.deps.has(k) || hit.read_at[k] >= now[k])
    }
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("on", &self.entries.is_some())
            .field("generations", &self.now())
            .finish()
    }
}

/// The stored answer, or a `304` when the request's `If-None-Match` already has it.
fn replay(req: &ServiceRequest, hit: &Stored) -> HttpResponse {
    let fresh = hit
        .etag
        .as_deref()
        .is_some_and(|etag| crate::respond::not_modified(req.request(), etag));
    let mut res = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    for (name, value) in &hit.headers {
        if !fresh || *name != header::CONTENT_TYPE {
            res.append_header((name.clone(), value.clone()));
        }
    }
    if fresh {
        res.finish()
    } else {
        res.body(hit.body.clone())
    }
}

fn cacheable(req: &ServiceRequest) -> bool {
    req.method() == Method::GET
        && !req.headers().contains_key(header::AUTHORIZATION)
        && !req.path().starts_with("/health")
}

fn changes_data(req: &ServiceRequest) -> bool {
    !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        && !req.path().starts_with("/api/v1/auth/")
}

/// The middleware (innermost: it sees the handler's own answer, before compression, CORS and
/// request ids are added).
pub async fn response_cache(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let Some(cache) = req.app_data::<web::Data<ResponseCache>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let Some(entries) = cache.entries.as_ref().filter(|_| cache.serving()) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    if changes_data(&req) {
        let res = next.call(req).await;
        // A refused write (4xx: unknown route, bad input, no token, stale precondition) changed
        // nothing. A 5xx or an error may have happened after a commit, so it counts as a write.
        match &res {
            Ok(r) if r.status().is_client_error() => {}
            Ok(r) => {
                let named = r.request().extensions().get::<Writes>().copied();
                cache.written(named.map_or(Deps::ALL, |w| w.0));
            }
            Err(_) => cache.written(Deps::ALL),
        }
        return Ok(res?.map_into_boxed_body());
    }
    if !cacheable(&req) {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let key = Key {
        uri: req.uri().to_string(),
        accept: req
            .headers()
            .get(header::ACCEPT)
            .map(|v| v.as_bytes().to_vec())
            .unwrap_or_default(),
    };
    let read_at = cache.now();
    // Single flight: the first request for a missing (or stale) key gets a guard and asks the
    // handler; concurrent requests for the same key wait for its answer instead of all reaching
    // the database at once when a hot entry expires.
    let mut guard = None;
    for _ in 0..3 {
        match entries.get_value_or_guard_async(&key).await {
            // An answer read after every write so far to what it shows is as fresh as this
            // request.
            Ok(Entry(hit)) if cache.fresh(&hit, &read_at) => {
                let res = replay(&req, &hit);
                return Ok(req.into_response(res));
            }
            Ok(Entry(stale)) => {
                entries.remove_if(&key, |e| Arc::ptr_eq(&e.0, &stale));
            }
            Err(g) => {
                guard = Some(g);
                break;
            }
        }
    }
    let res = next.call(req).await?;
    let small = matches!(res.response().body().size(), BodySize::Sized(n) if n <= MAX_ENTRY);
    if res.status() != StatusCode::OK || !small {
        return Ok(res.map_into_boxed_body());
    }
    let (req, res) = res.into_parts();
    let (res, body) = res.into_parts();
    let body = actix_web::body::to_bytes(body)
        .await
        .map_err(|_| actix_web::error::ErrorInternalServerError("answer body unreadable"))?;
    let headers: Vec<(HeaderName, HeaderValue)> = res
        .headers()
        .iter()
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    let etag = res
        .headers()
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // An answer from a replica may lack a write that ended (and invalidated) since the replica
    // was last seen complete: served once, not kept.
    let replica = req.extensions().get::<ReadAsOf>().copied();
    if let Some(ReadAsOf(as_of)) = replica
        && as_of.is_none_or(|t| millis(t) <= cache.last_write.load(Ordering::SeqCst))
    {
        return Ok(ServiceResponse::new(req, res.set_body(BoxBody::new(body))));
    }
    let deps = req.extensions().get::<Reads>().map_or(Deps::ALL, |r| r.0);
    let entry = Entry(Arc::new(Stored {
        deps,
        read_at,
        at: Instant::now(),
        headers,
        etag,
        body: body.clone(),
    }));
    match guard {
        Some(g) => {
            let _ = g.insert(entry);
        }
        None => entries.insert(key, entry),
    }
    Ok(ServiceResponse::new(req, res.set_body(BoxBody::new(body))))
}
