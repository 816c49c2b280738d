//! Participation metrics: all-or-nothing batch ingestion, keyset listing, and summaries that
//! aggregate in the database (one SQL statement per summary, on both backends).

use crate::error::{StoreError, StoreResult};
use crate::pagination::{KeysetPos, Page, PageRequest};
use crate::records::{a, now};
use chrono::NaiveDate;
use legami_domain::{
    Aggregation, Dimensions, FieldError, FieldErrors, IstatCode, Metric, MetricFields, MetricKind,
    MetricValue, ProvinceAbbr, Status, ThemeCode, Visibility,
};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ConnectionTrait, DbBackend, QueryResult, Statement, TransactionSession, TransactionTrait, Value,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use uuid::Uuid;

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

/// Largest batch accepted by one call.
pub const MAX_BATCH: usize = 1000;

/// Observations per `INSERT` statement.
const INSERT_ROWS: usize = 500;

const COLS: &[&str] = &[
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

/// Pushes a bound value and returns its placeholder (`$n` on PostgreSQL, `?` on SQLite).
fn placeholder(backend: DbBackend, v: Value, vals: &mut Vec<Value>) -> String {
    vals.push(v);
    let mut out = String::new();
    push_placeholder(&mut out, backend, vals.len());
    out
}

/// Appends the placeholder of the `n`th bound value (from 1) to `sql`.
fn push_placeholder(sql: &mut String, backend: DbBackend, n: usize) {
    match backend {
        DbBackend::Postgres => {
            use std::fmt::Write as _;
            let _ = write!(sql, "${n}");
        }
        _ => sql.push('?'),
    }
}

/// Sum, maximum and count of values per (indicator, kind, period start, period end).
type Sums = BTreeMap<(String, &'static str, NaiveDate, NaiveDate), (i64, i64, i64)>;

/// Adds a batch to the rollups in the batch's transaction: always to the project's rollup, and
/// to the public rollup when anyone may see the project. Keys are written in one order, so
/// concurrent batches cannot deadlock on them.
async fn add_to_rollups(
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

async fn is_public(db: &impl ConnectionTrait, project: Uuid) -> StoreResult<bool> {
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

/// Where a summary reads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummarySource {
    /// The smallest rollup that can answer exactly, else the raw observations.
    Best,
    /// The raw observations (for tests that check the rollups against them).
    Raw,
}

/// The relation a summary reads: raw rows, per-project rollups (joined to projects for
/// visibility), or the public rollup (no join: it holds only what anyone may see).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Relation {
    Raw,
    Projects,
    Public,
}

fn relation(
    f: &MetricFilter,
    vis: &Visibility,
    groups: &[GroupBy],
    source: SummarySource,
) -> Relation {
    let coarse = f.labs.is_empty()
        && f.municipalities.is_empty()
        && f.provinces.is_empty()
        && f.area_municipalities.is_none()
        && groups.iter().all(|g| {
            matches!(
                g,
                GroupBy::Indicator
                    | GroupBy::Project
                    | GroupBy::Year
                    | GroupBy::Quarter
                    | GroupBy::Month
            )
        });
    if source == SummarySource::Raw || !coarse {
        Relation::Raw
    } else if matches!(vis, Visibility::Public)
        && f.projects.is_empty()
        && !groups.contains(&GroupBy::Project)
    {
        Relation::Public
    } else {
        Relation::Projects
    }
}

/// The `WHERE` clause (and its values) of a metric query over `metrics m JOIN projects p` (or a
/// rollup aliased `m`); without `joined`, the conditions on `p` are left out.
fn where_sql(
    f: &MetricFilter,
    vis: &Visibility,
    backend: DbBackend,
    vals: &mut Vec<Value>,
) -> String {
    where_sql_on(f, vis, backend, vals, true)
}

fn where_sql_on(
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

fn to_metric(r: &QueryResult) -> StoreResult<Metric> {
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

/// A dimension a summary can be grouped by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GroupBy {
    /// Indicator code (always included).
    Indicator,
    /// Project id.
    Project,
    /// Lab id.
    Lab,
    /// Municipality ISTAT code.
    Municipality,
    /// Province abbreviation.
    Province,
    /// Area slug (observations in municipalities of no area are left out).
    Area,
    /// Year of the period start.
    Year,
    /// `YYYY-Qn` of the period start.
    Quarter,
    /// `YYYY-MM` of the period start.
    Month,
    /// `dimension.age_band`, `dimension.gender` or `dimension.group`.
    Dimension(String),
}

impl GroupBy {
    /// Parses one `group_by` entry.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        Ok(match raw {
            "indicator" => Self::Indicator,
            "project" => Self::Project,
            "lab" => Self::Lab,
            "municipality" => Self::Municipality,
            "province" => Self::Province,
            "area" => Self::Area,
            "year" => Self::Year,
            "quarter" => Self::Quarter,
            "month" => Self::Month,
            "dimension.age_band" | "dimension.gender" | "dimension.group" => {
                Self::Dimension(raw["dimension.".len()..].to_owned())
            }
            _ => {
                return Err(FieldError::new(
                    "enum",
                    "group by indicator, project, lab, municipality, province, area, year, quarter, month, dimension.age_band, dimension.gender or dimension.group",
                ));
            }
        })
    }

    /// The name of the key in summary rows.
    pub fn key(&self) -> String {
        match self {
            Self::Indicator => "indicator".into(),
            Self::Project => "project".into(),
            Self::Lab => "lab".into(),
            Self::Municipality => "municipality".into(),
            Self::Province => "province".into(),
            Self::Area => "area".into(),
            Self::Year => "year".into(),
            Self::Quarter => "quarter".into(),
            Self::Month => "month".into(),
            Self::Dimension(d) => format!("dimension.{d}"),
        }
    }

    /// The SQL expression of the key (the one place where the backends differ: date buckets).
    fn sql(&self, backend: DbBackend) -> String {
        let pg = backend == DbBackend::Postgres;
        match self {
            Self::Indicator => "m.indicator".into(),
            Self::Project => "m.project_id".into(),
            Self::Lab => "m.lab_id".into(),
            Self::Municipality => "m.municipality".into(),
            Self::Province => "mu.province_abbr".into(),
            Self::Area => "ar.slug".into(),
            Self::Year if pg => "to_char(m.period_start, 'YYYY')".into(),
            Self::Year => "substr(m.period_start, 1, 4)".into(),
            Self::Quarter if pg => "to_char(m.period_start, 'YYYY-\"Q\"Q')".into(),
            Self::Quarter => "(substr(m.period_start, 1, 4) || '-Q' || ((CAST(substr(m.period_start, 6, 2) AS INTEGER) + 2) / 3))".into(),
            Self::Month if pg => "to_char(m.period_start, 'YYYY-MM')".into(),
            Self::Month => "substr(m.period_start, 1, 7)".into(),
            Self::Dimension(d) if d == "group" => "m.grp".into(),
            Self::Dimension(d) => format!("m.{d}"),
        }
    }
}

