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
