use crate::helpers::{TestApp, json_of};
use serde_json::{Value, json};
use std::collections::HashSet;

async fn walk(app: &TestApp, first: &str) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut pages = 0;
    let mut next = Some(first.to_owned());
    while let Some(path) = next {
        let res = app.get(&path).await;
        let link = res
            .headers()
            .get("link")
            .map(|l| l.to_str().unwrap().to_owned());
        let v = json_of(res, 200).await;
        pages += 1;
        items.extend(v["data"].as_array().unwrap().iter().cloned());
        next = v["page"]["next_cursor"].as_str().map(|c| {
            let link = link.clone().expect("Link header with a next page");
            let url = link
                .trim_start_matches('<')
                .split('>')
                .next()
                .unwrap()
                .to_owned();
            assert!(
                url.contains(&format!("cursor={c}")) || url.contains("cursor="),
                "{url}"
            );
            url
        });
        if next.is_none() {
            assert!(link.is_none());
        }
        assert!(pages < 50, "runaway pagination");
    }
    (items, pages)
}

#[tokio::test]
async fn cursors_walk_every_record_once_in_order() {
    let app = TestApp::spawn().await;
    let mut names: Vec<String> = (0..25)
        .map(|i| format!("Associazione {:02}", (i * 7) % 25))
        .collect();
    for n in &names {
        app.create_org(n, json!({})).await;
    }
    // Duplicated names sort by id as a tie-breaker.
    app.create_org("Associazione 03", json!({})).await;
    names.push("Associazione 03".into());
    names.sort();

    let (items, pages) = walk(&app, "/api/v1/organisations?limit=10").await;
    assert_eq!(pages, 3);
    let got: Vec<String> = items
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, names);
    let ids: HashSet<&str> = items.iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 26);

    let (desc, _) = walk(&app, "/api/v1/organisations?limit=7&sort=-name").await;
    let got: Vec<String> = desc
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_owned())
        .collect();
    let mut want = names.clone();
    want.reverse();
    assert_eq!(got, want);

    let (by_time, _) = walk(&app, "/api/v1/organisations?limit=4&sort=-created_at").await;
    let times: Vec<&str> = by_time
        .iter()
        .map(|o| o["created_at"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(by_time.len(), 26);
    assert_eq!(times, sorted);

    let first = json_of(
        app.get("/api/v1/organisations?limit=10&count=false").await,
        200,
    )
    .await;
    assert!(first["page"].get("total").is_none());
    assert_eq!(first["page"]["limit"], 10);
}

#[tokio::test]
async fn pages_are_stable_under_concurrent_inserts() {
    let app = TestApp::spawn().await;
    for i in 0..10 {
        app.create_org(&format!("M {i}"), json!({})).await;
    }
    let page1 = json_of(app.get("/api/v1/organisations?limit=5").await, 200).await;
    let cursor = page1["page"]["next_cursor"].as_str().unwrap().to_owned();
    // Records inserted before the cursor position do not shift the next page.
    for i in 0..5 {
        app.create_org(&format!("A {i}"), json!({})).await;
    }
    let page2 = json_of(
        app.get(&format!("/api/v1/organisations?limit=5&cursor={cursor}"))
            .await,
        200,
    )
    .await;
    let got: Vec<&str> = page2["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(got, vec!["M 5", "M 6", "M 7", "M 8", "M 9"]);
}

#[tokio::test]
async fn tampered_or_foreign_cursors_are_400() {
    let app = TestApp::spawn().await;
    for i in 0..3 {
        app.create_org(&format!("C {i}"), json!({})).await;
    }
    let v = json_of(app.get("/api/v1/organisations?limit=1").await, 200).await;
    let cursor = v["page"]["next_cursor"].as_str().unwrap().to_owned();
    let mut tampered = cursor.clone().into_bytes();
    tampered[2] = if tampered[2] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    for path in [
        format!("/api/v1/organisations?limit=1&cursor={tampered}"),
        format!("/api/v1/organisations?limit=1&cursor={cursor}&sort=-name"),
        format!("/api/v1/municipalities?cursor={cursor}"),
        "/api/v1/organisations?cursor=not-a-cursor".to_owned(),
    ] {
        let p = json_of(app.get(&path).await, 400).await;
        assert_eq!(p["errors"][0]["field"], "cursor", "{path}");
    }
}

#[tokio::test]
async fn metric_cursors_walk_ties_on_the_period_once_in_order() {
    let app = TestApp::spawn().await;
    let lead = app.create_org("Capofila paginazione", json!({})).await;
    let p = json_of(
        app.post(
            "/api/v1/projects",
            &json!({"title": "Paginazione", "lead_organisation_id": lead["id"], "phase": "active", "status": "published"}),
        )
        .await,
        201,
    )
    .await;
    let pid = p["id"].as_str().unwrap();
    // Three periods, many observations on each: every page boundary falls inside a tie.
    let rows: Vec<Value> = (0..30)
        .map(|i| {
            let month = 1 + i % 3;
            json!({"indicator": "volunteers", "kind": "actual", "value": i,
                   "period_start": format!("2024-{month:02}-01"), "period_end": format!("2024-{month:02}-28")})
        })
        .collect();
    json_of(
        app.post(
            &format!("/api/v1/projects/{pid}/metrics"),
            &Value::Array(rows),
        )
        .await,
        201,
    )
    .await;
    for (sort, desc) in [("period_start", false), ("-period_start", true)] {
        let (items, pages) = walk(
            &app,
            &format!("/api/v1/metrics?project={pid}&limit=4&sort={sort}"),
        )
        .await;
        assert_eq!(pages, 8, "{sort}");
        let keys: Vec<(String, String)> = items
            .iter()
            .map(|m| {
                (
                    m["period_start"].as_str().unwrap().to_owned(),
                    m["id"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let mut expected = keys.clone();
        expected.sort();
        if desc {
            expected.reverse();
        }
        assert_eq!(keys, expected, "{sort}: ordered by (period_start, id)");
        let unique: HashSet<&String> = keys.iter().map(|k| &k.1).collect();
        assert_eq!(unique.len(), 30, "{sort}: every observation exactly once");
    }
}
