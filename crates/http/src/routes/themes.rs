//! `/themes`: the controlled vocabulary behind every `themes[]` field and `theme` filter.

use crate::answers;
use crate::cache::Deps;
use crate::caller::Caller;
use crate::error::{ApiError, Problem};
use crate::extract::{JsonObject, Qs, from_value};
use crate::listing::{CollectionSpec, ParamErrors, RawListArgs, parse_list_args};
use crate::respond::{self, Format, schema_fields};
use crate::state::AppState;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use legami_domain::{FieldErrors, Theme, ThemeCode, parse_name, parse_text};
use legami_persistence::themes as store;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

/// A label in Italian and English.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"it": "Cura del verde", "en": "Green spaces"}))]
#[serde(deny_unknown_fields)]
pub struct LabelDto {
    /// Italian.
    #[schema(example = "Cura del verde", min_length = 1, max_length = 100)]
    pub it: String,
    /// English.
    #[schema(example = "Green spaces", min_length = 1, max_length = 100)]
    pub en: String,
}

/// A theme.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"code": "green_spaces", "name": {"it": "Cura del verde", "en": "Green spaces"}, "description": null, "created_at": "2026-11-22T09:30:00Z"}))]
pub struct ThemeDto {
    /// Code used in `themes[]` and `theme=`.
    #[schema(example = "green_spaces")]
    pub code: String,
    /// Labels.
    pub name: LabelDto,
    /// What it covers.
    pub description: Option<String>,
    /// When it was added.
    pub created_at: DateTime<Utc>,
}

impl From<&Theme> for ThemeDto {
    fn from(t: &Theme) -> Self {
        Self {
            code: t.code.as_str().to_owned(),
            name: LabelDto {
                it: t.name_it.clone(),
                en: t.name_en.clone(),
            },
            description: t.description.clone(),
            created_at: t.created_at,
        }
    }
}

/// What an admin sends to add a theme.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "digital_inclusion", "name": {"it": "Inclusione digitale", "en": "Digital inclusion"}}))]
pub struct ThemeInput {
    /// New code: `snake_case`, 2-50 characters.
    #[schema(pattern = "^[a-z][a-z0-9_]{1,49}$")]
    pub code: String,
    /// Labels.
    pub name: LabelDto,
    /// What it covers.
    #[serde(default)]
    pub description: Option<String>,
}

/// A page of themes.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"data": [{"code": "green_spaces", "name": {"it": "Cura del verde", "en": "Green spaces"}, "description": null, "created_at": "2026-11-22T09:30:00Z"}], "page": {"limit": 20, "next_cursor": null, "total": 20}}))]
pub struct ThemeList {
    /// The themes.
    pub data: Vec<ThemeDto>,
    /// Paging information.
    pub page: respond::PageInfo,
}

/// Query parameters of `GET /themes`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ThemeQuery {
    /// Page size, 1-100 (default 20).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// Opaque cursor from `page.next_cursor`.
    pub cursor: Option<String>,
    /// `false` omits `page.total`.
    #[param(value_type = Option<bool>)]
    pub count: Option<String>,
    /// `json` (default) or `csv`.
    #[param(value_type = Option<String>, pattern = "^(json|csv)$")]
    pub format: Option<String>,
}

/// Path of one theme.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ThemePath {
    /// Theme code.
    #[param(example = "green_spaces")]
    pub code: String,
}

