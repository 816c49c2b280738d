//! Legami's schema migrations: one module per step, the same code for SQLite and PostgreSQL.
//!
//! Run them with `legami migrate` (or on start-up of `legami serve`). Applied steps are recorded
//! in `seaql_migrations`, so running again is a no-op.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_reference;
pub use m20261122_000001_reference::{THEMES, fold as fold_name};
mod m20261122_000002_organisations;
mod m20261122_000003_domain;
mod m20261122_000004_search;
mod m20261122_000005_auth;
mod m20261122_000006_refresh_tokens;
mod m20261122_000007_clients_audit;
mod m20261122_000008_metric_rollups;
mod m20261122_000009_search_fts_rowid;
mod m20261204_000010_map_indexes;
mod m20261205_000011_search_cover;
mod m20261207_000012_map_themes;
mod m20261207_000013_place_indexes;
mod m20261208_000014_write_notices;
mod m20261208_000015_shared_limits;
pub use m20261122_000003_domain::INDICATORS;

/// The ordered list of every migration.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_reference::Migration),
            Box::new(m20261122_000002_organisations::Migration),
            Box::new(m20261122_000003_domain::Migration),
            Box::new(m20261122_000004_search::Migration),
            Box::new(m20261122_000005_auth::Migration),
            Box::new(m20261122_000006_refresh_tokens::Migration),
            Box::new(m20261122_000007_clients_audit::Migration),
            Box::new(m20261122_000008_metric_rollups::Migration),
            Box::new(m20261122_000009_search_fts_rowid::Migration),
            Box::new(m20261204_000010_map_indexes::Migration),
            Box::new(m20261205_000011_search_cover::Migration),
            Box::new(m20261207_000012_map_themes::Migration),
            Box::new(m20261207_000013_place_indexes::Migration),
            Box::new(m20261208_000014_write_notices::Migration),
            Box::new(m20261208_000015_shared_limits::Migration),
        ]
    }
}

/// The timestamp type used by every table: `timestamptz` on PostgreSQL, text on SQLite.
pub(crate) fn ts<T: IntoIden>(col: T) -> ColumnDef {
    let mut c = ColumnDef::new(col);
    c.timestamp_with_time_zone().not_null();
    c
}
