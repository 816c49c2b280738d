//! One way to start: `Application::build(settings) -> port() -> run_until_stopped()`, used by the
//! binary and by every test, so tests exercise the real wiring.

use crate::settings::Settings;
use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::http::{Method, header};
use actix_web::middleware::{Compress, from_fn};
use actix_web::{App, HttpResponse, HttpServer, web};
use actix_web_prom::{PrometheusMetrics, PrometheusMetricsBuilder};
use anyhow::Context;
use legami_http::{AppState, RouteTable};
use legami_persistence::{DatabaseConnection, DbBackend, DbConfig};
use prometheus::IntGauge;
use std::net::TcpListener;
use std::time::Duration;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

/// Extra routes a test may add (e.g. one that panics).
pub type ExtraRoutes = fn(&mut web::ServiceConfig);

/// A bound, ready-to-run server.
pub struct Application {
    port: u16,
    server: Server,
    db: DatabaseConnection,
    /// Background tasks that end with the server (pool gauges, write notices).
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// In production, secrets must be the operator's own: a signing key is configured, and the
/// cursor secret is neither the development default nor shorter than 32 bytes. Every problem is
/// named at once.
fn refuse_development_secrets(settings: &Settings) -> anyhow::Result<()> {
    if settings.env != "production" {
        return Ok(());
    }
    let mut problems = Vec::new();
    if settings.jwt_private_key.is_none() {
        problems.push(
            "LEGAMI_JWT_PRIVATE_KEY (an Ed25519 PKCS#8 DER key, base64): generate one with \
             `openssl genpkey -algorithm ed25519 -outform DER | base64 -w0`",
        );
    }
    if settings.cursor_secret == crate::settings::DEVELOPMENT_CURSOR_SECRET
        || settings.cursor_secret.len() < 32
    {
        problems.push(
            "LEGAMI_CURSOR_SECRET (a secret of your own of at least 32 bytes; the development \
             default is refused): generate one with `openssl rand -base64 48`",
        );
    }
    if problems.is_empty() {
        return Ok(());
    }
    anyhow::bail!("LEGAMI_ENV=production needs {}", problems.join("; and "))
}

/// The token keys: the configured key (required in production) or, in development, the one
/// generated on first start and kept in the database.
pub async fn signing_keys(
    db: &DatabaseConnection,
    settings: &Settings,
) -> anyhow::Result<legami_http::auth::Keys> {
    let configured = match (&settings.jwt_private_key, settings.env.as_str()) {
        (Some(k), _) => {
            let key = legami_persistence::accounts::key_from_config(k)?;
            // Recorded by its public part only: the private key stays in the configuration.
            legami_persistence::accounts::activate_key(db, &key, false).await?;
            Some(key)
        }
        (None, "production") => anyhow::bail!(
            "LEGAMI_ENV=production needs LEGAMI_JWT_PRIVATE_KEY (an Ed25519 PKCS#8 DER key, base64); \
             generate one with `openssl genpkey -algorithm ed25519 -outform DER | base64 -w0`"
        ),
        (None, _) => {
            let keys = legami_persistence::accounts::keys(db).await?;
            if !keys
                .iter()
                .any(|k| k.retired_at.is_none() && !k.private_pkcs8.is_empty())
            {
                let key = legami_persistence::accounts::generate_key()?;
                legami_persistence::accounts::activate_key(db, &key, true).await?;
                tracing::info!(kid = %key.kid, "development signing key generated and kept in the database");
            }
            None
        }
    };
    // Keys retired longer ago than an access token lives verify nothing any more.
    let expired =
        chrono::Utc::now() - chrono::Duration::seconds(legami_http::auth::ACCESS_TTL_SECS);
    legami_persistence::accounts::prune_keys(db, expired).await?;
    let records = legami_persistence::accounts::keys(db).await?;
    legami_http::auth::Keys::new(
        &records,
        configured.as_ref(),
        &settings.jwt_issuer,
        &settings.jwt_audience,
    )
    .map_err(|e| anyhow::anyhow!(e))
}

/// Opens the pool and migrates.
pub async fn open_database(settings: &Settings) -> anyhow::Result<DatabaseConnection> {
    let config = db_config(settings, &settings.database_url)?;
    legami_persistence::inline::enable(settings.sqlite_inline_reads);
    let db = legami_persistence::connect(&config)
        .await
        .with_context(|| "cannot open the database (check LEGAMI_DATABASE_URL)")?;
    legami_persistence::migrate(&db)
        .await
        .context("migrations failed")?;
    let indexed = legami_persistence::record::backfill_search(&db)
        .await
        .context("search index backfill")?;
    if indexed > 0 {
        tracing::info!(
            records = indexed,
            "search documents written for records that had none"
        );
    }
    Ok(db)
}

/// The pools of the read replicas (`LEGAMI_DATABASE_READ_URLS`; PostgreSQL only), each
/// connecting when first used.
async fn open_replicas(
    settings: &Settings,
    primary: &DatabaseConnection,
) -> anyhow::Result<Vec<(String, DatabaseConnection)>> {
    let urls = settings.read_urls();
    if !urls.is_empty() && primary.get_database_backend() != DbBackend::Postgres {
        anyhow::bail!("LEGAMI_DATABASE_READ_URLS needs PostgreSQL as the database");
    }
    let mut out = Vec::new();
    for url in urls {
        if !url.starts_with("postgres") {
            anyhow::bail!("LEGAMI_DATABASE_READ_URLS: not a PostgreSQL URL");
        }
        let db = legami_persistence::connect_replica(&db_config(settings, &url)?)
            .await
            .context("LEGAMI_DATABASE_READ_URLS: cannot open a replica's pool")?;
        out.push((url, db));
    }
    Ok(out)
}

fn db_config(settings: &Settings, url: &str) -> anyhow::Result<DbConfig> {
    Ok(DbConfig {
        url: url.to_owned(),
        max_connections: settings.pool_size(),
        acquire_timeout: Duration::from_millis(settings.db_acquire_timeout_ms),
        pg_random_page_cost: match settings.pg_random_page_cost.trim() {
            "" => None,
            cost => Some(
                cost.parse::<f64>()
                    .ok()
                    .filter(|c| c.is_finite() && *c > 0.0)
                    .with_context(|| {
                        format!(
                            "LEGAMI_PG_RANDOM_PAGE_COST must be a positive number, not {cost:?}"
                        )
                    })?,
            ),
        },
    })
}

fn metrics(
    db: &DatabaseConnection,
    pool_max: u32,
) -> anyhow::Result<(PrometheusMetrics, tokio::task::JoinHandle<()>)> {
    let prom = PrometheusMetricsBuilder::new("legami")
        .endpoint("/metrics")
        .mask_unmatched_patterns("UNMATCHED")
        .build()
        .map_err(|e| anyhow::anyhow!("metrics: {e}"))?;
    let size = IntGauge::new(
        "legami_db_pool_connections",
        "Open database connections in the pool",
    )?;
    let idle = IntGauge::new(
        "legami_db_pool_idle",
        "Idle database connections in the pool",
    )?;
    let max = IntGauge::new("legami_db_pool_max", "Largest database pool size")?;
    let inline = prometheus::IntCounter::new(
        "legami_db_inline_reads_total",
        "SQLite record reads run in the request's own thread instead of the pool's",
    )?;
    prom.registry.register(Box::new(inline.clone()))?;
    prom.registry.register(Box::new(size.clone()))?;
    prom.registry.register(Box::new(idle.clone()))?;
    prom.registry.register(Box::new(max.clone()))?;
    max.set(i64::from(pool_max));
    let db = db.clone();
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        loop {
            tick.tick().await;
            let (s, i) = legami_persistence::pool_stats(&db);
            inline.inc_by(legami_persistence::inline::reads().saturating_sub(inline.get()));
            size.set(i64::from(s));
            idle.set(i64::from(i));
        }
    });
    Ok((prom, task))
}

