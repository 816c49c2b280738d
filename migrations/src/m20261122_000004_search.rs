//! Search documents: one row per organisation, lab, project and network, kept in step with each
//! write. PostgreSQL indexes them with its own text search (`italian` configuration over
//! `unaccent`, weighted: names above descriptions, GIN-indexed); SQLite with an FTS5 table fed
//! the same words folded and stemmed by the application.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn s(name: &str) -> Alias {
    Alias::new(name)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(s("search_docs"))
                .col(ColumnDef::new(s("entity")).string_len(32).not_null())
                .col(ColumnDef::new(s("record_id")).string_len(36).not_null())
                .col(ColumnDef::new(s("slug")).string_len(120).not_null())
                .col(ColumnDef::new(s("title")).text().not_null())
                .col(ColumnDef::new(s("body")).text().not_null())
                .col(ColumnDef::new(s("status")).string_len(16).not_null())
                .col(ColumnDef::new(s("kind")).string_len(40))
                .col(ColumnDef::new(s("themes")).text().not_null())
                .col(ColumnDef::new(s("municipality")).string_len(6))
                .col(ColumnDef::new(s("province")).string_len(2))
                .col(ColumnDef::new(s("lat")).double())
                .col(ColumnDef::new(s("lon")).double())
                .primary_key(Index::create().col(s("entity")).col(s("record_id")))
                .to_owned(),
        )
        .await?;
        // Geo filters of /search use the box of the radius first.
        m.create_index(
            Index::create()
                .name("idx_search_docs_lat_lon")
                .table(s("search_docs"))
                .col(s("lat"))
                .col(s("lon"))
                .to_owned(),
        )
        .await?;
        let db = m.get_connection();
        match m.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared("CREATE EXTENSION IF NOT EXISTS unaccent")
                    .await?;
                db.execute_unprepared("ALTER TABLE search_docs ADD COLUMN tsv tsvector")
                    .await?;
                db.execute_unprepared(
                    "CREATE INDEX idx_search_docs_tsv ON search_docs USING GIN (tsv)",
                )
                .await?;
            }
            _ => {
                db.execute_unprepared(
                    "CREATE VIRTUAL TABLE search_fts USING fts5(entity UNINDEXED, record_id UNINDEXED, title, body, tokenize = 'unicode61 remove_diacritics 2')",
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != DbBackend::Postgres {
            m.get_connection()
                .execute_unprepared("DROP TABLE IF EXISTS search_fts")
                .await?;
        }
        m.drop_table(Table::drop().table(s("search_docs")).to_owned())
            .await
    }
}
