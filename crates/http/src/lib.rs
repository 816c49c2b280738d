//! Legami's HTTP layer: actix-web handlers, extractors, DTOs, problem details and the OpenAPI
//! document generated from the code by utoipa.
//!
//! Every route is registered through utoipa-actix-web, so no path can be missing from the
//! document; the same document drives the `405 Allow` answers of the fallback service.

pub mod answers;
pub mod apidoc;
pub mod auth;
pub mod cache;
pub mod caller;
pub mod cursor;
pub mod dto;
pub mod error;
pub mod extract;
pub mod limits;
pub mod listing;
pub mod middleware;
pub mod notices;
pub mod replicas;
pub mod respond;
pub mod routes;
pub mod shape;
pub mod state;

pub use caller::Caller;
pub use error::{ApiError, Problem};
pub use state::AppState;

use actix_web::{HttpRequest, web};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;
use utoipa_actix_web::service_config::ServiceConfig;

struct SecurityAddon;

impl Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An EdDSA-signed JWT access token (15 minutes) from POST /api/v1/auth/token \
                         (password, client_credentials or refresh_token grant); verify it with \
                         /.well-known/jwks.json. Reads work without a token (published data \
                         only); operations that list only `bearer` need one.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document's static parts; paths are added by the route registrations.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Legami API",
        description = "Public JSON API of community welfare networks in Lombardy: organisations, \
            labs (Laboratori Sociali), projects, networks and participation metrics.\n\n\
            Conventions: JSON in UTF-8 with snake_case fields; times RFC 3339 UTC; every GET \
            carries a strong ETag (`If-None-Match` answers 304), streamed CSV/GeoJSON exports \
            included; collections use keyset pagination with opaque cursors (`page.next_cursor`, \
            `Link: rel=\"next\"`); errors are RFC 9457 problem details \
            (`application/problem+json`) with one `errors[]` entry per invalid field; unknown \
            query parameters are a 422 naming them; every response carries `X-Request-Id`.",
        license(name = "AGPL-3.0-or-later"),
        contact(name = "Legami maintainers"),
    ),
    servers(
        (url = "/", description = "The server this document was fetched from: every instance serves its own copy, so paths resolve against its address"),
    ),
    tags(
        (name = "discovery", description = "The API root"),
        (name = "organisations", description = "Third-sector bodies, public bodies, companies, schools, informal groups"),
        (name = "labs", description = "Laboratori Sociali, civic centres and community hubs"),
        (name = "projects", description = "Projects with partners, funding, labs and results"),
        (name = "networks", description = "Standing networks of organisations and labs"),
        (name = "metrics", description = "Indicators and participation metrics"),
        (name = "auth", description = "Access tokens and the caller"),
        (name = "search", description = "Full-text search across types, with facets"),
        (name = "mirroring", description = "The change feed and the map, for partner sites that mirror the data"),
        (name = "territory", description = "ISTAT municipalities (reference data, CC BY ISTAT)"),
        (name = "themes", description = "The themes vocabulary"),
        (name = "operations", description = "Health checks"),
    ),
    components(schemas(Problem, error::ProblemField)),
    modifiers(&SecurityAddon)
)]
pub struct ApiDoc;

/// Registers every route of the API (and the health checks) on an app.
pub fn configure(cfg: &mut ServiceConfig) {
    use routes::*;
    cfg.service(root::live)
        .service(root::ready)
        .service(auth::jwks)
        .service(
            utoipa_actix_web::scope("/api/v1")
                .service(root::discovery)
                .configure(organisations::routes)
                .configure(labs::routes)
                .configure(projects::routes)
                .service(metrics::create_metrics)
                .service(metrics::metrics_summary)
                .service(metrics::list_metrics)
                .service(auth::token)
                .service(auth::revoke)
                .service(auth::me)
                .service(users::list_users)
                .service(users::create_user)
                .service(users::get_user)
                .service(users::update_user)
                .service(clients::list_clients)
                .service(clients::create_client)
                .service(clients::get_client)
                .service(clients::update_client)
                .service(audit::list_audit)
                .service(search::search)
                .service(feed::list_changes)
                .service(feed::map)
                .configure(networks::routes)
                .configure(areas::routes)
                .service(indicators::list_indicators)
                .service(indicators::create_indicator)
                .service(indicators::get_indicator)
                .service(municipalities::list_municipalities)
                .service(municipalities::get_municipality)
                .service(themes::list_themes)
                .service(themes::create_theme)
                .service(themes::get_theme),
        );
}

/// The OpenAPI document the code describes (what `/openapi.json` serves).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(configure)
        .split_for_parts();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    apidoc::complete(doc)
}

/// Path templates and their methods, to answer `405` with `Allow` for known paths.
#[derive(Debug, Clone, Default)]
pub struct RouteTable(Vec<(Vec<String>, Vec<String>)>);

impl RouteTable {
    /// Builds the table from an OpenAPI document (plus the paths served outside it).
    pub fn from_openapi(doc: &utoipa::openapi::OpenApi, extra: &[&str]) -> Self {
        let mut routes: Vec<(Vec<String>, Vec<String>)> = Vec::new();
        let json = serde_json::to_value(&doc.paths).unwrap_or_default();
        if let Some(paths) = json
            .get("paths")
            .or(Some(&json))
            .and_then(|p| p.as_object())
        {
            for (path, item) in paths {
                let methods = item
                    .as_object()
                    .map(|o| {
                        o.keys()
                            .filter(|k| {
                                ["get", "post", "put", "patch", "delete"].contains(&k.as_str())
                            })
                            .map(|k| k.to_ascii_uppercase())
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default();
                routes.push((segments(path), methods));
            }
        }
        for p in extra {
            routes.push((segments(p), vec!["GET".into()]));
        }
        Self(routes)
    }

    /// The methods allowed on a concrete path, if any template matches it.
    pub fn allowed(&self, path: &str) -> Option<Vec<String>> {
        let segs = segments(path);
        let mut methods: Vec<String> = Vec::new();
        for (tpl, ms) in &self.0 {
            let matches = tpl.len() == segs.len()
                && tpl
                    .iter()
                    .zip(&segs)
                    .all(|(t, s)| t.starts_with('{') || t == s);
            if matches {
                methods.extend(ms.iter().cloned());
            }
        }
        if methods.is_empty() {
            return None;
        }
        if methods.iter().any(|m| m == "GET") {
            methods.push("HEAD".into());
        }
        methods.push("OPTIONS".into());
        methods.sort();
        methods.dedup();
        Some(methods)
    }
}

fn segments(path: &str) -> Vec<String> {
    path.trim_end_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The default service: `405` with `Allow` when the path exists with other methods, else `404`.
pub async fn fallback(
    req: HttpRequest,
    routes: web::Data<RouteTable>,
) -> Result<actix_web::HttpResponse, ApiError> {
    match routes.allowed(req.path()) {
        // A plain OPTIONS (a CORS preflight is answered by the CORS layer): 204 with Allow.
        Some(allow) if req.method() == actix_web::http::Method::OPTIONS => {
            Ok(actix_web::HttpResponse::NoContent()
                .insert_header((actix_web::http::header::ALLOW, allow.join(", ")))
                .finish())
        }
        Some(allow) => Err(ApiError::MethodNotAllowed(allow)),
        None => Err(ApiError::NotFound),
    }
}
