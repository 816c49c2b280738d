//! `/networks`: standing networks such as the Rete dei Laboratori Sociali.

use crate::answers;
use crate::cache::Deps;
use crate::caller::Caller;
use crate::dto::{
    StatusCode as StatusSchema, blank, missing, parse_id, parse_opt_text, parse_status,
};
use crate::error::ApiError;
use crate::extract::ListQs;
use crate::listing::{ParamErrors, timestamp};
use crate::respond::{self};
use crate::routes::records::{self, Resource};
use crate::routes::writes;
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use legami_domain::Visibility;
use legami_domain::{
    FieldError, FieldErrors, Member, MemberType, Network, NetworkFields, Slug, Status, parse_date,
    parse_name,
};
use legami_persistence::networks::{self as store, NetworkFilter};
use legami_persistence::record::Hit;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A member: an organisation or a lab (exactly one of the two ids).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"organisation_id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a2b", "lab_id": null, "joined": "2019-01-01"}))]
pub struct MemberDto {
    /// Member organisation.
    #[serde(default)]
    #[schema(format = "uuid")]
    pub organisation_id: Option<String>,
    /// Member lab.
    #[serde(default)]
    #[schema(format = "uuid")]
    pub lab_id: Option<String>,
    /// When it joined.
    #[serde(default)]
    #[schema(format = "date")]
    pub joined: Option<String>,
}

