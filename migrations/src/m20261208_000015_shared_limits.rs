//! Several instances on PostgreSQL enforce one rate limit and one failed-login throttle, not one
//! each: the counters live in two `UNLOGGED` tables (no WAL: cheap to update on every request,
//! emptied by a crash, which only forgives recent requests). `rate_limits` holds one GCRA state
//! per caller (its theoretical arrival time, in seconds since the epoch), `login_failures` the
//! recent failures of each throttle key (newest first, at most the key's limit). Both are pruned
//! on a timer by every instance. On SQLite (one process) the counters stay in memory and these
//! tables are not made.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = m.get_connection();
        db.execute_unprepared(
            "CREATE UNLOGGED TABLE rate_limits (key text PRIMARY KEY, tat double precision NOT NULL)",
        )
        .await?;
        db.execute_unprepared(
            "CREATE UNLOGGED TABLE login_failures \
             (key text PRIMARY KEY, times timestamptz[] NOT NULL)",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = m.get_connection();
        db.execute_unprepared("DROP TABLE IF EXISTS rate_limits")
            .await?;
        db.execute_unprepared("DROP TABLE IF EXISTS login_failures")
            .await?;
        Ok(())
    }
}
