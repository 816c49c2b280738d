//! The discovery root and the health checks.

use crate::cache::Deps;
use crate::caller::Caller;
use crate::error::{ApiError, Problem};
use crate::respond;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Links to everything the API offers.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "name": "Legami", "api_version": "v1", "server_version": "0.1.0",
    "links": {"organisations": "/api/v1/organisations", "openapi": "/openapi.json", "docs": "/docs"}
}))]
pub struct DiscoveryDto {
    /// Product name.
    pub name: String,
    /// Version of the contract (`v1`).
    pub api_version: String,
    /// Version of the server software.
    pub server_version: String,
    /// Collection and document URLs by name.
    pub links: BTreeMap<String, String>,
}

/// The collections the root links to.
pub const COLLECTIONS: &[&str] = &[
    "organisations",
    "labs",
    "projects",
    "metrics",
    "changes",
    "map",
    "networks",
    "areas",
    "indicators",
    "municipalities",
    "themes",
];

/// Discovery root: API version and links to every collection, the OpenAPI document and the docs.
///
/// The entry point for clients: `links` names every collection, the OpenAPI document and the
/// interactive docs, so a client needs only this address. It is the same for every caller and
/// carries an `ETag` (conditional `GET` answers `304`).
#[utoipa::path(
    tag = "discovery",
    responses((status = 200, description = "Links", body = DiscoveryDto), (status = 304, description = "Not modified")),
    security((), ("bearer" = []))
)]
#[get("")]
pub async fn discovery(req: HttpRequest, caller: Caller) -> Result<HttpResponse, ApiError> {
    crate::cache::reads(&req, Deps::NONE);
    let mut links: BTreeMap<String, String> = COLLECTIONS
        .iter()
        .map(|c| ((*c).to_owned(), format!("/api/v1/{c}")))
        .collect();
    // Search needs a query: an RFC 6570 template instead of a plain link.
    links.insert("search".into(), "/api/v1/search{?q,types}".into());
    links.insert("openapi".into(), "/openapi.json".into());
    links.insert("docs".into(), "/docs".into());
    links.insert("health".into(), "/health/ready".into());
    let body = DiscoveryDto {
        name: "Legami".into(),
        api_version: "v1".into(),
        server_version: env!("CARGO_PKG_VERSION").into(),
        links,
    };
    respond::json(&req, &caller, StatusCode::OK, &body)
}

/// Health status.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"status": "ok"}))]
pub struct HealthDto {
    /// `ok`.
    #[schema(example = "ok")]
    pub status: String,
    /// Readiness with read replicas (`LEGAMI_DATABASE_READ_URLS`): each replica's state. A
    /// replica that lags or is away does not make the instance unready: the primary serves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<Vec<crate::replicas::ReplicaHealth>>,
}

/// Liveness: the process answers.
///
/// For orchestrators' liveness probes: `200` as long as the process serves requests; it does not
/// touch the database.
#[utoipa::path(tag = "operations", responses((status = 200, description = "Alive", body = HealthDto)), security((), ("bearer" = [])))]
#[get("/health/live")]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(HealthDto {
            status: "ok".into(),
            replicas: None,
        })
}

/// Readiness: the database answers. `503` while it does not; recovers by itself.
///
/// For load balancers' readiness probes: `200` when a database query succeeds within its timeout,
/// `503` otherwise; take the instance out of rotation while it answers `503`. With read replicas,
/// `replicas` lists each one's state (`serving`, `lagging`, `away`) and replay lag; the primary
/// alone decides readiness.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "Ready", body = HealthDto),
        (status = 503, description = "Database unreachable", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []))
)]
#[get("/health/ready")]
pub async fn ready(
    state: web::Data<AppState>,
    replicas: Option<web::Data<crate::replicas::Replicas>>,
) -> Result<HttpResponse, ApiError> {
    legami_persistence::ping(&state.primary)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(HealthDto {
            status: "ok".into(),
            replicas: replicas.map(|r| r.health()),
        }))
}
