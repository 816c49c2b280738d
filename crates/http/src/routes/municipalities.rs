//! `/municipalities`: the ISTAT list shipped with the binary (read-only reference data).

use crate::answers;
use crate::cache::Deps;
use crate::caller::Caller;
use crate::error::{ApiError, Problem};
use crate::extract::Qs;
use crate::listing::{CollectionSpec, ParamErrors, RawListArgs, parse_list_args};
use crate::respond::{self, Format, schema_fields};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, web};
use futures_util::StreamExt;
use legami_domain::{FieldError, IstatCode, Municipality, ProvinceAbbr};
use legami_persistence::municipalities::{self as store, MunicipalityFilter};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

/// A region.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"code": "03", "name": "Lombardia"}))]
pub struct RegionDto {
    /// ISTAT region code.
    #[schema(example = "03")]
    pub code: String,
    /// Name.
    #[schema(example = "Lombardia")]
    pub name: String,
}

/// A province or metropolitan city.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"code": "018", "name": "Pavia", "abbr": "PV"}))]
pub struct ProvinceDto {
    /// ISTAT code.
    #[schema(example = "018")]
    pub code: String,
    /// Name.
    #[schema(example = "Pavia")]
    pub name: String,
    /// Two-letter abbreviation.
    #[schema(example = "PV")]
    pub abbr: String,
}

/// An Italian municipality (source: ISTAT, CC BY).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "istat_code": "018110", "name": "Pavia", "name_other_language": null,
    "region": {"code": "03", "name": "Lombardia"},
    "province": {"code": "018", "name": "Pavia", "abbr": "PV"},
    "is_province_capital": true, "cadastral_code": "G388", "nuts3_code": "ITC48", "population": 68280
}))]
pub struct MunicipalityDto {
    /// Six-digit ISTAT code (the record's id).
    #[schema(example = "018110")]
    pub istat_code: String,
    /// Official Italian name.
    #[schema(example = "Pavia")]
    pub name: String,
    /// Name in the second official language, where there is one.
    pub name_other_language: Option<String>,
    /// Region.
    pub region: RegionDto,
    /// Province.
    pub province: ProvinceDto,
    /// Chief town of its province.
    pub is_province_capital: bool,
    /// Belfiore cadastral code.
    #[schema(example = "G388")]
    pub cadastral_code: String,
    /// Eurostat NUTS-3 code.
    #[schema(example = "ITC48")]
    pub nuts3_code: String,
    /// Resident population (ISTAT, older census); `null` when unknown.
    #[schema(example = 68280)]
    pub population: Option<u32>,
}

impl From<&Municipality> for MunicipalityDto {
    fn from(m: &Municipality) -> Self {
        Self {
            istat_code: m.istat_code.clone(),
            name: m.name.clone(),
            name_other_language: m.name_other_language.clone(),
            region: RegionDto {
                code: m.region_code.clone(),
                name: m.region_name.clone(),
            },
            province: ProvinceDto {
                code: m.province_code.clone(),
                name: m.province_name.clone(),
                abbr: m.province_abbr.clone(),
            },
            is_province_capital: m.is_province_capital,
            cadastral_code: m.cadastral_code.clone(),
            nuts3_code: m.nuts3_code.clone(),
            population: m.population,
        }
    }
}

impl MunicipalityDto {
    /// The JSON object of this municipality; `istat_code` doubles as `id` for `fields=`.
    fn value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// A page of municipalities.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"data": [{
    "istat_code": "018110", "name": "Pavia", "name_other_language": null,
    "region": {"code": "03", "name": "Lombardia"},
    "province": {"code": "018", "name": "Pavia", "abbr": "PV"},
    "is_province_capital": true, "cadastral_code": "G388", "nuts3_code": "ITC48", "population": 68280
}], "page": {"limit": 1, "next_cursor": null, "total": 1}}))]
pub struct MunicipalityList {
    /// The municipalities of this page.
    pub data: Vec<MunicipalityDto>,
    /// Paging information.
    pub page: respond::PageInfo,
}

/// Query parameters of `GET /municipalities`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MunicipalityQuery {
    /// Part of the name; case and accents ignored.
    #[param(example = "pavia")]
    pub q: Option<String>,
    /// Two-letter province abbreviation; repeatable.
    #[param(style = Form, explode, example = json!(["PV"]))]
    pub province: Option<Vec<String>>,
    /// Region code (`03`) or name (`Lombardia`); repeatable.
    #[param(style = Form, explode, example = json!(["Lombardia"]))]
    pub region: Option<Vec<String>>,
    /// Area (slug or id): its municipalities; repeatable.
    #[param(style = Form, explode, example = json!(["ambito-di-lecco"]))]
    pub area: Option<Vec<String>>,
    /// Page size, 1-100 (default 20).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// Opaque cursor from `page.next_cursor`.
    pub cursor: Option<String>,
    /// `istat_code` (default) or `name`; prefix `-` for descending.
    #[param(pattern = "^-?(istat_code|name)$")]
    pub sort: Option<String>,
    /// `false` omits `page.total`.
    #[param(value_type = Option<bool>)]
    pub count: Option<String>,
    /// Comma-separated field names.
    pub fields: Option<String>,
    /// `json` (default) or `csv`.
    #[param(value_type = Option<String>, pattern = "^(json|csv)$")]
    pub format: Option<String>,
}

