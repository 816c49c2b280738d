use crate::helpers::{TestApp, assert_fields, json_of};
use serde_json::{Value, json};
use std::collections::HashMap;

async fn titles(app: &TestApp, path: &str) -> Vec<String> {
    let v = json_of(app.get(path).await, 200).await;
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["title"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn italian_search_quality_on_the_demo_data() {
    let app = TestApp::spawn_with(|s| s.seed_demo_on_empty = true, None).await;
    // Stemmed: `laboratorio` finds "Laboratori Sociali" and the labs' own names.
    let hits = titles(&app, "/api/v1/search?q=laboratorio&limit=100").await;
    assert!(
        hits.iter()
            .any(|t| t == "Rete dei Laboratori Sociali (Pavia)"),
        "{hits:?}"
    );
    assert!(
        hits.iter().any(|t| t.starts_with("Laboratorio Sociale")),
        "{hits:?}"
    );
    // `famiglia` finds "famiglie".
    let hits = titles(&app, "/api/v1/search?q=famiglia&limit=100").await;
    assert!(
        hits.iter().any(|t| t == "Consorzio Sociale Pavese"),
        "{hits:?}"
    );
    // Accent-insensitive both ways.
    let a = titles(&app, "/api/v1/search?q=citta&limit=100").await;
    let b = titles(&app, "/api/v1/search?q=citt%C3%A0&limit=100").await;
    assert!(a.iter().any(|t| t == "CSV Lombardia Sud"), "{a:?}");
    assert_eq!(a, b);
    // Every word must match; unpublished records never show to the public.
    let both = titles(&app, "/api/v1/search?q=giustizia%20riparativa").await;
    assert!(
        both.iter()
            .any(|t| t == "Tavolo per la Giustizia Riparativa"),
        "{both:?}"
    );
    assert!(
        titles(&app, "/api/v1/search?q=giustizia%20zanzara")
            .await
            .is_empty()
    );
    // `q` on a collection.
    let v = json_of(app.get("/api/v1/organisations?q=famiglie").await, 200).await;
    let names: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"Consorzio Sociale Pavese"), "{names:?}");
    assert!(!names.contains(&"ATS Brianza"));
    let v = json_of(app.get("/api/v1/labs?q=orto").await, 200).await;
    assert_eq!(v["page"]["total"], 1);
    let v = json_of(app.get("/api/v1/projects?q=azzardo").await, 200).await;
    assert_eq!(v["data"][0]["slug"], "mind-the-gap-azzardo");
}

#[tokio::test]
async fn names_rank_above_descriptions_and_snippets_mark_the_match() {
    let app = TestApp::spawn().await;
    app.create_org(
        "Associazione Arcobaleno",
        json!({"description": "Si occupa anche di attività in un orto condiviso."}),
    )
    .await;
    app.create_org(
        "Orto Solidale di quartiere",
        json!({"description": "Volontari del verde."}),
    )
    .await;
    let v = json_of(app.get("/api/v1/search?q=orto").await, 200).await;
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["title"], "Orto Solidale di quartiere");
    assert!(data[0]["score"].as_f64().unwrap() > data[1]["score"].as_f64().unwrap());
    assert!(
        data[1]["snippet"]
            .as_str()
            .unwrap()
            .contains("<mark>orto</mark>"),
        "{}",
        data[1]["snippet"]
    );
    let v = json_of(app.get("/api/v1/search?q=attivita").await, 200).await;
    assert_eq!(v["data"][0]["title"], "Associazione Arcobaleno");
    assert!(
        v["data"][0]["snippet"]
            .as_str()
            .unwrap()
            .contains("<mark>attività</mark>")
    );
}

#[tokio::test]
async fn hostile_search_strings_are_text_or_422_never_500() {
    let app = TestApp::spawn().await;
    app.create_org(
        "Rete Near",
        json!({"description": "Testo con due punti: e trattini - e asterischi *"}),
    )
    .await;
    for q in [
        "\"",
        "\"\"",
        "*",
        "NEAR(",
        "NEAR(a b)",
        ":",
        "-",
        "a:b",
        "-orto",
        "orto*",
        "OR",
        "AND NOT",
        "'; DROP TABLE organisations; --",
        "(((",
        "^",
        "🙂",
        "\\",
    ] {
        for base in [
            "/api/v1/search",
            "/api/v1/organisations",
            "/api/v1/labs",
            "/api/v1/projects",
            "/api/v1/networks",
        ] {
            let res = app
                .client
                .get(app.url(base))
                .query(&[("q", q)])
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let body = res.text().await.unwrap();
            assert!(
                status == 200 || status == 422,
                "{base} q={q:?} -> {status}: {body}"
            );
            if status == 422 {
                assert!(body.contains("\"field\":\"q\""), "{body}");
            }
        }
    }
    let res = app
        .client
        .get(app.url("/api/v1/search"))
        .query(&[("q", "a\u{0}b")])
        .send()
        .await
        .unwrap();
    assert_fields(&json_of(res, 422).await, &["q"]);
    assert_fields(&json_of(app.get("/api/v1/search").await, 422).await, &["q"]);
    let long = "x".repeat(201);
    assert_fields(
        &json_of(app.get(&format!("/api/v1/search?q={long}")).await, 422).await,
        &["q"],
    );
    let v = json_of(app.get("/api/v1/search?q=near").await, 200).await;
    assert_eq!(v["data"][0]["title"], "Rete Near");
}

