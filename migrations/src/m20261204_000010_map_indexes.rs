//! The map feed reads its points from an index alone: each record type's `(lat, lon)` index is
//! replaced by one that also holds every column a point needs (`status`, `deleted_at`, `id`,
//! `slug`, `name`, `kind`), so a box is one range scan of the index and no table row is read
//! (`EXPLAIN QUERY PLAN`: `SEARCH labs USING COVERING INDEX idx_labs_map`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: [&str; 2] = ["labs", "organisations"];
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

fn index(table: &str, name: &str, cols: &[&str]) -> IndexCreateStatement {
    let mut i = Index::create();
    i.name(name).table(Alias::new(table));
    for c in cols {
        i.col(Alias::new(*c));
    }
    i.to_owned()
}

fn drop(table: &str, name: &str) -> IndexDropStatement {
    Index::drop().name(name).table(Alias::new(table)).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in TABLES {
            m.create_index(index(t, &format!("idx_{t}_map"), &POINT))
                .await?;
            m.drop_index(drop(t, &format!("idx_{t}_lat_lon"))).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in TABLES {
            m.create_index(index(t, &format!("idx_{t}_lat_lon"), &POINT[..2]))
                .await?;
            m.drop_index(drop(t, &format!("idx_{t}_map"))).await?;
        }
        Ok(())
    }
}
