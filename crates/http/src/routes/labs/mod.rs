//! `/labs`: Laboratori Sociali, civic centres and community hubs — physical places.

use crate::answers;
use crate::cache::Deps;
use crate::caller::Caller;
use crate::dto::{
    AddressDto, ContactDto, LabKindCode, LocationDto, OperatorRoleCode, StatusCode as StatusSchema,
    WeekdayCode, blank, missing, parse_id, parse_lines, parse_opt_text, parse_status, parse_themes,
};
use crate::error::{ApiError, Problem};
use crate::extract::ListQs;
use crate::listing::{self, ParamErrors, timestamp};
use crate::respond::{self, Format};
use crate::routes::records::{self, Resource};
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use legami_domain::{
    Address, FieldErrors, IdOrSlug, IstatCode, Lab, LabFields, LabKind, OpeningSlot, Operator,
    OperatorRole, ProvinceAbbr, Slug, Status, ThemeCode, Visibility, parse_name,
};
use legami_persistence::labs::{self as store, LabFilter};
use legami_persistence::record::Hit;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

mod dto;
pub use dto::*;

/// Query parameters of `GET /labs`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LabQuery {
    /// Full-text search, Italian-aware (accents ignored, words stemmed): only records matching
    /// every word. 1-200 characters.
    #[param(example = "laboratori famiglie")]
    pub q: Option<String>,
    /// Kind of place; repeatable.
    #[param(value_type = Option<Vec<LabKindCode>>, style = Form, explode)]
    pub kind: Option<Vec<String>>,
    /// Theme code; repeatable (any of).
    #[param(style = Form, explode, example = json!(["green_spaces"]))]
    pub theme: Option<Vec<String>>,
    /// ISTAT code of the municipality; repeatable.
    #[param(style = Form, explode, example = json!(["018110"]))]
    pub municipality: Option<Vec<String>>,
    /// Two-letter province abbreviation; repeatable.
    #[param(style = Form, explode, example = json!(["PV"]))]
    pub province: Option<Vec<String>>,
    /// Area (slug or id); repeatable.
    #[param(style = Form, explode)]
    pub area: Option<Vec<String>>,
    /// Organisation (id or slug) among the operators; repeatable.
    #[param(style = Form, explode)]
    pub organisation: Option<Vec<String>>,
    /// `lat,lon`: only labs within `radius_km`; each item then has `distance_km`.
    #[param(example = "45.1847,9.1582")]
    pub near: Option<String>,
    /// Radius in km for `near` (above 0, at most 500).
    #[param(value_type = Option<f64>, minimum = 0, maximum = 500, example = 5)]
    pub radius_km: Option<String>,
    /// `min_lon,min_lat,max_lon,max_lat`: only labs inside the box.
    #[param(example = "9.0,45.1,9.3,45.3")]
    pub bbox: Option<String>,
    /// Publication status; repeatable. Anonymous callers only ever see `published`.
    #[param(value_type = Option<Vec<StatusSchema>>, style = Form, explode)]
    pub status: Option<Vec<String>>,
    /// Only records changed at or after this RFC 3339 time.
    #[param(value_type = Option<String>, format = DateTime)]
    pub updated_since: Option<String>,
}

/// Paths with a lab id or slug.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct LabPath {
    /// Id (UUID) or slug.
    pub id: String,
}

/// A page of labs.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"data": [], "page": {"limit": 20, "next_cursor": null, "total": 0}}))]
pub struct LabList {
    /// The labs of this page.
    pub data: Vec<LabDto>,
    /// Paging information.
    pub page: respond::PageInfo,
}

const CSV_COLUMNS: &[&str] = &[
    "id",
    "slug",
    "name",
    "kind",
    "description",
    "themes",
    "activities",
    "operators",
    "address.street",
    "address.postcode",
    "address.municipality",
    "neighbourhood",
    "location.lat",
    "location.lon",
    "opening_hours",
    "contact.email",
    "contact.phone",
    "contact.website",
    "accessibility",
    "status",
    "version",
    "created_at",
    "updated_at",
    "distance_km",
];

