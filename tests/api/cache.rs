//! The cache of anonymous answers: exact after writes made through the server, bounded
//! staleness for writes made elsewhere, never used for authenticated callers or health checks.

use crate::helpers::{TestApp, json_of};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn cached_answers_never_outlive_a_write_through_the_server() {
    let app = TestApp::spawn().await;
    let lab = app
        .create_lab("Laboratorio Cache", 45.18, 9.15, json!({}))
        .await;
    let path = format!("/api/v1/labs/{}", lab["id"].as_str().unwrap());
    let first = app.get(&path).await;
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(json_of(first, 200).await["name"], "Laboratorio Cache");
    // A repeat (from the cache) is byte-identical, and conditional requests still get 304.
    let again = app.get(&path).await;
    assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
    let conditional = app
        .client
        .get(app.url(&path))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(conditional.status(), 304);
    assert_eq!(conditional.headers()["etag"].to_str().unwrap(), etag);

    // A change through the API is visible to the very next anonymous read, in records, lists
    // and the map.
    for round in 0..5 {
        let name = format!("Laboratorio Cache {round}");
        json_of(app.patch(&path, &json!({"name": name})).await, 200).await;
        assert_eq!(json_of(app.get(&path).await, 200).await["name"], name);
        let list = json_of(app.get("/api/v1/labs?q=cache").await, 200).await;
        assert_eq!(list["data"][0]["name"], name);
        let map = json_of(app.get("/api/v1/map?types=lab").await, 200).await;
        assert!(map.to_string().contains(&name));
    }
    // Deleted: gone at once for anonymous readers.
    assert_eq!(app.delete(&path).await.status(), 204);
    assert_eq!(app.get(&path).await.status(), 404);
}

#[tokio::test]
async fn writes_made_elsewhere_are_seen_within_the_ttl_and_tokens_bypass_the_cache() {
    use sea_orm::ConnectionTrait;
    let app = TestApp::spawn().await;
    let lab = app
        .create_lab("Laboratorio Altrove", 45.18, 9.15, json!({}))
        .await;
    let id = lab["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/labs/{id}");
    assert_eq!(
        json_of(app.get(&path).await, 200).await["name"],
        "Laboratorio Altrove"
    );
    // Another process changes the row behind the server's back.
    let sql = format!("UPDATE labs SET name = 'Cambiato Altrove' WHERE id = '{id}'");
    app.db.execute_unprepared(&sql).await.unwrap();
    // Authenticated readers always read the database.
    assert_eq!(
        json_of(app.get_auth(&path).await, 200).await["name"],
        "Cambiato Altrove"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        json_of(app.get(&path).await, 200).await["name"],
        "Cambiato Altrove"
    );
    // Health checks are never cached.
    for _ in 0..2 {
        assert_eq!(app.get("/health/ready").await.status(), 200);
    }
}

static SLOW_CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn slow_route(cfg: &mut actix_web::web::ServiceConfig) {
    async fn slow() -> &'static str {
        SLOW_CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(300)).await;
        "lento"
    }
    cfg.route("/test/slow", actix_web::web::get().to(slow));
}

#[tokio::test]
async fn concurrent_misses_for_one_answer_reach_the_handler_once() {
    let app = std::sync::Arc::new(TestApp::spawn_with(|_| {}, Some(slow_route)).await);
    let mut readers = Vec::new();
    for _ in 0..16 {
        let app = app.clone();
        readers.push(tokio::spawn(async move {
            let res = app.get("/test/slow").await;
            (res.status().as_u16(), res.text().await.unwrap())
        }));
    }
    for r in readers {
        assert_eq!(r.await.unwrap(), (200, "lento".to_owned()));
    }
    assert_eq!(
        SLOW_CALLS.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the first miss asks the handler, the others wait for its answer"
    );
    // Authenticated readers are never served from the cache, nor made to wait on it.
    assert_eq!(app.get_auth("/test/slow").await.status(), 200);
    assert_eq!(SLOW_CALLS.load(std::sync::atomic::Ordering::SeqCst), 2);
}
