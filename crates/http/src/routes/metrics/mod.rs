//! Participation metrics: batch ingestion per project, listing, and dashboard summaries.

use crate::answers;
use crate::caller::Caller;
use crate::dto::number;
use crate::dto::{MetricKindCode, parse_id};
use crate::error::ApiError;
use crate::extract::Qs;
use crate::listing::{self, CollectionSpec, Listing, ParamErrors, RawListArgs, parse_list_args};
use crate::respond::{self, Format, schema_fields};
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, NaiveDate, Utc};
use legami_domain::{
    FieldError, IdOrSlug, IstatCode, Metric, MetricKind, ProvinceAbbr, ThemeCode, Visibility,
    parse_date,
};
use legami_persistence::metrics::{self as store, MetricFilter};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

mod ingest;
mod summary;

pub use ingest::*;
pub use summary::*;

/// Optional disaggregation of an observation.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"age_band": "0-17", "gender": null, "group": null}))]
pub struct DimensionsDto {
    /// Age band, e.g. `0-17`.
    #[serde(default)]
    pub age_band: Option<String>,
    /// Gender.
    #[serde(default)]
    pub gender: Option<String>,
    /// Group, e.g. `families`.
    #[serde(default)]
    pub group: Option<String>,
}

/// One observation to record.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"indicator": "families_supported", "kind": "actual", "value": 159, "period_start": "2018-11-01", "period_end": "2020-07-02", "municipality": "018110", "source": "CSV Lombardia Sud, 2 luglio 2020"}))]
pub struct MetricInput {
    /// Indicator code (see `/indicators`); unknown codes are a 422.
    pub indicator: String,
    /// `target` or `actual`.
    #[schema(value_type = MetricKindCode)]
    pub kind: String,
    /// A number >= 0 with at most three decimals; stored exactly.
    #[schema(value_type = f64, minimum = 0)]
    pub value: Value,
    /// First day of the period.
    #[schema(format = "date")]
    pub period_start: String,
    /// Last day of the period (not before the start).
    #[schema(format = "date")]
    pub period_end: String,
    /// A lab of the project.
    #[serde(default)]
    #[schema(format = "uuid")]
    pub lab_id: Option<String>,
    /// ISTAT code of the municipality.
    #[serde(default)]
    pub municipality: Option<String>,
    /// Disaggregation.
    #[serde(default)]
    pub dimensions: Option<DimensionsDto>,
    /// Where the figure comes from.
    #[serde(default)]
    pub source: Option<String>,
    /// Free note.
    #[serde(default)]
    pub note: Option<String>,
}

/// A recorded observation.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a30", "project_id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a2f",
    "indicator": "families_supported", "kind": "actual", "value": 159, "period_start": "2018-11-01",
    "period_end": "2020-07-02", "lab_id": null, "municipality": "018110",
    "dimensions": {"age_band": null, "gender": null, "group": null},
    "source": "CSV Lombardia Sud, 2 luglio 2020", "note": null, "created_at": "2026-11-22T09:30:00Z"
}))]
pub struct MetricDto {
    /// Id.
    pub id: Uuid,
    /// Project.
    pub project_id: Uuid,
    /// Indicator code.
    pub indicator: String,
    /// Target or actual.
    #[schema(value_type = MetricKindCode)]
    pub kind: MetricKind,
    /// Value.
    pub value: f64,
    /// First day of the period.
    pub period_start: NaiveDate,
    /// Last day of the period.
    pub period_end: NaiveDate,
    /// Lab.
    pub lab_id: Option<Uuid>,
    /// Municipality.
    pub municipality: Option<String>,
    /// Disaggregation.
    pub dimensions: DimensionsDto,
    /// Source.
    pub source: Option<String>,
    /// Note.
    pub note: Option<String>,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
}

