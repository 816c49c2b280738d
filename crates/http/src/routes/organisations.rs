//! `/organisations`: third-sector bodies, public bodies, companies, schools and informal groups.

use crate::answers;
use crate::caller::Caller;
use crate::dto::{
    AddressDto, ContactDto, ContactPersonDto, LocationDto, OrganisationKindCode, RuntsSectionCode,
    StatusCode as StatusSchema, blank, missing,
};
use crate::error::{ApiError, Problem};
use crate::extract::Qs;
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

/// An organisation as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a2b", "slug": "consorzio-sociale-pavese",
    "name": "Consorzio Sociale Pavese", "kind": "consortium",
    "description": "Promotore di Fare #BeneComune, progetto di welfare di comunità del Distretto sociale pavese.",
    "runts_section": null, "runts_id": null, "tax_code": null, "vat_number": null,
    "themes": ["parenting", "social_inclusion"],
    "contact": {"email": "farebenecomune@consorziosocialepavese.it", "phone": null, "website": null},
    "address": {"street": null, "postcode": null, "municipality": "018110"},
    "location": {"lat": 45.1847, "lon": 9.1582}, "contact_person": null, "status": "published",
    "version": 1, "created_at": "2026-11-22T09:30:00Z", "updated_at": "2026-11-22T09:30:00Z"
}))]
pub struct OrganisationDto {
    /// UUID v7.
    pub id: Uuid,
    /// Unique, URL-safe; usable in place of the id.
    #[schema(example = "consorzio-sociale-pavese")]
    pub slug: String,
    /// Name.
    pub name: String,
    /// Kind of body.
    #[schema(value_type = OrganisationKindCode)]
    pub kind: OrganisationKind,
    /// Free text.
    pub description: Option<String>,
    /// RUNTS section (third-sector bodies only).
    #[schema(value_type = Option<RuntsSectionCode>)]
    pub runts_section: Option<RuntsSection>,
    /// RUNTS registration number.
    pub runts_id: Option<String>,
    /// Codice fiscale (16-character or 11-digit form).
    pub tax_code: Option<String>,
    /// Partita IVA (11 digits).
    pub vat_number: Option<String>,
    /// Theme codes (see `/themes`).
    pub themes: Vec<String>,
    /// Public contact.
    pub contact: ContactDto,
    /// Address.
    pub address: AddressDto,
    /// Where it is; `null` for bodies without a place (e.g. some informal groups).
    pub location: Option<LocationDto>,
    /// Contact person; `null` for anonymous callers unless it is marked public.
    pub contact_person: Option<ContactPersonDto>,
    /// Publication status.
    #[schema(value_type = StatusSchema)]
    pub status: Status,
    /// +1 on each change.
    #[schema(example = 1, minimum = 1)]
    pub version: i64,
    /// Creation time (UTC).
    pub created_at: DateTime<Utc>,
    /// Last change (UTC).
    pub updated_at: DateTime<Utc>,
    /// Great-circle distance from `near`, km (only with `near`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 1.234)]
    pub distance_km: Option<f64>,
}

impl OrganisationDto {
    /// The view of `o` a caller with `vis` gets.
    pub fn new(o: &Organisation, vis: &Visibility) -> Self {
        let f = &o.fields;
        let contact_person = f
            .contact_person
            .as_ref()
            .filter(|c| c.public || vis.sees_private_of(&[o.meta.id]))
            .map(ContactPersonDto::from);
        Self {
            id: o.meta.id,
            slug: o.meta.slug.as_str().to_owned(),
            name: f.name.clone(),
            kind: f.kind,
            description: f.description.clone(),
            runts_section: f.runts_section,
            runts_id: f.runts_id.clone(),
            tax_code: f.tax_code.as_ref().map(|t| t.as_str().to_owned()),
            vat_number: f.vat_number.as_ref().map(|t| t.as_str().to_owned()),
            themes: f.themes.iter().map(|t| t.as_str().to_owned()).collect(),
            contact: ContactDto::from(&f.contact),
            address: AddressDto {
                street: f.address.street.clone(),
                postcode: f.address.postcode.as_ref().map(|p| p.as_str().to_owned()),
                municipality: f.address.municipality.as_str().to_owned(),
            },
            location: f.location.as_ref().map(LocationDto::from),
            contact_person,
            status: o.meta.status,
            version: o.meta.version,
            created_at: o.meta.created_at,
            updated_at: o.meta.updated_at,
            distance_km: None,
        }
    }
}

