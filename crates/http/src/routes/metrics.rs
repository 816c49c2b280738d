//! Participation metrics: batch ingestion per project, listing, and dashboard summaries.

use crate::caller::Caller;
use crate::dto::{MetricKindCode, blank, parse_id};
use crate::dto::{attainment, number};
use crate::error::{ApiError, Problem, ProblemField};
use crate::extract::{JsonAny, Qs, from_value};
use crate::listing::{self, CollectionSpec, Listing, ParamErrors, RawListArgs, parse_list_args};
use crate::respond::{self, Format, schema_fields};
use crate::routes::projects::{ProjectPath, find_project};
use crate::routes::writes;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use legami_domain::{
    Dimensions, FieldError, FieldErrors, IdOrSlug, IstatCode, Metric, MetricFields, MetricKind,
    MetricValue, ProvinceAbbr, ThemeCode, Visibility, parse_date, parse_name, parse_text,
};
use legami_persistence::metrics::{self as store, GroupBy, MAX_BATCH, MetricFilter};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

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

fn dim(raw: &Option<String>, at: &str, e: &mut FieldErrors) -> Option<String> {
    blank(raw).and_then(|v| e.check(at, parse_name(v, 80)))
}

fn parse_row(m: &MetricInput, at: &str, e: &mut FieldErrors) -> Option<MetricFields> {
    let indicator = e.check(&format!("{at}/indicator"), ThemeCode::parse(&m.indicator));
    let kind = e.check(&format!("{at}/kind"), MetricKind::parse(&m.kind));
    let value = match &m.value {
        Value::Number(n) => e.check(&format!("{at}/value"), MetricValue::parse(&n.to_string())),
        _ => {
            e.push(
                &format!("{at}/value"),
                FieldError::new("type", "a value is a number >= 0"),
            );
            None
        }
    };
    let start = e.check(&format!("{at}/period_start"), parse_date(&m.period_start));
    let end = e.check(&format!("{at}/period_end"), parse_date(&m.period_end));
    if let (Some(s), Some(en)) = (start, end)
        && en < s
    {
        e.push(
            &format!("{at}/period_end"),
            FieldError::new("order", "period_end cannot be before period_start"),
        );
    }
    let lab_id = e.check_opt(&format!("{at}/lab_id"), blank(&m.lab_id), parse_id);
    let municipality = e.check_opt(
        &format!("{at}/municipality"),
        blank(&m.municipality),
        IstatCode::parse,
    );
    let d = m.dimensions.clone().unwrap_or_default();
    let dimensions = Dimensions {
        age_band: dim(&d.age_band, &format!("{at}/dimensions/age_band"), e),
        gender: dim(&d.gender, &format!("{at}/dimensions/gender"), e),
        group: dim(&d.group, &format!("{at}/dimensions/group"), e),
    };
    let source = blank(&m.source).and_then(|s| {
        e.check(&format!("{at}/source"), parse_text(s, 1000))
            .flatten()
    });
    let note = blank(&m.note).and_then(|s| {
        e.check(&format!("{at}/note"), parse_text(s, 2000))
            .flatten()
    });
    Some(MetricFields {
        indicator: indicator?,
        kind: kind?,
        value: value?,
        period_start: start?,
        period_end: end?,
        lab_id,
        municipality,
        dimensions,
        source,
        note,
    })
}

fn prefix(err: ApiError, at: &str) -> ApiError {
    let fix = |v: Vec<ProblemField>| {
        v.into_iter()
            .map(|p| ProblemField {
                field: format!("{at}{}", p.field),
                ..p
            })
            .collect()
    };
    match err {
        ApiError::BadRequest { detail, errors } => ApiError::BadRequest {
            detail,
            errors: fix(errors),
        },
        ApiError::Validation(v) => ApiError::Validation(fix(v)),
        other => other,
    }
}

/// The observations of a batch body (is it one object?), each parsed or with its error. A
/// well-formed body, the usual case, is parsed straight into `MetricInput`s; only one with a bad
/// row goes through `serde_json::Value`, where each row is deserialised on its own so that the
/// errors name the row and the field.
fn batch_items(raw: &[u8]) -> Result<(Vec<Result<MetricInput, ApiError>>, bool), ApiError> {
    match raw.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => {
            if let Ok(rows) = serde_json::from_slice::<Vec<MetricInput>>(raw) {
                return Ok((rows.into_iter().map(Ok).collect(), false));
            }
        }
        Some(b'{') => {
            if let Ok(row) = serde_json::from_slice::<MetricInput>(raw) {
                return Ok((vec![Ok(row)], true));
            }
        }
        _ => {}
    }
    let (values, single) = match JsonAny::parse(raw)?.0 {
        Value::Array(items) => (items, false),
        obj @ Value::Object(_) => (vec![obj], true),
        _ => {
            return Err(ApiError::bad_request(
                "send one observation object or an array of them",
            ));
        }
    };
    Ok((
        values.into_iter().map(from_value::<MetricInput>).collect(),
        single,
    ))
}

