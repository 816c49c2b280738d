//! Metric rollups: running totals that answer `GET /metrics/summary` without reading the raw
//! observations.
//!
//! - `metric_rollups`: per project, indicator, kind and exact period (start, end), the sum, the
//!   maximum and the count of the values. Written in the same transaction as each metric batch.
//! - `metric_rollups_public`: the same without the project, over the projects anyone may see
//!   (published, not deleted). Written with each batch of such a project, and recomputed for the
//!   project's periods when it is published, unpublished, deleted or restored.
//!
//! Observations are never changed or removed, so sums only grow; the period is kept exact, so
//! `from`/`to` filters, year/quarter/month buckets and the `last` aggregation (latest period's
//! total) give the same answer as the raw rows.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn s(name: &str) -> Alias {
    Alias::new(name)
}

fn sums(t: &mut TableCreateStatement) -> &mut TableCreateStatement {
    t.col(ColumnDef::new(s("indicator")).string_len(50).not_null())
        .col(ColumnDef::new(s("kind")).string_len(10).not_null())
        .col(ColumnDef::new(s("period_start")).date().not_null())
        .col(ColumnDef::new(s("period_end")).date().not_null())
        .col(ColumnDef::new(s("total_milli")).big_integer().not_null())
        .col(ColumnDef::new(s("max_milli")).big_integer().not_null())
        .col(ColumnDef::new(s("n")).big_integer().not_null())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let mut t = Table::create();
        t.table(s("metric_rollups"))
            .col(ColumnDef::new(s("project_id")).string_len(36).not_null());
        sums(&mut t).primary_key(
            Index::create()
                .col(s("project_id"))
                .col(s("indicator"))
                .col(s("kind"))
                .col(s("period_start"))
                .col(s("period_end")),
        );
        m.create_table(t.to_owned()).await?;
        m.create_index(
            Index::create()
                .name("idx_metric_rollups_period")
                .table(s("metric_rollups"))
                .col(s("indicator"))
                .col(s("kind"))
                .col(s("period_start"))
                .col(s("period_end"))
                .to_owned(),
        )
        .await?;
        let mut p = Table::create();
        p.table(s("metric_rollups_public"));
        sums(&mut p).primary_key(
            Index::create()
                .col(s("indicator"))
                .col(s("kind"))
                .col(s("period_start"))
                .col(s("period_end")),
        );
        m.create_table(p.to_owned()).await?;
        // Observations stored before this step.
        let db = m.get_connection();
        db.execute_unprepared(
            "INSERT INTO metric_rollups (project_id, indicator, kind, period_start, period_end, total_milli, max_milli, n) \
             SELECT project_id, indicator, kind, period_start, period_end, SUM(value_milli), MAX(value_milli), COUNT(*) \
             FROM metrics GROUP BY project_id, indicator, kind, period_start, period_end",
        )
        .await?;
        db.execute_unprepared(
            "INSERT INTO metric_rollups_public (indicator, kind, period_start, period_end, total_milli, max_milli, n) \
             SELECT r.indicator, r.kind, r.period_start, r.period_end, SUM(r.total_milli), MAX(r.max_milli), SUM(r.n) \
             FROM metric_rollups r JOIN projects p ON p.id = r.project_id \
             WHERE p.status = 'published' AND p.deleted_at IS NULL \
             GROUP BY r.indicator, r.kind, r.period_start, r.period_end",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["metric_rollups_public", "metric_rollups"] {
            m.drop_table(Table::drop().table(s(t)).to_owned()).await?;
        }
        Ok(())
    }
}
