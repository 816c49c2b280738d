//! `/indicators`: the catalogue of participation metrics.

use crate::answers;
use crate::cache::Deps;
use crate::caller::Caller;
use crate::dto::{AggregationCode, IndicatorUnitCode};
use crate::error::{ApiError, Problem};
use crate::extract::{JsonObject, Qs, from_value};
use crate::listing::PageQuery;
use crate::respond;
use crate::routes::themes::LabelDto;
use crate::routes::writes;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use legami_domain::{
    Aggregation, FieldErrors, Indicator, IndicatorUnit, ThemeCode, parse_name, parse_text,
};
use legami_persistence::indicators as store;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// An indicator.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "code": "families_supported", "name": {"it": "Nuclei familiari sostenuti", "en": "Families supported"},
    "description": null, "unit": "households", "aggregation": "sum", "created_at": "2026-11-22T09:30:00Z"
}))]
pub struct IndicatorDto {
    /// Code used in metrics.
    pub code: String,
    /// Labels.
    pub name: LabelDto,
    /// What it measures.
    pub description: Option<String>,
    /// Unit.
    #[schema(value_type = IndicatorUnitCode)]
    pub unit: IndicatorUnit,
    /// How observations combine in summaries: `sum` adds them, `max` takes the largest, `last`
    /// takes the latest period's.
    #[schema(value_type = AggregationCode)]
    pub aggregation: Aggregation,
    /// When it was added.
    pub created_at: DateTime<Utc>,
}

impl From<&Indicator> for IndicatorDto {
    fn from(i: &Indicator) -> Self {
        Self {
            code: i.code.as_str().to_owned(),
            name: LabelDto {
                it: i.name_it.clone(),
                en: i.name_en.clone(),
            },
            description: i.description.clone(),
            unit: i.unit,
            aggregation: i.aggregation,
            created_at: i.created_at,
        }
    }
}

/// What an admin sends to add an indicator.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "meals_served", "name": {"it": "Pasti distribuiti", "en": "Meals served"}, "unit": "count", "aggregation": "sum"}))]
pub struct IndicatorInput {
    /// New code: `snake_case`, 2-50 characters.
    #[schema(pattern = "^[a-z][a-z0-9_]{1,49}$")]
    pub code: String,
    /// Labels.
    pub name: LabelDto,
    /// What it measures.
    #[serde(default)]
    pub description: Option<String>,
    /// Unit.
    #[schema(value_type = IndicatorUnitCode)]
    pub unit: String,
    /// Aggregation.
    #[schema(value_type = AggregationCode)]
    pub aggregation: String,
}

/// A page of the indicator catalogue.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"data": [{"code": "volunteers", "name": {"it": "Volontari", "en": "Volunteers"}, "description": null, "unit": "people", "aggregation": "max", "created_at": "2026-11-22T09:30:00Z"}], "page": {"limit": 20, "next_cursor": null, "total": 1}}))]
pub struct IndicatorList {
    /// The indicators of this page, by code.
    pub data: Vec<IndicatorDto>,
    /// Paging information.
    pub page: respond::PageInfo,
}

/// Path of one indicator.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct IndicatorPath {
    /// Indicator code.
    #[param(example = "families_supported")]
    pub code: String,
}

/// List the indicators (the whole catalogue, by code).
///
/// The participation indicators metrics are recorded against (families supported, minors involved,
/// volunteers...), each with its unit and how it aggregates (`sum`, `max` or `last`). In the
/// collection envelope, ordered by code.
#[utoipa::path(tag = "metrics", params(PageQuery), responses((status = 200, description = "A page of the catalogue", body = IndicatorList), (status = 304, description = "Not modified"), (status = 400, description = "Bad cursor", body = Problem, content_type = "application/problem+json"), (status = 422, description = "Invalid parameter", body = Problem, content_type = "application/problem+json")), security((), ("bearer" = [])))]
#[get("/indicators")]
pub async fn list_indicators(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    q: Qs<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    crate::cache::reads(&req, Deps::INDICATORS);
    let args =
        q.0.parse(&req, &state.cursor_secret, "indicators", &["code"])?;
    let all = store::list(&state.db).await?;
    let items = all
        .iter()
        .filter_map(|i| {
            let v = serde_json::to_value(IndicatorDto::from(i)).ok()?;
            Some((i.code.as_str().to_owned(), v))
        })
        .collect();
    crate::listing::page_in_memory(
        &req,
        &caller,
        &state.cursor_secret,
        "indicators",
        &args,
        items,
    )
}

/// Get one indicator.
///
/// One indicator by code, with its unit and aggregation.
#[utoipa::path(
    tag = "metrics",
    params(IndicatorPath),
    responses(
        (status = 200, description = "The indicator", body = IndicatorDto),
        answers::NotModified,
        (status = 404, description = "No such indicator", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []))
)]
#[get("/indicators/{code}")]
pub async fn get_indicator(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<IndicatorPath>,
) -> Result<HttpResponse, ApiError> {
    crate::cache::reads(&req, Deps::INDICATORS);
    let code = ThemeCode::parse(&path.code).map_err(|_| ApiError::NotFound)?;
    respond::json(
        &req,
        &caller,
        StatusCode::OK,
        &IndicatorDto::from(&store::get(&state.db, &code).await?),
    )
}

/// Add an indicator (admin).
///
/// Adds an indicator to the catalogue. The code is permanent (`snake_case`), the unit and the
/// aggregation decide how summaries combine its observations.
#[utoipa::path(
    tag = "metrics",
    request_body(content = IndicatorInput, content_type = "application/json"),
    responses(
        (status = 201, description = "Added", body = IndicatorDto),
        answers::MalformedJson, answers::NoToken,
        (status = 409, description = "Code taken", body = Problem, content_type = "application/problem+json"),
        answers::NotJson, answers::InvalidFields,
    ),
    security(("bearer" = []))
)]
#[post("/indicators")]
pub async fn create_indicator(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    crate::cache::writes(&req, Deps::INDICATORS);
    caller.may_administer()?;
    let input: IndicatorInput = from_value(body.0)?;
    let mut e = FieldErrors::new();
    let code = e.check("/code", ThemeCode::parse(&input.code));
    let it = e.check("/name/it", parse_name(&input.name.it, 100));
    let en = e.check("/name/en", parse_name(&input.name.en, 100));
    let unit = e.check("/unit", IndicatorUnit::parse(&input.unit));
    let aggregation = e.check("/aggregation", Aggregation::parse(&input.aggregation));
    let description = match input.description.as_deref() {
        Some(d) => e.check("/description", parse_text(d, 2000)).flatten(),
        None => None,
    };
    let (Some(code), Some(name_it), Some(name_en), Some(unit), Some(aggregation)) =
        (code, it, en, unit, aggregation)
    else {
        return Err(e.into());
    };
    if !e.is_empty() {
        return Err(e.into());
    }
    let i = store::create(
        &state.db,
        &Indicator {
            code,
            name_it,
            name_en,
            description,
            unit,
            aggregation,
            created_at: Utc::now(),
        },
        &caller.actor()?,
    )
    .await?;
    writes::created(
        &req,
        &caller,
        &IndicatorDto::from(&i),
        &format!("/api/v1/indicators/{}", i.code.as_str()),
    )
}
