//! `/clients` (admin): API clients — service accounts for dashboards and partner sites — with
//! scopes and organisations. The secret is shown once, in the `201` answer, and stored hashed.

use crate::answers;
use crate::cache::Deps;
use crate::caller::{CLIENT_SCOPES, Caller};
use crate::error::{ApiError, Problem};
use crate::extract::{JsonObject, Qs, from_value};
use crate::listing::PageQuery;
use crate::respond;
use crate::routes::users::org_ids;
use crate::routes::writes;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use legami_domain::{FieldError, FieldErrors, parse_name};
use legami_persistence::clients::{self as store, Client, ClientChange};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A scope an API client may carry: `read` (published data), `read:drafts` (drafts of its
/// organisations), `write` (create records, change those of its organisations),
/// `metrics:write` (post metrics of its organisations' projects).
pub struct ClientScopeCode;

impl utoipa::PartialSchema for ClientScopeCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(CLIENT_SCOPES.iter().copied()))
            .description(Some("A scope an API client may carry."))
            .examples([serde_json::json!("read")])
            .into()
    }
}

impl utoipa::ToSchema for ClientScopeCode {}

/// An API client as admins see it (never its secret).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a40", "client_id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a40", "name": "Cruscotto del Comune di Pavia", "scopes": ["read", "metrics:write"], "organisation_ids": [], "disabled": false, "created_at": "2026-11-22T09:30:00Z", "updated_at": "2026-11-22T09:30:00Z"}))]
pub struct ClientDto {
    /// Id.
    pub id: Uuid,
    /// The `client_id` of the `client_credentials` grant (the same as `id`).
    pub client_id: Uuid,
    /// Name.
    pub name: String,
    /// Scopes.
    #[schema(value_type = Vec<ClientScopeCode>)]
    pub scopes: Vec<String>,
    /// Organisations the client acts for.
    pub organisation_ids: Vec<Uuid>,
    /// Disabled clients get no tokens; their tokens stop working at once.
    pub disabled: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<&Client> for ClientDto {
    fn from(c: &Client) -> Self {
        Self {
            id: c.id,
            client_id: c.id,
            name: c.name.clone(),
            scopes: c.scopes.clone(),
            organisation_ids: c.organisation_ids.clone(),
            disabled: c.disabled,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// A created client: the record plus its secret, which is never shown again.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a40", "client_id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a40", "name": "Cruscotto del Comune di Pavia", "scopes": ["read", "metrics:write"], "organisation_ids": [], "disabled": false, "created_at": "2026-11-22T09:30:00Z", "updated_at": "2026-11-22T09:30:00Z", "client_secret": "lgm_q8Xr0oK2mJk4c1f0e7b1a40Zt9sV3wY6uA5bN7dE2gH"}))]
pub struct CreatedClientDto {
    /// The client.
    #[serde(flatten)]
    pub client: ClientDto,
    /// The secret of the `client_credentials` grant. Shown once: store it now.
    #[schema(format = Password)]
    pub client_secret: String,
}

/// A new client.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Cruscotto del Comune di Pavia", "scopes": ["read", "metrics:write"], "organisation_ids": []}))]
pub struct ClientInput {
    /// Name, 1-200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// Scopes (at least one).
    #[schema(value_type = Vec<ClientScopeCode>, min_items = 1)]
    pub scopes: Vec<String>,
    /// Organisations the client acts for.
    #[serde(default)]
    pub organisation_ids: Vec<String>,
    /// Create disabled.
    #[serde(default)]
    pub disabled: bool,
}

/// Changes to a client.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"disabled": true}))]
pub struct ClientPatch {
    /// Name.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// Scopes (replaces the list).
    #[serde(default)]
    #[schema(value_type = Option<Vec<ClientScopeCode>>, min_items = 1)]
    pub scopes: Option<Vec<String>>,
    /// Organisations (replaces the list).
    #[serde(default)]
    pub organisation_ids: Option<Vec<String>>,
    /// Disable (true) or enable (false).
    #[serde(default)]
    pub disabled: Option<bool>,
}

/// A page of clients.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"data": [], "page": {"limit": 20, "next_cursor": null, "total": 0}}))]
pub struct ClientList {
    /// Clients by name.
    pub data: Vec<ClientDto>,
    /// Paging information.
    pub page: respond::PageInfo,
}

/// Path of one client.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ClientPath {
    /// Client id.
    pub id: String,
}

fn scopes(raw: &[String], e: &mut FieldErrors) -> Vec<String> {
    if raw.is_empty() {
        e.push("/scopes", FieldError::new("length", "at least one scope"));
    }
    let mut out = Vec::new();
    for (i, s) in raw.iter().enumerate() {
        if CLIENT_SCOPES.contains(&s.as_str()) {
            if !out.contains(s) {
                out.push(s.clone());
            }
        } else {
            e.push(
                &format!("/scopes/{i}"),
                FieldError::new(
                    "enum",
                    format!("must be one of: {}", CLIENT_SCOPES.join(", ")),
                ),
            );
        }
    }
    out
}

/// List API clients (admin).
///
/// API clients (machine accounts for partner sites and dashboards) in the collection envelope,
/// ordered by name; their secrets are never shown again after creation.
#[utoipa::path(tag = "auth", params(PageQuery), responses(
    (status = 200, description = "Clients", body = ClientList),
    answers::BadCursor, answers::NoToken, answers::NotAdmin, answers::InvalidParameter,
), security(("bearer" = [])))]
#[get("/clients")]
pub async fn list_clients(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    q: Qs<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.may_administer()?;
    let args =
        q.0.parse(&req, &state.cursor_secret, "clients", &["name"])?;
    let clients = store::list(&state.db).await?;
    let items = clients
        .iter()
        .filter_map(|c| {
            let v = serde_json::to_value(ClientDto::from(c)).ok()?;
            // By name, then id: unique, and the order the list always had.
            Some((format!("{}\u{0}{}", c.name, c.id), v))
        })
        .collect();
    crate::listing::page_in_memory(&req, &caller, &state.cursor_secret, "clients", &args, items)
}

