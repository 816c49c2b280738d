//! `TestApp`: the real application on port 0 against its own database — a fresh SQLite file, or
//! a PostgreSQL database cloned from a migrated template and dropped when the test ends.
//!
//! The backend is chosen by `LEGAMI_TEST_DATABASE` (`sqlite`, the default, or `postgres`);
//! PostgreSQL is reached at `LEGAMI_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432`). If PostgreSQL is requested and unreachable, tests fail.

use legami_server::Settings;
use legami_server::startup::{Application, ExtraRoutes};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::sync::OnceCell;
use uuid::Uuid;

/// The password of every account the tests create.
pub const PASSWORD: &str = "una passphrase lunga per i test";
static PASSWORD_HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();

static COUNTER: AtomicU32 = AtomicU32::new(0);
static TEMPLATE: OnceCell<String> = OnceCell::const_new();

/// A program on `PATH` (an outside tool a test drives), if installed.
pub fn on_path(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// The outside tool a test drives, or `None` (with a note) where it is not installed; under
/// `CI=true` a missing tool fails the test instead, since `.ci/run` installs it.
pub fn required_tool(program: &str, install: &str) -> Option<std::path::PathBuf> {
    let found = on_path(program);
    if found.is_none() {
        assert!(
            std::env::var("CI").is_err(),
            "CI must install {program} ({install})"
        );
        eprintln!("note: {program} is not installed, so this test does not run: `{install}`");
    }
    found
}

pub fn is_postgres() -> bool {
    std::env::var("LEGAMI_TEST_DATABASE").is_ok_and(|v| v == "postgres")
}

fn pg_admin_url() -> String {
    std::env::var("LEGAMI_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

async fn admin() -> DatabaseConnection {
    Database::connect(format!("{}/postgres", pg_admin_url()))
        .await
        .expect("PostgreSQL was requested (LEGAMI_TEST_DATABASE=postgres) but is unreachable")
}

/// Drops databases left by test processes that no longer run.
async fn drop_stale(db: &DatabaseConnection) {
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT datname FROM pg_database WHERE datname LIKE 'legami\\_t%'",
        ))
        .await
        .expect("list databases");
    for r in rows {
        let name: String = r.try_get("", "datname").expect("datname");
        let pid: Option<u32> = name.split('_').nth(2).and_then(|p| p.parse().ok());
        if let Some(pid) = pid
            && pid != std::process::id()
            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = db
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await;
        }
    }
}

/// A migrated template database for this test process.
async fn template() -> String {
    TEMPLATE
        .get_or_init(|| async {
            let name = format!("legami_tpl_{}", std::process::id());
            let admin = admin().await;
            drop_stale(&admin).await;
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await
                .expect("drop template");
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await
                .expect("create template");
            let db = Database::connect(format!("{}/{name}", pg_admin_url()))
                .await
                .expect("connect template");
            legami_persistence::migrate(&db)
                .await
                .expect("migrate template");
            db.close().await.expect("close template");
            admin.close().await.ok();
            name
        })
        .await
        .clone()
}

/// Runs `sql` on `db` behind the servers' backs: on PostgreSQL with the triggers off, so no
/// instance hears of it (as from a process that writes without telling anyone).
pub async fn write_unheard(db: &DatabaseConnection, sql: &str) {
    use sea_orm::TransactionTrait;
    let txn = db.begin().await.expect("begin");
    if is_postgres() {
        txn.execute_unprepared("SET LOCAL session_replication_role = replica")
            .await
            .expect("triggers off");
    }
    txn.execute_unprepared(sql).await.expect("write");
    txn.commit().await.expect("commit");
}