/// Path of one municipality.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MunicipalityPath {
    /// Six-digit ISTAT code.
    #[param(example = "018110")]
    pub istat_code: String,
}

const CSV_COLUMNS: &[&str] = &[
    "istat_code",
    "name",
    "name_other_language",
    "region.code",
    "region.name",
    "province.code",
    "province.name",
    "province.abbr",
    "is_province_capital",
    "cadastral_code",
    "nuts3_code",
    "population",
];

fn keep_fields(fields: &respond::FieldSet, mut v: Value) -> Value {
    let code = v.get("istat_code").cloned();
    v = fields.apply(v);
    if let (Some(obj), Some(code)) = (v.as_object_mut(), code) {
        obj.remove("id");
        obj.insert("istat_code".into(), code);
    }
    v
}

/// List municipalities.
///
/// Every Italian municipality (ISTAT list, with population), searchable by name (`q`, accents
/// ignored) and filterable by province, region or area; JSON or CSV.
#[utoipa::path(
    tag = "territory",
    params(MunicipalityQuery),
    responses(
        (status = 200, description = "A page of municipalities", body = MunicipalityList,
            content((MunicipalityList = "application/json"), (String = "text/csv"))),
        answers::NotModified, answers::BadCursor, answers::NotAcceptable, answers::InvalidParameter,
    ),
    security((), ("bearer" = []))
)]
#[get("/municipalities")]
pub async fn list_municipalities(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    q: Qs<MunicipalityQuery>,
) -> Result<HttpResponse, ApiError> {
    crate::cache::reads(&req, Deps::AREAS);
    let q = q.0;
    let mut errs = ParamErrors::default();
    let provinces: Vec<String> = errs
        .each("province", &q.province, ProvinceAbbr::parse)
        .into_iter()
        .map(|p| p.as_str().to_owned())
        .collect();
    let regions = errs.each("region", &q.region, |r| {
        if r.is_empty() || r.len() > 60 {
            Err(FieldError::new("format", "a region code or name"))
        } else {
            Ok(r.to_owned())
        }
    });
    let search = errs.one("q", &q.q, |s| {
        if s.chars().count() > 100 {
            Err(FieldError::new("length", "at most 100 characters"))
        } else {
            Ok(s.to_owned())
        }
    });
    let known = schema_fields::<MunicipalityDto>();
    let spec = CollectionSpec {
        name: "municipalities",
        sorts: store::SORTS,
        default_sort: "istat_code",
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
    let codes =
        crate::listing::resolve_areas(&state.db, &q.area, &caller.visibility(), &mut errs).await?;
    errs.finish()?;
    let filter = MunicipalityFilter {
        q: search,
        provinces,
        regions,
        codes,
    };
    if args.format == Format::Json {
        let page = store::list(&state.db, &filter, &args.page).await?;
        let data = page
            .items
            .iter()
            .map(|m| keep_fields(&args.fields, MunicipalityDto::from(m).value()))
            .collect();
        let next = page.next.as_ref().map(|p| {
            crate::cursor::encode(
                &state.cursor_secret,
                spec.name,
                &args.page.sort.as_param(),
                p,
            )
        });
        return respond::page_json(&req, &caller, data, args.page.limit, next, page.total);
    }
    // The ISTAT list only changes with a migration: the schema version is its fingerprint.
    let (etag, short) =
        respond::export_tag(&req, &caller, concat!("istat:", env!("CARGO_PKG_VERSION")));
    if let Some(not_modified) = short {
        return Ok(not_modified);
    }
    let db = state.db.clone();
    let sort = args.page.sort;
    let fields = args.fields.clone();
    let fetch = move |after, limit| {
        let db = db.clone();
        let filter = filter.clone();
        async move {
            let page = legami_persistence::PageRequest {
                limit,
                after,
                count: false,
                sort,
            };
            store::list(&db, &filter, &page).await
        }
    };
    let max = args.paged.then_some(args.page.limit);
    let batches = respond::pages(fetch, args.page.after.clone(), max, 1000).map(move |b| {
        b.map(|items| {
            items
                .iter()
                .map(|m| keep_fields(&fields, MunicipalityDto::from(m).value()))
                .collect::<Vec<Value>>()
        })
    });
    let columns: Vec<&'static str> = CSV_COLUMNS
        .iter()
        .copied()
        .filter(|c| {
            c.starts_with("istat_code") || args.fields.keeps(c.split('.').next().unwrap_or(c))
        })
        .collect();
    Ok(respond::csv_stream(
        &caller,
        etag,
        columns,
        batches,
        "municipalities",
    ))
}

/// Get one municipality by ISTAT code.
///
/// One municipality by its six-digit ISTAT code, with province, region, cadastral code, NUTS 3 code
/// and population.
#[utoipa::path(
    tag = "territory",
    params(MunicipalityPath),
    responses(
        (status = 200, description = "The municipality", body = MunicipalityDto),
        answers::NotModified,
        (status = 404, description = "No such code", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []))
)]
#[get("/municipalities/{istat_code}")]
pub async fn get_municipality(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<MunicipalityPath>,
) -> Result<HttpResponse, ApiError> {
    crate::cache::reads(&req, Deps::NONE);
    let code = IstatCode::parse(&path.istat_code).map_err(|_| ApiError::NotFound)?;
    let m = store::get(&state.db, &code).await?;
    respond::json(&req, &caller, StatusCode::OK, &MunicipalityDto::from(&m))
}