async fn resolve_organisations(
    state: &AppState,
    raw: &Option<Vec<String>>,
    errs: &mut ParamErrors,
) -> Result<Vec<Uuid>, ApiError> {
    let mut out = Vec::new();
    for o in raw
        .iter()
        .flatten()
        .flat_map(|v| v.split(','))
        .map(str::trim)
    {
        let found = match IdOrSlug::parse(o) {
            Ok(k) => {
                match legami_persistence::record::find::<legami_domain::Organisation>(
                    &state.db,
                    &k,
                    &Visibility::Privileged,
                )
                .await
                {
                    Ok(org) => Some(org.meta.id),
                    Err(legami_persistence::StoreError::NotFound) => None,
                    Err(e) => return Err(e.into()),
                }
            }
            Err(_) => None,
        };
        match found {
            Some(id) => out.push(id),
            None => errs.add(
                "organisation",
                legami_domain::FieldError::new("unknown", format!("no organisation '{o}'")),
            ),
        }
    }
    Ok(out)
}

/// List labs.
///
/// Filterable by kind, theme, place, area, operator, radius (`near` + `radius_km`, each item
/// then carries `distance_km`; `sort=distance` orders by it) and box (`bbox`). Also as CSV and
/// GeoJSON (points at each lab).
#[utoipa::path(
    tag = "labs",
    params(LabQuery, records::ListParams<Lab>),
    responses(
        (status = 200, description = "A page of labs", body = LabList,
            content((LabList = "application/json"), (String = "text/csv"), (Value = "application/geo+json"))),
        answers::NotModified, answers::BadCursor, answers::NotAcceptable, answers::InvalidParameter,
    ),
    security((), ("bearer" = []))
)]
#[get("/labs")]
pub async fn list_labs(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    ListQs(q, list): ListQs<LabQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut errs = ParamErrors::default();
    let mut f = LabFilter {
        kinds: errs.each("kind", &q.kind, LabKind::parse),
        themes: errs.each("theme", &q.theme, ThemeCode::parse),
        municipalities: errs.each("municipality", &q.municipality, IstatCode::parse),
        provinces: errs.each("province", &q.province, ProvinceAbbr::parse),
        statuses: errs.each("status", &q.status, Status::parse),
        updated_since: errs.one("updated_since", &q.updated_since, timestamp),
        near: listing::parse_near(q.near.as_deref(), q.radius_km.as_deref(), &mut errs),
        bbox: listing::parse_bbox(q.bbox.as_deref(), &mut errs),
        q: errs.one("q", &q.q, legami_persistence::search::SearchQuery::parse),
        ..Default::default()
    };
    let args = records::list_args::<Lab>(&req, &state, list.raw(), q.near.is_some(), &mut errs)?;
    listing::check_refs(
        &state,
        &f.themes,
        &f.municipalities,
        &f.provinces,
        &mut errs,
    )
    .await?;
    f.area_municipalities =
        listing::resolve_areas(&state.db, &q.area, &caller.visibility(), &mut errs).await?;
    f.organisations = resolve_organisations(&state, &q.organisation, &mut errs).await?;
    errs.finish()?;
    records::list(&req, &state, caller, f, args).await
}

