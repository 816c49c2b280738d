//! All-or-nothing batch ingestion, and the rollups kept in the batch's transaction.

use crate::error::{StoreError, StoreResult};
use crate::records::{a, now};
use chrono::NaiveDate;
use legami_domain::{FieldError, FieldErrors, Metric, MetricFields};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionSession, TransactionTrait, Value};
use std::collections::{BTreeMap, HashSet};
use uuid::Uuid;

use super::*;

/// Largest batch accepted by one call.
pub const MAX_BATCH: usize = 1000;

/// Observations per `INSERT` statement.
pub(super) const INSERT_ROWS: usize = 500;

pub(super) const COLS: &[&str] = &[
    "id",
    "project_id",
    "indicator",
    "kind",
    "value_milli",
    "period_start",
    "period_end",
    "lab_id",
    "municipality",
    "age_band",
    "gender",
    "grp",
    "source",
    "note",
    "created_at",
];

/// Stores every observation or none: indicators must exist, labs must belong to the project,
/// municipalities must exist. Errors name the row (`/3/lab_id`).
pub async fn insert_batch<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    project: Uuid,
    rows: Vec<MetricFields>,
    lab_ids: &[Uuid],
    actor: &crate::audit::Actor,
) -> StoreResult<Vec<Metric>> {
    let known: HashSet<String> = crate::indicators::list(db)
        .await?
        .into_iter()
        .map(|i| i.code.as_str().to_owned())
        .collect();
    let labs: HashSet<Uuid> = lab_ids.iter().copied().collect();
    let mut munis: HashSet<String> = HashSet::new();
    let wanted: Vec<String> = rows
        .iter()
        .filter_map(|r| r.municipality.as_ref().map(|m| m.as_str().to_owned()))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    if !wanted.is_empty() {
        let q = Query::select()
            .column(a("istat_code"))
            .from(a("municipalities"))
            .and_where(Expr::col(a("istat_code")).is_in(wanted))
            .to_owned();
        for r in db.query_all(&q).await? {
            munis.insert(r.try_get_by_index::<String>(0)?);
        }
    }
    let mut errs = FieldErrors::new();
    for (i, r) in rows.iter().enumerate() {
        if !known.contains(r.indicator.as_str()) {
            errs.push(
                &format!("/{i}/indicator"),
                FieldError::new(
                    "unknown",
                    format!("unknown indicator '{}'", r.indicator.as_str()),
                ),
            );
        }
        if let Some(l) = r.lab_id
            && !labs.contains(&l)
        {
            errs.push(
                &format!("/{i}/lab_id"),
                FieldError::new(
                    "not_in_project",
                    "this lab is not one of the project's labs",
                ),
            );
        }
        if let Some(m) = &r.municipality
            && !munis.contains(m.as_str())
        {
            errs.push(
                &format!("/{i}/municipality"),
                FieldError::new("unknown", "no municipality has this ISTAT code"),
            );
        }
    }
    if !errs.is_empty() {
        return Err(StoreError::Invalid(errs));
    }
    let now = now();
    let txn = crate::records::write_txn(db).await?;
    let backend = txn.get_database_backend();
    let project_id = project.to_string();
    // Plain SQL with bound values (no expression tree in between): each value is built once
    // and moved into the statement.
    let head = format!("INSERT INTO metrics ({}) VALUES ", COLS.join(", "));
    let mut ids = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(INSERT_ROWS) {
        let mut sql = String::with_capacity(head.len() + chunk.len() * COLS.len() * 6);
        sql.push_str(&head);
        let mut vals: Vec<Value> = Vec::with_capacity(chunk.len() * COLS.len());
        for (i, r) in chunk.iter().enumerate() {
            let id = Uuid::now_v7();
            ids.push(id);
            vals.extend([
                id.to_string().into(),
                project_id.clone().into(),
                r.indicator.as_str().to_owned().into(),
                r.kind.as_str().into(),
                r.value.milli().into(),
                r.period_start.into(),
                r.period_end.into(),
                r.lab_id.map(|l| l.to_string()).into(),
                r.municipality
                    .as_ref()
                    .map(|m| m.as_str().to_owned())
                    .into(),
                r.dimensions.age_band.clone().into(),
                r.dimensions.gender.clone().into(),
                r.dimensions.group.clone().into(),
                r.source.clone().into(),
                r.note.clone().into(),
                now.into(),
            ]);
            sql.push_str(if i == 0 { "(" } else { ", (" });
            for c in 0..COLS.len() {
                if c > 0 {
                    sql.push_str(", ");
                }
                push_placeholder(&mut sql, backend, i * COLS.len() + c + 1);
            }
            sql.push(')');
        }
        txn.execute_raw(Statement::from_sql_and_values(backend, sql, vals))
            .await?;
    }
    add_to_rollups(&txn, project, &rows).await?;
    let changes = serde_json::json!({"metrics": {"before": null, "after": ids}});
    crate::audit::record(
        &txn,
        actor,
        "create",
        "metrics",
        &project.to_string(),
        changes,
    )
    .await?;
    txn.commit().await?;
    Ok(ids
        .into_iter()
        .zip(rows)
        .map(|(id, fields)| Metric {
            id,
            project_id: project,
            fields,
            created_at: now,
        })
        .collect())
}

