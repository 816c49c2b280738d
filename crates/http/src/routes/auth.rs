//! `/auth/token`, `/me` and `/.well-known/jwks.json`.

use crate::answers;
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

/// A token request: the `password`, `client_credentials` and `refresh_token` grants.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"grant_type": "password", "email": "admin@example.org", "password": "a long passphrase"}))]
pub struct TokenRequest {
    /// `password`, `client_credentials` or `refresh_token`.
    #[schema(pattern = "^(password|client_credentials|refresh_token)$")]
    pub grant_type: String,
    /// Account e-mail (password grant).
    #[serde(default)]
    #[schema(max_length = 254)]
    pub email: Option<String>,
    /// Account password (password grant).
    #[serde(default)]
    #[schema(format = Password, max_length = 1024)]
    pub password: Option<String>,
    /// API client id (client_credentials grant).
    #[serde(default)]
    #[schema(max_length = 128)]
    pub client_id: Option<String>,
    /// API client secret (client_credentials grant).
    #[serde(default)]
    #[schema(format = Password, max_length = 1024)]
    pub client_secret: Option<String>,
    /// Refresh token (refresh_token grant).
    #[serde(default)]
    #[schema(max_length = 128)]
    pub refresh_token: Option<String>,
}

/// Longest e-mail address (RFC 5321: a path is at most 256 octets, so an address 254).
pub const MAX_EMAIL: usize = 254;
/// Longest password or client secret accepted (hashing a longer one is only a cost).
pub const MAX_SECRET: usize = 1024;
/// Longest `client_id` (client ids are UUIDs) and refresh token.
pub const MAX_TOKEN_ID: usize = 128;

impl TokenRequest {
    /// `422` naming every field over its length, before any throttling or hashing.
    fn check_lengths(&self) -> Result<(), ApiError> {
        let fields: [(&str, &Option<String>, usize); 5] = [
            ("email", &self.email, MAX_EMAIL),
            ("password", &self.password, MAX_SECRET),
            ("client_id", &self.client_id, MAX_TOKEN_ID),
            ("client_secret", &self.client_secret, MAX_SECRET),
            ("refresh_token", &self.refresh_token, MAX_TOKEN_ID),
        ];
        let errors: Vec<crate::error::ProblemField> = fields
            .iter()
            .filter(|(_, v, max)| v.as_ref().is_some_and(|v| v.chars().count() > *max))
            .map(|(name, _, max)| crate::error::ProblemField {
                field: format!("/{name}"),
                code: "max_length".into(),
                message: format!("{name} is at most {max} characters"),
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(errors))
        }
    }
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
    /// Absent from `client_credentials` answers (RFC 6749 §4.4.3): a client simply asks again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Space-separated scopes.
    pub scope: String,
}

/// The caller: a user or an API client.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"type": "user", "id": "0192f5a1-7c1e-7d2a-9a64-6c1f0e7b1a31", "email": "admin@example.org", "name": "Admin", "role": "admin", "scopes": ["read", "read:drafts", "write", "metrics:write", "admin"], "organisation_ids": []}))]
pub struct MeDto {
    /// `user` or `client`.
    #[serde(rename = "type")]
    #[schema(pattern = "^(user|client)$")]
    pub kind: String,
    /// User or client id.
    pub id: Uuid,
    /// E-mail (users only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Name.
    pub name: String,
    /// `admin`, `editor` or `viewer` (users only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^(admin|editor|viewer)$")]
    pub role: Option<String>,
    /// What the caller's tokens allow.
    pub scopes: Vec<String>,
    /// Organisations the caller belongs to or acts for.
    pub organisation_ids: Vec<Uuid>,
}

fn wrong_credentials() -> ApiError {
    // The same answer whether the account exists or not.
    ApiError::Unauthorized("wrong e-mail or password".into())
}

