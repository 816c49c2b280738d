//! SQLite only: each search document remembers the rowid of its full-text row, so a rewrite
//! deletes that row by rowid instead of scanning the whole FTS5 table (its `entity` and
//! `record_id` columns are not indexed). PostgreSQL keeps its `tsvector` in the document row.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() == DbBackend::Postgres {
            return Ok(());
        }
        let db = m.get_connection();
        for sql in [
            "ALTER TABLE search_docs ADD COLUMN fts_rowid INTEGER",
            "CREATE TABLE fts_keys AS SELECT rowid AS r, entity, record_id FROM search_fts",
            "CREATE INDEX idx_fts_keys ON fts_keys (entity, record_id)",
            "UPDATE search_docs SET fts_rowid = (SELECT k.r FROM fts_keys k WHERE k.entity = search_docs.entity AND k.record_id = search_docs.record_id)",
            "DROP TABLE fts_keys",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() == DbBackend::Postgres {
            return Ok(());
        }
        m.get_connection()
            .execute_unprepared("ALTER TABLE search_docs DROP COLUMN fts_rowid")
            .await?;
        Ok(())
    }
}