/// One row of a summary.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    /// Group keys in `group_by` order (`indicator` included), with their values.
    pub keys: Vec<(String, Option<String>)>,
    /// Indicator code.
    pub indicator: String,
    /// Aggregated actual value.
    pub actual: Option<MetricValue>,
    /// Aggregated target value.
    pub target: Option<MetricValue>,
    /// Resident population of the row's municipality or province, when grouped by one.
    pub population: Option<i64>,
    /// Slug and name of the row's project, lab or area, for each of those groups (in
    /// `group_by` order): `("project_slug", ..), ("project_title", ..)`, `lab_slug`/`lab_name`,
    /// `area_slug`/`area_name`. `None` when the record is
    /// not visible to the caller.
    pub labels: Vec<(String, Option<String>)>,
}

/// Aggregates observations in the database: per group and indicator, the sum, the maximum and
/// the latest period's total of actual and target values; the indicator's own aggregation picks
/// one. Populations come from the ISTAT list. Reads the rollups whenever they can answer
/// exactly (filters and groups no finer than project, indicator, kind and period).
pub async fn summary(
    db: &impl ConnectionTrait,
    f: &MetricFilter,
    vis: &Visibility,
    group_by: &[GroupBy],
) -> StoreResult<Vec<SummaryRow>> {
    summary_from(db, f, vis, group_by, SummarySource::Best).await
}

