//! `/areas`: named groups of municipalities (ambiti territoriali, distretti sociali, ATS).
//! Admin-managed; the `area` filter of every collection with a municipality uses them.

use crate::answers;
use crate::cache::Deps;
use crate::caller::Caller;
use crate::dto::{AreaKindCode, StatusCode as StatusSchema, blank, missing, parse_opt_text};
use crate::error::ApiError;
use crate::extract::ListQs;
use crate::listing::ParamErrors;
use crate::respond::{self};
use crate::routes::records::{self, Resource};
use crate::routes::writes;
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use legami_domain::Visibility;
use legami_domain::{Area, AreaFields, AreaKind, FieldErrors, IstatCode, Slug, Status, parse_name};
use legami_persistence::areas::{self as store, AreaFilter};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// An area as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a2d", "slug": "ambito-di-lecco", "name": "Ambito di Lecco",
    "kind": "ambito", "description": null, "municipalities": ["097042"], "status": "published",
    "version": 1, "created_at": "2026-11-22T09:30:00Z", "updated_at": "2026-11-22T09:30:00Z"
}))]
pub struct AreaDto {
    /// UUID v7.
    pub id: Uuid,
    /// Unique, URL-safe; usable in place of the id.
    pub slug: String,
    /// Name.
    pub name: String,
    /// Kind.
    #[schema(value_type = AreaKindCode)]
    pub kind: AreaKind,
    /// Free text.
    pub description: Option<String>,
    /// ISTAT codes of its municipalities.
    pub municipalities: Vec<String>,
    /// Publication status.
    #[schema(value_type = StatusSchema)]
    pub status: Status,
    /// +1 on each change.
    pub version: i64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<&Area> for AreaDto {
    fn from(a: &Area) -> Self {
        Self {
            id: a.meta.id,
            slug: a.meta.slug.as_str().to_owned(),
            name: a.fields.name.clone(),
            kind: a.fields.kind,
            description: a.fields.description.clone(),
            municipalities: a
                .fields
                .municipalities
                .iter()
                .map(|m| m.as_str().to_owned())
                .collect(),
            status: a.meta.status,
            version: a.meta.version,
            created_at: a.meta.created_at,
            updated_at: a.meta.updated_at,
        }
    }
}

/// What an admin writes to create an area (and, as a merge patch, to change one).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Ambito di Lecco", "kind": "ambito", "municipalities": ["097042"]}))]
pub struct AreaInput {
    /// Wanted slug; derived from the name when absent.
    #[serde(default)]
    pub slug: Option<String>,
    /// Name.
    #[schema(min_length = 1, max_length = 300)]
    pub name: String,
    /// Kind; `other` when absent.
    #[serde(default)]
    #[schema(value_type = Option<AreaKindCode>)]
    pub kind: Option<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// ISTAT codes (at least one, each existing).
    #[schema(min_items = 1)]
    pub municipalities: Vec<String>,
    /// Publication status; `published` when absent (areas are reference data).
    #[serde(default)]
    #[schema(value_type = Option<StatusSchema>)]
    pub status: Option<String>,
}

impl AreaInput {
    fn parse(&self) -> Result<AreaFields, FieldErrors> {
        let mut e = FieldErrors::new();
        let slug = e.check_opt("/slug", blank(&self.slug), Slug::parse);
        let name = e.check("/name", parse_name(&self.name, 300));
        let kind = match blank(&self.kind) {
            Some(k) => e.check("/kind", AreaKind::parse(k)),
            None => Some(AreaKind::Other),
        };
        let description = parse_opt_text(&self.description, "/description", 10_000, &mut e);
        if self.municipalities.is_empty() {
            e.push(
                "/municipalities",
                legami_domain::FieldError::new("required", "at least one municipality"),
            );
        }
        let mut municipalities: Vec<IstatCode> = self
            .municipalities
            .iter()
            .enumerate()
            .filter_map(|(i, m)| e.check(&format!("/municipalities/{i}"), IstatCode::parse(m)))
            .collect();
        municipalities.sort();
        municipalities.dedup();
        let status = match blank(&self.status) {
            Some(s) => e.check("/status", Status::parse(s)),
            None => Some(Status::Published),
        };
        match (name, kind, status) {
            (Some(name), Some(kind), Some(status)) if e.is_empty() => Ok(AreaFields {
                slug,
                name,
                kind,
                description,
                municipalities,
                status,
            }),
            _ => {
                if e.is_empty() {
                    e.push("/", missing());
                }
                Err(e)
            }
        }
    }
}

/// Query parameters of `GET /areas`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AreaQuery {
    /// Full-text search over names and descriptions (Italian-aware).
    #[param(example = "ambito")]
    pub q: Option<String>,
    /// Kind; repeatable.
    #[param(value_type = Option<Vec<AreaKindCode>>, style = Form, explode)]
    pub kind: Option<Vec<String>>,
    /// Areas that contain this municipality (ISTAT code); repeatable.
    #[param(style = Form, explode, example = json!(["097042"]))]
    pub municipality: Option<Vec<String>>,
    /// Publication status; repeatable.
    #[param(value_type = Option<Vec<StatusSchema>>, style = Form, explode)]
    pub status: Option<Vec<String>>,
}

/// Paths with an area id or slug.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AreaPath {
    /// Id (UUID) or slug.
    pub id: String,
}

/// A page of areas.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"data": [], "page": {"limit": 20, "next_cursor": null, "total": 0}}))]
pub struct AreaList {
    /// The areas.
    pub data: Vec<AreaDto>,
    /// Paging information.
    pub page: respond::PageInfo,
}

const CSV_COLUMNS: &[&str] = &[
    "id",
    "slug",
    "name",
    "kind",
    "description",
    "municipalities",
    "status",
    "version",
    "created_at",
    "updated_at",
];

