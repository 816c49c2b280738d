//! Shared state handed to every handler.

use legami_persistence::DatabaseConnection;

/// What the handlers share: the pool and the few settings they read.
#[derive(Clone)]
pub struct AppState {
    /// The database pool.
    pub db: DatabaseConnection,
    /// Key that signs pagination cursors.
    pub cursor_secret: String,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// Token signing and verification keys.
    pub keys: std::sync::Arc<crate::auth::Keys>,
    /// Failed-login throttling.
    pub login_throttle: std::sync::Arc<crate::limits::LoginThrottle>,
    /// Metric batches parsed and stored at once (see [`ingest_permits`]).
    pub ingest: std::sync::Arc<tokio::sync::Semaphore>,
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