/// [`summary`], reading from `source`.
pub async fn summary_from(
    db: &impl ConnectionTrait,
    f: &MetricFilter,
    vis: &Visibility,
    group_by: &[GroupBy],
    source: SummarySource,
) -> StoreResult<Vec<SummaryRow>> {
    let backend = db.get_database_backend();
    let mut groups: Vec<GroupBy> = group_by.to_vec();
    if !groups.contains(&GroupBy::Indicator) {
        groups.insert(0, GroupBy::Indicator);
    }
    let rel = relation(f, vis, &groups, source);
    let mut vals = Vec::new();
    let w = where_sql_on(f, vis, backend, &mut vals, rel != Relation::Public);
    let keys: Vec<String> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| format!("{} AS k{i}", g.sql(backend)))
        .collect();
    let knames: Vec<String> = (0..groups.len()).map(|i| format!("k{i}")).collect();
    let (table, sum, max) = match rel {
        Relation::Raw => ("metrics", "m.value_milli", "m.value_milli"),
        Relation::Projects => ("metric_rollups", "m.total_milli", "m.max_milli"),
        Relation::Public => ("metric_rollups_public", "m.total_milli", "m.max_milli"),
    };
    let mut joins = String::new();
    if rel != Relation::Public {
        joins.push_str(" JOIN projects p ON p.id = m.project_id");
    }
    if groups.contains(&GroupBy::Province) {
        joins.push_str(" LEFT JOIN municipalities mu ON mu.istat_code = m.municipality");
    }
    if groups.contains(&GroupBy::Area) {
        joins.push_str(" JOIN area_municipalities am ON am.municipality = m.municipality JOIN areas ar ON ar.id = am.area_id AND ar.deleted_at IS NULL");
        // Nobody owns an area: only administrators see drafts.
        if vis.members().is_some() {
            joins.push_str(" AND ar.status = 'published'");
        }
    }
    let part = knames.join(", ");
    let sql = format!(
        "WITH base AS (SELECT {keys}, m.kind AS kind, {sum} AS v, {max} AS vx, m.period_end AS pe FROM {table} m{joins} WHERE {w}), \
         ranked AS (SELECT base.*, RANK() OVER (PARTITION BY {part}, kind ORDER BY pe DESC) AS rk FROM base) \
         SELECT {part}, kind, CAST(SUM(v) AS BIGINT) AS s, MAX(vx) AS mx, CAST(SUM(CASE WHEN rk = 1 THEN v ELSE 0 END) AS BIGINT) AS lst \
         FROM ranked GROUP BY {part}, kind ORDER BY {part}, kind",
        keys = keys.join(", "),
    );
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, vals))
        .await?;
    let aggs: HashMap<String, Aggregation> = crate::indicators::list(db)
        .await?
        .into_iter()
        .map(|i| (i.code.as_str().to_owned(), i.aggregation))
        .collect();
    let mut out: BTreeMap<Vec<Option<String>>, SummaryRow> = BTreeMap::new();
    for r in rows {
        let mut kv = Vec::with_capacity(groups.len());
        for i in 0..groups.len() {
            kv.push(r.try_get_by_index::<Option<String>>(i)?);
        }
        let n = groups.len();
        let kind: String = r.try_get_by_index(n)?;
        let (s, mx, last): (i64, i64, i64) = (
            r.try_get_by_index(n + 1)?,
            r.try_get_by_index(n + 2)?,
            r.try_get_by_index(n + 3)?,
        );
        let indicator = kv[groups
            .iter()
            .position(|g| *g == GroupBy::Indicator)
            .unwrap_or(0)]
        .clone()
        .unwrap_or_default();
        let value = MetricValue::from_milli(
            match aggs.get(&indicator).copied().unwrap_or(Aggregation::Sum) {
                Aggregation::Sum => s,
                Aggregation::Max => mx,
                Aggregation::Last => last,
            },
        );
        let entry = out.entry(kv.clone()).or_insert_with(|| SummaryRow {
            keys: groups
                .iter()
                .map(GroupBy::key)
                .zip(kv.iter().cloned())
                .collect(),
            indicator: indicator.clone(),
            actual: None,
            target: None,
            population: None,
            labels: Vec::new(),
        });
        if kind == MetricKind::Actual.as_str() {
            entry.actual = Some(value);
        } else {
            entry.target = Some(value);
        }
    }
    let by_muni = groups.iter().position(|g| *g == GroupBy::Municipality);
    let by_prov = groups.iter().position(|g| *g == GroupBy::Province);
    if by_muni.is_some() || by_prov.is_some() {
        let pops = populations(db, by_muni.is_some()).await?;
        for row in out.values_mut() {
            let idx = by_muni.or(by_prov).unwrap_or(0);
            row.population = row.keys[idx].1.as_ref().and_then(|k| pops.get(k)).copied();
        }
    }
    let mut rows: Vec<SummaryRow> = out.into_values().collect();
    for (i, g) in groups.iter().enumerate() {
        let (table, by, title) = match g {
            GroupBy::Project => ("projects", "id", "title"),
            GroupBy::Lab => ("labs", "id", "name"),
            GroupBy::Area => ("areas", "slug", "name"),
            _ => continue,
        };
        let wanted: HashSet<String> = rows.iter().filter_map(|r| r.keys[i].1.clone()).collect();
        let found = labels(db, table, by, title, wanted.into_iter().collect(), vis).await?;
        let name = g.key();
        for row in &mut rows {
            let label = row.keys[i].1.as_ref().and_then(|k| found.get(k));
            row.labels
                .push((format!("{name}_slug"), label.map(|l| l.0.clone())));
            row.labels
                .push((format!("{name}_{title}"), label.map(|l| l.1.clone())));
        }
    }
    Ok(rows)
}

