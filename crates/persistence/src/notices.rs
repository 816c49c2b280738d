//! Notices of committed writes, from every instance (PostgreSQL only).
//!
//! A trigger on each table a cached answer is read from sends `NOTIFY legami_writes` with the
//! kind of data it holds (migration `m20261208_000014_write_notices`), in the writing
//! transaction, so a notice arrives only for a committed write. [`WriteNotices`] listens on a
//! connection of its own (not one of the pool's, which are busy serving requests): the response
//! cache follows it to drop what another instance's write has changed.

use crate::{StoreError, StoreResult};
use sea_orm::sqlx::ConnectOptions;
use sea_orm::sqlx::pool::PoolOptions;
use sea_orm::sqlx::postgres::{PgConnectOptions, PgListener, Postgres};
use std::str::FromStr;

/// The channel the triggers notify.
pub const CHANNEL: &str = "legami_writes";

/// What the listening connection calls itself in `pg_stat_activity`.
pub const APPLICATION_NAME: &str = "legami-notices";

/// A listening connection to the `legami_writes` channel.
pub struct WriteNotices(PgListener);

impl std::fmt::Debug for WriteNotices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteNotices")
    }
}

impl WriteNotices {
    /// Connects to the PostgreSQL database at `url` and listens; when this returns, every write
    /// committed from now on is noticed.
    pub async fn listen(url: &str) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(unavailable)?
            .application_name(APPLICATION_NAME)
            .disable_statement_logging();
        // A pool of one connection that is never retired: the listener's own, apart from the
        // request pool.
        let pool = PoolOptions::<Postgres>::new()
            .max_connections(1)
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_with(options)
            .await
            .map_err(unavailable)?;
        let mut listener = PgListener::connect_with(&pool).await.map_err(unavailable)?;
        listener.ignore_pool_close_event(true);
        // A lost connection is reported, never silently re-established: what was written while
        // it was down is unknown, and the follower must know that.
        listener.eager_reconnect(false);
        listener.listen(CHANNEL).await.map_err(unavailable)?;
        Ok(Self(listener))
    }

    /// The kind of data the next committed write changed (`labs`, `metrics`, ...); an error
    /// when the connection is lost (notices may have been missed: listen again).
    pub async fn next(&mut self) -> StoreResult<String> {
        match self.0.try_recv().await {
            Ok(Some(n)) => Ok(n.payload().to_owned()),
            Ok(None) => Err(StoreError::Unavailable(
                "the notice connection was lost".into(),
            )),
            Err(e) => Err(unavailable(e)),
        }
    }
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// Tells every instance that `subject` (a token's subject) has just written, so each reads its
/// next requests from the primary (read your writes behind replicas).
pub async fn tell_writer(db: &impl sea_orm::ConnectionTrait, subject: &str) -> StoreResult<()> {
    db.execute_raw(sea_orm::Statement::from_sql_and_values(
        sea_orm::DbBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        [CHANNEL.into(), format!("{WRITER}{subject}").into()],
    ))
    .await?;
    Ok(())
}

/// What starts the notice of a writer: `writer:<subject>`.
pub const WRITER: &str = "writer:";
