//! `/auth/token`, `/me` and `/.well-known/jwks.json`.

use crate::auth::{ACCESS_TTL_SECS, verify_password};
use crate::caller::Caller;
use crate::error::{ApiError, Problem};
use crate::extract::{JsonObject, from_value};
use crate::respond;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A token request: the `password` and `refresh_token` grants (`client_credentials` is answered
/// `400 unsupported_grant_type` until API clients land).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"grant_type": "password", "email": "admin@example.org", "password": "a long passphrase"}))]
pub struct TokenRequest {
    /// `password` (also `client_credentials`, `refresh_token` in the contract).
    #[schema(pattern = "^(password|client_credentials|refresh_token)$")]
    pub grant_type: String,
    /// Account e-mail (password grant).
    #[serde(default)]
    pub email: Option<String>,
    /// Account password (password grant).
    #[serde(default)]
    #[schema(format = Password)]
    pub password: Option<String>,
    /// API client id (client_credentials grant).
    #[serde(default)]
    pub client_id: Option<String>,
    /// API client secret (client_credentials grant).
    #[serde(default)]
    #[schema(format = Password)]
    pub client_secret: Option<String>,
    /// Refresh token (refresh_token grant).
    #[serde(default)]
    pub refresh_token: Option<String>,
}

/// An issued access token.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"access_token": "eyJhbGciOiJFZERTQSIsImtpZCI6ImVkMjU1MTktLi4uIn0...", "token_type": "Bearer", "expires_in": 900, "scope": "read read:drafts write metrics:write admin"}))]
pub struct TokenResponse {
    /// EdDSA-signed JWT; verify it with `/.well-known/jwks.json`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until it expires (900).
    pub expires_in: i64,
    /// Opaque, single-use refresh token (30 days): exchange it with the `refresh_token` grant
    /// for a new pair. Presenting a spent one revokes every token descended from the same login.
    pub refresh_token: String,
    /// Space-separated scopes.
    pub scope: String,
}

/// The caller.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a31", "email": "admin@example.org", "name": "Admin", "role": "admin", "scopes": ["read", "write"], "organisation_ids": []}))]
pub struct MeDto {
    /// User id.
    pub id: Uuid,
    /// E-mail.
    pub email: String,
    /// Name.
    pub name: String,
    /// `admin`, `editor` or `viewer`.
    pub role: String,
    /// Scopes of the caller's tokens.
    pub scopes: Vec<String>,
    /// Organisations the user belongs to.
    pub organisation_ids: Vec<Uuid>,
}

fn wrong_credentials() -> ApiError {
    // The same answer whether the account exists or not.
    ApiError::Unauthorized("wrong e-mail or password".into())
}

/// Get an access token.
#[utoipa::path(
    tag = "auth",
    request_body(content = TokenRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "An access token", body = TokenResponse),
        (status = 400, description = "Malformed request or unsupported grant", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Wrong credentials (same answer for unknown accounts)", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/token")]
pub async fn token(state: web::Data<AppState>, body: JsonObject) -> Result<HttpResponse, ApiError> {
    use legami_persistence::accounts::{self as store, RefreshOutcome};
    let r: TokenRequest = from_value(body.0)?;
    if r.grant_type == "refresh_token" {
        let Some(presented) = r.refresh_token else {
            return Err(ApiError::invalid(
                "/refresh_token",
                "required",
                "refresh_token is required for this grant",
            ));
        };
        let invalid = || ApiError::Unauthorized("the refresh token is not valid".into());
        let (user, family) = match store::spend_refresh(&state.db, &presented).await? {
            RefreshOutcome::Rotate { user, family } => (user, family),
            RefreshOutcome::Invalid | RefreshOutcome::Reused => return Err(invalid()),
        };
        let user = store::user_by_id(&state.db, user)
            .await?
            .filter(|u| !u.disabled)
            .ok_or_else(invalid)?;
        return issue(&state, &user, Some(family)).await;
    }
    if r.grant_type != "password" {
        return Err(ApiError::BadRequest {
            detail: format!(
                "unsupported_grant_type: '{}' is not available yet; use 'password'",
                r.grant_type
            ),
            errors: vec![crate::error::ProblemField {
                field: "/grant_type".into(),
                code: "unsupported_grant_type".into(),
                message: "use 'password'".into(),
            }],
        });
    }
    let (Some(email), Some(password)) = (r.email, r.password) else {
        return Err(ApiError::invalid(
            "/email",
            "required",
            "email and password are required for the password grant",
        ));
    };
    let user = legami_persistence::accounts::user_by_email(&state.db, &email).await?;
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    // Argon2 is slow on purpose: keep it off the async workers.
    let ok = web::block(move || verify_password(&password, hash.as_deref()))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let user = user
        .filter(|u| ok && !u.disabled)
        .ok_or_else(wrong_credentials)?;
    issue(&state, &user, None).await
}

async fn issue(
    state: &AppState,
    user: &legami_persistence::accounts::User,
    family: Option<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (access_token, claims) = state.keys.issue(user)?;
    let refresh_token =
        legami_persistence::accounts::issue_refresh(&state.db, user.id, family).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(TokenResponse {
            access_token,
            token_type: "Bearer".into(),
            expires_in: ACCESS_TTL_SECS,
            refresh_token,
            scope: claims.scope,
        }))
}

/// A token to revoke.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "6l0kq3-opaque"}))]
pub struct RevokeRequest {
    /// A refresh token.
    pub token: String,
}

/// Revoke a refresh token (RFC 7009: unknown tokens are not an error).
#[utoipa::path(
    tag = "auth",
    request_body(content = RevokeRequest, content_type = "application/json"),
    responses(
        (status = 204, description = "Revoked (or unknown)"),
        (status = 400, description = "Malformed request", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/revoke")]
pub async fn revoke(
    state: web::Data<AppState>,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let r: RevokeRequest = from_value(body.0)?;
    legami_persistence::accounts::revoke_refresh(&state.db, &r.token).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller: id, role, scopes and organisations.
#[utoipa::path(
    tag = "auth",
    responses(
        (status = 200, description = "The caller", body = MeDto),
        (status = 401, description = "No valid bearer token", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/me")]
pub async fn me(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let Caller::User { id, .. } = &caller else {
        return Err(ApiError::Unauthorized(
            "this operation needs a user's bearer token".into(),
        ));
    };
    let user = legami_persistence::accounts::user_by_id(&state.db, *id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let body = MeDto {
        id: user.id,
        email: user.email.clone(),
        name: user.name.clone(),
        role: user.role.clone(),
        scopes: crate::auth::scopes(&user.role)
            .into_iter()
            .map(str::to_owned)
            .collect(),
        organisation_ids: user.organisation_ids.clone(),
    };
    respond::json(&req, &caller, StatusCode::OK, &body)
}

/// The public keys that verify access tokens (RFC 7517). Retired keys stay listed while tokens
/// they signed may still be valid.
#[utoipa::path(
    tag = "auth",
    responses((status = 200, description = "JWK Set", body = serde_json::Value,
        example = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "ed25519-11qYAYKxCrfVS_7T", "alg": "EdDSA", "use": "sig"}]})))
)]
#[get("/.well-known/jwks.json")]
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .json(state.keys.jwks())
}