/// A network as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a2e", "slug": "tavolo-per-la-giustizia-riparativa",
    "name": "Tavolo per la Giustizia Riparativa", "description": null, "since": 2012,
    "coordinator_id": null, "members": [], "status": "published", "version": 1,
    "created_at": "2026-11-22T09:30:00Z", "updated_at": "2026-11-22T09:30:00Z"
}))]
pub struct NetworkDto {
    /// UUID v7.
    pub id: Uuid,
    /// Unique, URL-safe; usable in place of the id.
    pub slug: String,
    /// Name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Year it started.
    pub since: Option<i32>,
    /// Coordinating organisation.
    pub coordinator_id: Option<Uuid>,
    /// Members.
    pub members: Vec<MemberDto>,
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

fn member_dto(m: &Member) -> MemberDto {
    let id = Some(m.id.to_string());
    MemberDto {
        organisation_id: if m.member_type == MemberType::Organisation {
            id.clone()
        } else {
            None
        },
        lab_id: if m.member_type == MemberType::Lab {
            id
        } else {
            None
        },
        joined: m.joined.map(|d| d.format("%Y-%m-%d").to_string()),
    }
}

impl From<&Network> for NetworkDto {
    fn from(n: &Network) -> Self {
        Self {
            id: n.meta.id,
            slug: n.meta.slug.as_str().to_owned(),
            name: n.fields.name.clone(),
            description: n.fields.description.clone(),
            since: n.fields.since,
            coordinator_id: n.fields.coordinator_id,
            members: n.fields.members.iter().map(member_dto).collect(),
            status: n.meta.status,
            version: n.meta.version,
            created_at: n.meta.created_at,
            updated_at: n.meta.updated_at,
        }
    }
}

/// What a client writes to create a network (and, as a merge patch, to change one).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Tavolo per la Giustizia Riparativa", "since": 2012, "members": []}))]
pub struct NetworkInput {
    /// Wanted slug; derived from the name when absent.
    #[serde(default)]
    pub slug: Option<String>,
    /// Name.
    #[schema(min_length = 1, max_length = 300)]
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Year it started (1800-2100).
    #[serde(default)]
    #[schema(minimum = 1800, maximum = 2100)]
    pub since: Option<i64>,
    /// Coordinating organisation.
    #[serde(default)]
    #[schema(format = "uuid")]
    pub coordinator_id: Option<String>,
    /// Members.
    #[serde(default)]
    pub members: Vec<MemberDto>,
    /// Publication status; `draft` when absent.
    #[serde(default)]
    #[schema(value_type = Option<StatusSchema>)]
    pub status: Option<String>,
}

impl NetworkInput {
    fn parse(&self) -> Result<NetworkFields, FieldErrors> {
        let mut e = FieldErrors::new();
        let slug = e.check_opt("/slug", blank(&self.slug), Slug::parse);
        let name = e.check("/name", parse_name(&self.name, 300));
        let description = parse_opt_text(&self.description, "/description", 10_000, &mut e);
        let since = match self.since {
            Some(y) if (1800..=2100).contains(&y) => i32::try_from(y).ok(),
            Some(_) => {
                e.push(
                    "/since",
                    FieldError::new("range", "a year between 1800 and 2100"),
                );
                None
            }
            None => None,
        };
        let coordinator_id = e.check_opt("/coordinator_id", blank(&self.coordinator_id), parse_id);
        let mut members = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, m) in self.members.iter().enumerate() {
            let at = format!("/members/{i}");
            let joined: Option<NaiveDate> =
                e.check_opt(&format!("{at}/joined"), blank(&m.joined), parse_date);
            let target = match (blank(&m.organisation_id), blank(&m.lab_id)) {
                (Some(o), None) => e
                    .check(&format!("{at}/organisation_id"), parse_id(o))
                    .map(|id| (MemberType::Organisation, id)),
                (None, Some(l)) => e
                    .check(&format!("{at}/lab_id"), parse_id(l))
                    .map(|id| (MemberType::Lab, id)),
                _ => {
                    e.push(
                        &at,
                        FieldError::new("one_of", "give exactly one of organisation_id and lab_id"),
                    );
                    None
                }
            };
            if let Some((member_type, id)) = target {
                if !seen.insert(id) {
                    e.push(
                        &at,
                        FieldError::new("duplicate", "each member appears once"),
                    );
                }
                members.push(Member {
                    member_type,
                    id,
                    joined,
                });
            }
        }
        let status = parse_status(&self.status, &mut e);
        match (name, status) {
            (Some(name), Some(status)) if e.is_empty() => Ok(NetworkFields {
                slug,
                name,
                description,
                since,
                coordinator_id,
                members,
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

/// Query parameters of `GET /networks`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NetworkQuery {
    /// Full-text search, Italian-aware (accents ignored, words stemmed): only records matching
    /// every word. 1-200 characters.
    #[param(example = "laboratori famiglie")]
    pub q: Option<String>,
    /// Networks with this organisation or lab (id) as member or coordinator; repeatable.
    #[param(style = Form, explode)]
    pub member: Option<Vec<String>>,
    /// Publication status; repeatable.
    #[param(value_type = Option<Vec<StatusSchema>>, style = Form, explode)]
    pub status: Option<Vec<String>>,
    /// Only records changed at or after this RFC 3339 time.
    #[param(value_type = Option<String>, format = DateTime)]
    pub updated_since: Option<String>,
}

/// Paths with a network id or slug.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct NetworkPath {
    /// Id (UUID) or slug.
    pub id: String,
}

/// A page of networks.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"data": [], "page": {"limit": 20, "next_cursor": null, "total": 0}}))]
pub struct NetworkList {
    /// The networks.
    pub data: Vec<NetworkDto>,
    /// Paging information.
    pub page: respond::PageInfo,
}

const CSV_COLUMNS: &[&str] = &[
    "id",
    "slug",
    "name",
    "description",
    "since",
    "coordinator_id",
    "members",
    "status",
    "version",
    "created_at",
    "updated_at",
];

/// List networks.
///
/// Networks of organisations and labs in the collection envelope; filter by `q`, by `member` (an
/// organisation or lab id) and `status`. Member lists show only members you may see.
#[utoipa::path(
    tag = "networks",
    params(NetworkQuery, records::ListParams<Network>),
    responses(
        (status = 200, description = "A page of networks", body = NetworkList, content((NetworkList = "application/json"), (String = "text/csv"))),
        answers::NotModified, answers::BadCursor, answers::InvalidParameter,
    ),
    security((), ("bearer" = []))
)]
#[get("/networks")]
pub async fn list_networks(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    ListQs(q, list): ListQs<NetworkQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut errs = ParamErrors::default();
    let f = NetworkFilter {
        members: errs.each("member", &q.member, parse_id),
        statuses: errs.each("status", &q.status, Status::parse),
        updated_since: errs.one("updated_since", &q.updated_since, timestamp),
        q: errs.one("q", &q.q, legami_persistence::search::SearchQuery::parse),
    };
    let args = records::list_args::<Network>(&req, &state, list.raw(), false, &mut errs)?;
    records::list(&req, &state, caller, f, args).await
}

records::record_routes! {
    Network, NetworkPath, list_networks;

    /// Get one network by id or slug.
    ///
    /// A network with its coordinator and members. Members you may not see (draft labs or organisations
    /// of others) are left out of the list; the `ETag` is the stored record's, so it works with
    /// `If-Match` on writes.
    #[utoipa::path(
        tag = "networks",
        params(NetworkPath, writes::OneQuery),
        responses(
            (status = 200, description = "The network", body = NetworkDto),
            answers::NotModified, answers::NotVisible,
        ),
        security((), ("bearer" = []))
    )]
    #[get("/networks/{id}")]
    get get_network;

    /// Create a network.
    ///
    /// Creates a network of organisations and labs (each member once); an editor may create one only
    /// with a `coordinator_id` it is a member of. Answers `201` with `Location` and `ETag`.
    #[utoipa::path(
        tag = "networks",
        request_body(content = NetworkInput, content_type = "application/json"),
        responses(
            (status = 201, description = "Created", body = NetworkDto),
            answers::MalformedJson, answers::NoToken, answers::SlugTaken, answers::NotJson,
            answers::InvalidFields,
        ),
        security(("bearer" = []))
    )]
    #[post("/networks")]
    create create_network;

    /// Change a network with a JSON merge patch.
    ///
    /// Send only the fields to change (RFC 7396); `members` replaces the whole list. The merged network
    /// is validated as a whole; `If-Match` makes the change conditional (`412`).
    #[utoipa::path(
        tag = "networks",
        params(NetworkPath, ("If-Match" = Option<String>, Header, description = "ETag from a previous full read; stale is 412")),
        request_body(content = Value, content_type = "application/merge-patch+json", description = "A merge patch over the fields of `NetworkInput`"),
        responses(
            (status = 200, description = "Changed", body = NetworkDto),
            answers::MalformedWrite, answers::NoToken, answers::NotFound, answers::Stale,
            answers::InvalidFields,
        ),
        security(("bearer" = []))
    )]
    #[patch("/networks/{id}")]
    update update_network;

    /// Delete a network (soft).
    ///
    /// A soft delete: the network leaves reads and the change feed reports a `delete`; an administrator
    /// can restore it. `If-Match` with its `ETag` makes it conditional (`412`).
    #[utoipa::path(
        tag = "networks",
        params(NetworkPath, ("If-Match" = Option<String>, Header, description = "ETag from a previous full read; stale is 412")),
        responses(
            answers::Deleted, answers::NoToken, answers::NotFound, answers::Stale,
        ),
        security(("bearer" = []))
    )]
    #[delete("/networks/{id}")]
    delete delete_network;

    /// Restore a deleted network (admin).
    ///
    /// Brings a soft-deleted network back as it was when deleted, with a new version; `409` when its
    /// slug was taken meanwhile.
    #[utoipa::path(
        tag = "networks",
        params(NetworkPath),
        responses(
            (status = 200, description = "Restored", body = NetworkDto),
            answers::NoToken, answers::NotFound,
        ),
        security(("bearer" = []))
    )]
    #[post("/networks/{id}/restore")]
    restore restore_network;
}

