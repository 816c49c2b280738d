//! Accounts and token signing keys.

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
                .table(s("users"))
                .col(
                    ColumnDef::new(s("id"))
                        .string_len(36)
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(s("email"))
                        .string_len(254)
                        .not_null()
                        .unique_key(),
                )
                .col(ColumnDef::new(s("name")).string_len(200).not_null())
                .col(
                    ColumnDef::new(s("password_hash"))
                        .string_len(200)
                        .not_null(),
                )
                .col(ColumnDef::new(s("role")).string_len(16).not_null())
                .col(
                    ColumnDef::new(s("disabled"))
                        .boolean()
                        .not_null()
                        .default(false),
                )
                .col(crate::ts(s("created_at")))
                .col(crate::ts(s("updated_at")))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(s("user_organisations"))
                .col(ColumnDef::new(s("user_id")).string_len(36).not_null())
                .col(
                    ColumnDef::new(s("organisation_id"))
                        .string_len(36)
                        .not_null(),
                )
                .primary_key(Index::create().col(s("user_id")).col(s("organisation_id")))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_user_orgs_user")
                        .from(s("user_organisations"), s("user_id"))
                        .to(s("users"), s("id"))
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_user_orgs_org")
                        .from(s("user_organisations"), s("organisation_id"))
                        .to(s("organisations"), s("id")),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(s("signing_keys"))
                .col(
                    ColumnDef::new(s("kid"))
                        .string_len(64)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(s("private_pkcs8")).text().not_null())
                .col(ColumnDef::new(s("public_x")).string_len(64).not_null())
                .col(crate::ts(s("created_at")))
                .col(ColumnDef::new(s("retired_at")).timestamp_with_time_zone())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["signing_keys", "user_organisations", "users"] {
            m.drop_table(Table::drop().table(s(t)).to_owned()).await?;
        }
        Ok(())
    }
}
