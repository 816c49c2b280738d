//! Faults: PostgreSQL stopped under load, SIGTERM and kill -9 during a burst of writes.
//! Afterwards, every write that was answered 2xx is stored, and every stored write is whole
//! (the record, its change-feed entry, its audit entry and its search document together).

use crate::helpers::{TestApp, is_postgres};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The server binary `cargo test --workspace` builds next to this test binary.
fn server_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let bin = dir.join(format!("legami{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run the tests with `cargo test --workspace` (it builds the server)",
        bin.display()
    );
    bin
}

/// `legami serve` in its own process on the test's database.
struct Child {
    process: std::process::Child,
    base: String,
}

impl Child {
    async fn start(db_url: &str) -> Self {
        let mut process = std::process::Command::new(server_binary())
            .arg("serve")
            .env("LEGAMI_DATABASE_URL", db_url)
            .env("LEGAMI_BIND", "127.0.0.1:0")
            .env("LEGAMI_SEED_DEMO_ON_EMPTY", "false")
            .env("LEGAMI_RATE_LIMIT_ANONYMOUS", "0")
            .env("LEGAMI_RATE_LIMIT_AUTHENTICATED", "0")
            .env("LEGAMI_SHUTDOWN_TIMEOUT_SECS", "20")
            .env("LEGAMI_WORKERS", "2")
            .env("LEGAMI_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the server starts");
        let stdout = process.stdout.take().unwrap();
        let base = tokio::task::spawn_blocking(move || {
            use std::io::BufRead;
            let mut lines = std::io::BufReader::new(stdout).lines();
            let line = lines
                .find_map(|l| l.ok().filter(|l| l.starts_with("Legami is running")))
                .expect("the server says where it listens");
            // Keep draining so the child never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            let api = line.split_whitespace().nth(4).unwrap();
            api.trim_end_matches("/api/v1").to_owned()
        })
        .await
        .unwrap();
        Self { process, base }
    }

    fn signal(&self, sig: &str) {
        kill(self.process.id(), sig);
    }