impl Resource for Network {
    type Dto = NetworkDto;
    type Input = NetworkInput;
    const COLLECTION: &'static str = "networks";
    const SORTS: &'static [&'static str] = store::SORTS;
    const CSV_COLUMNS: &'static [&'static str] = CSV_COLUMNS;
    /// A network, and which of its members are visible.
    const READS: Deps = Deps::NETWORKS.and(Deps::ORGANISATIONS);
    const WRITES: Deps = Deps::NETWORKS;

    fn view(&self, _vis: &Visibility) -> NetworkDto {
        NetworkDto::from(self)
    }

    fn parse(input: &NetworkInput) -> Result<NetworkFields, FieldErrors> {
        input.parse()
    }

    fn may_change(caller: &Caller, current: &Network) -> Result<(), ApiError> {
        caller.may_change(&current.fields.owners())
    }

    fn may_write(
        caller: &Caller,
        new: &NetworkFields,
        _current: Option<&Network>,
    ) -> Result<(), ApiError> {
        caller.may_change(&new.owners())
    }

    /// Reads leave out the members the caller may not see (the ETag stays the stored record's).
    async fn shown(
        state: &AppState,
        n: &Network,
        vis: &Visibility,
    ) -> Result<Option<NetworkDto>, ApiError> {
        let mut shown = [(n.clone(), None)];
        store::hide_invisible_members(&state.db, &mut shown, vis).await?;
        Ok(Some(NetworkDto::from(&shown[0].0)))
    }

    async fn shown_page(
        db: &legami_persistence::DatabaseConnection,
        items: &mut [Hit<Network>],
        vis: &Visibility,
    ) -> legami_persistence::StoreResult<()> {
        store::hide_invisible_members(db, items, vis).await
    }
}
