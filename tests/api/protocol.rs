use crate::helpers::{TestApp, json_of};
use actix_web::web;
use serde_json::json;

#[tokio::test]
async fn malformed_bodies_and_media_types() {
    let app = TestApp::spawn().await;
    let url = app.url("/api/v1/organisations");
    let res = app
        .client
        .post(&url)
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    let p = json_of(res, 400).await;
    assert_eq!(p["type"], "/problems/bad-request");
    let res = app
        .client
        .post(&url)
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body("[1,2]")
        .send()
        .await
        .unwrap();
    json_of(res, 400).await;
    let res = app
        .client
        .post(&url)
        .bearer_auth(&app.token)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    json_of(res, 415).await;
    let res = app
        .client
        .post(&url)
        .bearer_auth(&app.token)
        .body("{}")
        .send()
        .await
        .unwrap();
    json_of(res, 415).await;
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(1_100_000));
    let res = app
        .client
        .post(&url)
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    json_of(res, 413).await;
    let res = app
        .client
        .post(&url)
        .bearer_auth(&app.token)
        .json(&json!({"name": "X", "kind": "aps", "address": {"municipality": "018110"}, "colour": "red"}))
        .send()
        .await
        .unwrap();
    let p = json_of(res, 400).await;
    assert_eq!(p["errors"][0]["field"], "/colour");
    assert_eq!(p["errors"][0]["code"], "unknown_field");
    let res = app
        .client
        .post(&url)
        .bearer_auth(&app.token)
        .json(&json!({"name": "X", "kind": "aps", "address": {"municipality": "018110", "city": "Pavia"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_of(res, 400).await["errors"][0]["field"],
        "/address/city"
    );
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let app = TestApp::spawn().await;
    let p = json_of(app.get("/api/v1/nothing-here").await, 404).await;
    assert_eq!(p["instance"], "/api/v1/nothing-here");
    let res = app
        .client
        .put(app.url("/api/v1/organisations"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["allow"], "GET, HEAD, OPTIONS, POST");
    json_of(res, 405).await;
    let res = app
        .client
        .put(app.url("/api/v1/organisations/some-slug"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["allow"], "DELETE, GET, HEAD, OPTIONS, PATCH");
    json_of(res, 405).await;
    let res = app
        .client
        .delete(app.url("/api/v1/municipalities/018110"))
        .send()
        .await
        .unwrap();
    json_of(res, 405).await;
    let res = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/organisations"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(res.headers()["allow"], "GET, HEAD, OPTIONS, POST");
    // HEAD works wherever GET does, without a body.
    let res = app
        .client
        .head(app.url("/api/v1/organisations"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().contains_key("etag"));
    assert!(res.text().await.unwrap().is_empty());
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let app = TestApp::spawn().await;
    let res = app
        .client
        .get(app.url("/api/v1"))
        .header("x-request-id", "partner-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "partner-abc-123");
    let res = app.get("/api/v1/nothing").await;
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok());
    let p = json_of(res, 404).await;
    assert_eq!(p["request_id"], id);
    // A hostile id is replaced, not echoed.
    let res = app
        .client
        .get(app.url("/api/v1"))
        .header("x-request-id", "a b<script>")
        .send()
        .await
        .unwrap();
    assert_ne!(res.headers()["x-request-id"], "a b<script>");
}

fn panic_route(cfg: &mut web::ServiceConfig) {
    async fn boom() -> &'static str {
        panic!("secret internal detail: SELECT * FROM users")
    }
    cfg.route("/test/panic", web::get().to(boom));
}

#[tokio::test]
async fn a_panic_is_a_500_problem_and_the_server_keeps_serving() {
    let app = TestApp::spawn_with(|s| s.workers = 1, Some(panic_route)).await;
    for _ in 0..3 {
        let res = app.get("/test/panic").await;
        let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        let text = res.text().await.unwrap();
        let p: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(p["status"], 500);
        assert_eq!(p["type"], "/problems/internal");
        assert_eq!(p["request_id"], id);
        assert!(
            !text.contains("SELECT") && !text.contains("secret") && !text.contains("panicked"),
            "{text}"
        );
    }
    json_of(app.get("/api/v1").await, 200).await;
}

#[tokio::test]
async fn responses_are_compressed_on_request() {
    let app = TestApp::spawn().await;
    for enc in ["gzip", "br"] {
        let res = app
            .client
            .get(app.url("/api/v1/municipalities?limit=100"))
            .header("accept-encoding", enc)
            .send()
            .await
            .unwrap();
        assert_eq!(res.headers()["content-encoding"], enc);
    }
}

#[tokio::test]
async fn cors_preflight_allows_reads_from_anywhere_and_writes_from_listed_origins() {
    let app =
        TestApp::spawn_with(|s| s.cors_origins = "https://partner.example".into(), None).await;
    let pre = |origin: &str, method: &str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/organisations"))
            .header("origin", origin.to_owned())
            .header("access-control-request-method", method.to_owned())
            .send()
    };
    let res = pre("https://anyone.example", "GET").await.unwrap();
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://anyone.example"
    );
    let res = pre("https://partner.example", "POST").await.unwrap();
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://partner.example"
    );
    let res = pre("https://anyone.example", "POST").await.unwrap();
    assert!(!res.headers().contains_key("access-control-allow-origin"));
}

/// A `PATCH` or `DELETE` without `If-Match` asks for no precondition: when another write lands
/// between its read and its write, the server applies it again to the new version instead of
/// answering `412` for a condition the client never set.
#[tokio::test]
async fn concurrent_patches_without_if_match_all_apply() {
    let app = std::sync::Arc::new(TestApp::spawn().await);
    let lab = app
        .create_lab("Laboratorio conteso", 45.18, 9.15, json!({}))
        .await;
    let path = format!("/api/v1/labs/{}", lab["id"].as_str().unwrap());
    let writers: Vec<_> = (0..12)
        .map(|i| {
            let app = app.clone();
            let path = path.clone();
            tokio::spawn(async move {
                let field = if i % 2 == 0 {
                    "description"
                } else {
                    "accessibility"
                };
                let res = app
                    .patch(&path, &json!({ field: format!("giro {i}") }))
                    .await;
                res.status().as_u16()
            })
        })
        .collect();
    for w in writers {
        assert_eq!(w.await.unwrap(), 200);
    }
    let got = json_of(app.get_auth(&path).await, 200).await;
    assert_eq!(got["version"], lab["version"].as_i64().unwrap() + 12);
}
