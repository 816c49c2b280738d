//! Several instances of the server on one PostgreSQL database (API.md section 8): what one
//! instance's writes do to the others' cached answers, and limits counted once for all of them.
//! One SQLite file has one server, so these tests need PostgreSQL.

use crate::helpers::{TestApp, is_postgres, json_of};
use serde_json::json;
use std::time::Duration;

/// Changes a lab's name so that no instance is told (as a write whose notice was lost).
async fn rename_unheard(db: &sea_orm::DatabaseConnection, id: &str, name: &str) {
    let sql = format!("UPDATE labs SET name = '{name}' WHERE id = '{id}'");
    crate::helpers::write_unheard(db, &sql).await;
}

/// Waits until `n` instances listen for write notices on connections other than `gone`, and
/// returns their backend ids.
async fn listening(db: &sea_orm::DatabaseConnection, n: usize, gone: &[i32]) -> Vec<i32> {
    use sea_orm::{ConnectionTrait, Statement};
    let started = std::time::Instant::now();
    loop {
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                format!(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
                     AND application_name = '{}' AND state = 'idle' AND query LIKE 'LISTEN%'",
                    legami_persistence::notices::APPLICATION_NAME
                ),
            ))
            .await
            .unwrap();
        let pids: Vec<i32> = rows
            .iter()
            .map(|r| r.try_get::<i32>("", "pid").unwrap())
            .filter(|p| !gone.contains(p))
            .collect();
        if pids.len() == n {
            // The instance serves from its cache right after its LISTEN returns.
            tokio::time::sleep(Duration::from_millis(50)).await;
            return pids;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{n} listening instances expected, found {pids:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Reads `path` anonymously from `app` until its name is `name`; how long that took.
async fn seen_after(app: &TestApp, path: &str, name: &str) -> Duration {
    let started = std::time::Instant::now();
    loop {
        if json_of(app.get(path).await, 200).await["name"] == name {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{path} still not {name} after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test]
async fn a_write_through_one_instance_reaches_the_other_instances_readers_within_a_second() {
    if !is_postgres() {
        return;
    }
    // Entries that would live ten minutes: only the notices can make the second instance fresh.
    let long = |s: &mut legami_server::Settings| s.response_cache_ttl_ms = 600_000;
    let a = TestApp::spawn_with(long, None).await;
    let b = a.another_instance(long).await;
    listening(&a.db, 2, &[]).await;
    let lab = a
        .create_lab("Laboratorio Condiviso", 45.46, 9.19, json!({}))
        .await;
    let id = lab["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/labs/{id}");
    // The second instance caches: a change nobody is told of stays unseen there.
    assert!(seen_after(&b, &path, "Laboratorio Condiviso").await < Duration::from_secs(1));
    rename_unheard(&a.db, &id, "Inaudito").await;
    assert_eq!(
        json_of(b.get(&path).await, 200).await["name"],
        "Laboratorio Condiviso"
    );

    // Writes through the first instance: each seen by the second one's anonymous readers (whose
    // cache holds the name before) within a second, the record and the lists alike.
    let mut lags = Vec::new();
    for round in 0..50 {
        let name = format!("Laboratorio Condiviso {round}");
        json_of(a.patch(&path, &json!({"name": name})).await, 200).await;
        lags.push(seen_after(&b, &path, &name).await);
        if round % 10 == 0 {
            let list = json_of(b.get("/api/v1/labs?q=condiviso").await, 200).await;
            assert_eq!(list["data"][0]["name"], name.as_str());
        }
    }
    lags.sort();
    let p99 = lags[lags.len() * 99 / 100];
    eprintln!(
        "notice lag p50 {:?} p99 {p99:?} max {:?}",
        lags[lags.len() / 2],
        lags[lags.len() - 1]
    );
    assert!(p99 < Duration::from_secs(1), "p99 {p99:?}, all {lags:?}");

    // The notice connections drop: nothing cached is served while they are away, and what was
    // cached before counts as stale once they are back.
    let before = listening(&a.db, 2, &[]).await;
    {
        use sea_orm::ConnectionTrait;
        a.db.execute_unprepared(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid IN ({})",
            before
                .iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(",")
        ))
        .await
        .unwrap();
    }
    rename_unheard(&a.db, &id, "Perso").await;
    assert!(seen_after(&b, &path, "Perso").await < Duration::from_secs(1));
    // Listening again, the second instance caches again, and hears again.
    listening(&a.db, 2, &before).await;
    assert_eq!(json_of(b.get(&path).await, 200).await["name"], "Perso");
    rename_unheard(&a.db, &id, "Inaudito").await;
    assert_eq!(json_of(b.get(&path).await, 200).await["name"], "Perso");
    json_of(a.patch(&path, &json!({"name": "Ritrovato"})).await, 200).await;
    assert!(seen_after(&b, &path, "Ritrovato").await < Duration::from_secs(1));
    drop(b);
}

#[tokio::test]
async fn two_instances_allow_the_rate_limit_once_not_twice() {
    if !is_postgres() {
        return;
    }
    let limited = |s: &mut legami_server::Settings| s.rate_limit_anonymous = 10;
    let a = TestApp::spawn_with(limited, None).await;
    let b = a.another_instance(limited).await;
    // The first instance's administrator login spent one of the address's ten requests; a
    // client alternating between the instances has nine left in all, not nine on each.
    let mut remaining = Vec::new();
    let mut refused_at = None;
    for i in 0..20 {
        let app = if i % 2 == 0 { &a } else { &b };
        let res = app.get("/api/v1/themes").await;
        if res.status() == 429 {
            let retry: u64 = res.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=60).contains(&retry), "{retry}");
            json_of(res, 429).await;
            refused_at = Some(i);
            break;
        }
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["ratelimit-limit"], "10");
        remaining.push(
            res.headers()["ratelimit-remaining"]
                .to_str()
                .unwrap()
                .parse::<u32>()
                .unwrap(),
        );
    }
    assert_eq!(
        refused_at,
        Some(9),
        "remaining along the way: {remaining:?}"
    );
    assert_eq!(remaining, [8, 7, 6, 5, 4, 3, 2, 1, 0]);
    // Both instances refuse now; authenticated callers have their own budget.
    assert_eq!(a.get("/api/v1/themes").await.status(), 429);
    assert_eq!(b.get("/api/v1/themes").await.status(), 429);
    assert_eq!(b.get_auth("/api/v1/themes").await.status(), 200);
    drop(b);
}

