//! `/organisations`: third-sector bodies, public bodies, companies, schools and informal groups.

use crate::answers;
use crate::cache::Deps;
use crate::caller::Caller;
use crate::dto::{
    AddressDto, ContactDto, ContactPersonDto, LocationDto, OrganisationKindCode, RuntsSectionCode,
    StatusCode as StatusSchema, blank, missing,
};
use crate::error::{ApiError, Problem};
use crate::extract::ListQs;
use crate::listing::{self, ParamErrors, timestamp};
use crate::respond::{self, Format};
use crate::routes::records::{self, Resource};
use crate::routes::writes;
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use legami_domain::{
    Address, FieldErrors, IstatCode, Organisation, OrganisationFields, OrganisationKind,
    ProvinceAbbr, RuntsSection, Slug, Status, TaxCode, ThemeCode, VatNumber, Visibility,
    dedup_themes, parse_name, parse_text,
};
use legami_persistence::organisations::{self as store, OrganisationFilter};
use legami_persistence::record::Hit;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

mod dto;
pub use dto::*;

/// Query parameters of `GET /organisations`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrganisationQuery {
    /// Full-text search, Italian-aware (accents ignored, words stemmed): only records matching
    /// every word. 1-200 characters.
    #[param(example = "laboratori famiglie")]
    pub q: Option<String>,
    /// Kind of body; repeatable or comma-separated (any of).
    #[param(value_type = Option<Vec<OrganisationKindCode>>, style = Form, explode)]
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
    /// `lat,lon`: only organisations with a location within `radius_km`; each item then has
    /// `distance_km`, and `sort=distance` orders by it.
    #[param(example = "45.1847,9.1582")]
    pub near: Option<String>,
    /// Radius in km for `near` (above 0, at most 500).
    #[param(value_type = Option<f64>, minimum = 0, maximum = 500, example = 5)]
    pub radius_km: Option<String>,
    /// `min_lon,min_lat,max_lon,max_lat`: only organisations located inside the box.
    #[param(example = "9.0,45.1,9.3,45.3")]
    pub bbox: Option<String>,
    /// Area (slug or id): records in any of its municipalities; repeatable.
    #[param(style = Form, explode, example = json!(["distretto-sociale-pavese"]))]
    pub area: Option<Vec<String>>,
    /// Publication status; repeatable. Anonymous callers only ever see `published`.
    #[param(value_type = Option<Vec<StatusSchema>>, style = Form, explode)]
    pub status: Option<Vec<String>>,
    /// Only records changed at or after this RFC 3339 time.
    #[param(value_type = Option<String>, format = DateTime, example = "2026-01-01T00:00:00Z")]
    pub updated_since: Option<String>,
}

/// Paths with an organisation id or slug.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct OrganisationPath {
    /// Id (UUID) or slug.
    #[param(example = "consorzio-sociale-pavese")]
    pub id: String,
}

/// A page of organisations.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"data": [{
    "id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a2b", "slug": "consorzio-sociale-pavese",
    "name": "Consorzio Sociale Pavese", "kind": "consortium", "description": null,
    "runts_section": null, "runts_id": null, "tax_code": null, "vat_number": null,
    "themes": ["parenting"], "contact": {"email": null, "phone": null, "website": null},
    "address": {"street": null, "postcode": null, "municipality": "018110"},
    "location": null, "contact_person": null, "status": "published", "version": 1,
    "created_at": "2026-11-22T09:30:00Z", "updated_at": "2026-11-22T09:30:00Z"
}], "page": {"limit": 20, "next_cursor": null, "total": 1}}))]
pub struct OrganisationList {
    /// The organisations of this page.
    pub data: Vec<OrganisationDto>,
    /// Paging information.
    pub page: respond::PageInfo,
}

const CSV_COLUMNS: &[&str] = &[
    "id",
    "slug",
    "name",
    "kind",
    "description",
    "runts_section",
    "runts_id",
    "tax_code",
    "vat_number",
    "themes",
    "contact.email",
    "contact.phone",
    "contact.website",
    "address.street",
    "address.postcode",
    "address.municipality",
    "location.lat",
    "location.lon",
    "contact_person.name",
    "contact_person.email",
    "contact_person.phone",
    "contact_person.public",
    "status",
    "version",
    "created_at",
    "updated_at",
    "distance_km",
];

