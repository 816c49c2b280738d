//! `/users` (admin): accounts with a role and organisations. Passwords are write-only.

use crate::answers;
use crate::auth::hash_password;
use crate::cache::Deps;
use crate::caller::Caller;
use crate::dto::parse_id;
use crate::error::{ApiError, Problem};
use crate::extract::{JsonObject, Qs, from_value};
use crate::listing::PageQuery;
use crate::respond;
use crate::routes::writes;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use legami_domain::{Email, FieldError, FieldErrors, parse_name};
use legami_persistence::accounts::{self as store, User};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A user as admins see it (no password, no hash).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a31", "email": "editor@example.org", "name": "Editor", "role": "editor", "organisation_ids": [], "disabled": false}))]
pub struct UserDto {
    /// Id.
    pub id: Uuid,
    /// Login e-mail.
    pub email: String,
    /// Name.
    pub name: String,
    /// `admin`, `editor` or `viewer`.
    #[schema(pattern = "^(admin|editor|viewer)$")]
    pub role: String,
    /// Organisations the user belongs to.
    pub organisation_ids: Vec<Uuid>,
    /// Disabled users cannot log in; their tokens stop working at once.
    pub disabled: bool,
}

impl From<&User> for UserDto {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
            email: u.email.clone(),
            name: u.name.clone(),
            role: u.role.clone(),
            organisation_ids: u.organisation_ids.clone(),
            disabled: u.disabled,
        }
    }
}

/// A new user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "editor@example.org", "password": "una passphrase lunga", "name": "Editor", "role": "editor", "organisation_ids": []}))]
pub struct UserInput {
    /// Login e-mail (unique).
    #[schema(format = "email")]
    pub email: String,
    /// At least 10 characters; stored as an Argon2id hash, never returned.
    #[schema(format = Password, min_length = 10, write_only)]
    pub password: String,
    /// Name.
    pub name: String,
    /// `admin`, `editor` or `viewer`.
    #[schema(pattern = "^(admin|editor|viewer)$")]
    pub role: String,
    /// Organisations the user belongs to.
    #[serde(default)]
    pub organisation_ids: Vec<String>,
    /// Create disabled.
    #[serde(default)]
    pub disabled: bool,
}

/// Changes to a user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"disabled": true}))]
pub struct UserPatch {
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Role.
    #[serde(default)]
    #[schema(pattern = "^(admin|editor|viewer)$")]
    pub role: Option<String>,
    /// Organisations (replaces the list).
    #[serde(default)]
    pub organisation_ids: Option<Vec<String>>,
    /// Disable (true) or enable (false).
    #[serde(default)]
    pub disabled: Option<bool>,
}

/// A page of users.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"data": [], "page": {"limit": 20, "next_cursor": null, "total": 0}}))]
pub struct UserList {
    /// Users by e-mail.
    pub data: Vec<UserDto>,
    /// Paging information.
    pub page: respond::PageInfo,
}

/// Path of one user.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct UserPath {
    /// User id.
    pub id: String,
}

fn role(raw: &str) -> Result<String, FieldError> {
    match raw {
        "admin" | "editor" | "viewer" => Ok(raw.to_owned()),
        _ => Err(FieldError::new(
            "enum",
            "must be one of: admin, editor, viewer",
        )),
    }
}

pub(crate) async fn org_ids(
    state: &AppState,
    raw: &[String],
    e: &mut FieldErrors,
) -> Result<Vec<Uuid>, ApiError> {
    let ids: Vec<Uuid> = raw
        .iter()
        .enumerate()
        .filter_map(|(i, s)| e.check(&format!("/organisation_ids/{i}"), parse_id(s)))
        .collect();
    for (i, id) in ids.iter().enumerate() {
        let key = legami_domain::IdOrSlug::Id(*id);
        if legami_persistence::record::find::<legami_domain::Organisation>(
            &state.db,
            &key,
            &legami_domain::Visibility::Privileged,
        )
        .await
        .is_err()
        {
            e.push(
                &format!("/organisation_ids/{i}"),
                FieldError::new("unknown", "no such organisation"),
            );
        }
    }
    Ok(ids)
}

/// List users (admin).
///
/// User accounts in the collection envelope, ordered by e-mail, with role, organisations and
/// whether disabled; never password hashes.
#[utoipa::path(tag = "auth", params(PageQuery), responses(
    (status = 200, description = "Users", body = UserList),
    answers::BadCursor, answers::NoToken, answers::NotAdmin, answers::InvalidParameter,
), security(("bearer" = [])))]
#[get("/users")]
pub async fn list_users(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    q: Qs<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.may_administer()?;
    let args = q.0.parse(&req, &state.cursor_secret, "users", &["email"])?;
    let users = store::list_users(&state.db).await?;
    let items = users
        .iter()
        .filter_map(|u| {
            let v = serde_json::to_value(UserDto::from(u)).ok()?;
            Some((u.email.clone(), v))
        })
        .collect();
    crate::listing::page_in_memory(&req, &caller, &state.cursor_secret, "users", &args, items)
}