/// List themes (ordered by code).
///
/// The themes records are tagged with (school support, green spaces, parenting...), in the
/// collection envelope, by code; also as CSV.
#[utoipa::path(
    tag = "themes",
    params(ThemeQuery),
    responses(
        (status = 200, description = "A page of themes", body = ThemeList,
            content((ThemeList = "application/json"), (String = "text/csv"))),
        answers::NotModified, answers::BadCursor, answers::InvalidParameter,
    ),
    security((), ("bearer" = []))
)]
#[get("/themes")]
pub async fn list_themes(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    q: Qs<ThemeQuery>,
) -> Result<HttpResponse, ApiError> {
    crate::cache::reads(&req, Deps::THEMES);
    let q = q.0;
    let mut errs = ParamErrors::default();
    let known = schema_fields::<ThemeDto>();
    let spec = CollectionSpec {
        name: "themes",
        sorts: &["code"],
        default_sort: "code",
        fields: known,
        formats: &[Format::Json, Format::Csv],
    };
    let raw = RawListArgs {
        limit: q.limit.as_deref(),
        cursor: q.cursor.as_deref(),
        count: q.count.as_deref(),
        format: q.format.as_deref(),
        ..Default::default()
    };
    let args = parse_list_args(&req, &state.cursor_secret, raw, &spec, &mut errs)?;
    // The vocabulary is small: read it whole and page in memory, keyed by code.
    let all = store::list(&state.db).await?;
    if args.format == Format::Csv {
        let rows: Vec<Value> = all
            .iter()
            .filter_map(|t| serde_json::to_value(ThemeDto::from(t)).ok())
            .collect();
        let body = respond::csv_rows(
            &["code", "name.it", "name.en", "description", "created_at"],
            &rows,
            true,
        );
        return Ok(respond::tagged(
            &req,
            &caller,
            StatusCode::OK,
            "text/csv; charset=utf-8",
            body,
        ));
    }
    let items = all
        .iter()
        .filter_map(|t| {
            let v = serde_json::to_value(ThemeDto::from(t)).ok()?;
            Some((t.code.as_str().to_owned(), v))
        })
        .collect();
    crate::listing::page_in_memory(&req, &caller, &state.cursor_secret, spec.name, &args, items)
}

/// Get one theme.
///
/// One theme by code, with its Italian and English names and description.
#[utoipa::path(
    tag = "themes",
    params(ThemePath),
    responses(
        (status = 200, description = "The theme", body = ThemeDto),
        answers::NotModified,
        (status = 404, description = "No such theme", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []))
)]
#[get("/themes/{code}")]
pub async fn get_theme(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<ThemePath>,
) -> Result<HttpResponse, ApiError> {
    crate::cache::reads(&req, Deps::THEMES);
    let code = ThemeCode::parse(&path.code).map_err(|_| ApiError::NotFound)?;
    let t = store::get(&state.db, &code).await?;
    respond::json(&req, &caller, StatusCode::OK, &ThemeDto::from(&t))
}

/// Add a theme (admin).
///
/// Adds a theme to the controlled vocabulary: a permanent `snake_case` code and its name in Italian
/// and English.
#[utoipa::path(
    tag = "themes",
    request_body(content = ThemeInput, content_type = "application/json"),
    responses(
        (status = 201, description = "Added", body = ThemeDto),
        answers::MalformedJson, answers::NoToken,
        (status = 409, description = "Code taken", body = Problem, content_type = "application/problem+json"),
        answers::NotJson, answers::InvalidFields,
    ),
    security(("bearer" = []))
)]
#[post("/themes")]
pub async fn create_theme(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    crate::cache::writes(&req, Deps::THEMES);
    caller.may_administer()?;
    let input: ThemeInput = from_value(body.0)?;
    let mut e = FieldErrors::new();
    let code = e.check("/code", ThemeCode::parse(&input.code));
    let it = e.check("/name/it", parse_name(&input.name.it, 100));
    let en = e.check("/name/en", parse_name(&input.name.en, 100));
    let description = match input.description.as_deref() {
        Some(d) => e.check("/description", parse_text(d, 2000)).flatten(),
        None => None,
    };
    let (Some(code), Some(name_it), Some(name_en)) = (code, it, en) else {
        return Err(e.into());
    };
    if !e.is_empty() {
        return Err(e.into());
    }
    let t = store::create(
        &state.db,
        &Theme {
            code,
            name_it,
            name_en,
            description,
            created_at: Utc::now(),
        },
        &caller.actor()?,
    )
    .await?;
    let mut res = respond::json(&req, &caller, StatusCode::CREATED, &ThemeDto::from(&t))?;
    if let Ok(v) = header::HeaderValue::from_str(&format!("/api/v1/themes/{}", t.code.as_str())) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(res)
}
