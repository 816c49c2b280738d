//! Organisations, their themes, and the change log every write appends to.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organisations {
    Table,
    Id,
    Slug,
    Name,
    Kind,
    Description,
    RuntsSection,
    RuntsId,
    TaxCode,
    VatNumber,
    ContactEmail,
    ContactPhone,
    ContactWebsite,
    Street,
    Postcode,
    Municipality,
    Lat,
    Lon,
    CpName,
    CpEmail,
    CpPhone,
    CpPublic,
    Status,
    Version,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
}

#[derive(DeriveIden)]
enum OrganisationThemes {
    Table,
    OrganisationId,
    ThemeCode,
}

#[derive(DeriveIden)]
enum Changes {
    Table,
    Seq,
    Entity,
    RecordId,
    Op,
    Status,
    At,
}

#[derive(DeriveIden)]
enum Municipalities {
    Table,
    IstatCode,
}

#[derive(DeriveIden)]
enum Themes {
    Table,
    Code,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Organisations::Table)
                    .col(
                        ColumnDef::new(Organisations::Id)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Organisations::Slug)
                            .string_len(120)
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(Organisations::Name)
                            .string_len(300)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Organisations::Kind)
                            .string_len(40)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Organisations::Description).text())
                    .col(ColumnDef::new(Organisations::RuntsSection).string_len(40))
                    .col(ColumnDef::new(Organisations::RuntsId).string_len(40))
                    .col(
                        ColumnDef::new(Organisations::TaxCode)
                            .string_len(16)
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Organisations::VatNumber).string_len(11))
                    .col(ColumnDef::new(Organisations::ContactEmail).string_len(254))
                    .col(ColumnDef::new(Organisations::ContactPhone).string_len(40))
                    .col(ColumnDef::new(Organisations::ContactWebsite).string_len(2000))
                    .col(ColumnDef::new(Organisations::Street).string_len(300))
                    .col(ColumnDef::new(Organisations::Postcode).string_len(5))
                    .col(
                        ColumnDef::new(Organisations::Municipality)
                            .string_len(6)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Organisations::Lat).double())
                    .col(ColumnDef::new(Organisations::Lon).double())
                    .col(ColumnDef::new(Organisations::CpName).string_len(200))
                    .col(ColumnDef::new(Organisations::CpEmail).string_len(254))
                    .col(ColumnDef::new(Organisations::CpPhone).string_len(40))
                    .col(
                        ColumnDef::new(Organisations::CpPublic)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new(Organisations::Status)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Organisations::Version)
                            .big_integer()
                            .not_null(),
                    )
                    .col(crate::ts(Organisations::CreatedAt))
                    .col(crate::ts(Organisations::UpdatedAt))
                    .col(ColumnDef::new(Organisations::DeletedAt).timestamp_with_time_zone())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_organisations_municipality")
                            .from(Organisations::Table, Organisations::Municipality)
                            .to(Municipalities::Table, Municipalities::IstatCode),
                    )
                    .to_owned(),
            )
            .await?;
        // Keyset pagination walks (sort key, id); the listing filters come first where selective.
        let indexes: [(&str, Vec<Organisations>); 6] = [
            (
                "idx_organisations_name",
                vec![Organisations::Name, Organisations::Id],
            ),
            (
                "idx_organisations_updated",
                vec![Organisations::UpdatedAt, Organisations::Id],
            ),
            (
                "idx_organisations_created",
                vec![Organisations::CreatedAt, Organisations::Id],
            ),
            (
                "idx_organisations_municipality",
                vec![Organisations::Municipality],
            ),
            ("idx_organisations_kind", vec![Organisations::Kind]),
            (
                "idx_organisations_lat_lon",
                vec![Organisations::Lat, Organisations::Lon],
            ),
        ];
        for (name, cols) in indexes {
            let mut idx = Index::create();
            idx.name(name).table(Organisations::Table);
            for c in cols {
                idx.col(c);
            }
            manager.create_index(idx.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(OrganisationThemes::Table)
                    .col(
                        ColumnDef::new(OrganisationThemes::OrganisationId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OrganisationThemes::ThemeCode)
                            .string_len(50)
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(OrganisationThemes::OrganisationId)
                            .col(OrganisationThemes::ThemeCode),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_org_themes_org")
                            .from(
                                OrganisationThemes::Table,
                                OrganisationThemes::OrganisationId,
                            )
                            .to(Organisations::Table, Organisations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_org_themes_theme")
                            .from(OrganisationThemes::Table, OrganisationThemes::ThemeCode)
                            .to(Themes::Table, Themes::Code),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_org_themes_theme")
                    .table(OrganisationThemes::Table)
                    .col(OrganisationThemes::ThemeCode)
                    .col(OrganisationThemes::OrganisationId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Changes::Table)
                    .col(
                        ColumnDef::new(Changes::Seq)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Changes::Entity).string_len(32).not_null())
                    .col(ColumnDef::new(Changes::RecordId).string_len(36).not_null())
                    .col(ColumnDef::new(Changes::Op).string_len(16).not_null())
                    .col(ColumnDef::new(Changes::Status).string_len(16).not_null())
                    .col(crate::ts(Changes::At))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_changes_record")
                    .table(Changes::Table)
                    .col(Changes::Entity)
                    .col(Changes::RecordId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            Changes::Table.into_iden(),
            OrganisationThemes::Table.into_iden(),
            Organisations::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(t).to_owned())
                .await?;
        }
        Ok(())
    }
}