/// Slug and `title` of the records of `table` whose `by` column is among `keys` and that `vis`
/// may see, read in bounded chunks (never one bind per record of a large set).
async fn labels(
    db: &impl ConnectionTrait,
    table: &str,
    by: &str,
    title: &str,
    keys: Vec<String>,
    vis: &Visibility,
) -> StoreResult<HashMap<String, (String, String)>> {
    let mut out = HashMap::with_capacity(keys.len());
    for chunk in keys.chunks(500) {
        let q = Query::select()
            .expr(Expr::col((a(table), a(by))))
            .expr(Expr::col((a(table), a("slug"))))
            .expr(Expr::col((a(table), a(title))))
            .from(a(table))
            .cond_where(
                crate::records::visible_cond(table, vis)
                    .add(Expr::col((a(table), a(by))).is_in(chunk.iter().cloned())),
            )
            .to_owned();
        for r in db.query_all(&q).await? {
            out.insert(
                r.try_get_by_index::<String>(0)?,
                (r.try_get_by_index(1)?, r.try_get_by_index(2)?),
            );
        }
    }
    Ok(out)
}

async fn populations(
    db: &impl ConnectionTrait,
    municipal: bool,
) -> StoreResult<HashMap<String, i64>> {
    let q = if municipal {
        Query::select()
            .column(a("istat_code"))
            .expr(Expr::cust("CAST(population AS BIGINT)"))
            .from(a("municipalities"))
            .and_where(Expr::col(a("population")).is_not_null())
            .to_owned()
    } else {
        Query::select()
            .column(a("province_abbr"))
            .expr(Expr::cust("CAST(SUM(population) AS BIGINT)"))
            .from(a("municipalities"))
            .group_by_col(a("province_abbr"))
            .to_owned()
    };
    let mut map = HashMap::new();
    for r in db.query_all(&q).await? {
        if let Some(p) = r.try_get_by_index::<Option<i64>>(1)? {
            map.insert(r.try_get_by_index::<String>(0)?, p);
        }
    }
    Ok(map)
}
