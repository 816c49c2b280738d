//! `/labs`: Laboratori Sociali, civic centres and community hubs — physical places.

use crate::answers;
use crate::caller::Caller;
use crate::dto::{
    AddressDto, ContactDto, LabKindCode, LocationDto, OperatorRoleCode, StatusCode as StatusSchema,
    WeekdayCode, blank, missing, parse_id, parse_lines, parse_opt_text, parse_status, parse_themes,
};
use crate::error::{ApiError, Problem};
use crate::extract::Qs;
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

/// An organisation running a lab.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"organisation_id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a2b", "role": "manager"}))]
pub struct OperatorDto {
    /// Id of the organisation.
    #[schema(format = "uuid")]
    pub organisation_id: String,
    /// `manager` or `partner`; a published lab needs at least one manager.
    #[schema(value_type = OperatorRoleCode)]
    pub role: String,
}

/// One weekly opening slot.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"day": "wed", "opens": "16:30", "closes": "19:00"}))]
pub struct OpeningSlotDto {
    /// Day of the week.
    #[schema(value_type = WeekdayCode)]
    pub day: String,
    /// Opening time, `HH:MM`.
    #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub opens: String,
    /// Closing time, `HH:MM`, after `opens` (24:00 allowed).
    #[schema(pattern = "^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")]
    pub closes: String,
}

/// A lab as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a2c", "slug": "laboratorio-sociale-esempio-pavia",
    "name": "Laboratorio Sociale di quartiere (esempio)", "kind": "social_lab",
    "description": "Laboratorio di esempio della Rete dei Laboratori Sociali di Pavia.",
    "themes": ["mutual_help", "school_support"], "activities": ["supporto scolastico", "mutuo aiuto"],
    "operators": [{"organisation_id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a2b", "role": "manager"}],
    "address": {"street": "Via Esempio 1 (indirizzo di esempio)", "postcode": "27100", "municipality": "018110"},
    "neighbourhood": "Centro", "location": {"lat": 45.1847, "lon": 9.1582},
    "opening_hours": [{"day": "wed", "opens": "16:30", "closes": "19:00"}],
    "contact": {"email": null, "phone": null, "website": null}, "accessibility": null,
    "status": "published", "version": 1,
    "created_at": "2026-11-22T09:30:00Z", "updated_at": "2026-11-22T09:30:00Z"
}))]
pub struct LabDto {
    /// UUID v7.
    pub id: Uuid,
    /// Unique, URL-safe; usable in place of the id.
    pub slug: String,
    /// Name.
    pub name: String,
    /// Kind of place.
    #[schema(value_type = LabKindCode)]
    pub kind: LabKind,
    /// Free text.
    pub description: Option<String>,
    /// Theme codes.
    pub themes: Vec<String>,
    /// Short activity labels.
    pub activities: Vec<String>,
    /// Organisations running it.
    pub operators: Vec<OperatorDto>,
    /// Address.
    pub address: AddressDto,
    /// Neighbourhood (quartiere).
    pub neighbourhood: Option<String>,
    /// Position.
    pub location: LocationDto,
    /// Weekly opening hours.
    pub opening_hours: Vec<OpeningSlotDto>,
    /// Public contact.
    pub contact: ContactDto,
    /// Accessibility notes.
    pub accessibility: Option<String>,
    /// Publication status.
    #[schema(value_type = StatusSchema)]
    pub status: Status,
    /// +1 on each change.
    #[schema(minimum = 1)]
    pub version: i64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Great-circle distance from `near`, km (only with `near`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 1.234)]
    pub distance_km: Option<f64>,
}

