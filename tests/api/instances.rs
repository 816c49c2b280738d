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
