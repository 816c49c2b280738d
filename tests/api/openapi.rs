use crate::helpers::{TestApp, json_of};
use serde_json::Value;

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.json");

fn generated() -> Value {
    serde_json::to_value(legami_http::openapi()).unwrap()
}

/// `UPDATE_OPENAPI=1 cargo test -p legami-tests openapi` rewrites the committed document.
#[test]
fn committed_document_matches_the_code() {
    let doc = generated();
    let text = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    if std::env::var("UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        std::fs::write(COMMITTED, &text).unwrap();
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        committed == text,
        "openapi/openapi.json is out of date: run `UPDATE_OPENAPI=1 cargo test -p legami-tests openapi` and commit it"
    );
}

#[test]
fn every_operation_and_schema_is_described() {
    let doc = generated();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let described = op
                .get("summary")
                .or(op.get("description"))
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty());
            assert!(described, "{method} {path} has no summary");
            assert!(op.get("operationId").is_some(), "{method} {path}");
            assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()));
        }
    }
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (prop, s) in props {
                let ok = s.get("description").is_some()
                    || s.get("$ref").is_some()
                    || s.get("oneOf").is_some()
                    || s.get("allOf").is_some();
                assert!(ok, "{name}.{prop} has no description");
            }
        } else {
            assert!(
                schema.get("description").is_some() || schema.get("enum").is_some(),
                "{name}"
            );
        }
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[test]
fn every_schema_has_an_example() {
    let doc = generated();
    let has_example = |s: &Value| s.get("example").is_some() || s.get("examples").is_some();
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        if has_example(schema) {
            continue;
        }
        let props = schema.get("properties").and_then(Value::as_object);
        let all_props = props.is_some_and(|p| {
            p.values()
                .all(|s| has_example(s) || s.get("$ref").is_some())
        });
        assert!(all_props, "{name} has no example");
    }
}

#[tokio::test]
async fn served_document_and_docs() {
    let app = TestApp::spawn().await;
    let served = json_of(app.get("/openapi.json").await, 200).await;
    assert_eq!(served, generated());
    let res = app.get("/docs/").await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("swagger"), "{html}");
    let res = app.get("/docs/swagger-ui.css").await;
    assert_eq!(res.status(), 200, "assets are served from the binary");
    // Swagger UI reads the same document the API serves (it keeps no copy of its own).
    let res = app.get("/docs/swagger-initializer.js").await;
    assert_eq!(res.status(), 200);
    let js = res.text().await.unwrap();
    assert!(js.contains("\"url\": \"/openapi.json\""), "{js}");
    let res = app.get("/openapi.json").await;
    assert_eq!(
        res.headers()[reqwest::header::CONTENT_TYPE],
        "application/json"
    );
}