/// What a client writes to create an organisation (and, as a merge patch, to change one).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "Consorzio Sociale Pavese", "kind": "consortium",
    "themes": ["parenting", "social_inclusion"],
    "contact": {"email": "farebenecomune@consorziosocialepavese.it"},
    "address": {"municipality": "018110"}, "status": "draft"
}))]
pub struct OrganisationInput {
    /// Wanted slug; derived from the name (accents folded) when absent. A taken slug is a 409.
    #[serde(default)]
    #[schema(pattern = "^[a-z0-9]+(-[a-z0-9]+)*$", max_length = 120)]
    pub slug: Option<String>,
    /// Name, 1-300 characters.
    #[schema(min_length = 1, max_length = 300, example = "Consorzio Sociale Pavese")]
    pub name: String,
    /// Kind of body.
    #[schema(value_type = OrganisationKindCode)]
    pub kind: String,
    /// Free text, up to 10,000 characters.
    #[serde(default)]
    #[schema(max_length = 10000)]
    pub description: Option<String>,
    /// RUNTS section; only for third-sector kinds.
    #[serde(default)]
    #[schema(value_type = Option<RuntsSectionCode>)]
    pub runts_section: Option<String>,
    /// RUNTS registration number; needs `runts_section`.
    #[serde(default)]
    #[schema(max_length = 40)]
    pub runts_id: Option<String>,
    /// Codice fiscale: 16-character personal form or 11-digit numeric form, check character
    /// validated; unique.
    #[serde(default)]
    #[schema(example = "01234567897")]
    pub tax_code: Option<String>,
    /// Partita IVA: 11 digits (an `IT` prefix is accepted), check digit validated.
    #[serde(default)]
    #[schema(example = "01234567897")]
    pub vat_number: Option<String>,
    /// Theme codes from `/themes`; unknown codes are a 422.
    #[serde(default)]
    pub themes: Vec<String>,
    /// Public contact.
    #[serde(default)]
    pub contact: ContactDto,
    /// Address; the municipality (ISTAT code) is required and must exist.
    pub address: AddressDto,
    /// Where it is, if it has a place.
    #[serde(default)]
    pub location: Option<LocationDto>,
    /// Contact person (personal data).
    #[serde(default)]
    pub contact_person: Option<ContactPersonDto>,
    /// Publication status; `draft` when absent.
    #[serde(default)]
    #[schema(value_type = Option<StatusSchema>)]
    pub status: Option<String>,
}

impl OrganisationInput {
    /// The writable view of a stored organisation, the base a merge patch applies to.
    fn from_stored(o: &Organisation) -> Self {
        let dto = OrganisationDto::new(o, &Visibility::Privileged);
        Self {
            slug: Some(dto.slug),
            name: dto.name,
            kind: dto.kind.as_str().to_owned(),
            description: dto.description,
            runts_section: dto.runts_section.map(|r| r.as_str().to_owned()),
            runts_id: dto.runts_id,
            tax_code: dto.tax_code,
            vat_number: dto.vat_number,
            themes: dto.themes,
            contact: dto.contact,
            address: dto.address,
            location: dto.location,
            contact_person: dto.contact_person,
            status: Some(dto.status.as_str().to_owned()),
        }
    }