impl From<&Metric> for MetricDto {
    fn from(m: &Metric) -> Self {
        let f = &m.fields;
        Self {
            id: m.id,
            project_id: m.project_id,
            indicator: f.indicator.as_str().to_owned(),
            kind: f.kind,
            value: number(f.value.decimal()),
            period_start: f.period_start,
            period_end: f.period_end,
            lab_id: f.lab_id,
            municipality: f.municipality.as_ref().map(|m| m.as_str().to_owned()),
            dimensions: DimensionsDto {
                age_band: f.dimensions.age_band.clone(),
                gender: f.dimensions.gender.clone(),
                group: f.dimensions.group.clone(),
            },
            source: f.source.clone(),
            note: f.note.clone(),
            created_at: m.created_at,
        }
    }
}

/// What a batch write answers.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"count": 1, "data": []}))]
pub struct MetricBatchResult {
    /// How many observations were stored.
    pub count: usize,
    /// The stored observations, in the order sent.
    pub data: Vec<MetricDto>,
}

/// Filters shared by `/metrics` and `/metrics/summary`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MetricQuery {
    /// Project id or slug; repeatable.
    #[param(style = Form, explode, example = json!(["fare-benecomune"]))]
    pub project: Option<Vec<String>>,
    /// Lab id; repeatable.
    #[param(style = Form, explode)]
    pub lab: Option<Vec<String>>,
    /// Indicator code; repeatable.
    #[param(style = Form, explode, example = json!(["families_supported"]))]
    pub indicator: Option<Vec<String>>,
    /// `target` or `actual`; repeatable.
    #[param(value_type = Option<Vec<MetricKindCode>>, style = Form, explode)]
    pub kind: Option<Vec<String>>,
    /// ISTAT code; repeatable.
    #[param(style = Form, explode)]
    pub municipality: Option<Vec<String>>,
    /// Province abbreviation; repeatable.
    #[param(style = Form, explode)]
    pub province: Option<Vec<String>>,
    /// Area slug or id; repeatable.
    #[param(style = Form, explode)]
    pub area: Option<Vec<String>>,
    /// Periods ending on or after this date.
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<String>,
    /// Periods starting on or before this date.
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<String>,
    /// Summary only: comma-separated or repeated dimensions (`indicator` is always included):
    /// indicator, project, lab, municipality, province, area, year, quarter, month,
    /// dimension.age_band, dimension.gender, dimension.group.
    #[param(style = Form, explode, example = json!(["indicator,province,year"]))]
    pub group_by: Option<Vec<String>>,
    /// List only: page size, 1-100 (default 20).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// List only: opaque cursor.
    pub cursor: Option<String>,
    /// List only: `period_start` (default) or `-period_start`.
    #[param(pattern = "^-?(period_start)$")]
    pub sort: Option<String>,
    /// List only: `false` omits `page.total`.
    #[param(value_type = Option<bool>)]
    pub count: Option<String>,
    /// List only: comma-separated field names.
    pub fields: Option<String>,
    /// `json` (default) or `csv`.
    #[param(value_type = Option<String>, pattern = "^(json|csv)$")]
    pub format: Option<String>,
}

async fn filter(
    state: &AppState,
    q: &MetricQuery,
    vis: &Visibility,
    errs: &mut ParamErrors,
) -> Result<MetricFilter, ApiError> {
    let mut f = MetricFilter {
        labs: errs.each("lab", &q.lab, parse_id),
        indicators: errs.each("indicator", &q.indicator, ThemeCode::parse),
        kinds: errs.each("kind", &q.kind, MetricKind::parse),
        municipalities: errs.each("municipality", &q.municipality, IstatCode::parse),
        provinces: errs.each("province", &q.province, ProvinceAbbr::parse),
        from: errs.one("from", &q.from, parse_date),
        to: errs.one("to", &q.to, parse_date),
        ..Default::default()
    };
    for p in q
        .project
        .iter()
        .flatten()
        .flat_map(|v| v.split(','))
        .map(str::trim)
    {
        let found = match IdOrSlug::parse(p) {
            Ok(k) => {
                match legami_persistence::record::find::<legami_domain::Project>(&state.db, &k, vis)
                    .await
                {
                    Ok(pr) => Some(pr.meta.id),
                    Err(legami_persistence::StoreError::NotFound) => None,
                    Err(e) => return Err(e.into()),
                }
            }
            Err(_) => None,
        };
        match found {
            Some(id) => f.projects.push(id),
            None => errs.add(
                "project",
                FieldError::new("unknown", format!("no project '{p}'")),
            ),
        }
    }
    // Read only when the filter names indicators (a summary of all of them needs none).
    let known = if f.indicators.is_empty() {
        Default::default()
    } else {
        legami_persistence::indicators::by_code(&state.db).await?
    };
    for i in &f.indicators {
        if !known.contains_key(i.as_str()) {
            errs.add(
                "indicator",
                FieldError::new("unknown", format!("unknown indicator '{}'", i.as_str())),
            );
        }
    }
    listing::check_refs(state, &[], &f.municipalities, &f.provinces, errs).await?;
    f.area_municipalities = listing::resolve_areas(&state.db, &q.area, vis, errs).await?;
    Ok(f)
}