impl LabDto {
    /// The view of a lab (with its distance, when searched by radius).
    pub fn new(l: &Lab, distance: Option<f64>) -> Self {
        let f = &l.fields;
        Self {
            id: l.meta.id,
            slug: l.meta.slug.as_str().to_owned(),
            name: f.name.clone(),
            kind: f.kind,
            description: f.description.clone(),
            themes: f.themes.iter().map(|t| t.as_str().to_owned()).collect(),
            activities: f.activities.clone(),
            operators: f
                .operators
                .iter()
                .map(|o| OperatorDto {
                    organisation_id: o.organisation_id.to_string(),
                    role: o.role.as_str().to_owned(),
                })
                .collect(),
            address: AddressDto {
                street: f.address.street.clone(),
                postcode: f.address.postcode.as_ref().map(|p| p.as_str().to_owned()),
                municipality: f.address.municipality.as_str().to_owned(),
            },
            neighbourhood: f.neighbourhood.clone(),
            location: LocationDto::from(&f.location),
            opening_hours: f
                .opening_hours
                .iter()
                .map(|s| OpeningSlotDto {
                    day: s.day.as_str().to_owned(),
                    opens: s.opens.format(),
                    closes: s.closes.format(),
                })
                .collect(),
            contact: ContactDto::from(&f.contact),
            accessibility: f.accessibility.clone(),
            status: l.meta.status,
            version: l.meta.version,
            created_at: l.meta.created_at,
            updated_at: l.meta.updated_at,
            distance_km: distance.map(|d| (d * 1000.0).round() / 1000.0),
        }
    }
}

/// What a client writes to create a lab (and, as a merge patch, to change one).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "Laboratorio Sociale di quartiere (esempio)", "kind": "social_lab",
    "themes": ["mutual_help"], "activities": ["supporto scolastico"],
    "operators": [{"organisation_id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a2b", "role": "manager"}],
    "address": {"municipality": "018110"}, "location": {"lat": 45.1847, "lon": 9.1582},
    "opening_hours": [{"day": "wed", "opens": "16:30", "closes": "19:00"}]
}))]
pub struct LabInput {
    /// Wanted slug; derived from the name when absent.
    #[serde(default)]
    #[schema(pattern = "^[a-z0-9]+(-[a-z0-9]+)*$", max_length = 120)]
    pub slug: Option<String>,
    /// Name, 1-300 characters.
    #[schema(min_length = 1, max_length = 300)]
    pub name: String,
    /// Kind of place.
    #[schema(value_type = LabKindCode)]
    pub kind: String,
    /// Free text.
    #[serde(default)]
    #[schema(max_length = 10000)]
    pub description: Option<String>,
    /// Theme codes.
    #[serde(default)]
    pub themes: Vec<String>,
    /// Short activity labels (up to 50, each up to 100 characters).
    #[serde(default)]
    pub activities: Vec<String>,
    /// Running organisations; at least one `manager` to publish. An editor may name as
    /// `manager` only an organisation it is a member of (partners may be any organisation).
    #[serde(default)]
    pub operators: Vec<OperatorDto>,
    /// Address (the municipality must exist).
    pub address: AddressDto,
    /// Neighbourhood.
    #[serde(default)]
    #[schema(max_length = 200)]
    pub neighbourhood: Option<String>,
    /// Position (required: a lab is a place).
    pub location: LocationDto,
    /// Weekly opening hours.
    #[serde(default)]
    pub opening_hours: Vec<OpeningSlotDto>,
    /// Public contact.
    #[serde(default)]
    pub contact: ContactDto,
    /// Accessibility notes.
    #[serde(default)]
    pub accessibility: Option<String>,
    /// Publication status; `draft` when absent.
    #[serde(default)]
    #[schema(value_type = Option<StatusSchema>)]
    pub status: Option<String>,
}

impl LabInput {
    fn from_stored(l: &Lab) -> Self {
        let d = LabDto::new(l, None);
        Self {
            slug: Some(d.slug),
            name: d.name,
            kind: d.kind.as_str().to_owned(),
            description: d.description,
            themes: d.themes,
            activities: d.activities,
            operators: d.operators,
            address: d.address,
            neighbourhood: d.neighbourhood,
            location: d.location,
            opening_hours: d.opening_hours,
            contact: d.contact,
            accessibility: d.accessibility,
            status: Some(d.status.as_str().to_owned()),
        }
    }