#[tokio::test]
async fn a_higher_limit_is_leased_in_cells_and_never_exceeded_across_instances() {
    if !is_postgres() {
        return;
    }
    // 300 a minute: each instance takes a few cells at once (at most an eighth of what remains,
    // one near the end), so most requests do not ask the database, and the two together never
    // admit more than the limit.
    let limited = |s: &mut legami_server::Settings| s.rate_limit_anonymous = 300;
    let a = TestApp::spawn_with(limited, None).await;
    let b = a.another_instance(limited).await;
    let mut admitted = 0;
    let mut refused = 0;
    let started = std::time::Instant::now();
    for i in 0..600 {
        let app = if i % 2 == 0 { &a } else { &b };
        match app.get("/api/v1/themes").await.status().as_u16() {
            200 => admitted += 1,
            429 => refused += 1,
            other => panic!("status {other}"),
        }
    }
    // The administrator's login spent one of the 300; the bucket refills by 5 a second.
    let refilled = (started.elapsed().as_secs_f64() * 5.0).ceil() as i32;
    assert!(
        admitted <= 299 + refilled && admitted >= 290,
        "admitted {admitted}, refused {refused}, refilled {refilled}"
    );
    drop(b);
}

#[tokio::test]
async fn two_instances_throttle_failed_logins_once_not_twice() {
    if !is_postgres() {
        return;
    }
    let a = TestApp::spawn().await;
    let b = a.another_instance(|_| {}).await;
    let email = format!("bersaglio-{}@legami.test", uuid::Uuid::now_v7().simple());
    let hash = legami_http::auth::hash_password(crate::helpers::PASSWORD).unwrap();
    legami_persistence::accounts::create_user(
        &a.db,
        &email,
        "Bersaglio",
        &hash,
        "viewer",
        &[],
        &legami_persistence::audit::Actor::system(),
    )
    .await
    .unwrap();
    let login = |app: &TestApp, password: &str| {
        app.client
            .post(app.url("/api/v1/auth/token"))
            .json(&json!({"grant_type": "password", "email": email, "password": password}))
            .send()
    };
    // Five failures (the limit), alternating between the instances...
    for i in 0..5 {
        let app = if i % 2 == 0 { &a } else { &b };
        json_of(login(app, "sbagliata!!").await.unwrap(), 401).await;
    }
    // ...and both make even the right password wait.
    for app in [&a, &b] {
        let res = login(app, crate::helpers::PASSWORD).await.unwrap();
        let retry: u64 = res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=900).contains(&retry), "{retry}");
        json_of(res, 429).await;
    }
    // A success clears the account's failures everywhere.
    use sea_orm::ConnectionTrait;
    a.db.execute_unprepared("DELETE FROM login_failures")
        .await
        .unwrap();
    json_of(login(&b, crate::helpers::PASSWORD).await.unwrap(), 200).await;
    for _ in 0..4 {
        json_of(login(&a, "sbagliata!!").await.unwrap(), 401).await;
    }
    json_of(login(&b, crate::helpers::PASSWORD).await.unwrap(), 200).await;
    json_of(login(&a, "sbagliata!!").await.unwrap(), 401).await;
    json_of(login(&b, crate::helpers::PASSWORD).await.unwrap(), 200).await;
    drop(b);
}