/// A database for one test, removed when dropped.
pub struct TestDb {
    pub url: String,
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new() -> Self {
        if is_postgres() {
            let tpl = template().await;
            let n = COUNTER.fetch_add(1, Ordering::SeqCst);
            let name = format!("legami_t_{}_{n}", std::process::id());
            let admin = admin().await;
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{name}\" TEMPLATE \"{tpl}\""))
                .await
                .expect("create test database");
            admin.close().await.ok();
            Self {
                url: format!("{}/{name}", pg_admin_url()),
                pg_name: Some(name),
                _dir: None,
            }
        } else {
            let dir = tempfile::tempdir().expect("tempdir");
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
            Self {
                url,
                pg_name: None,
                _dir: Some(dir),
            }
        }
    }

    /// Whether this test database is on PostgreSQL.
    pub fn pg_name(&self) -> Option<&str> {
        self.pg_name.as_deref()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            // Drop runs outside async; use a private runtime on a helper thread.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(rt) = rt {
                    rt.block_on(async {
                        if let Ok(admin) =
                            Database::connect(format!("{}/postgres", pg_admin_url())).await
                        {
                            let _ = admin
                                .execute_unprepared(&format!(
                                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                                ))
                                .await;
                            admin.close().await.ok();
                        }
                    });
                }
            })
            .join();
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db: DatabaseConnection,
    /// An access token of the administrator every test app starts with.
    pub token: String,
    handle: actix_web::dev::ServerHandle,
    // Declared last: dropped after the server is stopped.
    pub test_db: TestDb,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}, None).await
    }

    pub async fn spawn_with(tweak: impl FnOnce(&mut Settings), extra: Option<ExtraRoutes>) -> Self {
        let mut app = Self::start(TestDb::new().await, tweak, extra).await;
        app.token = app.user_token("admin", &[]).await;
        app
    }

    /// A second server on this one's database, as a deployment runs several instances; it
    /// shares the administrator's token, and the database stays until the first app is dropped.
    pub async fn another_instance(&self, tweak: impl FnOnce(&mut Settings)) -> Self {
        let borrowed = TestDb {
            url: self.test_db.url.clone(),
            pg_name: None,
            _dir: None,
        };
        let mut app = Self::start(borrowed, tweak, None).await;
        app.token = self.token.clone();
        app
    }

    /// A server on a database of the test's own (a private cluster's), with an administrator.
    pub async fn spawn_on(url: &str, tweak: impl FnOnce(&mut Settings)) -> Self {
        let borrowed = TestDb {
            url: url.to_owned(),
            pg_name: None,
            _dir: None,
        };
        let mut app = Self::start(borrowed, tweak, None).await;
        app.token = app.user_token("admin", &[]).await;
        app
    }

    async fn start(
        test_db: TestDb,
        tweak: impl FnOnce(&mut Settings),
        extra: Option<ExtraRoutes>,
    ) -> Self {
        let mut settings = Settings::for_tests(&test_db.url);
        tweak(&mut settings);
        let app = Application::build_with(&settings, extra)
            .await
            .expect("build app");
        let address = format!("http://127.0.0.1:{}", app.port());
        let db = app.db().clone();
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Self {
            address,
            client,
            db,
            token: String::new(),
            handle,
            test_db,
        }
    }

    /// Creates an account with this role and these organisations and returns its access token.
    pub async fn user_token(&self, role: &str, organisations: &[&Value]) -> String {
        let hash =
            PASSWORD_HASH.get_or_init(|| legami_http::auth::hash_password(PASSWORD).expect("hash"));
        let orgs: Vec<Uuid> = organisations
            .iter()
            .map(|o| Uuid::parse_str(o["id"].as_str().expect("record id")).expect("uuid"))
            .collect();
        let email = format!("{role}-{}@legami.test", Uuid::now_v7().simple());
        legami_persistence::accounts::create_user(
            &self.db,
            &email,
            role,
            hash,
            role,
            &orgs,
            &legami_persistence::audit::Actor::system(),
        )
        .await
        .expect("create account");
        let res = self
            .client
            .post(self.url("/api/v1/auth/token"))
            .json(&json!({"grant_type": "password", "email": email, "password": PASSWORD}))
            .send()
            .await
            .expect("login");
        json_of(res, 200).await["access_token"]
            .as_str()
            .expect("access token")
            .to_owned()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    pub async fn get_auth(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("request")
    }

    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn patch(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .patch(self.url(path))
            .bearer_auth(&self.token)
            .header("content-type", "application/merge-patch+json")
            .body(body.to_string())
            .send()
            .await
            .expect("request")
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("request")
    }

    /// Creates an organisation from a minimal body merged with `extra`; returns the record.
    pub async fn create_org(&self, name: &str, extra: Value) -> Value {
        let mut body = json!({"name": name, "kind": "aps", "address": {"municipality": "018110"}, "status": "published"});
        json_patch::merge(&mut body, &extra);
        let res = self.post("/api/v1/organisations", &body).await;
        let status = res.status();
        let v: Value = res.json().await.expect("json");
        assert_eq!(status, 201, "create {name}: {v}");
        v
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop accepting and close the pool before the database is removed.
        let handle = self.handle.clone();
        drop(handle.stop(false));
    }
}

impl TestApp {
    /// Creates a published lab run by a fresh organisation, from a minimal body merged with `extra`.
    pub async fn create_lab(&self, name: &str, lat: f64, lon: f64, extra: Value) -> Value {
        let org = self.create_org(&format!("Ente di {name}"), json!({})).await;
        let mut body = json!({
            "name": name, "kind": "social_lab", "status": "published",
            "address": {"municipality": "018110"}, "location": {"lat": lat, "lon": lon},
            "operators": [{"organisation_id": org["id"], "role": "manager"}]
        });
        json_patch::merge(&mut body, &extra);
        let res = self.post("/api/v1/labs", &body).await;
        let status = res.status();
        let v: Value = res.json().await.expect("json");
        assert_eq!(status, 201, "create lab {name}: {v}");
        v
    }
}

/// Great-circle distance computed independently of the server (spherical law of haversines,
/// mean Earth radius 6371.0088 km).
pub fn haversine(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let r = 6371.0088_f64;
    let (la1, la2) = (lat1.to_radians(), lat2.to_radians());
    let a = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lon2 - lon1).to_radians() / 2.0).sin().powi(2);
    2.0 * r * a.sqrt().asin()
}

/// Reads a body as JSON, asserting the status first.
pub async fn json_of(res: reqwest::Response, status: u16) -> Value {
    let got = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = res.text().await.expect("body");
    assert_eq!(got, status, "unexpected status, body: {text}");
    if status >= 400 {
        assert!(
            ct.starts_with("application/problem+json"),
            "error content type {ct}: {text}"
        );
    }
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// Asserts a problem body names exactly these fields (in any order).
pub fn assert_fields(problem: &Value, expected: &[&str]) {
    let mut got: Vec<&str> = problem["errors"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default();
    got.sort_unstable();
    let mut want = expected.to_vec();
    want.sort_unstable();
    assert_eq!(got, want, "problem: {problem}");
}