    async fn wait(mut self) -> std::process::ExitStatus {
        tokio::task::spawn_blocking(move || self.process.wait().unwrap())
            .await
            .unwrap()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Sends a signal (`-TERM`, `-KILL`) to a process.
fn kill(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

/// 160 creates named `prefix NNNN` against a `legami` process on the app's database, 16 at a
/// time; after the 40th answer the process gets `sig`. Returns the answers and how it exited.
async fn burst_then_signal(
    app: &TestApp,
    prefix: &str,
    sig: &'static str,
) -> (Vec<(String, Option<u16>)>, std::process::ExitStatus) {
    let child = Child::start(&app.test_db.url).await;
    let pid = child.process.id();
    let plan = Plan {
        count: 160,
        concurrency: 16,
        trigger: 40,
    };
    let results = burst(
        &app.client,
        &child.base,
        &app.token,
        prefix,
        plan,
        move || kill(pid, sig),
    )
    .await;
    let status = child.wait().await;
    let ok = results.iter().filter(|(_, s)| *s == Some(201)).count();
    assert!(ok >= 40, "{ok} writes answered before {sig}");
    (results, status)
}

fn org_body(name: &str) -> Value {
    json!({"name": name, "kind": "aps", "address": {"municipality": "018110"}, "status": "published"})
}

/// How many creates, how many at a time, and after how many answers the fault strikes.
struct Plan {
    count: usize,
    concurrency: usize,
    trigger: usize,
}

/// Sends `plan.count` creates named `prefix NNNN`; `at` is called once, after `plan.trigger`
/// answers. Returns each name with its status (`None`: no answer, the connection failed).
async fn burst(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    prefix: &str,
    plan: Plan,
    at: impl FnOnce() + Send + 'static,
) -> Vec<(String, Option<u16>)> {
    let Plan {
        count,
        concurrency,
        trigger,
    } = plan;
    let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let at = Arc::new(std::sync::Mutex::new(Some(at)));
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut tasks = Vec::new();
    for i in 0..count {
        let permit = sem.clone().acquire_owned().await.unwrap();
        let (client, url, token) = (
            client.clone(),
            format!("{base}/api/v1/organisations"),
            token.to_owned(),
        );
        let (answered, at) = (answered.clone(), at.clone());
        let name = format!("{prefix} {i:04}");
        tasks.push(tokio::spawn(async move {
            let res = client
                .post(url)
                .bearer_auth(token)
                .json(&org_body(&name))
                .timeout(Duration::from_secs(30))
                .send()
                .await;
            let status = match res {
                Ok(r) => {
                    let s = r.status().as_u16();
                    let ct = r
                        .headers()
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    let body = r.text().await.unwrap_or_default();
                    if s >= 400 {
                        assert_eq!(ct, "application/problem+json", "{s}: {body}");
                        assert!(!body.contains("panicked") && !body.contains("SELECT"));
                    }
                    Some(s)
                }
                Err(_) => None,
            };
            if answered.fetch_add(1, Ordering::SeqCst) + 1 == trigger
                && let Some(f) = at.lock().unwrap().take()
            {
                f();
            }
            drop(permit);
            (name, status)
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// The organisations stored under `prefix`, each checked whole: its change-feed entry, its
/// audit entry and its search document were written with it (or none of them were).
async fn stored_whole(db: &DatabaseConnection, prefix: &str) -> HashSet<String> {
    let backend = db.get_database_backend();
    let q = |sql: &str| Statement::from_string(backend, sql.to_owned());
    let rows = db
        .query_all_raw(q(&format!(
            "SELECT o.name, \
               (SELECT COUNT(*) FROM changes c WHERE c.entity = 'organisation' AND c.record_id = o.id) AS feed, \
               (SELECT COUNT(*) FROM audit_log a WHERE a.entity = 'organisation' AND a.record_id = o.id) AS audit, \
               (SELECT COUNT(*) FROM search_docs s WHERE s.entity = 'organisation' AND s.record_id = o.id) AS docs \
             FROM organisations o WHERE o.name LIKE '{prefix}%'"
        )))
        .await
        .unwrap();
    let mut names = HashSet::new();
    for r in rows {
        let name: String = r.try_get("", "name").unwrap();
        let feed: i64 = r.try_get("", "feed").unwrap();
        let audit: i64 = r.try_get("", "audit").unwrap();
        let docs: i64 = r.try_get("", "docs").unwrap();
        assert_eq!(
            (feed, audit, docs),
            (1, 1, 1),
            "{name} is half-written (change feed, audit, search document)"
        );
        names.insert(name);
    }
    names
}

fn check_outcome(results: &[(String, Option<u16>)], stored: &HashSet<String>) {
    for (name, status) in results {
        match status {
            Some(201) => assert!(stored.contains(name), "{name} was answered 201 but is lost"),
            Some(503) | None => {} // refused or cut off: absent, or present and whole
            Some(s) => panic!("{name}: unexpected {s}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_burst_of_writes_loses_no_answered_write() {
    let app = TestApp::spawn().await;
    let (results, status) = burst_then_signal(&app, "Sigterm", "-TERM").await;
    assert!(status.success(), "a graceful stop exits 0: {status:?}");
    assert!(
        results.iter().any(|(_, s)| *s != Some(201)),
        "the stop happened during the burst"
    );
    let stored = stored_whole(&app.db, "Sigterm").await;
    check_outcome(&results, &stored);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_writes_then_a_restart_serves_every_answered_write() {
    let app = TestApp::spawn().await;
    let (results, status) = burst_then_signal(&app, "Killed", "-KILL").await;
    assert!(!status.success(), "killed, not stopped: {status:?}");
    // A new process on the same database starts, serves what was answered, and takes writes.
    let again = Child::start(&app.test_db.url).await;
    let stored = stored_whole(&app.db, "Killed").await;
    check_outcome(&results, &stored);
    for (name, _) in results.iter().filter(|(_, s)| *s == Some(201)).take(5) {
        let res = app
            .client
            .get(format!(
                "{}/api/v1/organisations?q={}",
                again.base,
                name.replace(' ', "+")
            ))
            .bearer_auth(&app.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    let res = app
        .client
        .post(format!("{}/api/v1/organisations", again.base))
        .bearer_auth(&app.token)
        .json(&org_body("Killed after restart"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    again.signal("-TERM");
    assert!(again.wait().await.success());
}

/// A PostgreSQL server of this test's own (initdb in a temporary folder, its own port), so the
/// test can stop and start a real PostgreSQL without touching the one the other tests share.
struct PrivatePostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl PrivatePostgres {
    /// The newest installed PostgreSQL's programs (Debian: /usr/lib/postgresql/<v>/bin).
    fn bin_dir() -> Option<PathBuf> {
        let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(Result::ok)
            .filter_map(|e| {
                let v = e.file_name().to_str()?.parse::<u32>().ok()?;
                let bin = e.path().join("bin");
                bin.join("pg_ctl").exists().then_some((v, bin))
            })
            .collect();
        found.sort();
        found.pop().map(|(_, bin)| bin)
    }

    /// Runs a PostgreSQL program as the `postgres` user (the server refuses to run as root).
    fn run(&self, program: &str, args: &[&str]) {
        let exe = self.bin.join(program);
        let root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        let mut cmd = if root {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            std::process::Command::new(&exe)
        };
        let out = cmd.args(args).output().expect("a PostgreSQL program runs");
        assert!(
            out.status.success(),
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn new(bin: PathBuf) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let _ = std::process::Command::new("chown")
            .args(["postgres:postgres", &dir.path().display().to_string()])
            .status();
        // A port below the kernel's ephemeral range (32768 and up): a port from that range can be
        // taken, while the cluster is stopped, as the source port of some other test's
        // connection, and the restart then cannot listen on it.
        let start = 20_000 + (std::process::id() % 10_000) as u16;
        let port = (0..10_000u16)
            .map(|i| 20_000 + (start - 20_000 + i) % 10_000)
            .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
            .expect("a free port below the ephemeral range");
        let pg = Self { bin, dir, port };
        let data = pg.data();
        pg.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        pg.start();
        pg
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn start(&self) {
        let (data, log) = (
            self.data(),
            self.dir.path().join("log").display().to_string(),
        );
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let started = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.run(
                "pg_ctl",
                &[
                    "-D", &data, "-o", &opts, "-l", &log, "-w", "-t", "180", "start",
                ],
            );
        }));
        if started.is_err() {
            panic!(
                "the private PostgreSQL did not start; its log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
    }

    /// A fast shutdown: sessions are ended, nothing new is accepted.
    fn stop(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data();
        let _ = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", &data, "-m", "immediate", "stop"])
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_postgres_mid_burst_gives_503_and_the_server_recovers_without_a_restart() {
    if !is_postgres() {
        eprintln!("note: the database-outage test runs with LEGAMI_TEST_DATABASE=postgres");
        return;
    }
    let Some(bin) = PrivatePostgres::bin_dir() else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must have PostgreSQL's programs (initdb, pg_ctl)"
        );
        eprintln!("note: no initdb/pg_ctl here: the outage test is not run");
        return;
    };
    let pg = Arc::new(
        tokio::task::spawn_blocking(move || PrivatePostgres::new(bin))
            .await
            .unwrap(),
    );
    let url = pg.url();
    let legami = |args: &[&str], stdin: Option<&str>| {
        use std::io::Write;
        let mut child = std::process::Command::new(server_binary())
            .args(args)
            .env("LEGAMI_DATABASE_URL", &url)
            .env("LEGAMI_LOG", "warn")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        assert!(child.wait().unwrap().success(), "legami {args:?}");
    };
    legami(&["migrate"], None);
    legami(
        &[
            "admin",
            "create",
            "--email",
            "outage@legami.test",
            "--password-stdin",
        ],
        Some("una passphrase lunga per i test\n"),
    );
    let child = Child::start(&url).await;
    let client = reqwest::Client::new();
    let login = client
        .post(format!("{}/api/v1/auth/token", child.base))
        .json(
            &json!({"grant_type": "password", "email": "outage@legami.test",
            "password": "una passphrase lunga per i test"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let token = login.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let ready = |base: String| {
        let client = client.clone();
        async move {
            client
                .get(format!("{base}/health/ready"))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .ok()
        }
    };
    assert_eq!(ready(child.base.clone()).await, Some(200));

    // PostgreSQL stops after the 30th answer, with writes in flight.
    let stopper = pg.clone();
    let results = burst(
        &client,
        &child.base,
        &token,
        "Outage",
        Plan {
            count: 120,
            concurrency: 12,
            trigger: 30,
        },
        move || {
            std::thread::spawn(move || stopper.stop());
        },
    )
    .await;
    // While it is down: readiness fails, and writes are 503 problems.
    for _ in 0..100 {
        if ready(child.base.clone()).await == Some(503) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ready(child.base.clone()).await, Some(503));
    let res = client
        .post(format!("{}/api/v1/organisations", child.base))
        .bearer_auth(&token)
        .json(&org_body("Outage while down"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(
        res.headers().get("content-type").unwrap(),
        "application/problem+json"
    );
    let refused = results.iter().filter(|(_, s)| *s == Some(503)).count();
    assert!(refused > 0, "some writes met the outage");

    // PostgreSQL starts again: the same server process serves again, without a restart.
    let starter = pg.clone();
    tokio::task::spawn_blocking(move || starter.start())
        .await
        .unwrap();
    let mut back = false;
    for _ in 0..200 {
        if ready(child.base.clone()).await == Some(200) {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "/health/ready recovers once PostgreSQL is back");
    let res = client
        .post(format!("{}/api/v1/organisations", child.base))
        .bearer_auth(&token)
        .json(&org_body("Outage after recovery"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let db = sea_orm::Database::connect(&url).await.unwrap();
    let stored = stored_whole(&db, "Outage").await;
    check_outcome(&results, &stored);
    assert!(!stored.contains("Outage while down"));
    assert!(stored.contains("Outage after recovery"));
    db.close().await.ok();
    drop(child);
}