/// CORS: reads from any origin, writes only from the configured ones. Two middlewares of ours
/// complete it: preflights of other origins offer only the read methods
/// (`read_only_preflights`), and their writes are refused (`refuse_cross_origin_writes`).
fn cors(write_origins: &legami_http::middleware::WriteOrigins) -> Cors {
    let write_origins = write_origins.clone();
    Cors::default()
        .allowed_origin_fn(move |origin, head| {
            // A preflight asks for the method in a header; any other request is its own method.
            let method = if head.method == Method::OPTIONS {
                head.headers
                    .get(header::ACCESS_CONTROL_REQUEST_METHOD)
                    .and_then(|m| m.to_str().ok())
                    .unwrap_or("OPTIONS")
            } else {
                head.method.as_str()
            };
            matches!(method, "GET" | "HEAD" | "OPTIONS") || write_origins.allows(origin.as_bytes())
        })
        .allowed_methods(["GET", "HEAD", "OPTIONS", "POST", "PATCH", "DELETE"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            header::ACCEPT,
            header::HeaderName::from_static("idempotency-key"),
            header::HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            header::ETAG,
            header::LINK,
            header::LOCATION,
            header::RETRY_AFTER,
            header::HeaderName::from_static("x-request-id"),
        ])
        .max_age(3600)
}