/// Record observations of a project: one object, or an array of up to 1,000, all or nothing.
///
/// Every row is checked before anything is stored; each bad row gets its own `errors[]` entries
/// (`/3/value`). `lab_id` must be one of the project's labs.
#[utoipa::path(
    tag = "metrics",
    params(ProjectPath),
    request_body(content = Vec<MetricInput>, content_type = "application/json", description = "One `MetricInput` object, or an array of up to 1,000"),
    responses(
        (status = 201, description = "Stored; a single object answers a `MetricDto`, an array a `MetricBatchResult`", body = MetricBatchResult),
        (status = 400, description = "Malformed JSON or unknown field", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project", body = Problem, content_type = "application/problem+json"),
        (status = 408, description = "The body did not arrive in time (`LEGAMI_BODY_TIMEOUT_SECS`, 30 s by default, from its turn to be read); nothing was stored", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid rows; nothing was stored", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/projects/{id}/metrics")]
pub async fn create_metrics(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<ProjectPath>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let project = find_project(&state, &path.id, &caller.visibility()).await?;
    caller.may_write_metrics(&project.fields.owners())?;
    // Bodies are read a few at a time (the rest wait unread in their connections), each within
    // a time bound; a read body then queues for one of the permits to parse and write.
    let stopping = |_| ApiError::Unavailable("the server is stopping".into());
    let reading = state.ingest_bodies.acquire().await.map_err(stopping)?;
    let raw = tokio::time::timeout(state.body_timeout, JsonAny::read(&req, payload))
        .await
        .map_err(|_| crate::extract::body_timed_out(state.body_timeout))??;
    let _permit = state.ingest.acquire().await.map_err(stopping)?;
    drop(reading);
    let (items, single) = batch_items(&raw)?;
    drop(raw);
    if items.is_empty() {
        return Err(ApiError::invalid(
            "/",
            "required",
            "send at least one observation",
        ));
    }
    if items.len() > MAX_BATCH {
        return Err(ApiError::invalid(
            "/",
            "length",
            format!("at most {MAX_BATCH} observations per request"),
        ));
    }
    let mut e = FieldErrors::new();
    let mut rows = Vec::with_capacity(items.len());
    let mut unknown_fields: Vec<ProblemField> = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let at = if single {
            String::new()
        } else {
            format!("/{i}")
        };
        match item {
            Ok(input) => {
                if let Some(r) = parse_row(&input, &at, &mut e) {
                    rows.push(r);
                }
            }
            Err(err) => match prefix(err, &at) {
                ApiError::BadRequest { errors, .. } => unknown_fields.extend(errors),
                ApiError::Validation(v) => {
                    for p in v {
                        e.0.push(FieldError {
                            field: p.field,
                            code: p.code,
                            message: p.message,
                        });
                    }
                }
                other => return Err(other),
            },
        }
    }
    if !unknown_fields.is_empty() {
        return Err(ApiError::BadRequest {
            detail: format!(
                "{} unknown or read-only field(s); nothing was stored",
                unknown_fields.len()
            ),
            errors: unknown_fields,
        });
    }
    if !e.is_empty() {
        return Err(e.into());
    }
    let labs = legami_persistence::projects::lab_ids(&state.db, project.meta.id).await?;
    let stored = store::insert_batch(&state.db, project.meta.id, rows, &labs, &caller.actor()?)
        .await
        .map_err(|err| match err {
            legami_persistence::StoreError::Invalid(mut fe) if single => {
                for f in &mut fe.0 {
                    f.field = f.field.trim_start_matches("/0").to_owned();
                }
                ApiError::from(fe)
            }
            other => other.into(),
        })?;
    if single {
        let m = &stored[0];
        return writes::created(
            &req,
            &caller,
            &MetricDto::from(m),
            &format!("/api/v1/metrics?project={}", project.meta.id),
        );
    }
    let body = MetricBatchResult {
        count: stored.len(),
        data: stored.iter().map(MetricDto::from).collect(),
    };
    writes::created(
        &req,
        &caller,
        &body,
        &format!("/api/v1/metrics?project={}", project.meta.id),
    )
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
            Ok(k) => match legami_persistence::projects::find(&state.db, &k, vis).await {
                Ok(pr) => Some(pr.meta.id),
                Err(legami_persistence::StoreError::NotFound) => None,
                Err(e) => return Err(e.into()),
            },
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
    let known = legami_persistence::indicators::by_code(&state.db).await?;
    for i in &f.indicators {
        if !known.contains_key(i.as_str()) {
            errs.add(
                "indicator",
                FieldError::new("unknown", format!("unknown indicator '{}'", i.as_str())),
            );
        }
    }
    listing::check_refs(&state.db, &[], &f.municipalities, &f.provinces, errs).await?;
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
        (status = 304, description = "Not modified"),
        (status = 400, description = "Bad cursor", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
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
        fields: &known,
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
        (status = 304, description = "Not modified"),
        (status = 406, description = "No acceptable representation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
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
