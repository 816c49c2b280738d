//! The map feed reads each point's themes with the point: labs and organisations keep their theme
//! codes, sorted and comma-separated, in a column of their own row (`theme_codes`, written with the
//! link rows by every write, backfilled here), and the map's covering index holds it too, so a box
//! is one range scan of `idx_labs_points` / `idx_organisations_points` (replacing `idx_*_map`) and
//! no theme link is looked up per point. The link tables stay the source of the records' themes and of the `theme` filters.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Each table with its theme link table and that table's owner column.
const TABLES: [(&str, &str, &str); 2] = [
    ("labs", "lab_themes", "lab_id"),
    ("organisations", "organisation_themes", "organisation_id"),
];
const POINT: [&str; 8] = [
    "lat",
    "lon",
    "status",
    "deleted_at",
    "id",
    "slug",
    "name",
    "kind",
];
const COLUMN: &str = "theme_codes";

/// The map's index: `idx_{table}_map` (migration 10) without the themes, `idx_{table}_points`
/// with them (a new name: SQLite checks an index's name when it prepares the statement).
fn map_index(table: &str, with_themes: bool) -> IndexCreateStatement {
    let name = if with_themes { "points" } else { "map" };
    let mut i = Index::create();
    i.name(format!("idx_{table}_{name}"))
        .table(Alias::new(table));
    for c in POINT {
        i.col(Alias::new(c));
    }
    if with_themes {
        i.col(Alias::new(COLUMN));
    }
    i.to_owned()
}

fn drop_map_index(table: &str, with_themes: bool) -> IndexDropStatement {
    let name = if with_themes { "points" } else { "map" };
    Index::drop()
        .name(format!("idx_{table}_{name}"))
        .table(Alias::new(table))
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let backend = m.get_database_backend();
        for (table, link, owner) in TABLES {
            m.alter_table(
                Table::alter()
                    .table(Alias::new(table))
                    .add_column(
                        ColumnDef::new(Alias::new(COLUMN))
                            .text()
                            .not_null()
                            .default(""),
                    )
                    .to_owned(),
            )
            .await?;
            let agg = match backend {
                DbBackend::Postgres => "string_agg",
                _ => "group_concat",
            };
            m.get_connection()
                .execute_unprepared(&format!(
                    "UPDATE {table} SET {COLUMN} = COALESCE((SELECT {agg}(theme_code, ',' \
                     ORDER BY theme_code) FROM {link} WHERE {owner} = {table}.id), '')"
                ))
                .await?;
            m.create_index(map_index(table, true)).await?;
            m.drop_index(drop_map_index(table, false)).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (table, _, _) in TABLES {
            m.create_index(map_index(table, false)).await?;
            m.drop_index(drop_map_index(table, true)).await?;
            m.alter_table(
                Table::alter()
                    .table(Alias::new(table))
                    .drop_column(Alias::new(COLUMN))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
