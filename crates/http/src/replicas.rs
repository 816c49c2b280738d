//! Read replicas (PostgreSQL): read-only `GET`s of the API are served by streaming replicas
//! while they keep up, the primary serves the rest.
//!
//! Every [`CHECK_EVERY`] the server samples the primary's WAL position and asks each replica
//! how far it has replayed; a replica's lag is the age of the oldest sampled position it has
//! not replayed yet (0 when it has replayed the newest). A replica serves while it answers and
//! its lag is at most `LEGAMI_REPLICA_MAX_LAG_MS`; one that lags or does not answer is skipped
//! until it catches up or answers again. A caller who wrote in the last
//! `LEGAMI_READ_YOUR_WRITES_SECS` (a token's subject; anonymous callers cannot write) reads the
//! primary, on every instance: each write is announced to the others as a notice
//! (`legami_persistence::notices::tell_writer`). Accounts and clients behind a token are always
//! checked on the primary (`AppState::primary`), so a disabled one stops at once. Answers read
//! from a replica enter the response cache only when the replica provably held every write the
//! cache has heard of ([`crate::cache::ReadAsOf`]).

use crate::cache::ReadAsOf;
use crate::state::AppState;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Extensions, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, web};
use legami_persistence::DatabaseConnection;
use serde::Serialize;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};
use utoipa::ToSchema;

/// How often the replicas' lag is measured.
pub const CHECK_EVERY: Duration = Duration::from_millis(200);

/// How long a replica may take to say how far it has replayed before it counts as away.
const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// How many writers are remembered at most (each for `LEGAMI_READ_YOUR_WRITES_SECS`).
const WRITERS: usize = 100_000;

#[derive(Debug, Clone, Copy, Default)]
struct Measure {
    /// It answered the last check.
    up: bool,
    /// Its lag at the last check.
    lag: Option<Duration>,
    /// It held every write committed on the primary before this instant.
    as_of: Option<Instant>,
}

/// One replica.
pub struct Replica {
    name: String,
    db: DatabaseConnection,
    /// The handlers' state with this replica as the database they read.
    state: web::Data<AppState>,
    measure: RwLock<Measure>,
}

impl Replica {
    fn set_away(&self) {
        *self.measure.write().unwrap_or_else(|p| p.into_inner()) = Measure::default();
    }
}

/// What a replica does now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(example = "serving")]
pub enum ReplicaState {
    /// It serves reads.
    Serving,
    /// It is behind by more than the allowed lag: the primary serves.
    Lagging,
    /// It did not answer the last check (or is not a replica): the primary serves.
    Away,
}

/// A replica as `/health/ready` shows it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"name": "replica-1.internal:5432/legami", "state": "serving", "lag_ms": 0}))]
pub struct ReplicaHealth {
    /// The replica's address (host, port and database; no credentials).
    pub name: String,
    /// `serving` (reads go to it), `lagging` (behind by more than the allowed lag) or `away`
    /// (it did not answer the last check, or is not a replica).
    pub state: ReplicaState,
    /// Its replay lag in milliseconds at the last check, when it answered.
    pub lag_ms: Option<u64>,
}

/// The replicas of a server, with the primary's recent WAL positions and recent writers.
pub struct Replicas {
    replicas: Vec<Replica>,
    next: AtomicUsize,
    max_lag: Duration,
    read_your_writes: Duration,
    writers: quick_cache::sync::Cache<String, Instant>,
    /// The primary's WAL positions, oldest first, as sampled at each check.
    samples: Mutex<VecDeque<(Instant, u64)>>,
}

/// `host:port/database` of a URL, without credentials or parameters.
fn display_name(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split('?').next().unwrap_or(rest).to_owned()
}

impl Replicas {
    /// Replicas reached at `dbs` (URL and pool each), read with a copy of `state`.
    pub fn new(
        state: &AppState,
        dbs: Vec<(String, DatabaseConnection)>,
        max_lag: Duration,
        read_your_writes: Duration,
    ) -> Self {
        let replicas = dbs
            .into_iter()
            .map(|(url, db)| Replica {
                name: display_name(&url),
                state: web::Data::new(AppState {
                    db: db.clone(),
                    ..state.clone()
                }),
                db,
                measure: RwLock::new(Measure::default()),
            })
            .collect();
        Self {
            replicas,
            next: AtomicUsize::new(0),
            max_lag,
            read_your_writes,
            writers: quick_cache::sync::Cache::new(WRITERS),
            samples: Mutex::new(VecDeque::new()),
        }
    }

    fn measure(r: &Replica) -> Measure {
        *r.measure.read().unwrap_or_else(|p| p.into_inner())
    }

    fn serving(&self, m: &Measure) -> bool {
        m.up && m.lag.is_some_and(|l| l <= self.max_lag)
    }