/// Get an access token.
///
/// OAuth 2.0 token endpoint (JSON body). `password` (email and password) answers an access token
/// and a refresh token; `refresh_token` spends a refresh token (single use; a reused one revokes
/// every token of its login) for a new pair; `client_credentials` (an API client's id and secret)
/// answers an access token only. Access tokens are Ed25519 JWTs valid for 15 minutes. Repeated
/// failures per account and per address are a `429` with `Retry-After`.
#[utoipa::path(
    tag = "auth",
    request_body(content = TokenRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "An access token", body = TokenResponse),
        (status = 400, description = "Malformed request or unsupported grant", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Wrong credentials (same answer for unknown accounts)", body = Problem, content_type = "application/problem+json"),
        answers::NotJson,
        (status = 422, description = "A field the grant needs is missing", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed attempts for this account, client or address; see Retry-After", body = Problem, content_type = "application/problem+json"),
    ),
    security(())
)]
#[post("/auth/token")]
pub async fn token(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    use crate::limits::{ThrottleKey, ThrottleScope};
    use legami_persistence::accounts::{self as store, RefreshOutcome};
    let throttle = &state.login_throttle;
    let peer = crate::limits::client_address(&req);
    let address = ThrottleKey::new(ThrottleScope::Address, &[&peer]);
    let r: TokenRequest = from_value(body.0)?;
    r.check_lengths()?;
    if r.grant_type == "refresh_token" {
        let Some(presented) = r.refresh_token else {
            return Err(ApiError::invalid(
                "/refresh_token",
                "required",
                "refresh_token is required for this grant",
            ));
        };
        let invalid = || ApiError::Unauthorized("the refresh token is not valid".into());
        let (user, refresh_token) = match store::rotate_refresh(&state.db, &presented).await? {
            RefreshOutcome::Rotated {
                user,
                refresh_token,
            } => (user, refresh_token),
            RefreshOutcome::Invalid | RefreshOutcome::Reused => return Err(invalid()),
        };
        let Some(user) = store::user_by_id(&state.db, user)
            .await?
            .filter(|u| !u.disabled)
        else {
            // A disabled account keeps no live token.
            store::revoke_refresh(&state.db, &refresh_token).await?;
            return Err(invalid());
        };
        let (access_token, claims) = state.keys.issue(&user)?;
        return Ok(token_answer(
            access_token,
            Some(refresh_token),
            claims.scope,
        ));
    }
    if r.grant_type == "client_credentials" {
        let (Some(id), Some(secret)) = (r.client_id, r.client_secret) else {
            return Err(ApiError::invalid(
                "/client_id",
                "required",
                "client_id and client_secret are required for this grant",
            ));
        };
        let bad = || ApiError::Unauthorized("wrong client_id or client_secret".into());
        let client_key = ThrottleKey::new(ThrottleScope::Account, &["client", id.trim(), &peer]);
        throttle.check(&[client_key, address]).await?;
        let client = match Uuid::try_parse(id.trim()) {
            Ok(id) => legami_persistence::clients::authenticate(&state.db, id, &secret).await?,
            Err(_) => None,
        };
        let Some(client) = client else {
            throttle.fail(&[client_key, address]).await;
            return Err(bad());
        };
        let (access_token, claims) = state.keys.issue_client(&client)?;
        return Ok(token_answer(access_token, None, claims.scope));
    }
    if r.grant_type != "password" {
        return Err(ApiError::BadRequest {
            detail: format!(
                "unsupported_grant_type: '{}'; use password, client_credentials or refresh_token",
                r.grant_type
            ),
            errors: vec![crate::error::ProblemField {
                field: "/grant_type".into(),
                code: "unsupported_grant_type".into(),
                message: "use password, client_credentials or refresh_token".into(),
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
    let account = email.trim().to_lowercase();
    let account_key = ThrottleKey::new(ThrottleScope::Account, &["account", &account, &peer]);
    throttle.check(&[account_key, address]).await?;
    let user = legami_persistence::accounts::user_by_email(&state.db, &email).await?;
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    // Argon2 is slow on purpose: keep it off the async workers.
    let ok = web::block(move || verify_password(&password, hash.as_deref()))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let Some(user) = user.filter(|u| ok && !u.disabled) else {
        throttle.fail(&[account_key, address]).await;
        return Err(wrong_credentials());
    };
    throttle.succeed(&account_key).await;
    issue(&state, &user).await
}

async fn issue(
    state: &AppState,
    user: &legami_persistence::accounts::User,
) -> Result<HttpResponse, ApiError> {
    let (access_token, claims) = state.keys.issue(user)?;
    let refresh_token =
        legami_persistence::accounts::issue_refresh(&state.db, user.id, None).await?;
    Ok(token_answer(
        access_token,
        Some(refresh_token),
        claims.scope,
    ))
}

fn token_answer(
    access_token: String,
    refresh_token: Option<String>,
    scope: String,
) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(TokenResponse {
            access_token,
            token_type: "Bearer".into(),
            expires_in: ACCESS_TTL_SECS,
            refresh_token,
            scope,
        })
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
///
/// Revokes a refresh token so it can no longer be exchanged (its access tokens expire on their own
/// within 15 minutes). Unknown or already revoked tokens also answer `204`, so the answer reveals
/// nothing about the token.
#[utoipa::path(
    tag = "auth",
    request_body(content = RevokeRequest, content_type = "application/json"),
    responses(
        (status = 204, description = "Revoked (or unknown)"),
        (status = 400, description = "Malformed request", body = Problem, content_type = "application/problem+json"),
        answers::NotJson,
    ),
    security(())
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
///
/// Who the bearer token belongs to: a user (id, e-mail, name, role, organisations) or an API
/// client, with the scopes the token carries. Useful to check a token and to show what it may do.
#[utoipa::path(
    tag = "auth",
    responses(
        (status = 200, description = "The caller", body = MeDto),
        answers::NoToken,
    ),
    security(("bearer" = []))
)]
#[get("/me")]
pub async fn me(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let body = match &caller {
        Caller::Anonymous => {
            return Err(ApiError::Unauthorized(
                "this operation needs a bearer token".into(),
            ));
        }
        Caller::User { id, .. } => {
            let user = legami_persistence::accounts::user_by_id(&state.db, *id)
                .await?
                .ok_or(ApiError::NotFound)?;
            MeDto {
                kind: "user".into(),
                id: user.id,
                email: Some(user.email.clone()),
                name: user.name.clone(),
                role: Some(user.role.clone()),
                scopes: crate::auth::scopes(&user.role)
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
                organisation_ids: user.organisation_ids.clone(),
            }
        }
        Caller::Client { id, .. } => {
            let client = legami_persistence::clients::get(&state.db, *id)
                .await?
                .ok_or(ApiError::NotFound)?;
            MeDto {
                kind: "client".into(),
                id: client.id,
                email: None,
                name: client.name,
                role: None,
                scopes: client.scopes,
                organisation_ids: client.organisation_ids,
            }
        }
    };
    respond::json(&req, &caller, StatusCode::OK, &body)
}

/// The public keys that verify access tokens (RFC 7517). Retired keys stay listed while tokens
/// they signed may still be valid.
///
/// A JSON Web Key Set of Ed25519 keys (`kty: OKP`, `alg: EdDSA`): verify a token by the `kid` in
/// its header. The active key comes first; a retired key is listed for 15 minutes (the access-token
/// lifetime) after its retirement, then dropped. Cache it, and fetch it again when a token names an
/// unknown `kid`.
#[utoipa::path(
    tag = "auth",
    responses((status = 200, description = "JWK Set", body = serde_json::Value,
        example = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "ed25519-11qYAYKxCrfVS_7T", "alg": "EdDSA", "use": "sig"}]}))),
    security((), ("bearer" = []))
)]
#[get("/.well-known/jwks.json")]
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .json(state.keys.jwks())
}
