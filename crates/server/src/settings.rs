//! Typed settings from `LEGAMI_*` environment variables (a `.env` file is read when present),
//! each also settable as a command-line flag. Secrets are redacted in `Debug`.

use clap::Args;
use std::fmt;

/// The cursor secret a development server uses when none is set; production refuses it.
pub const DEVELOPMENT_CURSOR_SECRET: &str = "legami-development-cursor-secret";

/// Everything the server reads at start-up.
#[derive(Clone, Args)]
pub struct Settings {
    /// Database URL: `sqlite://FILE?mode=rwc` (created and migrated on first start) or
    /// `postgres://USER@HOST:PORT/DB`.
    #[arg(
        long,
        env = "LEGAMI_DATABASE_URL",
        default_value = "sqlite://legami.db?mode=rwc",
        global = true
    )]
    pub database_url: String,

    /// Address and port to listen on.
    #[arg(
        long,
        env = "LEGAMI_BIND",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub bind: String,

    /// Largest database pool (0: by backend, see [`Settings::pool_size`]).
    #[arg(
        long,
        env = "LEGAMI_DB_MAX_CONNECTIONS",
        default_value_t = 0,
        global = true
    )]
    pub db_max_connections: u32,

    /// Milliseconds a request waits for a database connection before it is answered 503.
    #[arg(
        long,
        env = "LEGAMI_DB_ACQUIRE_TIMEOUT_MS",
        default_value_t = 3000,
        global = true
    )]
    pub db_acquire_timeout_ms: u64,

    /// PostgreSQL only: `random_page_cost` for this server's sessions (empty: the database's own
    /// setting). The default 1.1 prices an index's reads as what they are for a database held in
    /// memory or on SSD; PostgreSQL's own default (4) is for spinning disks, and with it the
    /// planner scans whole tables where one index answers (the filtered lists).
    #[arg(
        long,
        env = "LEGAMI_PG_RANDOM_PAGE_COST",
        default_value = "1.1",
        global = true
    )]
    pub pg_random_page_cost: String,

    /// PostgreSQL only: streaming replicas that serve read-only `GET`s (comma-separated URLs;
    /// empty: the primary serves everything). A replica is used while its replay lag is under
    /// `LEGAMI_REPLICA_MAX_LAG_MS`; one that lags or goes away is skipped until it catches up.
    #[arg(
        long,
        env = "LEGAMI_DATABASE_READ_URLS",
        default_value = "",
        global = true
    )]
    pub database_read_urls: String,

    /// Largest replay lag, in milliseconds, at which a replica still serves reads.
    #[arg(
        long,
        env = "LEGAMI_REPLICA_MAX_LAG_MS",
        default_value_t = 1000,
        global = true
    )]
    pub replica_max_lag_ms: u64,

    /// Seconds after a write during which its author (the token's subject) reads the primary,
    /// on every instance, so it sees its own writes.
    #[arg(
        long,
        env = "LEGAMI_READ_YOUR_WRITES_SECS",
        default_value_t = 5,
        global = true
    )]
    pub read_your_writes_secs: u64,

    /// SQLite only: record and map reads run in the request's own thread (`false`: every read
    /// goes through the pool's worker threads, as before).
    #[arg(
        long,
        env = "LEGAMI_SQLITE_INLINE_READS",
        default_value_t = true,
        action = clap::ArgAction::Set,
        global = true
    )]
    pub sqlite_inline_reads: bool,

    /// HTTP worker threads (0: one per CPU core).
    #[arg(long, env = "LEGAMI_WORKERS", default_value_t = 0, global = true)]
    pub workers: usize,

    /// Largest request body in bytes (larger is 413).
    #[arg(
        long,
        env = "LEGAMI_BODY_LIMIT",
        default_value_t = 1_048_576,
        global = true
    )]
    pub body_limit: usize,

    /// Seconds any request body may take to arrive (a metric batch: once its turn to be read
    /// comes); then 408 and the connection is closed.
    #[arg(
        long,
        env = "LEGAMI_BODY_TIMEOUT_SECS",
        default_value_t = 30,
        global = true
    )]
    pub body_timeout_secs: u64,

    /// Secret that signs pagination cursors (HMAC-SHA256). Production refuses the default and
    /// any secret shorter than 32 bytes.
    #[arg(
        long,
        env = "LEGAMI_CURSOR_SECRET",
        default_value = DEVELOPMENT_CURSOR_SECRET,
        global = true,
        hide_env_values = true
    )]
    pub cursor_secret: String,

    /// Origins allowed to make cross-origin writes (comma-separated). Reads are open to any origin.
    #[arg(long, env = "LEGAMI_CORS_ORIGINS", default_value = "", global = true)]
    pub cors_origins: String,

    /// Log format: `pretty` or `json`.
    #[arg(
        long,
        env = "LEGAMI_LOG_FORMAT",
        default_value = "pretty",
        global = true
    )]
    pub log_format: String,

    /// Log filter (tracing-subscriber syntax), e.g. `info` or `legami=debug,info`.
    #[arg(long, env = "LEGAMI_LOG", default_value = "info", global = true)]
    pub log: String,

    /// Load the demo data when `serve` starts on a database with no organisations.
    #[arg(long, env = "LEGAMI_SEED_DEMO_ON_EMPTY", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub seed_demo_on_empty: bool,

    /// Requests per minute per address for anonymous callers (0: no limit).
    #[arg(
        long,
        env = "LEGAMI_RATE_LIMIT_ANONYMOUS",
        default_value_t = 300,
        global = true
    )]
    pub rate_limit_anonymous: u32,

    /// Requests per minute per user or client for authenticated callers (0: no limit).
    #[arg(
        long,
        env = "LEGAMI_RATE_LIMIT_AUTHENTICATED",
        default_value_t = 1200,
        global = true
    )]
    pub rate_limit_authenticated: u32,

    /// Memory for cached anonymous GET answers, MiB (0: off). Exact for writes made through
    /// this process; writes made elsewhere are seen within the TTL.
    #[arg(
        long,
        env = "LEGAMI_RESPONSE_CACHE_MB",
        default_value_t = 32,
        global = true
    )]
    pub response_cache_mb: u64,

    /// Longest life of a cached answer, milliseconds: how late an anonymous reader may see a
    /// write made by another process or instance (writes through this one are seen at once).
    /// Well inside the `max-age=60` that anonymous answers already carry.
    #[arg(
        long,
        env = "LEGAMI_RESPONSE_CACHE_TTL_MS",
        default_value_t = 10_000,
        global = true
    )]
    pub response_cache_ttl_ms: u64,

    /// Failed logins per account or client (and 4x that per address) before `429` (0: off).
    #[arg(
        long,
        env = "LEGAMI_LOGIN_MAX_FAILURES",
        default_value_t = 5,
        global = true
    )]
    pub login_max_failures: u32,

    /// The window in which failed logins count, seconds.
    #[arg(
        long,
        env = "LEGAMI_LOGIN_WINDOW_SECS",
        default_value_t = 900,
        global = true
    )]
    pub login_window_secs: u64,

    /// `development` (signing keys generated and kept in the database on first start) or
    /// `production` (refuses to start without `LEGAMI_JWT_PRIVATE_KEY`).
    #[arg(long, env = "LEGAMI_ENV", default_value = "development", global = true)]
    pub env: String,

    /// Ed25519 private key that signs access tokens: PKCS#8 DER, base64. Required in production;
    /// setting a new one rotates keys (old ones keep verifying their tokens).
    #[arg(
        long,
        env = "LEGAMI_JWT_PRIVATE_KEY",
        global = true,
        hide_env_values = true
    )]
    pub jwt_private_key: Option<String>,

    /// `iss` of access tokens.
    #[arg(
        long,
        env = "LEGAMI_JWT_ISSUER",
        default_value = "legami",
        global = true
    )]
    pub jwt_issuer: String,

    /// `aud` of access tokens.
    #[arg(
        long,
        env = "LEGAMI_JWT_AUDIENCE",
        default_value = "legami-api",
        global = true
    )]
    pub jwt_audience: String,

    /// Seconds in-flight requests get to finish after SIGTERM.
    #[arg(
        long,
        env = "LEGAMI_SHUTDOWN_TIMEOUT_SECS",
        default_value_t = 30,
        global = true
    )]
    pub shutdown_timeout_secs: u64,
}

