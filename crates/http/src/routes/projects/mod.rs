//! `/projects`: projects with their partners, funding, labs, territory and results.

use crate::answers;
use crate::cache::Deps;
use crate::caller::Caller;
use crate::dto::{
    PartnerRoleCode, ProjectPhaseCode, StatusCode as StatusSchema, blank, missing, parse_id,
    parse_lines, parse_opt_text, parse_status, parse_themes,
};
use crate::error::{ApiError, Problem};
use crate::extract::ListQs;
use crate::listing::{self, ParamErrors, timestamp};
use crate::respond::{self};
use crate::routes::records::{self, Resource};
use crate::routes::writes;
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use legami_domain::{
    Amount, FieldErrors, Funding, IdOrSlug, IstatCode, Partner, PartnerRole, Project,
    ProjectFields, ProjectPhase, ProvinceAbbr, Slug, Status, ThemeCode, Visibility, WebUrl,
    parse_date, parse_name,
};
use legami_persistence::metrics::{GroupBy, MetricFilter};
use legami_persistence::projects::{self as store, ProjectFilter};
use legami_persistence::record;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

mod dto;
pub use dto::*;

/// Query parameters of `GET /projects`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProjectQuery {
    /// Full-text search, Italian-aware (accents ignored, words stemmed): only records matching
    /// every word. 1-200 characters.
    #[param(example = "laboratori famiglie")]
    pub q: Option<String>,
    /// Phase; repeatable.
    #[param(value_type = Option<Vec<ProjectPhaseCode>>, style = Form, explode)]
    pub phase: Option<Vec<String>>,
    /// Theme code; repeatable.
    #[param(style = Form, explode)]
    pub theme: Option<Vec<String>>,
    /// Covering this municipality (ISTAT code); repeatable.
    #[param(style = Form, explode)]
    pub municipality: Option<Vec<String>>,
    /// Covering municipalities of this province; repeatable.
    #[param(style = Form, explode)]
    pub province: Option<Vec<String>>,
    /// Covering municipalities of this area (slug or id); repeatable.
    #[param(style = Form, explode)]
    pub area: Option<Vec<String>>,
    /// Led by or partnered with this organisation (id); repeatable.
    #[param(style = Form, explode)]
    pub organisation: Option<Vec<String>>,
    /// With this lab (id); repeatable.
    #[param(style = Form, explode)]
    pub lab: Option<Vec<String>>,
    /// Publication status; repeatable.
    #[param(value_type = Option<Vec<StatusSchema>>, style = Form, explode)]
    pub status: Option<Vec<String>>,
    /// Only records changed at or after this RFC 3339 time.
    #[param(value_type = Option<String>, format = DateTime)]
    pub updated_since: Option<String>,
}

/// Paths with a project id or slug.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProjectPath {
    /// Id (UUID) or slug.
    pub id: String,
}

/// A page of projects.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"data": [], "page": {"limit": 20, "next_cursor": null, "total": 0}}))]
pub struct ProjectList {
    /// The projects.
    pub data: Vec<ProjectDto>,
    /// Paging information.
    pub page: respond::PageInfo,
}

const CSV_COLUMNS: &[&str] = &[
    "id",
    "slug",
    "title",
    "summary",
    "description",
    "programme",
    "phase",
    "start_date",
    "end_date",
    "lead_organisation_id",
    "partners",
    "funding",
    "lab_ids",
    "municipalities",
    "themes",
    "objectives",
    "actions",
    "website",
    "status",
    "version",
    "created_at",
    "updated_at",
];

/// Resolves a project path for a caller.
pub async fn find_project(
    state: &AppState,
    raw: &str,
    vis: &Visibility,
) -> Result<Project, ApiError> {
    let key = IdOrSlug::parse(raw).map_err(|_| ApiError::NotFound)?;
    Ok(record::find::<Project>(&state.db, &key, vis).await?)
}