fn filter(q: &OrganisationQuery, errs: &mut ParamErrors) -> OrganisationFilter {
    OrganisationFilter {
        kinds: errs.each("kind", &q.kind, OrganisationKind::parse),
        themes: errs.each("theme", &q.theme, ThemeCode::parse),
        municipalities: errs.each("municipality", &q.municipality, IstatCode::parse),
        provinces: errs.each("province", &q.province, ProvinceAbbr::parse),
        statuses: errs.each("status", &q.status, Status::parse),
        updated_since: errs.one("updated_since", &q.updated_since, timestamp),
        area_municipalities: None,
        q: errs.one("q", &q.q, legami_persistence::search::SearchQuery::parse),
        near: listing::parse_near(q.near.as_deref(), q.radius_km.as_deref(), errs),
        bbox: listing::parse_bbox(q.bbox.as_deref(), errs),
    }
}

/// List organisations.
///
/// Keyset-paginated, filterable, sortable. Also available as CSV (`Accept: text/csv` or
/// `format=csv`) and as a GeoJSON FeatureCollection (`Accept: application/geo+json` or
/// `format=geojson`; organisations without a location are left out). Exports stream the whole
/// filtered collection unless `limit` or `cursor` is given; they carry a strong ETag too.
#[utoipa::path(
    tag = "organisations",
    params(OrganisationQuery, records::ListParams<Organisation>),
    responses(
        (status = 200, description = "A page of organisations", body = OrganisationList,
            headers(("ETag" = String, description = "Strong entity tag of the page"),
                    ("Link" = String, description = "`<...>; rel=\"next\"` when there is a next page")),
            content(
                (OrganisationList = "application/json"),
                (String = "text/csv"),
                (Value = "application/geo+json"))),
        (status = 304, description = "Not modified (If-None-Match matched)"),
        answers::BadCursor, answers::NotAcceptable, answers::InvalidParameter,
    ),
    security((), ("bearer" = []))
)]
#[get("/organisations")]
pub async fn list_organisations(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    ListQs(q, list): ListQs<OrganisationQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut errs = ParamErrors::default();
    let mut f = filter(&q, &mut errs);
    let args =
        records::list_args::<Organisation>(&req, &state, list.raw(), q.near.is_some(), &mut errs)?;
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
    errs.finish()?;
    records::list(&req, &state, caller, f, args).await
}