/// Hides the password of a database URL.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("database_url", &redact_url(&self.database_url))
            .field("bind", &self.bind)
            .field("db_max_connections", &self.db_max_connections)
            .field("db_acquire_timeout_ms", &self.db_acquire_timeout_ms)
            .field("pg_random_page_cost", &self.pg_random_page_cost)
            .field(
                "database_read_urls",
                &self
                    .read_urls()
                    .iter()
                    .map(|u| redact_url(u))
                    .collect::<Vec<_>>(),
            )
            .field("replica_max_lag_ms", &self.replica_max_lag_ms)
            .field("read_your_writes_secs", &self.read_your_writes_secs)
            .field("sqlite_inline_reads", &self.sqlite_inline_reads)
            .field("workers", &self.workers)
            .field("body_limit", &self.body_limit)
            .field("body_timeout_secs", &self.body_timeout_secs)
            .field("cursor_secret", &"***")
            .field("cors_origins", &self.cors_origins)
            .field("log_format", &self.log_format)
            .field("seed_demo_on_empty", &self.seed_demo_on_empty)
            .field("rate_limit_anonymous", &self.rate_limit_anonymous)
            .field("rate_limit_authenticated", &self.rate_limit_authenticated)
            .field("response_cache_mb", &self.response_cache_mb)
            .field("response_cache_ttl_ms", &self.response_cache_ttl_ms)
            .field("login_max_failures", &self.login_max_failures)
            .field("login_window_secs", &self.login_window_secs)
            .field("env", &self.env)
            .field(
                "jwt_private_key",
                &self.jwt_private_key.as_ref().map(|_| "***"),
            )
            .field("jwt_issuer", &self.jwt_issuer)
            .finish()
    }
}