/// Sum, maximum and count of values per (indicator, kind, period start, period end).
pub(super) type Sums = BTreeMap<(String, &'static str, NaiveDate, NaiveDate), (i64, i64, i64)>;

/// Adds a batch to the rollups in the batch's transaction: always to the project's rollup, and
/// to the public rollup when anyone may see the project. Keys are written in one order, so
/// concurrent batches cannot deadlock on them.
pub(super) async fn add_to_rollups(
    txn: &impl ConnectionTrait,
    project: Uuid,
    rows: &[MetricFields],
) -> StoreResult<()> {
    let mut sums: Sums = BTreeMap::new();
    for r in rows {
        let key = (
            r.indicator.as_str().to_owned(),
            r.kind.as_str(),
            r.period_start,
            r.period_end,
        );
        let v = r.value.milli();
        let e = sums.entry(key).or_insert((0, v, 0));
        e.0 += v;
        e.1 = Ord::max(e.1, v);
        e.2 += 1;
    }
    let backend = txn.get_database_backend();
    let greatest = if backend == DbBackend::Postgres {
        "GREATEST"
    } else {
        "MAX"
    };
    let public = is_public(txn, project).await?;
    let entries: Vec<_> = sums.into_iter().collect();
    for chunk in entries.chunks(500) {
        for (table, with_project) in [("metric_rollups", true), ("metric_rollups_public", false)] {
            if !with_project && !public {
                continue;
            }
            let mut vals = Vec::new();
            let mut tuples = Vec::with_capacity(chunk.len());
            for ((indicator, kind, ps, pe), (total, max, n)) in chunk {
                let mut t = Vec::with_capacity(8);
                if with_project {
                    t.push(placeholder(backend, project.to_string().into(), &mut vals));
                }
                t.push(placeholder(backend, indicator.clone().into(), &mut vals));
                t.push(placeholder(backend, (*kind).into(), &mut vals));
                t.push(placeholder(backend, (*ps).into(), &mut vals));
                t.push(placeholder(backend, (*pe).into(), &mut vals));
                t.push(placeholder(backend, (*total).into(), &mut vals));
                t.push(placeholder(backend, (*max).into(), &mut vals));
                t.push(placeholder(backend, (*n).into(), &mut vals));
                tuples.push(format!("({})", t.join(", ")));
            }
            let key = if with_project {
                "project_id, indicator, kind, period_start, period_end"
            } else {
                "indicator, kind, period_start, period_end"
            };
            let sql = format!(
                "INSERT INTO {table} ({key}, total_milli, max_milli, n) VALUES {}                  ON CONFLICT ({key}) DO UPDATE SET                  total_milli = {table}.total_milli + excluded.total_milli,                  max_milli = {greatest}({table}.max_milli, excluded.max_milli),                  n = {table}.n + excluded.n",
                tuples.join(", ")
            );
            txn.execute_raw(Statement::from_sql_and_values(backend, sql, vals))
                .await?;
        }
    }
    Ok(())
}

pub(super) async fn is_public(db: &impl ConnectionTrait, project: Uuid) -> StoreResult<bool> {
    let backend = db.get_database_backend();
    let mut vals = Vec::new();
    let id = placeholder(backend, project.to_string().into(), &mut vals);
    let sql = format!(
        "SELECT COUNT(*) FROM projects WHERE id = {id} AND status = 'published' AND deleted_at IS NULL"
    );
    let row = db
        .query_one_raw(Statement::from_sql_and_values(backend, sql, vals))
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(row.try_get_by_index::<i64>(0)? > 0)
}

/// Recomputes the public rollup for every period a project reported on, from the per-project
/// rollups of the projects anyone may see. Called in the transaction that publishes,
/// unpublishes, deletes or restores a project.
pub(crate) async fn refresh_public_rollup(
    txn: &impl ConnectionTrait,
    project: &str,
) -> StoreResult<()> {
    let backend = txn.get_database_backend();
    let keys = "indicator, kind, period_start, period_end";
    let mut vals = Vec::new();
    let id = placeholder(backend, project.to_owned().into(), &mut vals);
    let sql = format!(
        "DELETE FROM metric_rollups_public WHERE ({keys}) IN          (SELECT {keys} FROM metric_rollups WHERE project_id = {id})"
    );
    txn.execute_raw(Statement::from_sql_and_values(backend, sql, vals))
        .await?;
    let mut vals = Vec::new();
    let id = placeholder(backend, project.to_owned().into(), &mut vals);
    let sql = format!(
        "INSERT INTO metric_rollups_public ({keys}, total_milli, max_milli, n)          SELECT r.indicator, r.kind, r.period_start, r.period_end, SUM(r.total_milli), MAX(r.max_milli), SUM(r.n)          FROM metric_rollups r JOIN projects p ON p.id = r.project_id          WHERE p.status = 'published' AND p.deleted_at IS NULL          AND (r.indicator, r.kind, r.period_start, r.period_end) IN          (SELECT {keys} FROM metric_rollups WHERE project_id = {id})          GROUP BY r.indicator, r.kind, r.period_start, r.period_end"
    );
    txn.execute_raw(Statement::from_sql_and_values(backend, sql, vals))
        .await?;
    Ok(())
}
