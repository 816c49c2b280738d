//! Several instances on PostgreSQL: every committed write tells the others what kind of data it
//! changed. A statement-level trigger on each table a cached answer is read from sends
//! `NOTIFY legami_writes, '<kind>'` (`pg_notify`), so the notice is part of the writing
//! transaction: PostgreSQL delivers it only on commit, once per kind and transaction (identical
//! notices of one transaction are folded), and no write path can forget it, `legami seed` and
//! hand-written SQL included. Each `legami serve` listens on a connection of its own and drops
//! the cached answers read from that kind (`legami_persistence::notices`). The kinds are the
//! response cache's (`legami_http::cache::Deps`); SQLite has one process per file and no
//! triggers here.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Each table whose writes a cached answer can show, and the kind it belongs to (the change feed
/// and the search index are written with their records, in the same transactions).
const WRITE_KINDS: [(&str, &str); 21] = [
    ("organisations", "organisations"),
    ("organisation_themes", "organisations"),
    ("labs", "labs"),
    ("lab_themes", "labs"),
    ("lab_operators", "labs"),
    ("projects", "projects"),
    ("project_partners", "projects"),
    ("project_labs", "projects"),
    ("project_municipalities", "projects"),
    ("project_themes", "projects"),
    ("project_funding", "projects"),
    ("networks", "networks"),
    ("network_members", "networks"),
    ("areas", "areas"),
    ("area_municipalities", "areas"),
    ("municipalities", "areas"),
    ("metrics", "metrics"),
    ("metric_rollups", "metrics"),
    ("metric_rollups_public", "metrics"),
    ("themes", "themes"),
    ("indicators", "indicators"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = m.get_connection();
        db.execute_unprepared(
            "CREATE FUNCTION legami_notice_write() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN PERFORM pg_notify('legami_writes', TG_ARGV[0]); RETURN NULL; END $$",
        )
        .await?;
        for (table, kind) in WRITE_KINDS {
            db.execute_unprepared(&format!(
                "CREATE TRIGGER legami_notice_write AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE \
                 ON {table} FOR EACH STATEMENT EXECUTE FUNCTION legami_notice_write('{kind}')"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = m.get_connection();
        for (table, _) in WRITE_KINDS {
            db.execute_unprepared(&format!(
                "DROP TRIGGER IF EXISTS legami_notice_write ON {table}"
            ))
            .await?;
        }
        db.execute_unprepared("DROP FUNCTION IF EXISTS legami_notice_write()")
            .await?;
        Ok(())
    }
}
