//! Shared state handed to every handler.

use legami_persistence::DatabaseConnection;

/// What the handlers share: the pool and the few settings they read.
#[derive(Clone)]
pub struct AppState {
    /// The database the handlers read and write: the primary's pool, or for a read-only `GET`
    /// routed to a replica, the replica's ([`crate::replicas`]).
    pub db: DatabaseConnection,
    /// The primary's pool, always (accounts and clients behind a token are checked here).
    pub primary: DatabaseConnection,
    /// Key that signs pagination cursors.
    pub cursor_secret: String,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// Token signing and verification keys.
    pub keys: std::sync::Arc<crate::auth::Keys>,
    /// Failed-login throttling.
    pub login_throttle: std::sync::Arc<crate::limits::FailedLogins>,
    /// Metric batches parsed and stored at once (see [`ingest_permits`]).
    pub ingest: std::sync::Arc<tokio::sync::Semaphore>,
    /// Metric batch bodies being received or held in memory while they wait for an `ingest`
    /// permit (see [`ingest_body_permits`]).
    pub ingest_bodies: std::sync::Arc<tokio::sync::Semaphore>,
    /// How long a metric batch body may take to arrive once its turn to be read comes; past it
    /// the answer is `408` and nothing is stored (`LEGAMI_BODY_TIMEOUT_SECS`, 30 s by default:
    /// a 1 MiB body then needs about 35 kB/s).
    pub body_timeout: std::time::Duration,
    /// Themes, municipalities and provinces seen to exist (filters check them in memory).
    pub known_refs: std::sync::Arc<crate::listing::KnownRefs>,
}

/// How many metric batches may be parsed and written at once: a batch is up to 1,000 rows, so
/// without a bound a burst of them holds every pooled connection (queued on the database's write
/// lock, where reads then time out) and the memory of every parsed body at once. Waiters are
/// served first come, first served. SQLite has one writer, so two (one parsing while one
/// writes); PostgreSQL writes in parallel, up to a quarter of the pool.
pub fn ingest_permits(backend: legami_persistence::DbBackend, pool_size: u32) -> usize {
    match backend {
        legami_persistence::DbBackend::Sqlite => 2,
        _ => usize::try_from(pool_size / 4).unwrap_or(1).max(2),
    }
}

/// How many metric batch bodies may be received or wait in memory at once: four per
/// [`ingest_permits`]. Bodies beyond these stay unread in the connection (the client waits to
/// send the rest), so a burst of 64 batches holds 8-16 bodies in memory, not 64; and a client
/// that sends its body slowly holds one of these, never a permit to write, so it cannot stall
/// the batches behind it. Reading a body is bounded by [`AppState::body_timeout`].
pub fn ingest_body_permits(backend: legami_persistence::DbBackend, pool_size: u32) -> usize {
    ingest_permits(backend, pool_size) * 4
}