#[tokio::test]
async fn facets_count_every_hit_exactly() {
    let app = TestApp::spawn().await;
    for i in 0..7 {
        app.create_org(&format!("Solidarietà {i}"), json!({"themes": if i % 2 == 0 { json!(["youth"]) } else { json!(["elderly", "youth"]) }, "kind": if i < 3 { "odv" } else { "aps" }})).await;
    }
    // Also creates its operator, "Ente di Solidarietà in piazza" (an organisation, no themes).
    app.create_lab(
        "Solidarietà in piazza",
        45.18,
        9.15,
        json!({"themes": ["youth"]}),
    )
    .await;
    app.create_org("Altro", json!({})).await;
    let v = json_of(app.get("/api/v1/search?q=solidarieta&limit=3").await, 200).await;
    assert_eq!(v["page"]["total"], 9);
    let f = &v["facets"];
    let sum: u64 = f["type"]
        .as_object()
        .unwrap()
        .values()
        .map(|x| x.as_u64().unwrap())
        .sum();
    assert_eq!(sum, 9);
    assert_eq!(f["type"]["organisation"], 8);
    assert_eq!(f["type"]["lab"], 1);
    assert_eq!(f["theme"]["youth"], 8);
    assert_eq!(f["theme"]["elderly"], 3);
    assert_eq!(f["kind"]["odv"], 3);
    assert_eq!(f["province"]["PV"], 9);
    // Pages cover every hit once.
    let mut seen: HashMap<String, u32> = HashMap::new();
    let mut path = "/api/v1/search?q=solidarieta&limit=3".to_owned();
    loop {
        let v: Value = json_of(app.get(&path).await, 200).await;
        for h in v["data"].as_array().unwrap() {
            *seen
                .entry(h["id"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
        match v["page"]["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/search?q=solidarieta&limit=3&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 9);
    assert!(seen.values().all(|n| *n == 1));
    let v = json_of(app.get("/api/v1/search?q=solidarieta&types=lab").await, 200).await;
    assert_eq!(v["page"]["total"], 1);
    let v = json_of(
        app.get("/api/v1/search?q=solidarieta&theme=elderly&kind=aps")
            .await,
        200,
    )
    .await;
    assert_eq!(v["page"]["total"], 2);
    let v = json_of(
        app.get("/api/v1/search?q=solidarieta&near=45.18,9.15&radius_km=1&types=lab")
            .await,
        200,
    )
    .await;
    assert_eq!(v["page"]["total"], 1);
    assert!(v["data"][0]["distance_km"].as_f64().unwrap() < 0.01);
}

/// A record's search document follows each change: renamed, deleted and restored records are
/// found by their current words only (on SQLite, the full-text row is replaced, not added).
#[tokio::test]
async fn search_documents_follow_updates_deletes_and_restores() {
    let app = TestApp::spawn().await;
    let hits = |word: &'static str| {
        let app = &app;
        async move {
            let v = json_of(
                app.get(&format!("/api/v1/search?q={word}&types=organisation"))
                    .await,
                200,
            )
            .await;
            v["data"].as_array().unwrap().len()
        }
    };
    let org = app.create_org("Cooperativa Girandola", json!({})).await;
    assert_eq!(hits("girandola").await, 1);
    let path = format!("/api/v1/organisations/{}", org["id"].as_str().unwrap());
    json_of(
        app.patch(&path, &json!({"name": "Cooperativa Altalena"}))
            .await,
        200,
    )
    .await;
    assert_eq!(hits("girandola").await, 0);
    assert_eq!(hits("altalena").await, 1);
    assert_eq!(app.delete(&path).await.status(), 204);
    assert_eq!(hits("altalena").await, 0);
    let res = app.post(&format!("{path}/restore"), &json!({})).await;
    assert!(res.status().is_success());
    assert_eq!(hits("altalena").await, 1);
    if !crate::helpers::is_postgres() {
        use sea_orm::ConnectionTrait;
        let n = |sql: &'static str| {
            let db = app.db.clone();
            async move {
                db.query_one_raw(sea_orm::Statement::from_string(
                    sea_orm::DbBackend::Sqlite,
                    sql,
                ))
                .await
                .unwrap()
                .unwrap()
                .try_get_by_index::<i64>(0)
                .unwrap()
            }
        };
        assert_eq!(
            n("SELECT COUNT(*) FROM search_fts").await,
            n("SELECT COUNT(*) FROM search_docs").await
        );
    }
}