#[tokio::test]
async fn an_idempotency_key_sent_to_one_instance_then_another_replays_and_the_feed_keeps_one_order()
{
    if !is_postgres() {
        return;
    }
    let a = TestApp::spawn().await;
    let b = a.another_instance(|_| {}).await;
    let send = |app: &TestApp, body: &serde_json::Value| {
        app.client
            .post(app.url("/api/v1/organisations"))
            .bearer_auth(&app.token)
            .header("Idempotency-Key", "una-volta-sola")
            .json(body)
            .send()
    };
    let body = json!({"name": "Una volta sola", "kind": "aps", "address": {"municipality": "018110"}, "status": "published"});
    let first = send(&a, &body).await.unwrap();
    assert_eq!(first.status(), 201);
    let first = first.json::<serde_json::Value>().await.unwrap();
    let again = send(&b, &body).await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(
        again.json::<serde_json::Value>().await.unwrap()["id"],
        first["id"]
    );
    let other = json!({"name": "Un'altra", "kind": "aps", "address": {"municipality": "018110"}});
    assert_eq!(send(&b, &other).await.unwrap().status(), 409);

    // Writes through both instances at once: the change feed lists each once, in one order that
    // a reader following its cursor walks without a gap or a repeat.
    let names: Vec<(usize, String)> = (0..20).map(|n| (n % 2, format!("Ente {n}"))).collect();
    let writers = names
        .iter()
        .map(|(i, name)| [&a, &b][*i].create_org(name, json!({})));
    let created: Vec<serde_json::Value> = futures_util::future::join_all(writers).await;
    let mut seen = Vec::new();
    let mut path = "/api/v1/changes?limit=7".to_owned();
    loop {
        let page = json_of(a.get_auth(&path).await, 200).await;
        let data = page["data"].as_array().unwrap();
        if data.is_empty() {
            break;
        }
        seen.extend(data.iter().map(|c| c["id"].as_str().unwrap().to_owned()));
        let cursor = page["next_cursor"].as_str().unwrap();
        path = format!("/api/v1/changes?limit=7&since={cursor}");
    }
    let mut expected: Vec<String> = created
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .chain([first["id"].as_str().unwrap().to_owned()])
        .collect();
    expected.sort();
    let mut got = seen.clone();
    got.sort();
    assert_eq!(got, expected, "each write once: {seen:?}");
    drop(b);
}

/// A private PostgreSQL primary and a streaming replica of it (`initdb`, `pg_basebackup -R`,
/// `pg_ctl`) on ports of their own on 127.0.0.1; stopped and removed when dropped.
struct Cluster {
    dir: tempfile::TempDir,
    bin: std::path::PathBuf,
    primary: u16,
    replica: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Cluster {
    /// Runs a PostgreSQL program as the `postgres` account when this is root (the server
    /// refuses to run as root).
    fn run(&self, program: &str, args: &[&str]) {
        let path = self.bin.join(program);
        let root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        let mut cmd = if root {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            std::process::Command::new(&path)
        };
        let out = cmd.args(args).output().expect(program);
        assert!(
            out.status.success(),
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn options(&self, port: u16) -> String {
        format!(
            "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} \
             -c fsync=off -c wal_level=replica -c max_wal_senders=5 -c hot_standby=on",
            self.dir.path().display()
        )
    }

    fn data(&self, which: &str) -> String {
        self.dir.path().join(which).display().to_string()
    }

    fn start(&self, which: &str, port: u16) {
        let log = self.dir.path().join(format!("{which}.log"));
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(which),
                "-l",
                &log.display().to_string(),
                "-w",
                "-o",
                &self.options(port),
                "start",
            ],
        );
    }

    fn stop(&self, which: &str) {
        self.run(
            "pg_ctl",
            &["-D", &self.data(which), "-m", "fast", "-w", "stop"],
        );
    }

    fn new() -> Self {
        let out = std::process::Command::new("pg_config")
            .arg("--bindir")
            .output()
            .expect("pg_config (PostgreSQL's server package)");
        let bin = std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let dir = tempfile::tempdir().unwrap();
        let _ = std::process::Command::new("chown")
            .args(["-R", "postgres:", &dir.path().display().to_string()])
            .status();
        let c = Self {
            dir,
            bin,
            primary: free_port(),
            replica: free_port(),
        };
        c.run(
            "initdb",
            &[
                "-D",
                &c.data("primary"),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        );
        c.start("primary", c.primary);
        c.run(
            "createdb",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &c.primary.to_string(),
                "-U",
                "postgres",
                "legami",
            ],
        );
        c.run(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &c.primary.to_string(),
                "-U",
                "postgres",
                "-D",
                &c.data("replica"),
                "-R",
                "--no-sync",
                "--checkpoint=fast",
            ],
        );
        c.start("replica", c.replica);
        c
    }

