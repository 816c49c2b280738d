//! Refresh tokens: opaque, stored as SHA-256 hashes, single use, grouped in families.

use sea_orm_migration::prelude::*;

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
                .table(s("refresh_tokens"))
                .col(
                    ColumnDef::new(s("token_hash"))
                        .string_len(64)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(s("family_id")).string_len(36).not_null())
                .col(ColumnDef::new(s("user_id")).string_len(36).not_null())
                .col(crate::ts(s("created_at")))
                .col(crate::ts(s("expires_at")))
                .col(ColumnDef::new(s("used_at")).timestamp_with_time_zone())
                .col(ColumnDef::new(s("revoked_at")).timestamp_with_time_zone())
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_refresh_tokens_user")
                        .from(s("refresh_tokens"), s("user_id"))
                        .to(s("users"), s("id"))
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_refresh_tokens_family")
                .table(s("refresh_tokens"))
                .col(s("family_id"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(s("refresh_tokens")).to_owned())
            .await
    }
}
