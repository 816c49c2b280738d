//! API clients (service accounts with scopes), the audit log, and stored answers to POSTs that
//! carried an `Idempotency-Key`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn s(name: &str) -> Alias {
    Alias::new(name)
}

fn id(name: &str) -> ColumnDef {
    let mut c = ColumnDef::new(s(name));
    c.string_len(36).not_null();
    c
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(s("api_clients"))
                .col(id("id").primary_key())
                .col(ColumnDef::new(s("name")).string_len(200).not_null())
                // SHA-256 of the secret (the secret is 256 random bits, so a fast hash suffices).
                .col(ColumnDef::new(s("secret_hash")).string_len(64).not_null())
                // Space-separated scopes.
                .col(ColumnDef::new(s("scopes")).string_len(200).not_null())
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
                .table(s("client_organisations"))
                .col(id("client_id"))
                .col(id("organisation_id"))
                .primary_key(
                    Index::create()
                        .col(s("client_id"))
                        .col(s("organisation_id")),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_client_orgs_client")
                        .from(s("client_organisations"), s("client_id"))
                        .to(s("api_clients"), s("id"))
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_client_orgs_org")
                        .from(s("client_organisations"), s("organisation_id"))
                        .to(s("organisations"), s("id")),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(s("audit_log"))
                .col(
                    ColumnDef::new(s("seq"))
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(crate::ts(s("at")))
                // `user` or `client`.
                .col(ColumnDef::new(s("actor_type")).string_len(16).not_null())
                .col(id("actor_id"))
                // `create`, `update`, `delete`, `restore`.
                .col(ColumnDef::new(s("action")).string_len(16).not_null())
                .col(ColumnDef::new(s("entity")).string_len(32).not_null())
                .col(id("record_id"))
                // JSON object: field -> {"before": ..., "after": ...}.
                .col(ColumnDef::new(s("changes")).text().not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_audit_record")
                .table(s("audit_log"))
                .col(s("entity"))
                .col(s("record_id"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_audit_actor")
                .table(s("audit_log"))
                .col(s("actor_id"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(s("idempotency_keys"))
                // SHA-256 of caller, method, path and key.
                .col(
                    ColumnDef::new(s("key_hash"))
                        .string_len(64)
                        .not_null()
                        .primary_key(),
                )
                // SHA-256 of the request body.
                .col(ColumnDef::new(s("request_hash")).string_len(64).not_null())
                // Null while the first request is still being answered.
                .col(ColumnDef::new(s("status")).integer())
                .col(ColumnDef::new(s("content_type")).string_len(100))
                .col(ColumnDef::new(s("location")).string_len(500))
                .col(ColumnDef::new(s("body")).text())
                .col(crate::ts(s("created_at")))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_idempotency_created")
                .table(s("idempotency_keys"))
                .col(s("created_at"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "idempotency_keys",
            "audit_log",
            "client_organisations",
            "api_clients",
        ] {
            m.drop_table(Table::drop().table(s(t)).to_owned()).await?;
        }
        Ok(())
    }
}