impl Settings {
    /// The replicas' URLs (`LEGAMI_DATABASE_READ_URLS`, blanks dropped).
    pub fn read_urls(&self) -> Vec<String> {
        self.database_read_urls
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The pool size: `db_max_connections`, or by backend when it is 0. SQLite runs every query
    /// on the server's own CPUs, so connections beyond two per core add no throughput, only the
    /// page and statement caches each one keeps (about 10 MiB apiece under load); PostgreSQL
    /// connections mostly wait on the network, so 16.
    pub fn pool_size(&self) -> u32 {
        match self.db_max_connections {
            0 if self.database_url.starts_with("sqlite") => {
                let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
                u32::try_from(cores * 2).unwrap_or(u32::MAX).max(4)
            }
            0 => 16,
            n => n,
        }
    }

    /// Settings with every default, for tests and embedding (`database_url` and `bind` given).
    pub fn for_tests(database_url: &str) -> Self {
        Self {
            database_url: database_url.to_owned(),
            bind: "127.0.0.1:0".into(),
            db_max_connections: 5,
            db_acquire_timeout_ms: 2000,
            pg_random_page_cost: "1.1".into(),
            database_read_urls: String::new(),
            replica_max_lag_ms: 1000,
            read_your_writes_secs: 5,
            sqlite_inline_reads: true,
            workers: 2,
            body_limit: 1_048_576,
            body_timeout_secs: 30,
            cursor_secret: "test-cursor-secret".into(),
            cors_origins: String::new(),
            log_format: "pretty".into(),
            log: "warn".into(),
            seed_demo_on_empty: false,
            shutdown_timeout_secs: 5,
            rate_limit_anonymous: 0,
            rate_limit_authenticated: 0,
            response_cache_mb: 8,
            response_cache_ttl_ms: 1000,
            login_max_failures: 5,
            login_window_secs: 900,
            env: "development".into(),
            jwt_private_key: None,
            jwt_issuer: "legami".into(),
            jwt_audience: "legami-api".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(
            redact_url("sqlite://legami.db?mode=rwc"),
            "sqlite://legami.db?mode=rwc"
        );
    }
}
