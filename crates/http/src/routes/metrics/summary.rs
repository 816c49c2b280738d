//! `GET /metrics/summary`: aggregates for dashboards, computed in the database.

use super::*;
use crate::answers;
use crate::caller::Caller;
use crate::dto::{attainment, number};
use crate::error::ApiError;
use crate::extract::Qs;
use crate::listing::ParamErrors;
use crate::respond::{self, Format};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, web};
use legami_domain::{FieldError, MetricValue};
use legami_persistence::metrics::{self as store, GroupBy};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// One summary row: the group keys asked for (`indicator` always), then the aggregates.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"indicator": "families_supported", "province": "PV", "year": "2019", "actual": 159, "target": 600, "attainment": 0.265, "per_1000_residents": 2.329}))]
pub struct SummaryRowDto {
    /// Indicator code.
    pub indicator: String,
    /// Project id (when grouped by project).
    pub project: Option<String>,
    /// Lab id (when grouped by lab).
    pub lab: Option<String>,
    /// ISTAT code (when grouped by municipality).
    pub municipality: Option<String>,
    /// Province (when grouped by province).
    pub province: Option<String>,
    /// Area slug (when grouped by area).
    pub area: Option<String>,
    /// Slug of the row's project (when grouped by project; `null` if not visible to you).
    pub project_slug: Option<String>,
    /// Title of the row's project (when grouped by project).
    pub project_title: Option<String>,
    /// Slug of the row's lab (when grouped by lab; `null` if not visible to you).
    pub lab_slug: Option<String>,
    /// Name of the row's lab (when grouped by lab).
    pub lab_name: Option<String>,
    /// Slug of the row's area (when grouped by area; the same as `area`).
    pub area_slug: Option<String>,
    /// Name of the row's area (when grouped by area).
    pub area_name: Option<String>,
    /// `YYYY` of the period start (when grouped by year).
    pub year: Option<String>,
    /// `YYYY-Qn` (when grouped by quarter).
    pub quarter: Option<String>,
    /// `YYYY-MM` (when grouped by month).
    pub month: Option<String>,
    /// Aggregated actual value (by the indicator's aggregation).
    pub actual: Option<f64>,
    /// Aggregated target value.
    pub target: Option<f64>,
    /// `actual / target`; `null` without a target.
    pub attainment: Option<f64>,
    /// `actual` per 1,000 residents (grouped by municipality or province; ISTAT population).
    pub per_1000_residents: Option<f64>,
}

/// Summary rows.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"group_by": ["indicator", "province"], "data": [{"indicator": "families_supported", "province": "PV", "actual": 159, "target": null, "attainment": null, "per_1000_residents": 0.298}]}))]
pub struct SummaryDto {
    /// The grouping used (`indicator` first when it was not asked for).
    pub group_by: Vec<String>,
    /// One row per group.
    pub data: Vec<SummaryRowDto>,
}

/// Aggregated metrics for dashboards.
///
/// Rows per `group_by` combination, each indicator aggregated its own way (`sum`, `max`, or
/// `last`: the latest period's total). Periods are bucketed by their start date. Computed in the
/// database. JSON or CSV (`format=csv` / `Accept: text/csv`).
#[utoipa::path(
    tag = "metrics",
    params(MetricQuery),
    responses(
        (status = 200, description = "Summary rows", body = SummaryDto, content((SummaryDto = "application/json"), (String = "text/csv"))),
        answers::NotModified, answers::NotAcceptable, answers::InvalidParameter,
    ),
    security((), ("bearer" = []))
)]
#[get("/metrics/summary")]
pub async fn metrics_summary(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    q: Qs<MetricQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.0;
    let vis = caller.visibility();
    let mut errs = ParamErrors::default();
    for (name, present) in [
        ("limit", q.limit.is_some()),
        ("cursor", q.cursor.is_some()),
        ("sort", q.sort.is_some()),
        ("count", q.count.is_some()),
        ("fields", q.fields.is_some()),
    ] {
        if present {
            errs.add(
                name,
                FieldError::new(
                    "not_applicable",
                    format!("{name} does not apply to summaries"),
                ),
            );
        }
    }
    let mut groups: Vec<GroupBy> = errs.each("group_by", &q.group_by, GroupBy::parse);
    let mut seen = std::collections::HashSet::new();
    groups.retain(|g| seen.insert(g.clone()));
    if !groups.contains(&GroupBy::Indicator) {
        groups.insert(0, GroupBy::Indicator);
    }
    let format = match respond::negotiate(&req, q.format.as_deref(), &[Format::Json, Format::Csv]) {
        Ok(f) => f,
        Err(ApiError::Validation(v)) => {
            errs.0.extend(v);
            Format::Json
        }
        Err(e) => return Err(e),
    };
    let f = filter(&state, &q, &vis, &mut errs).await?;
    errs.finish()?;
    let rows = store::summary(&state.db, &f, &vis, &groups).await?;
    let keys: Vec<String> = groups.iter().map(GroupBy::key).collect();
    let data: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut m = Map::new();
            for (k, v) in r.keys.iter().chain(&r.labels) {
                m.insert(k.clone(), v.clone().map_or(Value::Null, Value::String));
            }
            let num = |v: Option<MetricValue>| v.map(|x| number(x.decimal()));
            m.insert("actual".into(), num(r.actual).into());
            m.insert("target".into(), num(r.target).into());
            m.insert("attainment".into(), attainment(r.actual, r.target).into());
            if keys.iter().any(|k| k == "municipality" || k == "province") {
                let per = match (r.actual, r.population) {
                    (Some(a), Some(p)) if p > 0 => Some(number(
                        (a.decimal() * Decimal::from(1000) / Decimal::from(p)).round_dp(6),
                    )),
                    _ => None,
                };
                m.insert("per_1000_residents".into(), per.into());
            }
            Value::Object(m)
        })
        .collect();
    if format == Format::Csv {
        let mut columns: Vec<&str> = Vec::new();
        for k in &keys {
            columns.push(k);
            if let Some(labels) = rows.first().map(|r| &r.labels) {
                columns.extend(
                    labels
                        .iter()
                        .map(|(l, _)| l.as_str())
                        .filter(|l| l.split_once('_').map(|(g, _)| g) == Some(k)),
                );
            }
        }
        columns.extend(["actual", "target", "attainment"]);
        if keys.iter().any(|k| k == "municipality" || k == "province") {
            columns.push("per_1000_residents");
        }
        let flat: Vec<Value> = data
            .into_iter()
            .map(|v| {
                // Keys like "dimension.age_band" are flat names, not paths: nest them for `cell`.
                let mut out = Map::new();
                if let Value::Object(m) = v {
                    for (k, val) in m {
                        match k.split_once('.') {
                            Some((a, b)) => {
                                let e = out
                                    .entry(a.to_owned())
                                    .or_insert_with(|| Value::Object(Map::new()));
                                if let Value::Object(inner) = e {
                                    inner.insert(b.to_owned(), val);
                                }
                            }
                            None => {
                                out.insert(k, val);
                            }
                        }
                    }
                }
                Value::Object(out)
            })
            .collect();
        let body = respond::csv_rows(&columns, &flat, true);
        return Ok(respond::tagged(
            &req,
            &caller,
            StatusCode::OK,
            "text/csv; charset=utf-8",
            body,
        ));
    }
    let mut body = Map::new();
    body.insert(
        "group_by".into(),
        keys.into_iter()
            .map(Value::String)
            .collect::<Vec<_>>()
            .into(),
    );
    body.insert("data".into(), Value::Array(data));
    respond::json(&req, &caller, StatusCode::OK, &Value::Object(body))
}