records::record_routes! {
    Lab, LabPath, list_labs;

    /// Get one lab by id or slug.
    ///
    /// A lab with its operators, address, position, opening hours and contact. Drafts are `404` for
    /// anyone who may not see them; private contact details are shown only to the members of its
    /// organisations. `fields` picks top-level fields; the `ETag` works with `If-Match` on writes.
    #[utoipa::path(
        tag = "labs",
        params(LabPath, ("fields" = Option<String>, Query, description = "Comma-separated field names to return (plus `id`)")),
        responses(
            (status = 200, description = "The lab", body = LabDto),
            answers::NotModified, answers::NotVisible, answers::UnknownField,
        ),
        security((), ("bearer" = []))
    )]
    #[get("/labs/{id}")]
    get get_lab;

    /// Create a lab.
    ///
    /// Creates a lab run by organisations (`operators`); a published lab needs at least one `manager`,
    /// and an editor may name as `manager` only an organisation it is a member of. `location` is an
    /// object `{lat, lon}`. Answers `201` with `Location` and `ETag`.
    #[utoipa::path(
        tag = "labs",
        request_body(content = LabInput, content_type = "application/json"),
        responses(
            (status = 201, description = "Created", body = LabDto),
            answers::MalformedWrite,
            answers::NoToken,
            (status = 403, description = "Not a member of an organisation the lab belongs to, or naming as `manager` an organisation you are not a member of", body = Problem, content_type = "application/problem+json"),
            answers::SlugTaken, answers::TooLarge, answers::NotJson, answers::InvalidFields,
        ),
        security(("bearer" = []))
    )]
    #[post("/labs")]
    create create_lab;

    /// Change a lab with a JSON merge patch (RFC 7396).
    ///
    /// Send only the fields to change (RFC 7396: `null` clears an optional field); the merged lab is
    /// validated as a whole, including who may be named as its `manager`. `If-Match` with the lab's
    /// `ETag` makes the change conditional (`412`).
    #[utoipa::path(
        tag = "labs",
        params(LabPath, ("If-Match" = Option<String>, Header, description = "ETag from a previous full read; stale is 412")),
        request_body(content = Value, content_type = "application/merge-patch+json", description = "A merge patch over the fields of `LabInput`"),
        responses(
            (status = 200, description = "Changed", body = LabDto),
            answers::MalformedWrite, answers::NoToken,
            (status = 403, description = "Not a member of an organisation the lab belongs to, or naming as `manager` an organisation you are not a member of", body = Problem, content_type = "application/problem+json"),
            answers::NotFound, answers::SlugTaken, answers::Stale, answers::NotJson,
            answers::InvalidFields,
        ),
        security(("bearer" = []))
    )]
    #[patch("/labs/{id}")]
    update update_lab;

    /// Delete a lab (soft; an admin can restore it).
    ///
    /// A soft delete: the lab leaves reads, search and the map, and the change feed reports a `delete`;
    /// an administrator can restore it. `If-Match` with the lab's `ETag` makes it conditional (`412`).
    #[utoipa::path(
        tag = "labs",
        params(LabPath, ("If-Match" = Option<String>, Header, description = "ETag from a previous full read; stale is 412")),
        responses(
            answers::Deleted, answers::NoToken, answers::NotFound, answers::Stale,
        ),
        security(("bearer" = []))
    )]
    #[delete("/labs/{id}")]
    delete delete_lab;

    /// Restore a deleted lab (admin).
    ///
    /// Brings a soft-deleted lab back as it was when deleted, with a new version; `409` when its slug
    /// was taken meanwhile.
    #[utoipa::path(
        tag = "labs",
        params(LabPath),
        responses(
            (status = 200, description = "Restored (or was not deleted)", body = LabDto),
            answers::NoToken, answers::NotFound,
        ),
        security(("bearer" = []))
    )]
    #[post("/labs/{id}/restore")]
    restore restore_lab;
}

impl Resource for Lab {
    type Dto = LabDto;
    type Input = LabInput;
    const COLLECTION: &'static str = "labs";
    const SORTS: &'static [&'static str] = store::SORTS;
    const FORMATS: &'static [Format] = &[Format::Json, Format::Csv, Format::GeoJson];
    const CSV_COLUMNS: &'static [&'static str] = CSV_COLUMNS;
    /// A lab, and the areas `area=` names.
    const READS: Deps = Deps::LABS.and(Deps::AREAS);
    const WRITES: Deps = Deps::LABS;

    fn view(&self, _vis: &Visibility) -> LabDto {
        LabDto::new(self, None)
    }

    fn listed(hit: &Hit<Self>, _vis: &Visibility) -> LabDto {
        LabDto::new(&hit.0, hit.1)
    }

    fn parse(input: &LabInput) -> Result<LabFields, FieldErrors> {
        input.parse()
    }

    fn may_change(caller: &Caller, current: &Lab) -> Result<(), ApiError> {
        caller.may_change(&current.fields.owners())
    }

    /// An editor names as `manager` only organisations it is a member of.
    fn may_write(caller: &Caller, new: &LabFields, current: Option<&Lab>) -> Result<(), ApiError> {
        caller.may_change(&new.owners())?;
        let before = current.map(|c| c.fields.leaders()).unwrap_or_default();
        caller.may_appoint("the manager of a lab", &new.leaders(), &before)
    }
}
