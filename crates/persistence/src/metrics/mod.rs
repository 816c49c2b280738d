//! Participation metrics: all-or-nothing batch ingestion, keyset listing, and summaries that
//! aggregate in the database (one SQL statement per summary, on both backends).

use crate::error::{StoreError, StoreResult};
use crate::pagination::{KeysetPos, Page, PageRequest};
use chrono::NaiveDate;
use legami_domain::{
    Dimensions, FieldError, IstatCode, Metric, MetricFields, MetricKind, MetricValue, ProvinceAbbr,
    Status, ThemeCode, Visibility,
};
use sea_orm::{ConnectionTrait, DbBackend, QueryResult, Statement, Value};
use uuid::Uuid;

mod ingest;
mod summary;

pub use ingest::*;
pub use summary::*;

/// Filters shared by `GET /metrics` and `GET /metrics/summary`.
#[derive(Debug, Clone, Default)]
pub struct MetricFilter {
    /// Projects.
    pub projects: Vec<Uuid>,
    /// Labs.
    pub labs: Vec<Uuid>,
    /// Indicators.
    pub indicators: Vec<ThemeCode>,
    /// Kinds.
    pub kinds: Vec<MetricKind>,
    /// Municipalities.
    pub municipalities: Vec<IstatCode>,
    /// Provinces.
    pub provinces: Vec<ProvinceAbbr>,
    /// Municipalities of the chosen area(s), already resolved.
    pub area_municipalities: Option<Vec<String>>,
    /// Periods ending on or after.
    pub from: Option<NaiveDate>,
    /// Periods starting on or before.
    pub to: Option<NaiveDate>,
}

/// Pushes a bound value and returns its placeholder (`$n` on PostgreSQL, `?` on SQLite).
pub(super) fn placeholder(backend: DbBackend, v: Value, vals: &mut Vec<Value>) -> String {
    vals.push(v);
    let mut out = String::new();
    push_placeholder(&mut out, backend, vals.len());
    out
}

/// Appends the placeholder of the `n`th bound value (from 1) to `sql`.
pub(super) fn push_placeholder(sql: &mut String, backend: DbBackend, n: usize) {
    match backend {
        DbBackend::Postgres => {
            use std::fmt::Write as _;
            let _ = write!(sql, "${n}");
        }
        _ => sql.push('?'),
    }
}

/// The `WHERE` clause (and its values) of a metric query over `metrics m JOIN projects p` (or a
/// rollup aliased `m`); without `joined`, the conditions on `p` are left out.
pub(super) fn where_sql(
    f: &MetricFilter,
    vis: &Visibility,
    backend: DbBackend,
    vals: &mut Vec<Value>,
) -> String {
    where_sql_on(f, vis, backend, vals, true)
}