    /// The next replica fit to serve (round robin), and what it is known to hold.
    fn pick(&self) -> Option<(&Replica, Option<Instant>)> {
        let n = self.replicas.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n).find_map(|i| {
            let r = &self.replicas[(start + i) % n];
            let m = Self::measure(r);
            self.serving(&m).then_some((r, m.as_of))
        })
    }

    /// Remembers that `subject` wrote just now.
    pub fn wrote(&self, subject: &str) {
        self.writers.insert(subject.to_owned(), Instant::now());
    }

    fn wrote_recently(&self, subject: &str) -> bool {
        self.writers
            .get(subject)
            .is_some_and(|at| at.elapsed() < self.read_your_writes)
    }

    /// Measures every replica once against the primary's WAL position now.
    pub async fn check(&self, primary: &DatabaseConnection) {
        let Ok(Ok(position)) = tokio::time::timeout(
            CHECK_TIMEOUT,
            legami_persistence::replicas::written(primary),
        )
        .await
        else {
            // Without the primary's position no lag can be known: keep the last measures.
            return;
        };
        let now = Instant::now();
        let samples: Vec<(Instant, u64)> = {
            let mut s = self.samples.lock().unwrap_or_else(|p| p.into_inner());
            s.push_back((now, position));
            // Positions older than a few allowed lags say nothing more.
            let keep = self.max_lag * 4 + CHECK_EVERY * 2;
            while s.len() > 1 && s.front().is_some_and(|(t, _)| now - *t > keep) {
                s.pop_front();
            }
            s.iter().copied().collect()
        };
        for r in &self.replicas {
            let replayed =
                tokio::time::timeout(CHECK_TIMEOUT, legami_persistence::replicas::replayed(&r.db))
                    .await;
            let measure = match replayed {
                Ok(Ok(Some(done))) => {
                    // The oldest position it lacks says how long it has lagged; the newest it
                    // holds, up to when it is complete.
                    let behind = samples.iter().find(|(_, p)| *p > done);
                    let held = samples.iter().rev().find(|(_, p)| *p <= done);
                    Measure {
                        up: true,
                        lag: Some(behind.map_or(Duration::ZERO, |(t, _)| now - *t)),
                        as_of: held.map(|(t, _)| *t),
                    }
                }
                Ok(Ok(None)) => {
                    tracing::warn!(replica = %r.name, "not a replica (not in recovery): not used");
                    Measure::default()
                }
                Ok(Err(e)) => {
                    tracing::debug!(replica = %r.name, error = %e, "replica away");
                    Measure::default()
                }
                Err(_) => Measure::default(),
            };
            *r.measure.write().unwrap_or_else(|p| p.into_inner()) = measure;
        }
    }

    /// Each replica's state, for `/health/ready`.
    pub fn health(&self) -> Vec<ReplicaHealth> {
        self.replicas
            .iter()
            .map(|r| {
                let m = Self::measure(r);
                let state = if !m.up {
                    ReplicaState::Away
                } else if self.serving(&m) {
                    ReplicaState::Serving
                } else {
                    ReplicaState::Lagging
                };
                ReplicaHealth {
                    name: r.name.clone(),
                    state,
                    lag_ms: m.lag.filter(|_| m.up).map(|l| l.as_millis() as u64),
                }
            })
            .collect()
    }
}

/// The token's subject, when the request carries a valid one (the rate limiter checked it
/// already, so this is a lookup).
fn subject(req: &ServiceRequest, state: &AppState) -> Option<String> {
    let token = crate::caller::bearer(req.request()).and_then(Result::ok)?;
    state.keys.verify(token).map(|c| c.sub)
}

/// The middleware: a read-only `GET` of the API by a caller who did not write lately reads from
/// a replica fit to serve; a successful write marks its author as a recent writer, here and
/// (through a notice) on every other instance.
pub async fn route_reads(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let (Some(replicas), Some(state)) = (
        req.app_data::<web::Data<Replicas>>().cloned(),
        req.app_data::<web::Data<AppState>>().cloned(),
    ) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    if !req.path().starts_with("/api/") {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let who = subject(&req, &state);
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        if who.as_deref().is_none_or(|s| !replicas.wrote_recently(s))
            && let Some((replica, as_of)) = replicas.pick()
        {
            let mut data = Extensions::new();
            data.insert(replica.state.clone());
            req.add_data_container(Rc::new(data));
            req.extensions_mut().insert(ReadAsOf(as_of));
            let res = next.call(req).await?;
            if res.status() == StatusCode::SERVICE_UNAVAILABLE {
                // The replica failed this request (gone, or out of connections): skip it until
                // the next check finds it fit again, so one failure is not repeated.
                replica.set_away();
            }
            return Ok(res.map_into_boxed_body());
        }
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let writes = !matches!(*req.method(), Method::OPTIONS);
    let res = next.call(req).await?;
    if writes
        && !res.status().is_client_error()
        && let Some(who) = who
    {
        replicas.wrote(&who);
        if let Err(e) = legami_persistence::notices::tell_writer(&state.primary, &who).await {
            tracing::warn!(error = %e, "cannot tell the other instances of a write");
        }
    }
    Ok(res.map_into_boxed_body())
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_carry_no_credentials() {
        assert_eq!(
            super::display_name("postgres://u:secret@db.example:5433/legami?sslmode=require"),
            "db.example:5433/legami"
        );
        assert_eq!(super::display_name("postgres://h/db"), "h/db");
    }
}
