//! Summaries that aggregate in the database (one SQL statement per summary, on both backends).

use crate::error::StoreResult;
use crate::record::Record;
use crate::records::a;
use legami_domain::{
    Aggregation, Area, FieldError, Lab, MetricKind, MetricValue, Project, Visibility,
};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use std::collections::{BTreeMap, HashMap, HashSet};

use super::*;

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
pub(super) enum Relation {
    Raw,
    Projects,
    Public,
}

pub(super) fn relation(
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
    let by_indicator = groups
        .iter()
        .position(|g| *g == GroupBy::Indicator)
        .unwrap_or(0);
    // Each group's indicator brings its aggregation along (a lookup by primary key per output
    // row), so the summary is one statement.
    let sql = format!(
        "WITH base AS (SELECT {keys}, m.kind AS kind, {sum} AS v, {max} AS vx, m.period_end AS pe FROM {table} m{joins} WHERE {w}), \
         ranked AS (SELECT base.*, RANK() OVER (PARTITION BY {part}, kind ORDER BY pe DESC) AS rk FROM base) \
         SELECT {part}, kind, CAST(SUM(v) AS BIGINT) AS s, MAX(vx) AS mx, CAST(SUM(CASE WHEN rk = 1 THEN v ELSE 0 END) AS BIGINT) AS lst, \
         (SELECT i.aggregation FROM indicators i WHERE i.code = k{by_indicator}) AS agg \
         FROM ranked GROUP BY {part}, kind ORDER BY {part}, kind",
        keys = keys.join(", "),
    );
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, vals))
        .await?;
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
        let aggregation = r
            .try_get_by_index::<Option<String>>(n + 4)?
            .and_then(|a| Aggregation::parse(&a).ok())
            .unwrap_or(Aggregation::Sum);
        let indicator = kv[by_indicator].clone().unwrap_or_default();
        let value = MetricValue::from_milli(match aggregation {
            Aggregation::Sum => s,
            Aggregation::Max => mx,
            Aggregation::Last => last,
        });
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
        let wanted: Vec<String> = rows
            .iter()
            .filter_map(|r| r.keys[i].1.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let (found, title) = match g {
            GroupBy::Project => (
                labels::<Project>(db, "id", wanted, vis).await?,
                Project::LABEL,
            ),
            GroupBy::Lab => (labels::<Lab>(db, "id", wanted, vis).await?, Lab::LABEL),
            GroupBy::Area => (labels::<Area>(db, "slug", wanted, vis).await?, Area::LABEL),
            _ => continue,
        };
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

/// Slug and label of the records of `R` whose `by` column is among `keys` and that `vis` may
/// see, read in bounded chunks (never one bind per record of a large set).
pub(super) async fn labels<R: Record>(
    db: &impl ConnectionTrait,
    by: &str,
    keys: Vec<String>,
    vis: &Visibility,
) -> StoreResult<HashMap<String, (String, String)>> {
    let (table, title) = (R::TABLE, R::LABEL);
    let mut out = HashMap::with_capacity(keys.len());
    for chunk in keys.chunks(500) {
        let q = Query::select()
            .expr(Expr::col((a(table), a(by))))
            .expr(Expr::col((a(table), a("slug"))))
            .expr(Expr::col((a(table), a(title))))
            .from(a(table))
            .cond_where(
                crate::record::visible::<R>(vis)
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

pub(super) async fn populations(
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
