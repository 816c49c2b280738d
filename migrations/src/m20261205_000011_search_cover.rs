//! SQLite only: a search reads, for every match, what ranks, filters and counts it (type, id,
//! status, kind, themes, province, position) from one index reached by the match's full-text
//! rowid, instead of reading the FTS5 content row (for `entity` and `record_id`), then the
//! document's index entry, then its table row (`EXPLAIN QUERY PLAN`: `SEARCH d USING COVERING
//! INDEX idx_search_docs_fts`). PostgreSQL reads its matches from `search_docs` itself.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const NAME: &str = "idx_search_docs_fts";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() == DbBackend::Postgres {
            return Ok(());
        }
        let mut i = Index::create();
        i.name(NAME).table(Alias::new("search_docs"));
        for c in [
            "fts_rowid",
            "status",
            "entity",
            "record_id",
            "kind",
            "themes",
            "province",
            "lat",
            "lon",
        ] {
            i.col(Alias::new(c));
        }
        m.create_index(i.to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() == DbBackend::Postgres {
            return Ok(());
        }
        m.drop_index(
            Index::drop()
                .name(NAME)
                .table(Alias::new("search_docs"))
                .to_owned(),
        )
        .await
    }
}