/// Get one API client (admin).
///
/// One API client: name, scopes, organisations and whether it is disabled; never its secret.
#[utoipa::path(tag = "auth", params(ClientPath), responses(
    (status = 200, description = "The client", body = ClientDto),
    answers::NoToken, answers::NotAdmin,
    (status = 404, description = "No such client", body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/clients/{id}")]
pub async fn get_client(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<ClientPath>,
) -> Result<HttpResponse, ApiError> {
    caller.may_administer()?;
    let id = Uuid::try_parse(&path.id).map_err(|_| ApiError::NotFound)?;
    let c = store::get(&state.db, id).await?.ok_or(ApiError::NotFound)?;
    respond::json(&req, &caller, StatusCode::OK, &ClientDto::from(&c))
}

/// Create an API client (admin). The answer carries `client_secret`, shown this once.
///
/// Creates a machine account with `scopes` and the organisations it acts for. The answer carries
/// `client_secret` this once (`Cache-Control: no-store`): store it; only its hash is kept. A retry
/// with the same `Idempotency-Key` answers `409` with the client's `Location`, never the secret.
#[utoipa::path(tag = "auth", request_body(content = ClientInput, content_type = "application/json"), responses(
    (status = 201, description = "Created; the only answer that shows the secret", body = CreatedClientDto),
    answers::MalformedJson, answers::NoToken, answers::NotAdmin, answers::NotJson,
    answers::InvalidFields,
), security(("bearer" = [])))]
#[post("/clients")]
pub async fn create_client(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    crate::cache::writes(&req, Deps::NONE);
    caller.may_administer()?;
    let input: ClientInput = from_value(body.0)?;
    let mut e = FieldErrors::new();
    let name = e.check("/name", parse_name(&input.name, 200));
    let scopes = scopes(&input.scopes, &mut e);
    let orgs = org_ids(&state, &input.organisation_ids, &mut e).await?;
    let Some(name) = name else {
        return Err(e.into());
    };
    if !e.is_empty() {
        return Err(e.into());
    }
    let (c, secret) = store::create(
        &state.db,
        &name,
        &scopes,
        &orgs,
        input.disabled,
        &caller.actor()?,
    )
    .await?;
    let mut res = writes::created(
        &req,
        &caller,
        &CreatedClientDto {
            client: ClientDto::from(&c),
            client_secret: secret,
        },
        &format!("/api/v1/clients/{}", c.id),
    )?;
    res.headers_mut().insert(
        actix_web::http::header::CACHE_CONTROL,
        actix_web::http::header::HeaderValue::from_static("no-store"),
    );
    Ok(res)
}

/// Change or disable an API client (admin).
///
/// Changes an API client's name, scopes or organisations, or disables it (`disabled: true`): a
/// disabled client's tokens stop working at once and it can get no new ones.
#[utoipa::path(tag = "auth", params(ClientPath), request_body(content = ClientPatch, content_type = "application/merge-patch+json"), responses(
    (status = 200, description = "Changed", body = ClientDto),
    answers::MalformedJson, answers::NoToken, answers::NotAdmin,
    (status = 404, description = "No such client", body = Problem, content_type = "application/problem+json"),
    answers::NotJson, answers::InvalidFields,
), security(("bearer" = [])))]
#[patch("/clients/{id}")]
pub async fn update_client(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<ClientPath>,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    crate::cache::writes(&req, Deps::NONE);
    caller.may_administer()?;
    let id = Uuid::try_parse(&path.id).map_err(|_| ApiError::NotFound)?;
    let p: ClientPatch = from_value(body.0)?;
    let mut e = FieldErrors::new();
    let name = p
        .name
        .as_deref()
        .and_then(|n| e.check("/name", parse_name(n, 200)));
    let scopes = p.scopes.as_ref().map(|s| scopes(s, &mut e));
    let orgs = match &p.organisation_ids {
        Some(list) => Some(org_ids(&state, list, &mut e).await?),
        None => None,
    };
    if !e.is_empty() {
        return Err(e.into());
    }
    let change = ClientChange {
        name,
        scopes,
        organisations: orgs,
        disabled: p.disabled,
    };
    let c = store::update(&state.db, id, &change, &caller.actor()?).await?;
    respond::json(&req, &caller, StatusCode::OK, &ClientDto::from(&c))
}