records::record_routes! {
    Organisation, OrganisationPath, list_organisations;

    /// Get one organisation by id or slug.
    ///
    /// Drafts and archived records are `404` to callers who cannot read drafts.
    #[utoipa::path(
        tag = "organisations",
        params(OrganisationPath, writes::OneQuery),
        responses(
            (status = 200, description = "The organisation", body = OrganisationDto,
                headers(("ETag" = String, description = "Strong entity tag; send it back in If-Match to change the record"))),
            answers::NotModified, answers::NotVisible, answers::UnknownField,
        ),
        security((), ("bearer" = []))
    )]
    #[get("/organisations/{id}")]
    get get_organisation;

    /// Create an organisation.
    ///
    /// The slug is derived from the name (accents folded, a numeric suffix added when taken) unless
    /// given; a given slug or tax code that is taken is a `409`.
    #[utoipa::path(
        tag = "organisations",
        request_body(content = OrganisationInput, content_type = "application/json"),
        responses(
            (status = 201, description = "Created", body = OrganisationDto,
                headers(("Location" = String, description = "URL of the new record"), ("ETag" = String, description = "Entity tag"))),
            answers::MalformedWrite, answers::NoToken,
            (status = 409, description = "Slug or tax code taken", body = Problem, content_type = "application/problem+json"),
            answers::TooLarge, answers::NotJson, answers::InvalidFields,
        ),
        security(("bearer" = []))
    )]
    #[post("/organisations")]
    create create_organisation;

    /// Change an organisation with a JSON merge patch (RFC 7396).
    ///
    /// Send only what changes; `null` removes an optional field. `If-Match` with the ETag of a
    /// previous full read (without `fields=`) makes the change fail with `412` if someone else
    /// changed the record meanwhile.
    #[utoipa::path(
        tag = "organisations",
        params(OrganisationPath,
            ("If-Match" = Option<String>, Header, description = "ETag from a previous read; stale is 412")),
        request_body(content = Value, content_type = "application/merge-patch+json",
            description = "A merge patch over the fields of `OrganisationInput`",
            example = json!({"description": "Nuova descrizione", "contact_person": null})),
        responses(
            (status = 200, description = "Changed", body = OrganisationDto),
            answers::MalformedWrite, answers::NoToken, answers::NotFound,
            (status = 409, description = "Slug or tax code taken", body = Problem, content_type = "application/problem+json"),
            answers::Stale, answers::NotJson, answers::InvalidFields,
        ),
        security(("bearer" = []))
    )]
    #[patch("/organisations/{id}")]
    update update_organisation;

    /// Delete an organisation (soft).
    ///
    /// It leaves every listing and becomes a tombstone in the change feed; an admin can restore it.
    #[utoipa::path(
        tag = "organisations",
        params(OrganisationPath,
            ("If-Match" = Option<String>, Header, description = "ETag from a previous read; stale is 412")),
        responses(
            answers::Deleted, answers::NoToken, answers::NotFound, answers::Stale,
            (status = 409, description = "The organisation leads live projects: change their lead first", body = Problem, content_type = "application/problem+json"),
        ),
        security(("bearer" = []))
    )]
    #[delete("/organisations/{id}")]
    delete delete_organisation;

    /// Restore a deleted organisation (admin).
    ///
    /// Brings a soft-deleted organisation back as it was when deleted, with a new version; `409` when
    /// its slug or tax code was taken meanwhile.
    #[utoipa::path(
        tag = "organisations",
        params(OrganisationPath),
        responses(
            (status = 200, description = "Restored (or was not deleted)", body = OrganisationDto),
            answers::NoToken, answers::NotFound,
        ),
        security(("bearer" = []))
    )]
    #[post("/organisations/{id}/restore")]
    restore restore_organisation;
}

impl Resource for Organisation {
    type Dto = OrganisationDto;
    type Input = OrganisationInput;
    const COLLECTION: &'static str = "organisations";
    const SORTS: &'static [&'static str] = store::SORTS;
    const FORMATS: &'static [Format] = &[Format::Json, Format::Csv, Format::GeoJson];
    const CSV_COLUMNS: &'static [&'static str] = CSV_COLUMNS;
    /// An organisation, and the areas `area=` names.
    const READS: Deps = Deps::ORGANISATIONS.and(Deps::AREAS);
    const WRITES: Deps = Deps::ORGANISATIONS;

    fn view(&self, vis: &Visibility) -> OrganisationDto {
        OrganisationDto::new(self, vis)
    }

    fn listed(hit: &Hit<Self>, vis: &Visibility) -> OrganisationDto {
        let mut dto = OrganisationDto::new(&hit.0, vis);
        dto.distance_km = hit.1.map(|d| (d * 1000.0).round() / 1000.0);
        dto
    }

    fn parse(input: &OrganisationInput) -> Result<OrganisationFields, FieldErrors> {
        input.parse()
    }

    /// An organisation is changed by its members.
    fn may_change(caller: &Caller, current: &Organisation) -> Result<(), ApiError> {
        caller.may_change(&[current.meta.id])
    }

    /// Anyone who writes may propose a new organisation as a draft.
    fn may_write(
        caller: &Caller,
        new: &OrganisationFields,
        current: Option<&Organisation>,
    ) -> Result<(), ApiError> {
        match current {
            None => caller.may_create_organisation(new.status),
            Some(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::respond::schema_fields;

    #[test]
    fn csv_columns_cover_every_field() {
        let tops: std::collections::BTreeSet<&str> = CSV_COLUMNS
            .iter()
            .map(|c| c.split('.').next().unwrap_or(c))
            .collect();
        let fields = schema_fields::<OrganisationDto>();
        let known: std::collections::BTreeSet<&str> = fields.iter().map(String::as_str).collect();
        assert_eq!(tops, known);
    }
}