/// A page of observations.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"data": [], "page": {"limit": 20, "next_cursor": null, "total": 0}}))]
pub struct MetricList {
    /// The observations.
    pub data: Vec<MetricDto>,
    /// Paging information.
    pub page: respond::PageInfo,
}

const CSV_COLUMNS: &[&str] = &[
    "id",
    "project_id",
    "indicator",
    "kind",
    "value",
    "period_start",
    "period_end",
    "lab_id",
    "municipality",
    "dimensions.age_band",
    "dimensions.gender",
    "dimensions.group",
    "source",
    "note",
    "created_at",
];

/// List observations, by period start.
///
/// Observations (one value of one indicator for one period, optionally per lab, municipality and
/// breakdown) in the collection envelope, by period start. Filter by project, lab, indicator, kind,
/// place, area and period; CSV with `format=csv`. Only observations of projects you may see are
/// listed; for totals use `/metrics/summary`.
#[utoipa::path(
    tag = "metrics",
    params(MetricQuery),
    responses(
        (status = 200, description = "A page of observations", body = MetricList, content((MetricList = "application/json"), (String = "text/csv"))),
        answers::NotModified, answers::BadCursor, answers::InvalidParameter,
    ),
    security((), ("bearer" = []))
)]
#[get("/metrics")]
pub async fn list_metrics(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    q: Qs<MetricQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.0;
    let vis = caller.visibility();
    let mut errs = ParamErrors::default();
    if q.group_by.is_some() {
        errs.add(
            "group_by",
            FieldError::new("not_applicable", "group_by belongs to /metrics/summary"),
        );
    }
    let f = filter(&state, &q, &vis, &mut errs).await?;
    let known = schema_fields::<MetricDto>();
    let spec = CollectionSpec {
        name: "metrics",
        sorts: &["period_start"],
        default_sort: "period_start",
        fields: known,
        formats: &[Format::Json, Format::Csv],
    };
    let raw = RawListArgs {
        limit: q.limit.as_deref(),
        cursor: q.cursor.as_deref(),
        sort: q.sort.as_deref(),
        count: q.count.as_deref(),
        fields: q.fields.as_deref(),
        format: q.format.as_deref(),
    };
    let args = parse_list_args(&req, &state.cursor_secret, raw, &spec, &mut errs)?;
    errs.finish()?;
    let db = state.db.clone();
    let filter = f.clone();
    let page_vis = vis.clone();
    let fetch = move |page: legami_persistence::PageRequest| {
        let db = db.clone();
        let filter = filter.clone();
        let vis = page_vis.clone();
        async move { store::list(&db, &filter, &vis, &page).await }
    };
    let to_value = |m: &Metric| serde_json::to_value(MetricDto::from(m)).unwrap_or(Value::Null);
    let listing = Listing {
        req: &req,
        secret: &state.cursor_secret,
        caller,
        args,
        name: spec.name,
        csv_columns: CSV_COLUMNS,
    };
    listing::serve(
        listing,
        fetch,
        to_value,
        store::fingerprint(&state.db, &f, &vis),
    )
    .await
}