/// The results of a project: per indicator, target, actual to date and attainment.
pub async fn results(
    state: &AppState,
    project: Uuid,
    vis: &Visibility,
) -> Result<Vec<ResultDto>, ApiError> {
    let f = MetricFilter {
        projects: vec![project],
        ..Default::default()
    };
    let rows =
        legami_persistence::metrics::summary(&state.db, &f, vis, &[GroupBy::Indicator]).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let actual = r.actual.map(|v| crate::dto::number(v.decimal()));
            let target = r.target.map(|v| crate::dto::number(v.decimal()));
            ResultDto {
                indicator: r.indicator,
                attainment: crate::dto::attainment(r.actual, r.target),
                actual,
                target,
            }
        })
        .collect())
}

/// List projects.
///
/// Projects in the collection envelope: filter by `q`, phase, theme, place, area, organisation,
/// lab, status and `updated_since`; sort, page, choose `fields` or ask for CSV. Anonymous callers
/// see published projects only.
#[utoipa::path(
    tag = "projects",
    params(ProjectQuery, records::ListParams<Project>),
    responses(
        (status = 200, description = "A page of projects", body = ProjectList, content((ProjectList = "application/json"), (String = "text/csv"))),
        answers::NotModified, answers::BadCursor, answers::InvalidParameter,
    ),
    security((), ("bearer" = []))
)]
#[get("/projects")]
pub async fn list_projects(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    ListQs(q, list): ListQs<ProjectQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut errs = ParamErrors::default();
    let mut f = ProjectFilter {
        phases: errs.each("phase", &q.phase, ProjectPhase::parse),
        themes: errs.each("theme", &q.theme, ThemeCode::parse),
        municipalities: errs.each("municipality", &q.municipality, IstatCode::parse),
        provinces: errs.each("province", &q.province, ProvinceAbbr::parse),
        organisations: errs.each("organisation", &q.organisation, parse_id),
        labs: errs.each("lab", &q.lab, parse_id),
        statuses: errs.each("status", &q.status, Status::parse),
        updated_since: errs.one("updated_since", &q.updated_since, timestamp),
        area_municipalities: None,
        q: errs.one("q", &q.q, legami_persistence::search::SearchQuery::parse),
    };
    let args = records::list_args::<Project>(&req, &state, list.raw(), false, &mut errs)?;
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
    Project, ProjectPath, list_projects;

    /// Get one project by id or slug, with its `results[]`.
    ///
    /// A project with its partners, funding, labs and municipalities, and `results[]`: per indicator,
    /// the actual and target totals computed from its observations. The `ETag` works with `If-Match` on
    /// `PATCH`/`DELETE` (the record part is compared, so the results may change without making it
    /// stale).
    #[utoipa::path(
        tag = "projects",
        params(ProjectPath, writes::OneQuery),
        responses(
            (status = 200, description = "The project, with results per indicator", body = ProjectDto),
            answers::NotModified, answers::NotVisible,
        ),
        security((), ("bearer" = []))
    )]
    #[get("/projects/{id}")]
    get get_project;

    /// Create a project.
    ///
    /// Creates a project with its lead organisation, partners, funding and municipalities. An editor
    /// may name as lead (`lead_organisation_id`, or a partner with role `lead`) only an organisation it
    /// is a member of; partners may be any organisation. Answers `201` with `Location` and `ETag`.
    #[utoipa::path(
        tag = "projects",
        request_body(content = ProjectInput, content_type = "application/json"),
        responses(
            (status = 201, description = "Created", body = ProjectDto),
            answers::MalformedJson, answers::NoToken,
            (status = 403, description = "Not a member of an organisation the project belongs to, or naming as lead (`lead_organisation_id`, a partner with role `lead`) an organisation you are not a member of", body = Problem, content_type = "application/problem+json"),
            answers::SlugTaken, answers::NotJson, answers::InvalidFields,
        ),
        security(("bearer" = []))
    )]
    #[post("/projects")]
    create create_project;

    /// Change a project with a JSON merge patch.
    ///
    /// Send only the fields to change (RFC 7396: `null` clears an optional field); lists are replaced
    /// whole. The merged project is validated as a whole, including who may be named as lead.
    /// `If-Match` makes the change conditional (`412`).
    #[utoipa::path(
        tag = "projects",
        params(ProjectPath, ("If-Match" = Option<String>, Header, description = "ETag of the project, as returned by a read (with or without `results`, any `fields`) or a write; stale is 412")),
        request_body(content = Value, content_type = "application/merge-patch+json", description = "A merge patch over the fields of `ProjectInput`"),
        responses(
            (status = 200, description = "Changed", body = ProjectDto),
            answers::MalformedWrite, answers::NoToken,
            (status = 403, description = "Not a member of an organisation the project belongs to, or naming as lead (`lead_organisation_id`, a partner with role `lead`) an organisation you are not a member of", body = Problem, content_type = "application/problem+json"),
            answers::NotFound, answers::Stale, answers::InvalidFields,
        ),
        security(("bearer" = []))
    )]
    #[patch("/projects/{id}")]
    update update_project;

    /// Delete a project (soft).
    ///
    /// A soft delete: the project and its figures leave reads and summaries, and the change feed
    /// reports a `delete`; an administrator can restore it. `If-Match` with its `ETag` makes it
    /// conditional (`412`).
    #[utoipa::path(
        tag = "projects",
        params(ProjectPath, ("If-Match" = Option<String>, Header, description = "ETag of the project, as returned by a read or a write; stale is 412")),
        responses(
            answers::Deleted, answers::NoToken, answers::NotFound, answers::Stale,
        ),
        security(("bearer" = []))
    )]
    #[delete("/projects/{id}")]
    delete delete_project;

    /// Restore a deleted project (admin).
    ///
    /// Brings a soft-deleted project back as it was when deleted, with its observations, with a new
    /// version; `409` when its slug was taken meanwhile.
    #[utoipa::path(
        tag = "projects",
        params(ProjectPath),
        responses(
            (status = 200, description = "Restored", body = ProjectDto),
            answers::NoToken, answers::NotFound,
        ),
        security(("bearer" = []))
    )]
    #[post("/projects/{id}/restore")]
    restore restore_project;
}