    /// Validates every field, reporting each broken rule.
    pub fn parse(&self) -> Result<OrganisationFields, FieldErrors> {
        let mut e = FieldErrors::new();
        let slug = e.check_opt("/slug", blank(&self.slug), Slug::parse);
        let name = e.check("/name", parse_name(&self.name, 300));
        let kind = e.check("/kind", OrganisationKind::parse(&self.kind));
        let description = match blank(&self.description) {
            Some(d) => e.check("/description", parse_text(d, 10_000)).flatten(),
            None => None,
        };
        let runts_section = e.check_opt(
            "/runts_section",
            blank(&self.runts_section),
            RuntsSection::parse,
        );
        let runts_id = match blank(&self.runts_id) {
            Some(r) => e.check("/runts_id", parse_name(r, 40)),
            None => None,
        };
        let tax_code = e.check_opt("/tax_code", blank(&self.tax_code), TaxCode::parse);
        let vat_number = e.check_opt("/vat_number", blank(&self.vat_number), VatNumber::parse);
        let themes: Vec<ThemeCode> = self
            .themes
            .iter()
            .enumerate()
            .filter_map(|(i, t)| e.check(&format!("/themes/{i}"), ThemeCode::parse(t)))
            .collect();
        let contact = self.contact.parse("/contact", &mut e);
        let address = self.address.parse("/address", &mut e);
        let location = self
            .location
            .as_ref()
            .and_then(|l| l.parse("/location", &mut e));
        let contact_person = self
            .contact_person
            .as_ref()
            .and_then(|c| c.parse("/contact_person", &mut e));
        let status = match blank(&self.status) {
            Some(s) => e.check("/status", Status::parse(s)),
            None => Some(Status::Draft),
        };
        let (Some(name), Some(kind), Some(municipality), Some(status)) =
            (name, kind, address.municipality, status)
        else {
            if e.is_empty() {
                e.push("/", missing());
            }
            return Err(e);
        };
        if !e.is_empty() {
            return Err(e);
        }
        let fields = OrganisationFields {
            slug,
            name,
            kind,
            description,
            runts_section,
            runts_id,
            tax_code,
            vat_number,
            themes: dedup_themes(themes),
            contact,
            address: Address {
                street: address.street,
                postcode: address.postcode,
                municipality,
            },
            location,
            contact_person,
            status,
        };
        fields.check_rules()?;
        Ok(fields)
    }
}

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
    /// Page size, 1-100 (default 20). With `format=csv|geojson`, giving `limit` or `cursor`
    /// exports one page; without them the whole filtered collection is streamed.
    #[param(value_type = Option<u64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// Opaque cursor from `page.next_cursor`.
    pub cursor: Option<String>,
    /// `name`, `slug`, `created_at` or `updated_at`; prefix `-` for descending. Default `name`.
    #[param(example = "-updated_at")]
    #[param(pattern = "^-?(name|slug|created_at|updated_at|distance)$")]
    pub sort: Option<String>,
    /// `false` omits `page.total`.
    #[param(value_type = Option<bool>)]
    pub count: Option<String>,
    /// Comma-separated field names to return (plus `id`).
    #[param(example = "name,slug,location")]
    pub fields: Option<String>,
    /// `json` (default), `csv` or `geojson`; overrides `Accept`.
    #[param(value_type = Option<String>, pattern = "^(json|csv|geojson)$")]
    pub format: Option<String>,
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
    params(OrganisationQuery),
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
    q: Qs<OrganisationQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.0;
    let mut errs = ParamErrors::default();
    let mut f = filter(&q, &mut errs);
    let args = records::list_args::<Organisation>(
        &req,
        &state,
        crate::raw_list_args!(q),
        q.near.is_some(),
        &mut errs,
    )?;
    listing::check_refs(
        &state.db,
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

    fn view(&self, vis: &Visibility) -> OrganisationDto {
        OrganisationDto::new(self, vis)
    }

    fn listed(hit: &Hit<Self>, vis: &Visibility) -> OrganisationDto {
        let mut dto = OrganisationDto::new(&hit.0, vis);
        dto.distance_km = hit.1.map(|d| (d * 1000.0).round() / 1000.0);
        dto
    }

    fn input(&self) -> OrganisationInput {
        OrganisationInput::from_stored(self)
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