    /// Validates every field.
    pub fn parse(&self) -> Result<LabFields, FieldErrors> {
        let mut e = FieldErrors::new();
        let slug = e.check_opt("/slug", blank(&self.slug), Slug::parse);
        let name = e.check("/name", parse_name(&self.name, 300));
        let kind = e.check("/kind", LabKind::parse(&self.kind));
        let description = parse_opt_text(&self.description, "/description", 10_000, &mut e);
        let themes: Vec<ThemeCode> = parse_themes(&self.themes, &mut e);
        let activities = parse_lines(&self.activities, "/activities", 50, 100, &mut e);
        let operators: Vec<Operator> = self
            .operators
            .iter()
            .enumerate()
            .filter_map(|(i, o)| {
                let id = e.check(
                    &format!("/operators/{i}/organisation_id"),
                    parse_id(&o.organisation_id),
                );
                let role = e.check(
                    &format!("/operators/{i}/role"),
                    OperatorRole::parse(&o.role),
                );
                Some(Operator {
                    organisation_id: id?,
                    role: role?,
                })
            })
            .collect();
        let address = self.address.parse("/address", &mut e);
        let neighbourhood = match blank(&self.neighbourhood) {
            Some(n) => e.check("/neighbourhood", parse_name(n, 200)),
            None => None,
        };
        let location = self.location.parse("/location", &mut e);
        let mut opening_hours = Vec::new();
        for (i, s) in self.opening_hours.iter().enumerate() {
            match OpeningSlot::parse(&s.day, &s.opens, &s.closes) {
                Ok(slot) => opening_hours.push(slot),
                Err(list) => {
                    for err in list {
                        e.push(&format!("/opening_hours/{i}"), err);
                    }
                }
            }
        }
        let contact = self.contact.parse("/contact", &mut e);
        let accessibility = parse_opt_text(&self.accessibility, "/accessibility", 2000, &mut e);
        let status = parse_status(&self.status, &mut e);
        let (Some(name), Some(kind), Some(municipality), Some(location), Some(status)) =
            (name, kind, address.municipality, location, status)
        else {
            if e.is_empty() {
                e.push("/", missing());
            }
            return Err(e);
        };
        if !e.is_empty() {
            return Err(e);
        }
        let fields = LabFields {
            slug,
            name,
            kind,
            description,
            themes,
            activities,
            operators,
            address: Address {
                street: address.street,
                postcode: address.postcode,
                municipality,
            },
            neighbourhood,
            location,
            opening_hours,
            contact,
            accessibility,
            status,
        };
        fields.check_rules()?;
        Ok(fields)
    }
}

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
    /// Page size, 1-100 (default 20).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// Opaque cursor from `page.next_cursor`.
    pub cursor: Option<String>,
    /// `name` (default), `slug`, `created_at`, `updated_at`, or `distance` (with `near`); `-` for descending.
    #[param(pattern = "^-?(name|slug|created_at|updated_at|distance)$")]
    pub sort: Option<String>,
    /// `false` omits `page.total`.
    #[param(value_type = Option<bool>)]
    pub count: Option<String>,
    /// Comma-separated field names to return (plus `id`).
    pub fields: Option<String>,
    /// `json` (default), `csv` or `geojson`.
    #[param(value_type = Option<String>, pattern = "^(json|csv|geojson)$")]
    pub format: Option<String>,
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
    params(LabQuery),
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
    q: Qs<LabQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.0;
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
    let args = records::list_args::<Lab>(
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

    fn view(&self, _vis: &Visibility) -> LabDto {
        LabDto::new(self, None)
    }

    fn listed(hit: &Hit<Self>, _vis: &Visibility) -> LabDto {
        LabDto::new(&hit.0, hit.1)
    }

    fn input(&self) -> LabInput {
        LabInput::from_stored(self)
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