impl Resource for Project {
    type Dto = ProjectDto;
    type Input = ProjectInput;
    const COLLECTION: &'static str = "projects";
    const SORTS: &'static [&'static str] = store::SORTS;
    const CSV_COLUMNS: &'static [&'static str] = CSV_COLUMNS;
    /// A project, its results (metrics, by indicator) and the areas `area=` names.
    const READS: Deps = Deps::PROJECTS
        .and(Deps::METRICS)
        .and(Deps::INDICATORS)
        .and(Deps::AREAS);
    /// A project, and the public rollup of its metrics (it follows the status).
    const WRITES: Deps = Deps::PROJECTS.and(Deps::METRICS);

    fn view(&self, _vis: &Visibility) -> ProjectDto {
        ProjectDto::from(self)
    }

    fn parse(input: &ProjectInput) -> Result<ProjectFields, FieldErrors> {
        input.parse()
    }

    fn may_change(caller: &Caller, current: &Project) -> Result<(), ApiError> {
        caller.may_change(&current.fields.owners())
    }

    /// An editor names as lead only organisations it is a member of.
    fn may_write(
        caller: &Caller,
        new: &ProjectFields,
        current: Option<&Project>,
    ) -> Result<(), ApiError> {
        caller.may_change(&new.owners())?;
        let before = current.map(|c| c.fields.leaders()).unwrap_or_default();
        caller.may_appoint("the lead of a project", &new.leaders(), &before)
    }

    /// A read of one project carries its results per indicator.
    async fn shown(
        state: &AppState,
        p: &Project,
        vis: &Visibility,
    ) -> Result<Option<ProjectDto>, ApiError> {
        let mut dto = ProjectDto::from(p);
        dto.results = Some(results(state, p.meta.id, vis).await?);
        Ok(Some(dto))
    }
}