/// Get one user (admin).
///
/// One user account: e-mail, name, role, organisations and whether disabled.
#[utoipa::path(tag = "auth", params(UserPath), responses(
    (status = 200, description = "The user", body = UserDto),
    answers::NoToken, answers::NotAdmin,
    (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/users/{id}")]
pub async fn get_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<UserPath>,
) -> Result<HttpResponse, ApiError> {
    caller.may_administer()?;
    let id = Uuid::try_parse(&path.id).map_err(|_| ApiError::NotFound)?;
    let u = store::user_by_id(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    respond::json(&req, &caller, StatusCode::OK, &UserDto::from(&u))
}

/// Create a user (admin).
///
/// Creates a user with a role (`admin`, `editor` or `viewer`) and the organisations it belongs to.
/// The password must be at least 10 characters; only its Argon2id hash is stored.
#[utoipa::path(tag = "auth", request_body(content = UserInput, content_type = "application/json"), responses(
    (status = 201, description = "Created", body = UserDto),
    answers::MalformedJson, answers::NoToken, answers::NotAdmin,
    (status = 409, description = "E-mail taken", body = Problem, content_type = "application/problem+json"),
    answers::InvalidFields,
), security(("bearer" = [])))]
#[post("/users")]
pub async fn create_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    crate::cache::writes(&req, Deps::NONE);
    caller.may_administer()?;
    let input: UserInput = from_value(body.0)?;
    let mut e = FieldErrors::new();
    let email = e.check("/email", Email::parse(&input.email));
    if input.password.chars().count() < 10 {
        e.push(
            "/password",
            FieldError::new("length", "at least 10 characters"),
        );
    }
    let name = e.check("/name", parse_name(&input.name, 200));
    let r = e.check("/role", role(&input.role));
    let orgs = org_ids(&state, &input.organisation_ids, &mut e).await?;
    let (Some(email), Some(name), Some(r)) = (email, name, r) else {
        return Err(e.into());
    };
    if !e.is_empty() {
        return Err(e.into());
    }
    let password = input.password;
    let hash = web::block(move || hash_password(&password))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    let mut u = store::create_user(
        &state.db,
        email.as_str(),
        &name,
        &hash,
        &r,
        &orgs,
        &caller.actor()?,
    )
    .await?;
    if input.disabled {
        u = store::update_user(
            &state.db,
            u.id,
            None,
            None,
            Some(true),
            None,
            &caller.actor()?,
        )
        .await?;
    }
    writes::created(
        &req,
        &caller,
        &UserDto::from(&u),
        &format!("/api/v1/users/{}", u.id),
    )
}

/// Change or disable a user (admin).
///
/// Changes a user's name, role or organisations, or disables the account (`disabled: true`): its
/// tokens stop working at once and it can log in no more.
#[utoipa::path(tag = "auth", params(UserPath), request_body(content = UserPatch, content_type = "application/merge-patch+json"), responses(
    (status = 200, description = "Changed", body = UserDto),
    answers::MalformedJson, answers::NoToken, answers::NotAdmin,
    (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    answers::InvalidFields,
), security(("bearer" = [])))]
#[patch("/users/{id}")]
pub async fn update_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<UserPath>,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    crate::cache::writes(&req, Deps::NONE);
    caller.may_administer()?;
    let id = Uuid::try_parse(&path.id).map_err(|_| ApiError::NotFound)?;
    let p: UserPatch = from_value(body.0)?;
    let mut e = FieldErrors::new();
    let name = p
        .name
        .as_deref()
        .and_then(|n| e.check("/name", parse_name(n, 200)));
    let r = p.role.as_deref().and_then(|x| e.check("/role", role(x)));
    let orgs = match &p.organisation_ids {
        Some(list) => Some(org_ids(&state, list, &mut e).await?),
        None => None,
    };
    if matches!(&caller, Caller::User { id: me, .. } if *me == id) {
        // An administrator cannot lock themself out: another admin must do it.
        if p.disabled == Some(true) {
            e.push(
                "/disabled",
                FieldError::new("self", "you cannot disable your own account"),
            );
        }
        if r.as_deref().is_some_and(|r| r != "admin") {
            e.push(
                "/role",
                FieldError::new("self", "you cannot give up your own administrator role"),
            );
        }
    }
    if !e.is_empty() {
        return Err(e.into());
    }
    let u = store::update_user(
        &state.db,
        id,
        name.as_deref(),
        r.as_deref(),
        p.disabled,
        orgs.as_deref(),
        &caller.actor()?,
    )
    .await?;
    respond::json(&req, &caller, StatusCode::OK, &UserDto::from(&u))
}