/// List areas.
///
/// Areas (ambiti territoriali, distretti, ATS) in the collection envelope: filter by `q`, `kind`,
/// `municipality` and `status`, page with `limit` and `cursor`, choose `fields`, or ask for CSV
/// with `format=csv`. Anonymous callers see published areas only.
#[utoipa::path(
    tag = "territory",
    params(AreaQuery, records::ListParams<Area>),
    responses(
        (status = 200, description = "A page of areas", body = AreaList, content((AreaList = "application/json"), (String = "text/csv"))),
        answers::NotModified, answers::BadCursor, answers::InvalidParameter,
    ),
    security((), ("bearer" = []))
)]
#[get("/areas")]
pub async fn list_areas(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    ListQs(q, list): ListQs<AreaQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut errs = ParamErrors::default();
    let f = AreaFilter {
        kinds: errs.each("kind", &q.kind, AreaKind::parse),
        municipalities: errs.each("municipality", &q.municipality, IstatCode::parse),
        statuses: errs.each("status", &q.status, Status::parse),
        q: errs.one("q", &q.q, legami_persistence::search::SearchQuery::parse),
    };
    let args = records::list_args::<Area>(&req, &state, list.raw(), false, &mut errs)?;
    records::list(&req, &state, caller, f, args).await
}

records::record_routes! {
    Area, AreaPath, list_areas;

    /// Get one area by id or slug.
    ///
    /// An area with its municipalities (ISTAT codes). A draft area is `404` for anyone who may not see
    /// it, exactly as an area that does not exist. The `ETag` works with `If-None-Match` here and with
    /// `If-Match` on `PATCH`/`DELETE`.
    #[utoipa::path(
        tag = "territory",
        params(AreaPath, writes::OneQuery),
        responses(
            (status = 200, description = "The area", body = AreaDto),
            answers::NotModified, answers::NotFound,
        ),
        security((), ("bearer" = []))
    )]
    #[get("/areas/{id}")]
    get get_area;

    /// Create an area (admin).
    ///
    /// Areas are shared reference data, so only administrators create them. `municipalities` lists
    /// ISTAT codes (each once; unknown codes are a `422` naming the entry); the slug comes from the
    /// name unless given. Answers `201` with `Location` and the new area's `ETag`.
    #[utoipa::path(
        tag = "territory",
        request_body(content = AreaInput, content_type = "application/json"),
        responses(
            (status = 201, description = "Created", body = AreaDto),
            answers::MalformedJson, answers::NoToken, answers::SlugTaken, answers::NotJson,
            answers::InvalidFields,
        ),
        security(("bearer" = []))
    )]
    #[post("/areas")]
    create create_area;

    /// Change an area with a JSON merge patch (admin).
    ///
    /// Send only the fields to change (RFC 7396: `null` clears an optional field); the merged area is
    /// validated as a whole. `If-Match` with the area's `ETag` makes the change conditional (`412` when
    /// someone changed it first).
    #[utoipa::path(
        tag = "territory",
        params(AreaPath, ("If-Match" = Option<String>, Header, description = "ETag from a previous full read; stale is 412")),
        request_body(content = Value, content_type = "application/merge-patch+json", description = "A merge patch over the fields of `AreaInput`"),
        responses(
            (status = 200, description = "Changed", body = AreaDto),
            answers::MalformedWrite, answers::NoToken, answers::NotFound, answers::Stale,
            answers::InvalidFields,
        ),
        security(("bearer" = []))
    )]
    #[patch("/areas/{id}")]
    update update_area;

    /// Delete an area (soft, admin).
    ///
    /// A soft delete: the area disappears from reads, filters and the map, and the change feed reports
    /// a `delete`; an administrator can restore it. Send the area's `ETag` in `If-Match` to delete only
    /// the version you read (`412` otherwise).
    #[utoipa::path(
        tag = "territory",
        params(AreaPath, ("If-Match" = Option<String>, Header, description = "ETag from a previous full read; stale is 412")),
        responses(
            answers::Deleted, answers::NoToken, answers::NotFound, answers::Stale,
        ),
        security(("bearer" = []))
    )]
    #[delete("/areas/{id}")]
    delete delete_area;

    /// Restore a deleted area (admin).
    ///
    /// Brings a soft-deleted area back as it was when deleted, with a new version; `409` when its slug
    /// was taken meanwhile.
    #[utoipa::path(
        tag = "territory",
        params(AreaPath),
        responses(
            (status = 200, description = "Restored", body = AreaDto),
            answers::NoToken, answers::NotFound,
        ),
        security(("bearer" = []))
    )]
    #[post("/areas/{id}/restore")]
    restore restore_area;
}

impl Resource for Area {
    type Dto = AreaDto;
    type Input = AreaInput;
    const COLLECTION: &'static str = "areas";
    const SORTS: &'static [&'static str] = store::SORTS;
    const CSV_COLUMNS: &'static [&'static str] = CSV_COLUMNS;
    const READS: Deps = Deps::AREAS;
    const WRITES: Deps = Deps::AREAS;

    fn view(&self, _vis: &Visibility) -> AreaDto {
        AreaDto::from(self)
    }

    fn parse(input: &AreaInput) -> Result<AreaFields, FieldErrors> {
        input.parse()
    }

    /// Areas are reference data: administrators write them.
    fn may_start(caller: &Caller) -> Result<(), ApiError> {
        caller.may_administer()
    }

    fn may_change(_caller: &Caller, _current: &Area) -> Result<(), ApiError> {
        Ok(())
    }

    fn may_write(
        _caller: &Caller,
        _new: &AreaFields,
        _current: Option<&Area>,
    ) -> Result<(), ApiError> {
        Ok(())
    }
}