pub(super) fn where_sql_on(
    f: &MetricFilter,
    vis: &Visibility,
    backend: DbBackend,
    vals: &mut Vec<Value>,
    joined: bool,
) -> String {
    let ph = |v: Value, vals: &mut Vec<Value>| placeholder(backend, v, vals);
    let list = |items: Vec<Value>, vals: &mut Vec<Value>| {
        items
            .into_iter()
            .map(|v| ph(v, vals))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut w = vec![
        if joined {
            "p.deleted_at IS NULL"
        } else {
            "1 = 1"
        }
        .to_owned(),
    ];
    if let Some(orgs) = vis.members().filter(|_| joined) {
        // Published projects, plus those of the caller's organisations (see records::owned_cond).
        let v = list(vec![Status::Published.as_str().into()], vals);
        let mut any = vec![format!("p.status = {v}")];
        if !orgs.is_empty() {
            let ids = || {
                orgs.iter()
                    .map(|o| o.to_string().into())
                    .collect::<Vec<Value>>()
            };
            let lead = list(ids(), vals);
            let partners = list(ids(), vals);
            any.push(format!("p.lead_organisation_id IN ({lead})"));
            any.push(format!(
                "p.id IN (SELECT pp.project_id FROM project_partners pp \
                 WHERE pp.organisation_id IN ({partners}) AND pp.role IN ('lead', 'partner'))"
            ));
        }
        w.push(format!("({})", any.join(" OR ")));
    }
    if !f.projects.is_empty() {
        w.push(format!(
            "m.project_id IN ({})",
            list(
                f.projects.iter().map(|p| p.to_string().into()).collect(),
                vals
            )
        ));
    }
    if !f.labs.is_empty() {
        w.push(format!(
            "m.lab_id IN ({})",
            list(f.labs.iter().map(|p| p.to_string().into()).collect(), vals)
        ));
    }
    if !f.indicators.is_empty() {
        w.push(format!(
            "m.indicator IN ({})",
            list(
                f.indicators.iter().map(|p| p.as_str().into()).collect(),
                vals
            )
        ));
    }
    if !f.kinds.is_empty() {
        w.push(format!(
            "m.kind IN ({})",
            list(f.kinds.iter().map(|p| p.as_str().into()).collect(), vals)
        ));
    }
    if !f.municipalities.is_empty() {
        let codes: Vec<String> = f
            .municipalities
            .iter()
            .map(|p| p.as_str().to_owned())
            .collect();
        w.push(crate::records::in_set_sql(
            backend,
            "m.municipality",
            &codes,
            vals,
            ph,
        ));
    }
    if let Some(ms) = &f.area_municipalities {
        w.push(crate::records::in_set_sql(
            backend,
            "m.municipality",
            ms,
            vals,
            ph,
        ));
    }
    if !f.provinces.is_empty() {
        w.push(format!(
            "m.municipality IN (SELECT istat_code FROM municipalities WHERE province_abbr IN ({}))",
            list(
                f.provinces.iter().map(|p| p.as_str().into()).collect(),
                vals
            )
        ));
    }
    if let Some(from) = f.from {
        let v = ph(from.into(), vals);
        w.push(format!("m.period_end >= {v}"));
    }
    if let Some(to) = f.to {
        let v = ph(to.into(), vals);
        w.push(format!("m.period_start <= {v}"));
    }
    w.join(" AND ")
}

pub(super) fn to_metric(r: &QueryResult) -> StoreResult<Metric> {
    let bad = |e: FieldError| StoreError::Db(format!("stored metric is invalid: {}", e.message));
    let uuid = |s: String| Uuid::try_parse(&s).map_err(|e| StoreError::Db(e.to_string()));
    Ok(Metric {
        id: uuid(r.try_get("", "id")?)?,
        project_id: uuid(r.try_get("", "project_id")?)?,
        fields: MetricFields {
            indicator: ThemeCode::parse(&r.try_get::<String>("", "indicator")?).map_err(bad)?,
            kind: MetricKind::parse(&r.try_get::<String>("", "kind")?).map_err(bad)?,
            value: MetricValue::from_milli(r.try_get("", "value_milli")?),
            period_start: r.try_get("", "period_start")?,
            period_end: r.try_get("", "period_end")?,
            lab_id: r
                .try_get::<Option<String>>("", "lab_id")?
                .map(uuid)
                .transpose()?,
            municipality: r
                .try_get::<Option<String>>("", "municipality")?
                .map(|m| IstatCode::parse(&m))
                .transpose()
                .map_err(bad)?,
            dimensions: Dimensions {
                age_band: r.try_get("", "age_band")?,
                gender: r.try_get("", "gender")?,
                group: r.try_get("", "grp")?,
            },
            source: r.try_get("", "source")?,
            note: r.try_get("", "note")?,
        },
        created_at: r.try_get("", "created_at")?,
    })
}

/// One page of observations, ordered by period start then id.
pub async fn list(
    db: &impl ConnectionTrait,
    f: &MetricFilter,
    vis: &Visibility,
    page: &PageRequest,
) -> StoreResult<Page<Metric>> {
    let backend = db.get_database_backend();
    let mut vals = Vec::new();
    let w = where_sql(f, vis, backend, &mut vals);
    let total = if page.count {
        let sql = format!(
            "SELECT COUNT(*) FROM metrics m JOIN projects p ON p.id = m.project_id WHERE {w}"
        );
        let row = db
            .query_one_raw(Statement::from_sql_and_values(backend, sql, vals.clone()))
            .await?
            .ok_or(StoreError::NotFound)?;
        Some(u64::try_from(row.try_get_by_index::<i64>(0)?).unwrap_or(0))
    } else {
        None
    };
    let (cmp, dir) = if page.sort.desc {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    let mut where_all = w;
    if let Some(pos) = &page.after {
        let date = NaiveDate::parse_from_str(&pos.key, "%Y-%m-%d").map_err(|_| {
            StoreError::Invalid(FieldError::new("invalid", "bad cursor").at("cursor").into())
        })?;
        let mut ph = |v: Value| {
            vals.push(v);
            match backend {
                DbBackend::Postgres => format!("${}", vals.len()),
                _ => "?".to_owned(),
            }
        };
        // One row-value comparison: a range scan of the (period_start, id) index (see
        // `pagination::after_expr`).
        let (d, id) = (ph(date.into()), ph(pos.id.clone().into()));
        where_all = format!("{where_all} AND (m.period_start, m.id) {cmp} ({d}, {id})");
    }
    // CROSS JOIN keeps metrics as SQLite's outer loop, so a page is a range of the
    // (period_start, id) index; with planner statistics SQLite otherwise drives from projects
    // and sorts every observation for each page. PostgreSQL reads it as a plain inner join.
    let sql = format!(
        "SELECT m.* FROM metrics m CROSS JOIN projects p WHERE p.id = m.project_id AND {where_all} ORDER BY m.period_start {dir}, m.id {dir} LIMIT {}",
        page.limit + 1
    );
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, vals))
        .await?;
    let mut items = rows
        .iter()
        .map(to_metric)
        .collect::<StoreResult<Vec<_>>>()?;
    let limit = usize::try_from(page.limit).unwrap_or(usize::MAX);
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|m| KeysetPos {
            key: m.fields.period_start.format("%Y-%m-%d").to_string(),
            id: m.id.to_string(),
        })
    } else {
        None
    };
    Ok(Page { items, next, total })
}

/// Export fingerprint of the filtered observations (they are never changed, only added).
pub async fn fingerprint(
    db: &impl ConnectionTrait,
    f: &MetricFilter,
    vis: &Visibility,
) -> StoreResult<String> {
    let backend = db.get_database_backend();
    let mut vals = Vec::new();
    let w = where_sql(f, vis, backend, &mut vals);
    let sql = format!(
        "SELECT COUNT(*), CAST(MAX(m.created_at) AS TEXT), CAST(MAX(p.updated_at) AS TEXT) FROM metrics m JOIN projects p ON p.id = m.project_id WHERE {w}"
    );
    let row = db
        .query_one_raw(Statement::from_sql_and_values(backend, sql, vals))
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(format!(
        "{}:{}:{}",
        row.try_get_by_index::<i64>(0)?,
        row.try_get_by_index::<Option<String>>(1)?
            .unwrap_or_default(),
        row.try_get_by_index::<Option<String>>(2)?
            .unwrap_or_default()
    ))
}
