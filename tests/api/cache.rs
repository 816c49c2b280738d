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

#[tokio::test]
async fn a_write_drops_only_the_cached_answers_it_can_change() {
    // Entries live ten minutes here, so only an invalidation can refresh one.
    let app = TestApp::spawn_with(|s| s.response_cache_ttl_ms = 600_000, None).await;
    let lab = app
        .create_lab("Laboratorio Preciso", 45.18, 9.15, json!({}))
        .await;
    let id = lab["id"].as_str().unwrap().to_owned();
    let lab_path = format!("/api/v1/labs/{id}");
    let lead = app.create_org("Capofila Preciso", json!({})).await;
    let body = json!({"title": "Progetto Preciso", "lead_organisation_id": lead["id"],
        "phase": "active", "status": "published", "lab_ids": [id]});
    let project = json_of(app.post("/api/v1/projects", &body).await, 201).await;
    let project_path = format!("/api/v1/projects/{}", project["id"].as_str().unwrap());
    let summary = "/api/v1/metrics/summary?group_by=indicator";
    let map = "/api/v1/map?types=lab";
    let text = |res: reqwest::Response| async move { res.text().await.unwrap() };

    // Cached: the lab, a list, the map, the project and a summary.
    assert_eq!(
        json_of(app.get(&lab_path).await, 200).await["name"],
        "Laboratorio Preciso"
    );
    assert!(
        text(app.get(map).await)
            .await
            .contains("Laboratorio Preciso")
    );
    assert!(
        text(app.get("/api/v1/labs").await)
            .await
            .contains("Laboratorio Preciso")
    );
    assert_eq!(
        json_of(app.get(&project_path).await, 200).await["results"],
        json!([])
    );
    let before = text(app.get(summary).await).await;
    assert!(!before.contains("families_supported"));

    // The lab changes behind the server's back: only an invalidation can show it.
    let sql = format!("UPDATE labs SET name = 'Dietro le quinte' WHERE id = '{id}'");
    crate::helpers::write_unheard(&app.db, &sql).await;

    // Writes that cannot change a lab's answers leave them cached: a metric batch, a theme,
    // an account, and lab writes that were refused.
    let batch = json!([{"indicator": "families_supported", "kind": "actual", "value": 7,
        "period_start": "2019-01-01", "period_end": "2019-03-31", "lab_id": id}]);
    let metrics = format!("{project_path}/metrics");
    assert_eq!(app.post(&metrics, &batch).await.status(), 201);
    let theme = json!({"code": "cache_precisa", "name": {"it": "Cache", "en": "Cache"}});
    assert_eq!(app.post("/api/v1/themes", &theme).await.status(), 201);
    app.user_token("viewer", &[]).await;
    assert_eq!(
        app.patch(&lab_path, &json!({"name": ""})).await.status(),
        422
    );
    assert_eq!(
        app.patch(&lab_path, &json!({"colour": "blu"}))
            .await
            .status(),
        400
    );
    assert_eq!(
        json_of(app.get(&lab_path).await, 200).await["name"],
        "Laboratorio Preciso"
    );
    assert!(
        text(app.get(map).await)
            .await
            .contains("Laboratorio Preciso")
    );
    assert!(
        text(app.get("/api/v1/labs").await)
            .await
            .contains("Laboratorio Preciso")
    );
    // ... while what the batch changed is read afresh.
    let results = json_of(app.get(&project_path).await, 200).await["results"].clone();
    assert_eq!(results[0]["indicator"], "families_supported", "{results}");
    assert!(
        text(app.get(summary).await)
            .await
            .contains("families_supported")
    );
    assert!(
        text(app.get("/api/v1/themes?limit=100").await)
            .await
            .contains("cache_precisa")
    );

    // An organisation write drops the map (it shows organisations), not the lab.
    let org_path = format!("/api/v1/organisations/{}", lead["id"].as_str().unwrap());
    assert_eq!(
        app.patch(&org_path, &json!({"name": "Capofila Cambiata"}))
            .await
            .status(),
        200
    );
    assert!(text(app.get(map).await).await.contains("Dietro le quinte"));
    assert_eq!(
        json_of(app.get(&lab_path).await, 200).await["name"],
        "Laboratorio Preciso"
    );

    // Any lab write drops every answer read from labs.
    app.create_lab("Un altro laboratorio", 45.2, 9.1, json!({}))
        .await;
    assert_eq!(
        json_of(app.get(&lab_path).await, 200).await["name"],
        "Dietro le quinte"
    );
    assert!(
        text(app.get("/api/v1/labs").await)
            .await
            .contains("Dietro le quinte")
    );
}
