//! Legami's storage layer on sea-orm: the same code for SQLite (embedded default) and PostgreSQL.
//!
//! Entities are private; every public function takes `&impl ConnectionTrait` (a pool or a
//! transaction) and speaks domain types. Writes append to the change log in the same transaction.

pub mod accounts;
pub mod areas;
pub mod audit;
pub mod changes;
pub mod clients;
mod entities;
pub mod error;
pub mod geo;
pub mod idempotency;
pub mod indicators;
pub mod inline;
pub mod labs;
pub mod map;
pub mod metrics;
pub mod municipalities;
pub mod networks;
pub mod notices;
pub mod organisations;
pub mod pagination;
pub mod projects;
pub mod record;
pub mod records;
pub mod replicas;
pub mod search;
pub mod shared_limits;
pub mod themes;

pub use error::{StoreError, StoreResult};
pub use pagination::{KeysetPos, Page, PageRequest, SortSpec};
pub use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, TransactionTrait};

use legami_migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database};
use std::time::Duration;

/// Connection settings.
#[derive(Debug, Clone)]
pub struct DbConfig {
    /// `sqlite://path?mode=rwc` or `postgres://...`.
    pub url: String,
    /// Largest pool size.
    pub max_connections: u32,
    /// How long a request waits for a pooled connection before it is a 503.
    pub acquire_timeout: Duration,
    /// PostgreSQL: `random_page_cost` set for each session (`None`: the database's own).
    pub pg_random_page_cost: Option<f64>,
}

/// Opens a pool. SQLite files are created when missing and run in WAL mode with foreign keys on.
pub async fn connect(config: &DbConfig) -> StoreResult<DatabaseConnection> {
    Ok(Database::connect(options(config)).await?)
}

/// The pool options of `config`.
fn options(config: &DbConfig) -> ConnectOptions {
    let mut opts = ConnectOptions::new(config.url.clone());
    opts.max_connections(config.max_connections)
        .min_connections(1)
        .acquire_timeout(config.acquire_timeout)
        .connect_timeout(config.acquire_timeout)
        // An SQLite connection is a file handle in this process: it cannot go stale, and a ping
        // before each use is one more hand-off to its worker thread. PostgreSQL connections can
        // die with the server, so they are checked.
        .test_before_acquire(!config.url.starts_with("sqlite"))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            o.create_if_missing(true)
                .foreign_keys(true)
                .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
        });
    if let Some(cost) = config.pg_random_page_cost {
        opts.map_sqlx_postgres_opts(move |o| o.options([("random_page_cost", cost)]));
    }
    opts
}

/// A pool for a PostgreSQL replica (`config` as for the primary) that connects when first used,
/// so a server starts while a replica is away and uses it once it is back.
pub async fn connect_replica(config: &DbConfig) -> StoreResult<DatabaseConnection> {
    let mut opts = options(config);
    opts.min_connections(0).connect_lazy(true);
    Ok(Database::connect(opts).await?)
}

/// Applies every pending migration; a no-op when the schema is current.
pub async fn migrate(db: &DatabaseConnection) -> StoreResult<()> {
    Migrator::up(db, None).await?;
    Ok(())
}

/// Rolls back every migration (used by the migration round-trip test).
pub async fn migrate_down_all(db: &DatabaseConnection) -> StoreResult<()> {
    Migrator::down(db, None).await?;
    Ok(())
}

/// Names of the migrations applied so far.
pub async fn applied_migrations(db: &DatabaseConnection) -> StoreResult<Vec<String>> {
    Ok(Migrator::get_applied_migrations(db)
        .await?
        .into_iter()
        .map(|m| m.name().to_owned())
        .collect())
}

/// A cheap round trip, for readiness checks.
pub async fn ping(db: &DatabaseConnection) -> StoreResult<()> {
    db.ping().await?;
    Ok(())
}

/// Pool size and idle connections, for the metrics endpoint.
pub fn pool_stats(db: &DatabaseConnection) -> (u32, u32) {
    match db.get_database_backend() {
        DbBackend::Postgres => {
            let p = db.get_postgres_connection_pool();
            (p.size(), u32::try_from(p.num_idle()).unwrap_or(u32::MAX))
        }
        _ => {
            let p = db.get_sqlite_connection_pool();
            (p.size(), u32::try_from(p.num_idle()).unwrap_or(u32::MAX))
        }
    }
}