    fn url(port: u16) -> String {
        format!("postgres://postgres@127.0.0.1:{port}/legami")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for which in ["replica", "primary"] {
            let _ = std::process::Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(self.bin.join("pg_ctl"))
                .args(["-D", &self.data(which), "-m", "immediate", "stop"])
                .output();
        }
    }
}

/// The replica's state in `/health/ready` (`serving`, `lagging`, `away`).
async fn replica_state(app: &TestApp) -> String {
    let health = json_of(app.get("/health/ready").await, 200).await;
    health["replicas"][0]["state"].as_str().unwrap().to_owned()
}

async fn until_replica(app: &TestApp, state: &str) -> Duration {
    let started = std::time::Instant::now();
    while replica_state(app).await != state {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the replica is not {state}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

async fn name_of(app: &TestApp, path: &str, token: Option<&str>) -> String {
    let mut req = app.client.get(app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    json_of(res, 200).await["name"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn reads_go_to_a_replica_while_it_keeps_up_and_to_the_primary_otherwise() {
    if !is_postgres() {
        return;
    }
    let cluster = Cluster::new();
    let replica_url = Cluster::url(cluster.replica);
    // The cache is off so that every read reaches a database.
    let app = TestApp::spawn_on(&Cluster::url(cluster.primary), |s| {
        s.database_read_urls = replica_url.clone();
        // Two seconds: the reads right after the write below come well inside it, even on a
        // busy machine.
        s.replica_max_lag_ms = 2000;
        s.read_your_writes_secs = 5;
        s.response_cache_mb = 0;
    })
    .await;
    until_replica(&app, "serving").await;
    let viewer = app.user_token("viewer", &[]).await;
    let lab = app.create_lab("Replicato", 45.46, 9.19, json!({})).await;
    let path = format!("/api/v1/labs/{}", lab["id"].as_str().unwrap());
    // Created on the primary, replayed on the replica within moments.
    let started = std::time::Instant::now();
    while app.get(&path).await.status() != 200 {
        assert!(started.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // The replica stops replaying: a write reaches the primary only.
    let replica = sea_orm::Database::connect(&replica_url).await.unwrap();
    use sea_orm::ConnectionTrait;
    replica
        .execute_unprepared("SELECT pg_wal_replay_pause()")
        .await
        .unwrap();
    json_of(app.patch(&path, &json!({"name": "Cambiato"})).await, 200).await;
    // Its author reads its own write (the primary); others read the replica, behind by less
    // than the allowed lag for now.
    assert_eq!(name_of(&app, &path, Some(&app.token)).await, "Cambiato");
    assert_eq!(name_of(&app, &path, None).await, "Replicato");
    assert_eq!(name_of(&app, &path, Some(&viewer)).await, "Replicato");
    // Once it lags by more than that, the primary serves everyone.
    let waited = until_replica(&app, "lagging").await;
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    assert_eq!(name_of(&app, &path, None).await, "Cambiato");
    assert_eq!(name_of(&app, &path, Some(&viewer)).await, "Cambiato");
    // Replaying again, it catches up and serves again.
    replica
        .execute_unprepared("SELECT pg_wal_replay_resume()")
        .await
        .unwrap();
    replica.close().await.unwrap();
    until_replica(&app, "serving").await;
    assert_eq!(name_of(&app, &path, None).await, "Cambiato");

    // The replica goes away: reads go on (from the primary), and it is used again on return.
    cluster.stop("replica");
    for _ in 0..20 {
        let res = app.get(&path).await;
        assert!(
            res.status() == 200 || res.status() == 503,
            "{}",
            res.status()
        );
    }
    until_replica(&app, "away").await;
    for _ in 0..20 {
        assert_eq!(name_of(&app, &path, None).await, "Cambiato");
    }
    cluster.start("replica", cluster.replica);
    until_replica(&app, "serving").await;
    json_of(app.patch(&path, &json!({"name": "Ritornato"})).await, 200).await;
    let started = std::time::Instant::now();
    while name_of(&app, &path, Some(&viewer)).await != "Ritornato" {
        assert!(started.elapsed() < Duration::from_secs(3));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(app);
}
