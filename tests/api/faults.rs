//! Faults: the database going away under load, SIGTERM and kill -9 during a burst of writes.
//! Afterwards, every write that was answered 2xx is stored, and every stored write is whole
//! (the record, its change-feed entry, its audit entry and its search document together).

use crate::helpers::{TestApp, is_postgres};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
        let ok = std::process::Command::new("kill")
            .args([sig, &self.process.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
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
    let child = Child::start(&app.test_db.url).await;
    let pid = child.process.id();
    let results = burst(
        &app.client,
        &child.base,
        &app.token,
        "Sigterm",
        Plan {
            count: 160,
            concurrency: 16,
            trigger: 40,
        },
        move || {
            std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .unwrap();
        },
    )
    .await;
    let status = child.wait().await;
    assert!(status.success(), "a graceful stop exits 0: {status:?}");
    let ok = results.iter().filter(|(_, s)| *s == Some(201)).count();
    assert!(ok >= 40, "{ok} writes answered before the stop");
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
    let child = Child::start(&app.test_db.url).await;
    let pid = child.process.id();
    let results = burst(
        &app.client,
        &child.base,
        &app.token,
        "Killed",
        Plan {
            count: 160,
            concurrency: 16,
            trigger: 40,
        },
        move || {
            std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status()
                .unwrap();
        },
    )
    .await;
    let status = child.wait().await;
    assert!(!status.success(), "killed, not stopped: {status:?}");
    let ok = results.iter().filter(|(_, s)| *s == Some(201)).count();
    assert!(ok >= 40, "{ok} writes answered before the kill");
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

/// A TCP relay in front of PostgreSQL that can go down (every connection cut, new ones
/// refused, as a stopped server) and come back on the same port — so this test stops "its"
/// PostgreSQL without stopping the one the other tests share.
struct Relay {
    port: u16,
    up: Arc<AtomicBool>,
    generation: Arc<std::sync::atomic::AtomicU64>,
}

impl Relay {
    async fn start(target: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let generation = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (up2, gen2) = (up.clone(), generation.clone());
        tokio::spawn(async move {
            let mut listener = Some(listener);
            loop {
                if !up2.load(Ordering::SeqCst) {
                    // Down: nothing listens, so connecting is refused.
                    listener = None;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
                if listener.is_none() {
                    listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                        .await
                        .ok();
                    if listener.is_none() {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                }
                let accepted = tokio::time::timeout(
                    Duration::from_millis(50),
                    listener.as_ref().unwrap().accept(),
                )
                .await;
                let Ok(Ok((mut inbound, _))) = accepted else {
                    continue;
                };
                let (target, up3, gen3) = (target.clone(), up2.clone(), gen2.clone());
                let born = gen3.load(Ordering::SeqCst);
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    let copy = tokio::io::copy_bidirectional(&mut inbound, &mut outbound);
                    let cut = async {
                        while up3.load(Ordering::SeqCst) && gen3.load(Ordering::SeqCst) == born {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    };
                    tokio::select! { _ = copy => {}, _ = cut => {} }
                });
            }
        });
        Self {
            port,
            up,
            generation,
        }
    }

    fn down(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.up.store(false, Ordering::SeqCst);
    }

    fn up(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_going_away_gives_503_and_the_server_recovers_without_a_restart() {
    if !is_postgres() {
        eprintln!("note: the database-outage test runs with LEGAMI_TEST_DATABASE=postgres");
        return;
    }
    let app = TestApp::spawn().await;
    let url = url_parts(&app.test_db.url);
    let relay = Arc::new(Relay::start(url.hostport.clone()).await);
    let via_relay = format!("{}127.0.0.1:{}{}", url.scheme_user, relay.port, url.rest);
    let child = Child::start(&via_relay).await;
    let client = &app.client;
    let ready = |base: String| async move {
        client
            .get(format!("{base}/health/ready"))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .ok()
    };
    assert_eq!(ready(child.base.clone()).await, Some(200));

    let r2 = relay.clone();
    let results = burst(
        client,
        &child.base,
        &app.token,
        "Outage",
        Plan {
            count: 120,
            concurrency: 12,
            trigger: 30,
        },
        move || r2.down(),
    )
    .await;
    // While the database is away: writes and reads are 503 problems, and readiness fails.
    assert_eq!(ready(child.base.clone()).await, Some(503));
    let res = client
        .post(format!("{}/api/v1/organisations", child.base))
        .bearer_auth(&app.token)
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

    // Back: the same process serves again, without a restart.
    relay.up();
    let mut back = false;
    for _ in 0..100 {
        if ready(child.base.clone()).await == Some(200) {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "/health/ready recovers once the database is back");
    let res = client
        .post(format!("{}/api/v1/organisations", child.base))
        .bearer_auth(&app.token)
        .json(&org_body("Outage after recovery"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let stored = stored_whole(&app.db, "Outage").await;
    check_outcome(&results, &stored);
    assert!(!stored.contains("Outage while down"));
    assert!(stored.contains("Outage after recovery"));
}

struct UrlParts {
    scheme_user: String,
    hostport: String,
    rest: String,
}

/// Splits `postgres://user@host:port/db?x` into `postgres://user@`, `host:port`, `/db?x`.
fn url_parts(url: &str) -> UrlParts {
    let (scheme, after) = url.split_once("://").unwrap();
    let (auth, hostrest) = match after.rsplit_once('@') {
        Some((a, h)) => (format!("{a}@"), h),
        None => (String::new(), after),
    };
    let split = hostrest.find('/').unwrap_or(hostrest.len());
    UrlParts {
        scheme_user: format!("{scheme}://{auth}"),
        hostport: hostrest[..split].to_owned(),
        rest: hostrest[split..].to_owned(),
    }
}