impl Application {
    /// Connects, migrates, loads demo data when configured and empty, and binds.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        Self::build_with(settings, None).await
    }

    /// Like [`Application::build`], with extra routes (tests only).
    pub async fn build_with(
        settings: &Settings,
        extra: Option<ExtraRoutes>,
    ) -> anyhow::Result<Self> {
        refuse_development_secrets(settings)?;
        let db = open_database(settings).await?;
        if settings.seed_demo_on_empty
            && legami_persistence::organisations::count_all(&db).await? == 0
        {
            let n = crate::demo::seed(&db).await.context("loading demo data")?;
            tracing::info!(records = n, "empty database: demo data loaded");
        }
        let keys = std::sync::Arc::new(signing_keys(&db, settings).await?);
        let listener = TcpListener::bind(&settings.bind)
            .with_context(|| format!("cannot listen on {}", settings.bind))?;
        let port = listener.local_addr()?.port();
        let (prom, pool_task) = metrics(&db, settings.pool_size())?;
        // On PostgreSQL every instance counts rate limits and failed logins in the database.
        let shared = (db.get_database_backend() == DbBackend::Postgres).then(|| db.clone());
        let state = web::Data::new(AppState {
            db: db.clone(),
            primary: db.clone(),
            cursor_secret: settings.cursor_secret.clone(),
            body_limit: settings.body_limit,
            keys,
            login_throttle: std::sync::Arc::new(legami_http::limits::FailedLogins::new(
                legami_http::limits::LoginThrottle::new(
                    settings.login_max_failures,
                    std::time::Duration::from_secs(settings.login_window_secs),
                ),
                shared.clone(),
            )),
            ingest: std::sync::Arc::new(tokio::sync::Semaphore::new(
                legami_http::state::ingest_permits(db.get_database_backend(), settings.pool_size()),
            )),
            body_timeout: std::time::Duration::from_secs(settings.body_timeout_secs.max(1)),
            known_refs: std::sync::Arc::default(),
            ingest_bodies: std::sync::Arc::new(tokio::sync::Semaphore::new(
                legami_http::state::ingest_body_permits(
                    db.get_database_backend(),
                    settings.pool_size(),
                ),
            )),
        });
        let response_cache = web::Data::new(legami_http::cache::ResponseCache::new(
            settings.response_cache_mb,
            std::time::Duration::from_millis(settings.response_cache_ttl_ms),
        ));
        let mut tasks = vec![pool_task];
        let replicas = open_replicas(settings, &db).await?;
        let replicas = (!replicas.is_empty()).then(|| {
            web::Data::new(legami_http::replicas::Replicas::new(
                &state,
                replicas,
                Duration::from_millis(settings.replica_max_lag_ms),
                Duration::from_secs(settings.read_your_writes_secs),
            ))
        });
        if let Some(replicas) = replicas.clone() {
            // Each replica's lag, measured against the primary's WAL position.
            let primary = db.clone();
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(legami_http::replicas::CHECK_EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    replicas.check(&primary).await;
                }
            }));
        }
        let cache_on = settings.response_cache_mb > 0 && settings.response_cache_ttl_ms > 0;
        if db.get_database_backend() == DbBackend::Postgres && (cache_on || replicas.is_some()) {
            // Writes committed by other instances drop what they change from this one's cache,
            // and their authors read the primary here too.
            tasks.push(tokio::spawn(legami_http::notices::follow(
                cache_on.then(|| response_cache.clone()),
                replicas.clone(),
                settings.database_url.clone(),
            )));
        }
        let mut limits = legami_http::limits::RateLimits::new(
            settings.rate_limit_anonymous,
            settings.rate_limit_authenticated,
        );
        if let Some(db) = shared {
            limits = limits.shared_in(db);
        }
        let limits = web::Data::new(limits);
        {
            // Forget idle rate-limit and throttle keys now and then, so memory (and, on
            // PostgreSQL, the shared tables) stay bounded.
            let limits = limits.clone();
            let throttle = state.login_throttle.clone();
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
                loop {
                    tick.tick().await;
                    limits.prune().await;
                    throttle.prune().await;
                }
            }));
        }
        let doc = legami_http::openapi();
        let routes = web::Data::new(RouteTable::from_openapi(
            &doc,
            &["/openapi.json", "/docs", "/metrics"],
        ));
        // Served as bytes made once: utoipa's structure of the document takes some 4 MiB per
        // copy, and Swagger UI's own route would keep one per worker and serialise it anew on
        // every request. Swagger UI only points at this path.
        let openapi_json = web::Bytes::from(serde_json::to_vec(&doc)?);
        drop(doc);
        let origins = legami_http::middleware::WriteOrigins::parse(&settings.cors_origins);
        let write_origins = web::Data::new(origins.clone());
        let mut server = HttpServer::new(move || {
            App::new()
                .into_utoipa_app()
                .app_data(state.clone())
                .app_data(routes.clone())
                .app_data(limits.clone())
                .app_data(response_cache.clone())
                .app_data(write_origins.clone())
                .configure(legami_http::configure)
                .into_app()
                .configure(|cfg| {
                    if let Some(extra) = extra {
                        extra(cfg);
                    }
                    if let Some(replicas) = &replicas {
                        cfg.app_data(replicas.clone());
                    }
                })
                .route("/openapi.json", {
                    let json = openapi_json.clone();
                    web::get().to(move || {
                        std::future::ready(
                            HttpResponse::Ok()
                                .insert_header(header::ContentType::json())
                                .body(json.clone()),
                        )
                    })
                })
                .service(
                    SwaggerUi::new("/docs/{_:.*}")
                        .config(utoipa_swagger_ui::Config::from("/openapi.json")),
                )
                .route(
                    "/docs",
                    web::get().to(|| async {
                        HttpResponse::PermanentRedirect()
                            .insert_header((header::LOCATION, "/docs/"))
                            .finish()
                    }),
                )
                .default_service(web::to(legami_http::fallback))
                .wrap(from_fn(legami_http::cache::response_cache))
                .wrap(from_fn(legami_http::replicas::route_reads))
                .wrap(from_fn(legami_http::limits::idempotency))
                .wrap(from_fn(legami_http::limits::rate_limit))
                .wrap(from_fn(legami_http::middleware::refuse_cross_origin_writes))
                .wrap(from_fn(legami_http::middleware::request_context))
                .wrap(from_fn(legami_http::middleware::slice_large_answers))
                .wrap(cors(&origins))
                .wrap(from_fn(legami_http::middleware::read_only_preflights))
                .wrap(prom.clone())
                .wrap(Compress::default())
        })
        // Answers leave in several writes (large ones in slices): with Nagle's algorithm on, the
        // last short segment of one waited for the client's delayed ACK (up to 40 ms a request;
        // S4's map boxes fell from 10,000 to 1,100 req/s at 16 connections).
        .on_connect(|conn, _| {
            if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
                let _ = tcp.set_nodelay(true);
            }
        })
        .listen(listener)?
        .shutdown_timeout(settings.shutdown_timeout_secs);
        if settings.workers > 0 {
            server = server.workers(settings.workers);
        }
        let server = server.run();
        Ok(Self {
            port,
            server,
            db,
            tasks,
        })
    }

    /// The bound port (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The database pool (tests use it to check what was stored).
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// A handle that stops the server gracefully.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM/SIGINT (graceful: in-flight requests finish) or a handle stops it.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let res = self.server.await;
        for task in &self.tasks {
            task.abort();
        }
        self.db.close_by_ref().await.ok();
        res
    }
}
